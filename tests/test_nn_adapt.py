"""Per-image SURE adaptation (imrestore.nn.adapt) and restorer:n2n-unet:adapt=N."""
import numpy as np
import pytest
import torch
from imrestore_builtins.learned import shipped_checkpoints

import imrestore
from imrestore.cli import main
from imrestore.nn.adapt import sure_adapt, sure_loss

pytestmark = pytest.mark.skipif(not any(p.stem == "n2n-unet-gaussian-grey" for p, _ in shipped_checkpoints()),
                                reason="grey n2n-unet weights not shipped")


def _grey_unet():
    from imrestore.nn.checkpoint import load_checkpoint

    path = next(p for p, _ in shipped_checkpoints() if p.stem == "n2n-unet-gaussian-grey")
    return load_checkpoint(path, expect="n2n-unet")[0]


def _china(size=128):
    from skimage.color import rgb2gray
    from sklearn.datasets import load_sample_images

    img = rgb2gray(load_sample_images().images[0]).astype(np.float32)  # held out from the shipped weights' training
    return img[150 : 150 + size, 250 : 250 + size]  # roof tiles and railings: the texture the weights miss


def _noisy(clean, sigma, seed=0):
    return (clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)).astype(np.float32)


def _psnr(x, ref):
    return float(10 * np.log10(1 / np.mean((np.clip(x, 0, 1) - ref) ** 2)))


def test_sure_estimates_the_unseen_mse_of_a_real_denoiser():
    model, clean, sigma = _grey_unet(), _china(), 25 / 255
    y = torch.from_numpy(_noisy(clean, sigma))[None, None]
    with torch.no_grad():
        true_mse = float(((model(y) - torch.from_numpy(clean)) ** 2).mean())
        gen = torch.Generator().manual_seed(0)
        estimates = [float(sure_loss(model, y, sigma, gen)) for _ in range(4)]
        residual = float(((model(y) - y) ** 2).mean())
    # the estimate knows only y and sigma, yet lands on the MSE against the clean image
    assert np.median(estimates) == pytest.approx(true_mse, rel=0.05)
    # which the residual does not: it counts the removed noise as error
    assert residual > 2 * true_mse


def test_sure_of_a_linear_map_matches_its_closed_form():
    y = torch.from_numpy(_noisy(_china(128), 0.1))[None, None]
    a, sigma = 0.7, 0.1
    got = float(sure_loss(lambda t: a * t, y, sigma, torch.Generator().manual_seed(0)))
    expected = float(((y - a * y) ** 2).mean()) - sigma**2 + 2 * sigma**2 * a  # div(a y) = a N
    assert got == pytest.approx(expected, rel=0.02)  # the Monte-Carlo divergence is within ~1 %


@pytest.mark.slow
def test_adapting_to_a_textured_image_helps_and_leaves_the_shared_model_alone():
    model, clean, sigma = _grey_unet(), _china(), 25 / 255
    noisy = _noisy(clean, sigma)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned, _, _ = sure_adapt(model, noisy, sigma, steps=12, lr=6e-5)
    with torch.no_grad():
        x = torch.from_numpy(noisy)[None, None]
        plain, adapted = model(x)[0, 0].numpy(), tuned(x)[0, 0].numpy()
    assert _psnr(adapted, clean) > _psnr(plain, clean) + 0.3
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    again, _, _ = sure_adapt(model, noisy, sigma, steps=12, lr=6e-5)  # seeded: the same network again
    assert all(torch.equal(a, b) for a, b in zip(tuned.parameters(), again.parameters()))


def test_sure_keeps_the_shipped_network_when_the_adapted_one_is_worse():
    model, clean, sigma = _grey_unet(), _china(64), 25 / 255
    noisy = _noisy(clean, sigma)
    wrecked, before, after = sure_adapt(model, noisy, sigma, steps=3, lr=0.05)
    assert wrecked is model and after > before  # SURE sees the wrecked copy and refuses it
    tuned, before, after = sure_adapt(model, noisy, sigma, steps=12, lr=6e-5)
    assert tuned is not model and after < before
    noisy[5, 5] = np.nan  # a dead pixel stored as NaN: the estimate is NaN, the model is kept
    assert sure_adapt(model, noisy, sigma, steps=2)[0] is model


@pytest.mark.slow  # 3 s: three restorers, two adapting; the default run is near its 2 minutes (CI runs it)
def test_restorer_adapt_uses_the_chains_sigma_and_keeps_shape(tmp_path):
    clean = _china(96)
    noisy = imrestore.build("gaussian:sigma=25")(clean, 0)
    corruption = imrestore.build("gaussian:sigma=25")
    restorers = {spec: imrestore.build(spec) for spec in ("restorer:n2n-unet", "restorer:n2n-unet:adapt=6,adapt_lr=6e-5",
                                                           "restorer:n2n-unet:adapt=6,adapt_lr=6e-5,sigma=25")}
    outs = {}
    for spec, r in restorers.items():
        r.prepare([corruption])
        outs[spec] = r(noisy, {"noise_sigma": 25 / 255} if "sigma=25" not in spec else {})
        assert outs[spec].shape == clean.shape and outs[spec].dtype == np.float32
    adapted = outs["restorer:n2n-unet:adapt=6,adapt_lr=6e-5"]
    assert np.array_equal(adapted, outs["restorer:n2n-unet:adapt=6,adapt_lr=6e-5,sigma=25"])  # parameter = chain's sigma
    assert _psnr(adapted, clean) > _psnr(outs["restorer:n2n-unet"], clean)


def test_adapt_rgb_with_a_window_smaller_than_the_image():
    from skimage import data

    clean = (data.astronaut()[100:196, 150:246] / 255.0).astype(np.float32)
    r = imrestore.build("restorer:n2n-unet:adapt=2,adapt_crop=64")
    r.prepare([imrestore.build("gaussian:sigma=25")])
    out = r(imrestore.build("gaussian:sigma=25")(clean, 0))
    assert out.shape == clean.shape and np.isfinite(out).all()


def test_adapt_from_the_cli(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.fromarray((_china(96) * 255).round().astype(np.uint8)).save(tmp_path / "in" / "china.png")
    with pytest.raises(SystemExit) as exc:
        main(["run", "gaussian:sigma=25", "restorer:n2n-unet:adapt=3", str(tmp_path / "in"), str(tmp_path / "out"), "-q"])
    assert exc.value.code == 0, capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "out" / "china.png"))
    assert out.dtype == np.uint8 and out.shape == (96, 96)
    with pytest.raises(SystemExit) as exc:
        main(["run", "gaussian:sigma=25", "restorer:n2n-unet:adapt=-1", str(tmp_path / "in"), str(tmp_path / "o2")])
    assert exc.value.code == 2 and "adapt" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_adapt_warns_when_the_chain_adds_no_gaussian_noise(caplog):
    grey = next(p for p, _ in shipped_checkpoints() if p.stem == "n2n-unet-gaussian-grey")
    r = imrestore.build(f"restorer:n2n-unet:adapt=2,weights={grey}")
    with caplog.at_level("WARNING", logger="imrestore"):
        r.prepare([imrestore.build("gaussian:sigma=25")])
        assert not caplog.records
        r.prepare([imrestore.build("poisson")])
    assert "white Gaussian noise" in caplog.text and "poisson" in caplog.text


def test_restorer_says_when_adapting_did_not_help_and_restores_as_trained(caplog):
    clean = _china(64)
    noisy = imrestore.build("gaussian:sigma=25")(clean, 0)
    plain, wild = imrestore.build("restorer:n2n-unet"), imrestore.build("restorer:n2n-unet:adapt=3,adapt_lr=0.05")
    for r in (plain, wild):
        r.prepare([imrestore.build("gaussian:sigma=25")])
    with caplog.at_level("INFO", logger="imrestore"):
        out = wild(noisy, {"noise_sigma": 25 / 255})
    assert "adapting did not help this image" in caplog.text
    assert np.array_equal(out, plain(noisy, {"noise_sigma": 25 / 255}))
