"""BM3D as an imrestore restorer (an example third-party plugin).

>>> import numpy as np
>>> from imrestore_bm3d import BM3D
>>> BM3D(sigma=25)(np.full((32, 32), 0.5, np.float32)).shape
(32, 32)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import bm3d
import numpy as np

from imrestore import Restorer, hookimpl, param
from imrestore.helpers import noise_sigma


@dataclass
class BM3D(Restorer):
    """BM3D collaborative filtering (grey, or RGB in the opponent colour space)."""

    name = "bm3d"
    channels = (1, 3)
    sigma: Optional[float] = param(None, min=0, max=255, help="noise sigma (0-255 scale); default: from the chain, else estimated")
    profile: str = param("np", choices=("np", "refilter", "vn", "high", "lc"), help="bm3d parameter profile")

    def restore_one(self, image, degradation):

        sigma = max(noise_sigma(image, degradation, self.sigma), 1e-4)  # the parameter, else the chain's, else estimated
        if image.ndim == 3:
            out = bm3d.bm3d_rgb(image.astype(np.float64), sigma, profile=self.profile)
        else:
            out = bm3d.bm3d(image.astype(np.float64), sigma, profile=self.profile)
        return np.asarray(out, dtype=np.float32)


@hookimpl
def register_restorers(register):
    register(BM3D)
