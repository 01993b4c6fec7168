"""The no-reference report says when a restorer removed structure (the ``edges`` metric above REMOVED_STRUCTURE)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage
from skimage import data

from imrestore.registry import build
from imrestore.report import REMOVED_STRUCTURE
from tests.helpers import call


@pytest.fixture
def photos(tmp_path):
    """A clean textured photograph and a noisy one (sigma 20), as 8-bit PNGs."""
    rng = np.random.default_rng(0)
    clean = data.astronaut()[100:228, 150:278, 1]
    noisy = np.clip(data.camera()[100:228, 100:228] + rng.normal(0, 20, (128, 128)), 0, 255).astype(np.uint8)
    for name, image in (("clean", clean), ("noisy", noisy)):
        (tmp_path / name).mkdir()
        PILImage.fromarray(image).save(tmp_path / name / "p.png")
    return tmp_path


def test_blurring_a_clean_image_scores_above_the_threshold_and_denoising_below():
    edges = build("metric:edges")
    clean = data.astronaut()[100:228, 150:278, 1] / 255.0
    assert edges(clean, ndimage.gaussian_filter(clean, 1.0)) > REMOVED_STRUCTURE
    noisy = clean + np.random.default_rng(0).normal(0, 20 / 255, clean.shape)
    assert edges(noisy, clean) < 0.1  # what a perfect denoiser removes: noise, spread evenly


def test_a_run_that_blurs_a_clean_image_says_it_removed_structure(photos, capsys):
    code, out, _ = call(capsys, "run", "restorer:tv:sigma=60", str(photos / "clean"), str(photos / "out"))
    assert code == 0 and "WARNING 1 of 1 items: removed structure" in out
    report = json.loads((photos / "out" / "report.json").read_text())
    assert report["removed_structure"].startswith("1 of 1 items") and "removed structure" in report["items"][0]["flag"]
    code, out, _ = call(capsys, "report", str(photos / "out"))
    assert code == 0 and "removed structure: the part the restorer took away" in (photos / "out" / "report.html").read_text()


def test_denoising_a_noisy_image_is_not_flagged(photos, capsys):
    code, out, _ = call(capsys, "run", "restorer:tv", str(photos / "noisy"), str(photos / "out"))
    assert code == 0 and "removed structure" not in out
    report = json.loads((photos / "out" / "report.json").read_text())
    assert report["removed_structure"].startswith("none") and "flag" not in report["items"][0]
    assert report["mean"]["corrupted"]["noise"] > 10  # the input's noise, 0-255 scale: about 20


def test_eval_without_reference_flags_files_restored_elsewhere(photos, capsys):
    (photos / "blurred").mkdir()
    clean = np.asarray(PILImage.open(photos / "clean" / "p.png"))
    PILImage.fromarray(ndimage.gaussian_filter(clean, 2.0)).save(photos / "blurred" / "p.png")
    code, out, _ = call(capsys, "eval", "--no-reference", str(photos / "clean"), str(photos / "blurred"))
    assert code == 0 and "WARNING 1 of 1 items: removed structure" in out
