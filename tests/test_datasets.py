"""Training data sets (imrestore/datasets.py): folders, volumes and built-in data read into arrays."""
from __future__ import annotations

import h5py
from helpers import stack


def test_training_data_can_be_a_volume(tmp_path):
    from imrestore.datasets import load_images

    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["planes"] = stack(5)
    imgs = load_images(f"{tmp_path / 'v.h5'}:/planes", channels=1, max_images=4)
    assert len(imgs) == 4 and imgs[0].shape == (48, 64) and 0 <= imgs[0].min() and imgs[0].max() <= 1


