"""`imrestore report`: a self-contained HTML page of a run, checked in headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage import data

from imrestore.cli import main
from imrestore.html_report import write_html_report
from imrestore.runner import run


def call(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def photo_run(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("camera", "coins", "moon", "astronaut"):
        img = getattr(data, name)()
        PILImage.fromarray(img[:160, :160]).save(src / f"{name}.png")
    run(["gaussian:sigma=25", "restorer:tv"], src, tmp_path / "out")
    return tmp_path / "out"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_page_is_self_contained_with_table_and_crops(photo_run):
    page = write_html_report(photo_run)
    assert page == photo_run / "report.html" and (photo_run / "report-examples.png").exists()
    text = page.read_text()
    assert "src='http" not in text and 'src="http' not in text  # nothing fetched from elsewhere
    crops = re.findall(r"<img class='crop' alt='(\w+) ([^']+)'", text)
    assert {label for label, _ in crops} == {"original", "corrupted", "restored"}
    assert len(crops) == 9  # best, median, worst x three
    assert text.count("<tr class='written'>") == 4
    assert "gaussian:sigma=25" in text


def test_crops_show_the_images_the_run_saw(photo_run):
    from imrestore.html_report import _load_example, load_report

    report = load_report(photo_run / "report.json")
    idx = next(i for i, it in enumerate(report.items) if it.path == "camera.png")
    ex = _load_example(report, idx, "best")
    from imrestore.chain import Chain
    from imrestore.files import read_image

    ref = read_image(photo_run.parent / "in" / "camera.png")
    expected, _ = Chain.from_specs(report.chain).corrupt(ref.data, report.seed, "camera.png")
    np.testing.assert_array_equal(ex.corrupted, expected)  # regenerated from the seed, not approximated
    restored = read_image(photo_run / "camera.png")
    assert ex.restored.shape == restored.data.shape


def test_report_of_a_volume_run(tmp_path):
    from imrestore.mri import write_phantom_scan

    scan = write_phantom_scan(tmp_path / "scan.h5", slices=3, coils=2, shape=(64, 48), crop=(40, 40))
    run(["kspace:acceleration=4", "restorer:tv"], scan, tmp_path / "tv.h5", metrics=["psnr", "nmse"])
    page = write_html_report(tmp_path / "tv.h5.report.json")
    text = page.read_text()
    assert "Whole volume" in text and text.count("<img class='crop'") == 9


def test_report_takes_the_output_a_run_wrote_image_or_volume(tmp_path, capsys):
    # `imrestore report out.tif` on a volume run read the TIFF as the report's JSON (a UnicodeDecodeError), and an image
    # output named my.cam.v2.png was looked up as my.report.json
    stack = np.stack([data.camera()[k * 40 : k * 40 + 64, :64] for k in range(3)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "plane.tif", stack[0])
    run(["gaussian:sigma=25", "restorer:tv"], tmp_path / "stack.tif", tmp_path / "tv.tif")
    run(["gaussian:sigma=25", "restorer:tv"], tmp_path / "plane.tif", tmp_path / "my.plane.v2.tif")
    for output, page in (("tv.tif", "tv.tif.report.html"), ("my.plane.v2.tif", "my.plane.v2.report.html")):
        code, out, err = call(capsys, "report", str(tmp_path / output))
        assert code == 0, err
        assert out.strip() == f"report: {tmp_path / page}"
    code, _, err = call(capsys, "report", str(tmp_path / "plane.tif"))  # an input: no report beside it
    assert code == 2 and "no report beside" in err and "plane.report.json" in err


def test_volume_crops_show_the_planes_the_run_saw(tmp_path):
    """The report redraws a volume plane's corruption with the run's own function (seed, key, value range)."""
    from imrestore.html_report import _load_example, load_report

    stack = np.stack([data.camera()[k * 40 : k * 40 + 96, :96] for k in range(5)]).astype(np.float32) / 255
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    run(["gaussian:sigma=25", "restorer:tv"], tmp_path / "stack.tif", tmp_path / "tv.tif")
    run(["gaussian:sigma=25"], tmp_path / "stack.tif", tmp_path / "noisy.tif")  # the same draw, written out
    report = load_report(tmp_path / "tv.tif.report.json")
    assert len(report.items) == 5
    ex = _load_example(report, 3, "median")
    noisy = tifffile.imread(tmp_path / "noisy.tif")
    np.testing.assert_allclose(ex.corrupted, noisy[3], atol=1e-6)
    np.testing.assert_allclose(ex.original, stack[3], atol=1e-6)


def test_cli_report_and_its_errors(photo_run, tmp_path, capsys):
    code, out, _ = call(capsys, "report", str(photo_run), "-o", str(tmp_path / "r.html"))
    assert code == 0 and (tmp_path / "r.html").exists() and "r.html" in out
    code, _, err = call(capsys, "report", str(tmp_path / "nothing"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = call(capsys, "report", str(tmp_path / "empty"))
    assert code == 2 and "no report.json" in err


def test_report_renders_in_headless_chromium(photo_run, tmp_path):
    browser = _chromium()
    if browser is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("CI must install chromium (Debian package) for this test")
        pytest.skip("no chromium on this machine (apt-get install chromium chromium-driver)")
    page = write_html_report(photo_run)
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded, "the page script did not run"
    assert int(loaded.group(1)) == 10  # nine crops and the histogram, all decoded by the browser
    assert dom.count("<tr class=\"written\">") == 4 and "<table class=\"sortable items\">" in dom


def test_report_needs_metrics(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((16, 16), np.uint8))
    run(["restorer:identity"], tmp_path / "a.tif", tmp_path / "out", metrics=[])
    with pytest.raises(Exception, match="no metrics"):
        write_html_report(tmp_path / "out")


def test_report_ranks_by_the_metric_asked_for(photo_run, tmp_path, capsys):
    from imrestore.html_report import load_report

    report = load_report(photo_run / "report.json")
    ssim = {it.path: it.metrics["restored"]["ssim"] for it in report.items}
    code, _, _ = call(capsys, "report", str(photo_run), "--by", "ssim", "-o", str(tmp_path / "by-ssim.html"))
    assert code == 0
    heads = re.findall(r"<h3>(\w+): ([^ ]+) \((\w+) ", (tmp_path / "by-ssim.html").read_text())
    assert [(rank, key) for rank, _, key in heads] == [("best", "ssim"), ("median", "ssim"), ("worst", "ssim")]
    assert heads[0][1] == max(ssim, key=ssim.get) and heads[-1][1] == min(ssim, key=ssim.get)
    code, _, err = call(capsys, "report", str(photo_run), "--by", "lpips")
    assert code == 2 and "no metric 'lpips'" in err and "psnr, ssim" in err


def test_report_of_real_data_shows_the_removed_part_and_the_noise_model(tmp_path):
    """No reference: input / restored / removed crops, the estimated noise model over the data's local statistics."""
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    clean = 0.05 + 0.9 * data.camera()[100:228, 100:228] / 255.0
    a, b = 0.004, 0.0001
    noisy = np.clip(rng.poisson(clean / a) * a + rng.normal(0, np.sqrt(b), clean.shape), 0, 1)
    tifffile.imwrite(src / "cells.tif", (noisy * 65535).astype(np.uint16))
    run(["restorer:tv"], src, tmp_path / "out")
    text = write_html_report(tmp_path / "out").read_text()
    assert "No reference." in text and "Estimated noise" in text and "poisson-gaussian" in text
    assert "alt='noise variance against the local mean'" in text
    for label in ("input", "restored", "removed"):
        assert f"<figcaption>{label}" in text
    assert "<figcaption>original" not in text


def test_data_kept_as_they_are_are_counted_and_explained_in_summary_json_and_page(tmp_path, capsys):
    # the per-item reason sat in report.json's "estimated" only: the summary, the page and its table said nothing, so
    # a page of identical input and output crops left a user guessing; the page also captioned a real-data volume's
    # table with fastMRI's reference conventions and called its input "corrupted"
    clean = np.stack([data.camera()[k * 40 : k * 40 + 64, :64] for k in range(3)])  # no noise to remove
    tifffile.imwrite(tmp_path / "clean.tif", clean, metadata={"axes": "ZYX"})
    code, out, err = call(capsys, "run", "restorer:tv", str(tmp_path / "clean.tif"), str(tmp_path / "o.tif"))
    assert code == 0, err
    assert "NOTE 3 of 3 planes kept as they are: tv: the noise" in out
    doc = json.loads((tmp_path / "o.tif.report.json").read_text())
    assert doc["kept"].startswith("3 of 3 planes kept as they are: tv: the noise")
    page = write_html_report(tmp_path / "o.tif").read_text()
    assert "3 of 3 planes kept as they are: tv: the noise" in page
    assert page.count("is below what it can remove; the image is kept as it is</td>") == 3  # each row says why
    assert "<p>Whole volume:</p>" in page and "fastMRI" not in page and "<th>input</th>" in page


def test_a_real_data_inversion_shows_what_it_put_back_and_no_empty_metric_rows(tmp_path, capsys):
    # the third panel was captioned "removed" (it is what the deconvolution added), and the summary and the table
    # held residual/whiteness/edges rows and columns that no restored image can have (the text summary left them out)
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(data.camera()[:96, :96].astype(np.float64), 2)
    noisy = np.clip(blurred + np.random.default_rng(0).normal(0, 5, blurred.shape), 0, 255).astype(np.uint8)
    PILImage.fromarray(noisy).save(tmp_path / "b.png")
    code, _, err = call(capsys, "run", "restorer:deconv:sigma=2", str(tmp_path / "b.png"), str(tmp_path / "out") + "/", "-q")
    assert code == 0, err
    page = write_html_report(tmp_path / "out").read_text()
    assert "<figcaption>put back</figcaption>" in page and ">removed<" not in page
    assert "<td>residual</td>" not in page and "residual</th>" not in page and "<td>noise</td>" in page
