"""Noise2Noise from two real acquisitions (``--targets noisy --pairs DATA2``): no corruption drawn, the data are the pairs."""
import numpy as np
import pytest
import tifffile

from imrestore.chain import Chain
from imrestore.errors import ChainError, ImrestoreUsageError
from imrestore.helpers import psnr
from imrestore.nn.checkpoint import read_metadata
from imrestore.nn.batches import BatchMaker
from imrestore.nn.training import TrainingData, TrainOptions, train
from imrestore.synthetic import fluorescence_stack
from tests.helpers import call


def acquisitions(shape=(8, 96, 96), seed=1):
    """A synthetic fluorescence stack (the truth) and two independent Poisson-Gaussian acquisitions of it."""
    clean = fluorescence_stack(shape, seed=seed)
    rng = np.random.default_rng(seed + 10)
    first, second = ((rng.poisson(clean / 0.02) * 0.02 + rng.normal(0, 0.02, clean.shape)).astype(np.float32) for _ in range(2))
    return clean, first, second


@pytest.fixture(scope="module")
def data():
    return acquisitions()


def options(**kw) -> TrainOptions:
    values = dict(targets="noisy", epochs=1, steps_per_epoch=40, batch_size=4, crop=64, net={"features": 8}, val_fraction=0.25, lr=3e-3)
    return TrainOptions(**{**values, **kw})


def test_batches_take_the_same_crop_of_both_acquisitions():
    rng = np.random.default_rng(0)
    a = rng.random((40, 50), dtype=np.float32)
    maker = BatchMaker([a], Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False), options(batch_size=6),
                       crop=16, steps_per_epoch=1, partners=[a + 1])
    x, y = (np.asarray(t) for t in maker[0])
    assert x.shape == y.shape == (6, 16, 16, 1)
    assert np.allclose(np.abs(x - y), 1.0)  # the same pixels, one of each acquisition
    assert (x > 1).any() and (y > 1).any()  # either acquisition is the input


def test_two_acquisitions_train_a_denoiser_without_clean_images(data, tmp_path):
    clean, first, second = data
    chain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, TrainingData(list(first), "first", partners=list(second), partners_name="second"), tmp_path / "w.safetensors",
                options())
    meta = read_metadata(tmp_path / "w.safetensors")
    assert meta["pairs"] == "second" and meta["corruptions"] == [] and "second acquisition" in log["val_reference"]
    assert log["history"][-1]["val_psnr"] is not None
    restored = np.stack(Chain.from_specs([f"restorer:n2n-unet:weights={tmp_path / 'w.safetensors'}"], metrics=[])
                        .restorer.restore(list(first), [{} for _ in first]))
    gain = np.mean([psnr(c, r) for c, r in zip(clean, restored)]) - np.mean([psnr(c, n) for c, n in zip(clean, first)])
    assert gain > 3, gain


def test_pairs_are_refused_where_they_do_not_fit(data, tmp_path):
    _, first, second = data
    plain = Chain.from_specs(["restorer:n2n-unet"], metrics=[], prepare=False)
    with pytest.raises(ImrestoreUsageError, match="same shape"):
        train(plain, TrainingData(list(first), partners=list(second[:3])), tmp_path / "w.safetensors", options())
    with pytest.raises(ChainError, match="leave the corruptions out"):
        train(Chain.from_specs(["gaussian:sigma=10", "restorer:n2n-unet"], metrics=[], prepare=False),
              TrainingData(list(first), partners=list(second)), tmp_path / "w.safetensors", options())
    with pytest.raises(ImrestoreUsageError, match="is for .*Noise2Noise"):
        train(plain, TrainingData(list(first), partners=list(second)), tmp_path / "w.safetensors", options(targets="clean"))
    with pytest.raises(ChainError, match="second acquisition"):
        train(plain, list(first), tmp_path / "w.safetensors", options())


def test_cli_trains_on_two_acquisitions_and_restores(capsys, data, tmp_path):
    clean, first, second = data
    for name, acq in (("a.tif", first), ("b.tif", second)):
        tifffile.imwrite(tmp_path / name, np.clip(1000 + acq * 40000, 0, 65535).astype(np.uint16), imagej=True, metadata={"axes": "ZYX"})
    weights = tmp_path / "n2n.safetensors"
    code, _, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "noisy", str(tmp_path / "a.tif"), "--pairs", str(tmp_path / "b.tif"),
                        "-o", str(weights), "--net", "features=8", "--epochs", "1", "--steps-per-epoch", "40", "--batch-size", "4",
                        "--lr", "3e-3", "-q")
    assert code == 0, err
    code, _, err = call(capsys, "run", f"restorer:n2n-unet:weights={weights}", str(tmp_path / "a.tif"), str(tmp_path / "out"), "-q")
    assert code == 0, err
    restored = tifffile.imread(tmp_path / "out" / "a.tif")
    truth = (1000 + clean * 40000) / 65535
    assert restored.dtype == np.uint16
    assert psnr(truth, restored / 65535) > psnr(truth, np.clip(1000 + first * 40000, 0, 65535).astype(np.uint16) / 65535) + 3
    code, _, err = call(capsys, "train", "restorer:n2n-unet", "--targets", "noisy", str(tmp_path / "a.tif"), "--pairs", str(tmp_path / "nope"),
                        "-o", str(weights))
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
