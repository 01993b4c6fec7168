"""The widget's work without Qt: restore_array keeps the dtype and shape, maps 2-D, RGB and 3-D layers, and reports
errors in one line instead of raising in the event loop."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("imrestore_napari", reason="install the plugin: pip install ./plugins/imrestore-napari")

from imrestore_napari._run import Failed, Restored, check_spec, guarded, restore_array, restorer_names  # noqa: E402

RNG = np.random.default_rng(0)


def test_every_restorer_is_offered():
    names = restorer_names()
    assert {"n2n-unet", "pnp", "bmz", "onnx", "wavelet"} <= set(names)


@pytest.mark.parametrize("shape,rgb", [((40, 50), False), ((40, 50, 3), True), ((3, 40, 50), False)])
def test_layers_keep_their_dtype_and_shape(shape, rgb):
    data = (RNG.random(shape) * 60000).astype(np.uint16)
    seen = []
    out = restore_array(data, "restorer:nlmeans:sigma=20", rgb=rgb, on_progress=lambda done, total: seen.append((done, total)))
    assert out.data.shape == shape and out.data.dtype == np.uint16
    assert seen[-1][0] == seen[-1][1] == (shape[0] if len(shape) == 3 and not rgb else 1)
    assert out.data.astype(float).std() < data.astype(float).std()


def test_a_sampler_gives_its_std_beside_the_output():
    out = restore_array(RNG.random((24, 24)).astype(np.float32), "restorer:pnp:samples=2")
    assert set(out.extras) == {"std"} and out.extras["std"].shape == (24, 24)
    assert "pnp" in out.records[0]["estimated"]


def test_errors_are_one_line_and_not_raised():
    assert check_spec("restorer:wavelet:sigmaa=3").startswith("wavelet: unknown parameter 'sigmaa'")
    assert check_spec("restorer:wavelet:sigma=3") is None
    items = list(guarded(np.zeros((8, 8), np.float32), "restorer:n2n-unet:weights=/no/such.safetensors"))
    assert isinstance(items[-1], Failed) and "does not exist" in items[-1].message
    assert not any(isinstance(i, Restored) for i in items)
