"""Self-supervised training (``--targets self``): the methods' building blocks, a gain on noisy data alone, the CLI."""
import json

import numpy as np
import pytest
import tifffile
import torch

from imrestore.chain import Chain
from imrestore.helpers import psnr
from imrestore.nn.checkpoint import load_checkpoint, read_metadata
from imrestore.nn.models import build_network
from imrestore.nn.selfsup import (
    METHODS,
    RADIUS,
    blind_spot_input,
    blind_spot_mask,
    choose,
    data_noise,
    neighbour_subsample,
)
from imrestore.nn.training import TrainOptions, train
from imrestore.noise import Gaussian, NoiseEstimate, PoissonGaussian
from imrestore.synthetic import fluorescence_stack
from tests.helpers import call

PG = "poisson-gaussian:a=0.02,b=0.0004"


def noisy_stack(shape, seed: int):
    """A synthetic fluorescence stack (the truth) and one Poisson-Gaussian draw of it (the data)."""
    clean = fluorescence_stack(shape, seed=seed)
    rng = np.random.default_rng(seed + 4)
    noisy = (rng.poisson(clean / 0.02) * 0.02 + rng.normal(0, 0.02, clean.shape)).astype(np.float32)
    return clean, noisy


@pytest.fixture(scope="module")
def stack():
    return noisy_stack((8, 96, 96), seed=1)


def tiny(method: str, **kw) -> TrainOptions:
    values = dict(targets="self", self_method=method, epochs=1, steps_per_epoch=40, batch_size=4, crop=64,
                  net={"features": 8}, val_fraction=0.25, lr=3e-3)
    return TrainOptions(**{**values, **kw})


# --------------------------------------------------------------------------- building blocks
def test_blind_spot_masks_are_more_than_the_replacement_radius_apart():
    mask = blind_spot_mask((3, 1, 64, 80), torch.Generator().manual_seed(0))[:, 0]
    assert mask.shape == (3, 64, 80) and 0.03 < float(mask.float().mean()) < 0.05
    for m in mask:
        ys, xs = np.nonzero(m.numpy())
        d = np.maximum(np.abs(ys[:, None] - ys[None]), np.abs(xs[:, None] - xs[None]))
        np.fill_diagonal(d, 10**6)
        assert d.min() > RADIUS


@pytest.mark.parametrize("top_skip", [True, False])
def test_blind_spot_never_lets_a_masked_pixel_see_its_own_noisy_value(top_skip):
    """The gradient of the outputs at the masked pixels with respect to the noisy values there is exactly zero."""
    net = build_network("n2n-unet", {"features": 8, "top_skip": top_skip, "blur_pool": not top_skip}).eval()
    y = torch.rand(2, 1, 64, 64, requires_grad=True)
    mask = blind_spot_mask(y.shape, torch.Generator().manual_seed(3))
    (net(blind_spot_input(y, mask)) * mask).sum().backward()
    assert float(y.grad[mask].abs().max()) == 0.0
    assert float(y.grad[~mask].abs().max()) > 0  # the neighbours do inform the prediction
    y.grad = None
    (net(y) * mask).sum().backward()  # the control: without the blind spot, a pixel sees itself
    assert float(y.grad[mask].abs().max()) > 0


def test_neighbour_subsample_takes_two_different_pixels_of_each_cell():
    y = torch.arange(16.0).reshape(1, 1, 4, 4)
    choice = torch.randint(0, 8, (1, 2, 2), generator=torch.Generator().manual_seed(0))
    g1, g2 = neighbour_subsample(y, choice)
    for i in range(2):
        for j in range(2):
            cell = set(y[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].flatten().tolist())
            a, b = float(g1[0, 0, i, j]), float(g2[0, 0, i, j])
            assert a in cell and b in cell and a != b
            ya, xa = divmod(int(a), 4)
            yb, xb = divmod(int(b), 4)
            assert abs(ya - yb) + abs(xa - xb) == 1  # 4-neighbours


def test_auto_chooses_sure_for_a_known_model_and_trains_poisson_gaussian_noise_in_the_anscombe_domain():
    g = choose("auto", NoiseEstimate(Gaussian(0.1)))
    assert g.method.name == "sure" and g.domain is None and "SURE" in g.reason
    pg = choose("auto", NoiseEstimate(PoissonGaussian(0.01, 0.0001)))
    assert pg.domain is not None and pg.method.sigma == pytest.approx(pg.domain.sigma)
    assert "Anscombe" in pg.reason and pg.record()["domain"]["model"] == "poisson-gaussian"
    assert choose("neighbor", NoiseEstimate(Gaussian(0.1))).reason == "as asked"


def test_data_noise_takes_the_majority_model_and_median_parameters(stack):
    _, noisy = stack
    est = data_noise(list(noisy), "poisson-gaussian")
    assert isinstance(est.model, PoissonGaussian)
    assert est.model.a == pytest.approx(0.02, rel=0.3)


# --------------------------------------------------------------------------- training
# neighbor (the fastest) stands for the three in the default run, which is near its 2-minute limit; CI runs all three
@pytest.mark.parametrize("method", [m if m == "neighbor" else pytest.param(m, marks=pytest.mark.slow) for m in METHODS])
def test_each_method_gains_3_db_from_the_noisy_stack_alone(method, stack, tmp_path):
    """Trained on one noisy draw (the chain's corruption is drawn once per plane), scored against the clean planes."""
    clean, _ = stack
    chain = Chain.from_specs([PG, "restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, list(clean), tmp_path / "w.safetensors", tiny(method))
    last = log["history"][-1]
    assert log["self_supervised"]["method"] == method
    assert last["val_psnr"] > last["val_input_psnr"] + 3, last
    assert last["val_loss"] is not None


def test_self_supervised_training_is_reproducible_with_a_seed(stack, tmp_path):
    clean, _ = stack
    chain = Chain.from_specs([PG, "restorer:n2n-unet"], metrics=[], prepare=False)
    weights = []
    for run in ("a", "b"):
        train(chain, list(clean), tmp_path / f"{run}.safetensors", tiny("neighbor", steps_per_epoch=6, seed=3))
        model, _ = load_checkpoint(tmp_path / f"{run}.safetensors")
        weights.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_gaussian_noise_reports_sures_psnr_estimate_close_to_the_truth(stack, tmp_path):
    clean, _ = stack
    chain = Chain.from_specs(["gaussian:sigma=15", "restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, list(clean), tmp_path / "w.safetensors", tiny("neighbor", noise="gaussian"))
    last = log["history"][-1]
    assert last["val_sure_psnr"] == pytest.approx(last["val_psnr"], abs=1.0)


def test_init_shipped_fine_tunes_the_blind_weights_and_records_them(stack, tmp_path):
    _, noisy = stack
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    train(chain, list(noisy), tmp_path / "w.safetensors", tiny("neighbor", steps_per_epoch=1, init="shipped", net={}))
    meta = read_metadata(tmp_path / "w.safetensors")
    assert meta["init_weights"]["file"] == "n2n-unet-gaussian-grey.safetensors"
    assert meta["config"]["features"] == 48


def test_blind_spot_trains_the_n2v2_network_from_scratch(stack, tmp_path):
    clean, _ = stack
    chain = Chain.from_specs([PG, "restorer:n2n-unet"], metrics=[], prepare=False)
    train(chain, list(clean), tmp_path / "w.safetensors", tiny("blind-spot", steps_per_epoch=2))
    meta = read_metadata(tmp_path / "w.safetensors")
    assert meta["config"]["top_skip"] is False and meta["config"]["blur_pool"] is True


# --------------------------------------------------------------------------- the command line
def test_cli_trains_on_a_noisy_tiff_stack_and_restores_it(capsys, stack, tmp_path):
    """A real acquisition (a camera's offset, then photons): no corruption anywhere; the restored stack keeps the dtype
    and is closer to the truth."""
    clean, noisy = stack
    stored = np.clip(2000 + noisy * 30000, 0, 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "noisy.tif", stored)
    weights = tmp_path / "self.safetensors"
    code, out, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "self", "--self", "sure", "--noise", "poisson-gaussian",
                          str(tmp_path / "noisy.tif"), "-o", str(weights), "--net", "features=8", "--crop", "64", "--batch-size", "4",
                          "--epochs", "1", "--steps-per-epoch", "40", "--lr", "3e-3")
    assert code == 0, err
    assert "self-supervised training by sure (as asked" in err and "Anscombe" in err
    assert "validation loss" in out
    meta = read_metadata(weights)
    assert meta["targets"] == "self" and meta["self_supervised"]["domain"]["model"] == "poisson-gaussian"
    code, out, err = call(capsys, "run", f"restorer:n2n-unet:weights={weights}", str(tmp_path / "noisy.tif"), str(tmp_path / "out"), "-q")
    assert code == 0, err
    restored = tifffile.imread(tmp_path / "out" / "noisy.tif")
    assert restored.dtype == np.uint16
    truth = (2000 + clean * 30000) / 65535
    assert psnr(truth, restored / 65535) > psnr(truth, stored / 65535) + 3
    doc = json.loads((tmp_path / "out" / "noisy.tif.report.json").read_text())
    assert doc["reference"] == "none"


def test_cli_refuses_a_loss_with_targets_self(capsys, tmp_path):
    code, _, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "self", "--loss", "l1", "skimage", "-o", str(tmp_path / "w.safetensors"))
    assert code == 2
    assert "--loss does not apply to --targets self" in err and "Traceback" not in err


# --------------------------------------------------------------------------- 3-D
@pytest.fixture(scope="module")
def deep_stack():
    """A stack deep enough that training crops have planes on both sides (what real stacks give)."""
    return noisy_stack((24, 64, 64), seed=2)


def test_3d_blind_spot_masks_keep_their_distance_and_hide_their_value():
    mask = blind_spot_mask((1, 1, 12, 40, 40), torch.Generator().manual_seed(1))
    idx = np.argwhere(mask[0, 0].numpy())
    d = np.abs(idx[:, None] - idx[None]).max(-1)
    np.fill_diagonal(d, 99)
    assert d.min() > RADIUS and 0.005 < float(mask.float().mean()) < 0.02
    net = build_network("n2n-unet", {"features": 4, "dims": 3, "top_skip": False, "blur_pool": True}).eval()
    y = torch.rand(1, 1, 12, 40, 40, requires_grad=True)
    (net(blind_spot_input(y, mask)) * mask).sum().backward()
    assert float(y.grad[mask].abs().max()) == 0.0 and float(y.grad[~mask].abs().max()) > 0


def test_neighbour_subsample_keeps_z_whole_in_3d():
    y = torch.rand(2, 1, 5, 8, 6)
    g1, g2 = neighbour_subsample(y, torch.randint(0, 8, (2, 5, 4, 3), generator=torch.Generator().manual_seed(0)))
    assert g1.shape == g2.shape == (2, 1, 5, 4, 3)
    assert not torch.equal(g1, g2)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_a_3d_network_on_a_stack(method, deep_stack, tmp_path):
    """A 3-D U-Net learns from one noisy stack; the last planes of the stack validate (against the clean ones)."""
    clean, _ = deep_stack
    chain = Chain.from_specs([PG, "restorer:n2n-unet"], metrics=[], prepare=False)
    steps = 250 if method == "blind-spot" else 120  # a blind spot learns from 1.6 % of the voxels: slower
    # lr 1e-3: at 3e-3 the 3-D net (no normalisation) can diverge, as the benchmark's 3-D blind-spot run did
    options = tiny(method, steps_per_epoch=steps, batch_size=2, crop=32, crop_depth=8, lr=1e-3,
                   net={"features": 8, "dims": 3, "z_pools": 1})
    log = train(chain, [clean], tmp_path / "w.safetensors", options)
    last = log["history"][-1]
    assert read_metadata(tmp_path / "w.safetensors")["config"]["dims"] == 3
    assert last["val_psnr"] > last["val_input_psnr"] + 3, last


@pytest.mark.slow
def test_cli_trains_a_3d_network_on_a_stack_and_restores_it_in_slabs(capsys, deep_stack, tmp_path):
    clean, noisy = deep_stack
    stored = np.clip(2000 + noisy * 30000, 0, 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "noisy.tif", stored, imagej=True, metadata={"axes": "ZYX"})
    weights = tmp_path / "w3.safetensors"
    code, out, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "self", "--self", "neighbor", str(tmp_path / "noisy.tif"),
                          "-o", str(weights), "--net", "features=8,dims=3", "--crop", "32", "--crop-depth", "8", "--batch-size", "2",
                          "--epochs", "1", "--steps-per-epoch", "50", "--lr", "3e-3", "--z-scale", "2")
    assert code == 0, err
    assert "Z is pooled 1 times" in err
    code, out, err = call(capsys, "run", f"restorer:n2n-unet:weights={weights}", str(tmp_path / "noisy.tif"), str(tmp_path / "out"), "-q")
    assert code == 0, err
    restored = tifffile.imread(tmp_path / "out" / "noisy.tif")
    truth = (2000 + clean * 30000) / 65535
    assert restored.shape == stored.shape and restored.dtype == np.uint16
    assert psnr(truth, restored / 65535) > psnr(truth, stored / 65535) + 3


def test_3d_training_refuses_a_folder_of_2d_images(capsys, tmp_path):
    code, _, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "self", "skimage", "-o", str(tmp_path / "w.safetensors"),
                        "--net", "dims=3")
    assert code == 2 and "trains on stacks" in err and "Traceback" not in err
