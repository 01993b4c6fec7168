"""The harm check (imrestore.nn.harm): without a clean image and without trusting a noise model, weights that make the
data worse are caught at training and kept off the data at run time; good ones are kept."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage import data
from skimage.restoration import denoise_tv_chambolle

import imrestore.nn.selfsup_checks as selfsup_checks
from imrestore.chain import Chain
from imrestore.nn.checkpoint import read_metadata
from imrestore.nn.harm import HarmCheck, harm_check, jinv_loss, lowest_noise_variance
from imrestore.nn.training import TrainOptions, train
from imrestore.noise import Gaussian, NoiseEstimate
from tests.helpers import call


@pytest.fixture(scope="module")
def photo():
    """A textured grey photograph (128 x 128 of camera) and a draw of white Gaussian noise of sigma 25 on it."""
    clean = data.camera()[96:224, 160:288] / 255.0
    noisy = (clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape)).astype(np.float32)
    return clean.astype(np.float32), noisy


def test_the_jinvariant_loss_is_the_error_plus_the_noise_variance(photo):
    clean, noisy = photo
    denoise = lambda images: [denoise_tv_chambolle(im, weight=0.08).astype(np.float32) for im in images]
    loss = jinv_loss(denoise, [noisy], draws=8)
    truth = float(np.mean((denoise([noisy])[0] - clean) ** 2)) + (25 / 255) ** 2
    assert loss == pytest.approx(truth, rel=0.25)  # scored without the hidden pixels: a little pessimistic, never optimistic


def blur(images):
    return [ndimage.gaussian_filter(im, 2.0) for im in images]


def test_a_blurring_restoration_is_caught_and_a_good_one_kept_without_a_clean_image(photo):
    clean, noisy = photo
    good = harm_check(lambda ims: [denoise_tv_chambolle(im, weight=0.08).astype(np.float32) for im in ims], [noisy])
    assert good.helps and good.gain_db > 2
    faint = (clean + np.random.default_rng(1).normal(0, 5 / 255, clean.shape)).astype(np.float32)  # little noise: blur harms
    assert np.mean((blur([faint])[0] - clean) ** 2) > 4 * (5 / 255) ** 2  # (so the truth says)
    check = harm_check(blur, [faint])
    assert not check.helps and check.gain_db < -3


def test_an_overestimated_noise_model_cannot_pass_a_harmful_restoration(photo):
    clean, _ = photo
    faint = (clean + np.random.default_rng(1).normal(0, 5 / 255, clean.shape)).astype(np.float32)
    wrong = Gaussian(8 * 5 / 255)  # eight times the noise: what texture taken for noise does to a model
    assert lowest_noise_variance([faint], wrong) < (2 * 5 / 255) ** 2  # the lower estimate wins
    assert not harm_check(blur, [faint], model=wrong).helps


def test_the_verdict_says_what_it_weighed():
    check = HarmCheck(loss=0.03, noise_var=0.01)
    assert not check.helps and check.mse == pytest.approx(0.02) and check.gain_db == pytest.approx(-3.01, abs=0.01)
    assert check.as_dict()["helps"] is False and "does NOT beat" in check.describe()


def _photos(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    crops = [data.camera()[:128, :128], data.coins()[100:228, 100:228], data.moon()[200:328, 200:328]][:n]
    return [(c / 255.0 + rng.normal(0, 25 / 255, c.shape)).astype(np.float32) for c in crops]


def _options(**kw) -> TrainOptions:
    return TrainOptions(**{**dict(targets="self", self_method="sure", epochs=1, steps_per_epoch=2, batch_size=4, crop=64,
                                  val_fraction=0.34, val_crop=96, lr=1e-4), **kw})


def test_weights_trained_with_a_wrong_noise_model_are_caught_and_run_keeps_the_data(tmp_path, monkeypatch, capsys):
    images = _photos()
    wrong = NoiseEstimate(Gaussian(8 * 25 / 255), reason="a wrong model, as texture gives")  # SURE then learns to blur
    monkeypatch.setattr(selfsup_checks, "data_noise", lambda planes, model="auto": wrong)
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, images, tmp_path / "blur.safetensors", _options(steps_per_epoch=30, lr=3e-3, net={"features": 8}))
    assert log["harm_check"]["helps"] is False and log["history"][-1]["beats_data"] is False
    assert read_metadata(tmp_path / "blur.safetensors")["harm_check"]["helps"] is False  # the weights carry the verdict
    (tmp_path / "data").mkdir()
    for i, image in enumerate(images):
        tifffile.imwrite(tmp_path / "data" / f"{i}.tif", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    weights = tmp_path / "blur.safetensors"
    code, _, err = call(capsys, "run", f"restorer:n2n-unet:weights={weights}", str(tmp_path / "data"), str(tmp_path / "kept"), "-q")
    assert code == 0 and "did not beat the data as they are" in err and err.count("did not beat") == 1  # one warning
    for i in range(len(images)):
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "kept" / f"{i}.tif"), tifffile.imread(tmp_path / "data" / f"{i}.tif"))
    code, _, err = call(capsys, "run", f"restorer:n2n-unet:weights={weights},force=true", str(tmp_path / "data"), str(tmp_path / "forced"), "-q")
    assert code == 0, err
    assert not np.array_equal(tifffile.imread(tmp_path / "forced" / "0.tif"), tifffile.imread(tmp_path / "data" / "0.tif"))


def test_good_weights_pass_the_check_and_training_starts_from_the_shipped_ones_by_default(tmp_path, caplog):
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    with caplog.at_level("INFO", logger="imrestore"):
        log = train(chain, _photos(), tmp_path / "good.safetensors", _options())
    assert log["init_weights"]["file"] == "n2n-unet-gaussian-grey.safetensors"  # --init auto: the shipped blind start
    assert "--init none trains from scratch" in caplog.text
    gain = log["harm_check"]["estimated_gain_db"]  # None: no error left that the noise estimate can resolve
    assert log["harm_check"]["helps"] is True and (gain is None or gain > 3)
    assert "beats the data as they are" in caplog.text
    assert log["history"][-1]["val_jinv_loss"] > 0  # the epoch is chosen by the same criterion


def test_init_none_trains_from_scratch(tmp_path):
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, _photos(2), tmp_path / "w.safetensors", _options(init="none", val_fraction=0.5, net={"features": 8}))
    assert "init_weights" not in log and read_metadata(tmp_path / "w.safetensors")["config"]["features"] == 8


def test_the_run_log_says_what_self_supervised_weights_were_trained_on(tmp_path, capsys):
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    train(chain, _photos(2), tmp_path / "w.safetensors", _options(init="none", val_fraction=0.5, net={"features": 8}))
    tifffile.imwrite(tmp_path / "x.tif", (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    code, _, err = call(capsys, "run", f"restorer:n2n-unet:weights={tmp_path / 'w.safetensors'},force=true", str(tmp_path / "x.tif"),
                        str(tmp_path / "o.tif"))
    assert code == 0 and "trained on the noisy data <arrays> themselves (sure)" in err and "trained for ?" not in err
    assert json.loads((tmp_path / "o.report.json").read_text())["metrics"][-1] == "edges"


def test_adapt_keeps_the_trained_network_where_the_adapted_one_does_worse_on_the_held_out_pixels(photo):
    import torch

    from imrestore_builtins.learned import N2NUNetRestorer

    def mean_filter(k: int) -> torch.nn.Module:
        net = torch.nn.Conv2d(1, 1, k, padding=k // 2, padding_mode="reflect", bias=False)
        with torch.no_grad():
            net.weight.fill_(1 / k**2)
        return net

    clean, noisy = photo
    faint = (clean + np.random.default_rng(2).normal(0, 2 / 255, clean.shape)).astype(np.float32)
    restorer = N2NUNetRestorer()
    assert restorer._adapted_is_better(mean_filter(3), mean_filter(9), noisy)  # the truth: 2.9e-3 against 9.1e-3
    assert not restorer._adapted_is_better(mean_filter(9), mean_filter(3), faint)  # 8.9e-3 against 1.8e-3
