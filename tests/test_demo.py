"""`imrestore demo`, the README's main job, end to end."""
import json

import numpy as np
from PIL import Image as PILImage

from imrestore.cli import main
from imrestore.demo import DEMO_CHAINS, FIGURE_SAMPLES, SAMPLES, slug


def test_demo_writes_outputs_reports_and_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    try:
        main(["demo", str(out), "--size", "160"])  # the README runs 256: the same chains, a third of the time
    except SystemExit as exc:
        assert exc.code == 0
    text = capsys.readouterr().out
    assert "| chain | corrupted PSNR | restored PSNR" in text
    for title, chain in DEMO_CHAINS:
        doc = json.loads((out / slug(title) / "report.json").read_text())
        assert doc["counts"]["written"] == len(SAMPLES) and doc["counts"]["failed"] == 0
        assert doc["mean"]["restored"]["psnr"] > 24
        c = doc["mean"]["corrupted"]["psnr"]
        assert c is None or doc["mean"]["restored"]["psnr"] > c
    fig = np.asarray(PILImage.open(out / "figure.png"))
    assert fig.shape[0] > 600 and fig.shape[1] > 1000 and fig.std() > 20
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# imrestore demo") and "160x160 crops" in summary  # the size it ran at
    assert len(FIGURE_SAMPLES) == len(DEMO_CHAINS) and set(FIGURE_SAMPLES) <= set(SAMPLES)


def test_demo_refuses_to_mix_sizes_in_one_folder(tmp_path, capsys):
    import pytest

    (tmp_path / "demo" / "samples").mkdir(parents=True)
    PILImage.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "demo" / "samples" / f"{SAMPLES[0]}.png")
    with pytest.raises(SystemExit) as exc:
        main(["demo", str(tmp_path / "demo"), "--size", "96"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "another size" in err and len(err.strip().splitlines()) == 1
