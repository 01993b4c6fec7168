"""`imrestore demo`, the README's main job, end to end."""
import json

import numpy as np
from PIL import Image as PILImage

from imrestore.cli import main
from imrestore.demo import DEMO_CHAINS, SAMPLES, slug


def test_demo_writes_outputs_reports_and_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    try:
        main(["demo", str(out)])
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
    assert (out / "summary.md").read_text().startswith("# imrestore demo")
