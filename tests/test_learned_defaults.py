"""The shipped default weights: picked by the chain, announced, and useful."""
import json

import numpy as np
import pytest
from imrestore_builtins.learned import shipped_checkpoints
from PIL import Image as PILImage

from imrestore.chain import Chain
from imrestore.cli import main
from imrestore.datasets import mnist
from imrestore.errors import ChainError
from imrestore.nn.data import split


def shipped(name):
    return any(p.stem == name for p, _ in shipped_checkpoints())


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """20 held-out MNIST digits as 8-bit PNG files."""
    digits, _ = mnist()
    _, val = split(len(digits), 0.2, 0)
    root = tmp_path_factory.mktemp("mnist_in")
    for i in val[:20]:
        PILImage.fromarray((digits[i] * 255).round().astype(np.uint8)).save(root / f"d{i:04d}.png")
    return root


@pytest.mark.parametrize(
    "chain,weights",
    [("blur:sigma=4", "conv-ae-blur"), ("erase:p=0.9", "conv-ae-erase"), ("block:size=10", "conv-ae-block")],
)
def test_conv_ae_defaults_from_the_cli(capsys, mnist_dir, tmp_path, chain, weights):
    if not shipped(weights):
        pytest.skip(f"{weights} not trained yet")
    with pytest.raises(SystemExit) as exc:
        main(["run", chain, "restorer:conv-ae", str(mnist_dir), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 0, err
    assert f"using shipped weights {weights}.safetensors" in err
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert doc["mean"]["restored"]["psnr"] > doc["mean"]["corrupted"]["psnr"] + 1
    out = np.asarray(PILImage.open(tmp_path / "out" / next(iter(sorted(p.name for p in mnist_dir.iterdir())))))
    assert out.dtype == np.uint8 and out.shape == (28, 28)


def test_sr_mnist_default(mnist_dir, tmp_path):
    if not shipped("sr-mnist-x2"):
        pytest.skip("sr-mnist-x2 not trained yet")
    from imrestore.runner import run

    report = run(["downsample:factor=2", "restorer:sr-mnist"], mnist_dir, tmp_path / "out")
    assert not report.failed and report.mean()["restored"]["psnr"] > 15


def test_no_matching_default_is_a_usage_error():
    if not shipped("conv-ae-blur"):
        pytest.skip("no conv-ae weights yet")
    with pytest.raises(ChainError, match="no shipped conv-ae weights match the chain \\(corruption:poisson"):
        Chain.from_specs(["poisson", "restorer:conv-ae"])


def test_conv_ae_on_a_photo_fails_the_item_with_a_pointer(tmp_path, capsys):
    if not shipped("conv-ae-blur"):
        pytest.skip("no conv-ae weights yet")
    from skimage import data

    (tmp_path / "in").mkdir()
    PILImage.fromarray(data.camera()[:64, :64]).save(tmp_path / "in" / "cam.png")
    with pytest.raises(SystemExit) as exc:
        main(["run", "blur:sigma=4", "restorer:conv-ae", str(tmp_path / "in"), str(tmp_path / "out")])
    assert exc.value.code == 1
    assert "use restorer:n2n-unet" in capsys.readouterr().out


@pytest.mark.parametrize("channels", [1, 3])
def test_n2n_unet_default_picks_by_channels(channels, tmp_path):
    name = "n2n-unet-gaussian-grey" if channels == 1 else "n2n-unet-gaussian-rgb"
    if not shipped(name):
        pytest.skip(f"{name} not trained yet")
    from skimage import data

    img = (data.camera()[100:164, 100:164] / 255.0).astype(np.float32)
    if channels == 3:
        img = (data.astronaut()[100:164, 200:264] / 255.0).astype(np.float32)
    out = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"]).apply(img, seed=0)
    assert out.restored.shape == img.shape
    assert out.metrics["restored"]["psnr"] > out.metrics["corrupted"]["psnr"] + 3


def test_edsr_default(tmp_path):
    if not shipped("edsr-x2"):
        pytest.skip("edsr-x2 not trained yet")
    from skimage import data

    img = (data.astronaut()[100:164, 200:264] / 255.0).astype(np.float32)
    out = Chain.from_specs(["downsample:factor=2", "restorer:edsr"]).apply(img, seed=0)
    assert out.restored.shape == img.shape and out.metrics["restored"]["psnr"] > 22


def test_every_default_named_in_train_defaults_is_shipped_with_its_metadata():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("train_defaults", Path(__file__).parents[1] / "benchmarks" / "train_defaults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped_names = {p.stem: m for p, m in shipped_checkpoints()}
    assert set(module.DEFAULTS) == set(shipped_names)
    for name, meta in shipped_names.items():
        assert meta["corruptions"] and meta["history"] and meta["imrestore_version"]
        assert meta["network"] == name.rsplit("-", 2)[0] or name.startswith(meta["network"])


def test_self_ensemble_keeps_shape_and_helps_a_little():
    import numpy as np
    from skimage import data

    import imrestore

    clean = (data.camera()[100:164, 60:140] / 255.0).astype(np.float32)  # not square: rotations change the shape
    noisy = imrestore.build("gaussian:sigma=25")(clean, 0)
    plain = imrestore.build("restorer:n2n-unet")
    plain.prepare([imrestore.build("gaussian:sigma=25")])
    ens = imrestore.build("restorer:n2n-unet:ensemble=true")
    ens.prepare([imrestore.build("gaussian:sigma=25")])
    a, b = plain(noisy), ens(noisy)
    assert b.shape == clean.shape and b.dtype == np.float32
    mse = lambda x: float(np.mean((x - clean) ** 2))  # noqa: E731
    assert mse(b) < mse(a) * 1.02 and not np.allclose(a, b)


def test_real_data_are_restored_with_the_self_ensemble_by_default():
    """No corruption in the chain: one restoration of a real acquisition, x8 self-ensemble unless ensemble=false."""
    import numpy as np
    from skimage import data

    import imrestore

    noisy = (data.camera()[200:248, 200:264] / 255.0 + np.random.default_rng(0).normal(0, 0.08, (48, 64))).astype(np.float32)
    default, single, forced = (imrestore.build(s) for s in ("restorer:n2n-unet", "restorer:n2n-unet:ensemble=false",
                                                             "restorer:n2n-unet:ensemble=true"))
    for r in (default, single, forced):
        r.prepare([])
    assert default.ensembles and not single.ensembles
    np.testing.assert_allclose(default(noisy), forced(noisy), atol=1e-6)
    assert not np.allclose(default(noisy), single(noisy), atol=1e-4)
    bench = imrestore.build("restorer:n2n-unet")
    bench.prepare([imrestore.build("gaussian:sigma=25")])
    assert not bench.ensembles  # a synthetic benchmark measures the network as trained
