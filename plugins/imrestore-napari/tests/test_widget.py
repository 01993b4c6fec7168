"""The napari widget: restorers on 2-D and 3-D layers (data, dtype, scale, translate, metadata), the std map of a
sampler, a third-party restorer's form built from its declared parameters, Cancel, and the reader.

Needs napari, pytest-qt and an X display (pytest-xvfb starts Debian's Xvfb; offscreen Qt crashes when an image
layer is added); skipped with the reason where one is missing.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np
import pytest

napari = pytest.importorskip("napari", reason="the widget tests need napari (pip install './plugins/imrestore-napari[testing]')")
pytest.importorskip("pytestqt", reason="the widget tests need pytest-qt (pip install './plugins/imrestore-napari[testing]')")
if not os.environ.get("DISPLAY"):
    pytest.skip("the widget tests need an X display: install Debian's xvfb (pytest-xvfb then starts one)", allow_module_level=True)

from imrestore import hookimpl  # noqa: E402
from imrestore.interfaces import Restorer  # noqa: E402
from imrestore.params import param  # noqa: E402
from imrestore_napari._reader import get_reader  # noqa: E402
from imrestore_napari._widget import RestoreWidget, spec_of  # noqa: E402

RNG = np.random.default_rng(0)


def run_and_wait(qtbot, widget, viewer, layers: int, timeout: int = 60000) -> None:
    widget.run()
    qtbot.waitUntil(lambda: len(viewer.layers) >= layers and widget.worker is None, timeout=timeout)


def test_a_2d_layer_is_restored_into_a_new_layer_keeping_scale_translate_and_metadata(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    noisy = np.clip(0.5 + RNG.normal(0, 0.1, (48, 64)), 0, 1).astype(np.float32)
    viewer.add_image(noisy, name="noisy", scale=(0.5, 0.25), translate=(10, 20), metadata={"microscope": "A"})
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "nlmeans"
    run_and_wait(qtbot, widget, viewer, 2)
    out = viewer.layers[-1]
    assert out.name == "noisy (nlmeans)" and out.data.shape == noisy.shape and out.data.dtype == np.float32
    assert tuple(out.scale) == (0.5, 0.25) and tuple(out.translate) == (10, 20)
    assert out.metadata["microscope"] == "A" and out.metadata["imrestore"]["spec"] == "restorer:nlmeans"
    assert out.data.std() < noisy.std() / 2  # it denoised
    assert widget.progress.value() == widget.progress.maximum() == 1


def test_a_3d_layer_is_restored_plane_by_plane_in_its_dtype(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    stack = (20000 + RNG.normal(0, 3000, (3, 40, 56))).astype(np.uint16)
    viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "wavelet"
    widget.form["sigma"].value = "12"
    assert widget.spec == "restorer:wavelet:sigma=12"
    run_and_wait(qtbot, widget, viewer, 2)
    out = viewer.layers[-1]
    assert out.data.shape == stack.shape and out.data.dtype == np.uint16 and tuple(out.scale) == (2.0, 0.5, 0.5)
    assert widget.progress.maximum() == 3
    assert out.data.astype(float).std() < stack.astype(float).std() / 2


def test_data_kept_as_they_were_are_said_in_the_status(make_napari_viewer, qtbot):
    # a clean layer: the restorer keeps it, and the status said only "added ..." beside an identical layer
    viewer = make_napari_viewer()
    clean = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    viewer.add_image(clean, name="clean")
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "nlmeans"
    run_and_wait(qtbot, widget, viewer, 2)
    assert np.array_equal(viewer.layers[-1].data, clean)
    assert "1 of 1 plane kept as they were (nlmeans: the noise" in widget.status.text()


def test_a_sampler_adds_its_std_map_as_a_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(RNG.random((32, 32)).astype(np.float32), name="plane")
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "pnp"
    widget.form["samples"].value = "2"
    run_and_wait(qtbot, widget, viewer, 3, timeout=120000)
    names = [layer.name for layer in viewer.layers]
    assert names[-2:] == ["plane (pnp)", "plane (pnp) std"]
    assert viewer.layers[-1].data.shape == (32, 32) and viewer.layers[-1].colormap.name == "magma"


@dataclass
class SlowMedian(Restorer):
    """A third-party restorer: a median of radius ``radius``, slowly (for the Cancel test)."""

    name = "slow-median"

    radius: int = param(1, min=1, max=9, help="median radius")
    pause: float = param(0.0, min=0, max=5, help="seconds to wait per plane")
    mode: str = param("reflect", choices=("reflect", "nearest"), help="border")

    def restore_one(self, image, degradation):
        from scipy.ndimage import median_filter

        time.sleep(self.pause)
        return median_filter(image, size=2 * self.radius + 1, mode=self.mode).astype(np.float32)


class ThirdParty:
    """A plugin as a third party ships it: a hook that registers its restorer."""

    @hookimpl
    def register_restorers(self, register):
        register(SlowMedian)


@pytest.fixture
def third_party():
    """SlowMedian registered for one test, removed after it."""
    from imrestore.registry import get_registry

    registry = get_registry()
    registry.add_plugin(ThirdParty(), "napari-test-plugin")
    yield registry
    registry.remove_plugin("napari-test-plugin")


def test_a_third_party_restorer_gets_a_form_from_its_declared_parameters(make_napari_viewer, qtbot, third_party):
    viewer = make_napari_viewer()
    widget = RestoreWidget(viewer)
    assert "slow-median" in widget.restorer_box.choices
    widget.restorer_box.value = "slow-median"
    radius = widget.form["radius"]
    assert type(radius).__name__ == "SpinBox" and radius.min == 1 and radius.max == 9 and "median radius" in radius.tooltip
    assert type(widget.form["mode"]).__name__ == "ComboBox" and set(widget.form["mode"].choices) == {"reflect", "nearest"}
    radius.value = 2
    assert widget.spec == spec_of("slow-median", {"radius": 2}) == "restorer:slow-median:radius=2"


def test_cancel_stops_between_planes_and_adds_nothing(make_napari_viewer, qtbot, third_party):
    viewer = make_napari_viewer()
    viewer.add_image(RNG.random((30, 16, 16)).astype(np.float32), name="stack")
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "slow-median"
    widget.form["pause"].value = 0.2
    widget.run()
    qtbot.waitUntil(lambda: widget.progress.value() >= 1, timeout=20000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=20000)
    assert len(viewer.layers) == 1 and "cancelled" in widget.status.text()
    assert widget.run_button.isEnabled()


def test_an_error_is_one_line_in_the_widget_and_adds_nothing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(RNG.random((20, 20, 3)).astype(np.float32), name="rgb", rgb=True)
    widget = RestoreWidget(viewer)
    widget.restorer_box.value = "pnp"
    widget.form["psf"].value = "/no/such/psf.tif"  # refused before a worker starts
    widget.run()
    assert widget.worker is None and widget.status.text() == "error: psf: /no/such/psf.tif does not exist"
    widget.form["psf"].value = ""
    widget.restorer_box.value = "n2n-unet"
    widget.form["weights"].value = "/no/such/weights.safetensors"  # refused by the worker, when it loads them
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    assert len(viewer.layers) == 1 and widget.status.text().startswith("error:") and "does not exist" in widget.status.text()
    assert widget.run_button.isEnabled()


def test_the_reader_opens_an_output_with_its_std_map_and_report(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "out.tif", np.zeros((8, 8), np.float32))
    tifffile.imwrite(tmp_path / "out.std.tif", np.ones((8, 8), np.float32))
    (tmp_path / "out.report.json").write_text(json.dumps({"chain": ["restorer:pnp:samples=4"], "items": [{"output": "out.tif"}]}))
    reader = get_reader(str(tmp_path / "out.tif"))
    layers = reader(str(tmp_path / "out.tif"))
    assert [meta["name"] for _, meta, _ in layers] == ["out", "out std"]
    assert layers[0][1]["metadata"]["imrestore"]["chain"] == ["restorer:pnp:samples=4"]
    tifffile.imwrite(tmp_path / "other.tif", np.zeros((4, 4), np.float32))
    assert get_reader(str(tmp_path / "elsewhere" / "x.tif")) is None
