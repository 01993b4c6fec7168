"""The chain (imrestore/chain.py): order rules, seeded corruptions, restore, measure, run_arrays."""
from __future__ import annotations

import numpy as np
import pytest

from imrestore.chain import Chain, item_rng, measure, metric_keys
from imrestore.errors import ChainError, SpecError
from imrestore.registry import build


def test_corruptions_must_come_before_the_one_restorer():
    with pytest.raises(ChainError, match="before the restorer"):
        Chain.from_specs(["restorer:tv", "gaussian:sigma=5"])
    with pytest.raises(ChainError, match="at most one restorer"):
        Chain.from_specs(["restorer:tv", "restorer:wavelet"])
    with pytest.raises(SpecError, match="use `metrics` for metrics"):
        Chain.from_specs(["metric:psnr"])


def test_default_metrics_only_when_the_chain_corrupts():
    assert Chain.from_specs(["gaussian:sigma=5"]).metric_keys == ["psnr", "ssim"]
    assert Chain.from_specs(["restorer:tv"]).metric_keys == ["noise", "residual", "whiteness", "edges"]  # real data: no reference
    assert not Chain.from_specs(["restorer:tv"]).has_reference and Chain.from_specs(["gaussian"]).has_reference


def test_corruption_draws_depend_on_seed_key_and_position(camera):
    chain = Chain.from_specs(["gaussian:sigma=10", "gaussian:sigma=10"], metrics=[])
    a, _ = chain.corrupt(camera, seed=1, key="x")
    assert np.array_equal(a, chain.corrupt(camera, seed=1, key="x")[0])
    assert not np.array_equal(a, chain.corrupt(camera, seed=2, key="x")[0])
    assert not np.array_equal(a, chain.corrupt(camera, seed=1, key="y")[0])
    assert item_rng(0, "k", 0).random() != item_rng(0, "k", 1).random()


def test_restore_is_none_without_a_restorer(camera):
    assert Chain.from_specs(["gaussian"]).restore(camera, {}) is None
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:tv"])
    noisy, degradation = chain.corrupt(camera, seed=0, key="cam")
    assert chain.restore(noisy, degradation).shape == camera.shape


def test_measure_leaves_a_cell_empty_for_other_shapes_and_unmeasurable_images():
    notes: list[str] = []
    metrics = [build("metric:psnr"), build("metric:ssim")]
    assert measure(metrics, np.zeros((4, 4)), np.zeros((5, 5))) == {"psnr": None, "ssim": None}
    out = measure(metrics, np.zeros((1, 1)), np.full((1, 1), 0.5), notes)
    assert out["ssim"] is None and out["psnr"] == pytest.approx(6.0206, abs=1e-3) and notes
    assert metric_keys([build("metric:psnr"), build("metric:psnr:data_range=2")]) == ["psnr", "psnr:data_range=2.0"]


def test_run_arrays_keys_seed_and_report(camera):
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:tv"])
    outs, report = chain.run_arrays({"a": camera, "b": camera})
    assert list(outs) == ["a", "b"] and not np.array_equal(outs["a"].corrupted, outs["b"].corrupted)
    assert report.chain == chain.specs and report.input == "<arrays>"
    assert report.mean()["restored"]["psnr"] > report.mean()["corrupted"]["psnr"]


def test_a_larger_output_gets_its_noise_level_and_a_note_for_the_metrics_that_compare_pixel_by_pixel():
    from imrestore.chain import NO_REFERENCE_METRICS, measure
    from imrestore.registry import build

    rng = np.random.default_rng(0)
    low = np.clip(0.5 + 0.02 * rng.standard_normal((48, 48)), 0, 1).astype(np.float32)
    high = np.kron(low, np.ones((2, 2), np.float32))
    notes: list[str] = []
    values = measure([build(m, kind="metric") for m in NO_REFERENCE_METRICS], low, high, notes)
    assert values["noise"] is not None and values["noise"] > 0
    assert values["residual"] is None and values["whiteness"] is None and values["edges"] is None
    assert notes == ["residual, whiteness, edges compare the output with the input pixel by pixel, and the output is 96x96, the input 48x48"]
    full = measure([build("psnr", kind="metric")], high, low, notes)  # a full-reference metric on other sizes: None, no note
    assert full == {"psnr": None} and len(notes) == 1
