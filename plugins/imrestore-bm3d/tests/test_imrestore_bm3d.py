"""The example plugin's own tests: it registers, validates and denoises."""
import pytest
from skimage import data

import imrestore
from imrestore.chain import Chain
from imrestore.errors import ParameterError
from imrestore.registry import get_registry

pytest.importorskip("imrestore_bm3d")


def test_registered_through_its_entry_point():
    entry = get_registry().lookup("bm3d", kind="restorer")
    assert entry.package == "imrestore-bm3d"


def test_denoises_better_than_the_noisy_input():
    img = data.camera()[128:224, 128:224] / 255.0
    out = Chain.from_specs(["gaussian:sigma=25", "restorer:bm3d"]).apply(img, seed=0)
    assert out.metrics["restored"]["psnr"] > out.metrics["corrupted"]["psnr"] + 5


def test_rejects_bad_profile():
    with pytest.raises(ParameterError, match="profile"):
        imrestore.build("restorer:bm3d:profile=fast")
