"""BM3D as an imrestore restorer (an example third-party plugin).

>>> import numpy as np
>>> from imrestore_bm3d import BM3D
>>> BM3D(sigma=25)(np.full((32, 32), 0.5, np.float32)).shape
(32, 32)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imrestore import hookimpl, param
from imrestore.denoising import Denoiser
from imrestore.helpers import error_reason


@dataclass
class BM3D(Denoiser):
    """BM3D collaborative filtering (grey, or RGB in the opponent colour space).

    A ``Denoiser``: imrestore gives it the noise level (``sigma=``, the chain's,
    or estimated from the image) and, for signal-dependent noise
    (``noise_a=``/``noise_b=`` or estimated), the generalised Anscombe domain.
    """

    name = "bm3d"
    channels = (1, 3)
    profile: str = param("np", choices=("np", "refilter", "vn", "high", "lc"), help="bm3d parameter profile")

    def denoise(self, image, sigma):
        import bm3d  # lazy: bm3d takes about a second to import, and every imrestore command loads this plugin

        sigma = max(sigma, 1e-4)
        run = bm3d.bm3d_rgb if image.ndim == 3 else bm3d.bm3d
        try:
            out = run(image.astype(np.float64), sigma, profile=self.profile)
        except Exception as exc:  # the bm3d package's errors can run to many lines: one for the report
            raise ValueError(f"bm3d failed on a {'x'.join(map(str, image.shape))} image: {error_reason(exc)}") from exc
        return np.asarray(out, dtype=np.float32)


@hookimpl
def register_restorers(register):
    register(BM3D)
