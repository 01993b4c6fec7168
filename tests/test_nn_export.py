"""imrestore export: ONNX graphs at parity with PyTorch at every size, BMZ packages that bioimageio.core passes, and
the round trip back through restorer:bmz and restorer:onnx, on small networks made here."""
from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from helpers import call

from imrestore.nn.checkpoint import save_checkpoint
from imrestore.nn.models import build_network

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
HAVE_BMZ = HAVE_ONNX and importlib.util.find_spec("bioimageio") is not None and importlib.util.find_spec("bioimageio.core") is not None
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="ONNX export and import need onnx and onnxruntime (pip install 'imrestore[onnx]')")
needs_bmz = pytest.mark.skipif(not HAVE_BMZ, reason="BioImage Model Zoo packages need bioimageio.core (pip install 'imrestore[bmz]')")


@pytest.fixture(scope="module")
def small_unet(tmp_path_factory) -> Path:
    """A grey n2n-unet of 8 features with seeded random weights, as imrestore train would write it."""
    torch.manual_seed(0)
    net = build_network("n2n-unet", {"features": 8})
    path = tmp_path_factory.mktemp("weights") / "unet8.safetensors"
    save_checkpoint(path, "n2n-unet", net, {"corruptions": ["corruption:gaussian:sigma=25.0"], "data": "test"})
    return path


@pytest.fixture(scope="module")
def small_edsr(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = build_network("edsr", {"blocks": 2, "features": 16, "channels": 1, "upsample_skip": True})
    path = tmp_path_factory.mktemp("weights") / "edsr.safetensors"
    save_checkpoint(path, "edsr", net, {"corruptions": ["corruption:downsample:factor=2"], "data": "test"})
    return path


def noisy_tiff(path: Path, shape=(150, 110)) -> Path:
    rng = np.random.default_rng(0)
    from skimage import data

    img = data.camera()[:shape[0], :shape[1]] / 255 + rng.normal(0, 0.1, shape)
    tifffile.imwrite(path, img.astype(np.float32))
    return path


def test_the_unet_pads_in_integer_arithmetic_so_a_traced_graph_pads_every_size():
    net = build_network("n2n-unet", {"features": 4})
    for shape, padded in [((64, 96), (64, 96)), ((5, 77), (32, 96)), ((33, 31), (64, 32))]:
        assert tuple(net._pad(torch.zeros(1, 1, *shape)).shape[2:]) == padded
    net3 = build_network("n2n-unet", {"features": 4, "dims": 3, "z_pools": 1})
    assert tuple(net3._pad(torch.zeros(1, 1, 3, 40, 20)).shape[2:]) == (4, 64, 32)


@needs_onnx
def test_onnx_export_matches_pytorch_at_several_sizes_odd_ones_too(small_unet, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code, stdout, err = call(capsys, "export", f"restorer:n2n-unet:weights={small_unet}", "-o", str(out))
    assert code == 0, err
    assert "33x31" in stdout and "max abs difference" in stdout
    import onnx

    from imrestore.nn.export import check_onnx, load_source

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert '"network": "n2n-unet"' in meta["imrestore"] and meta["axes"] == "bcyx"
    src = load_source([f"restorer:n2n-unet:weights={small_unet}"])
    record = check_onnx(src, out, sizes=[(21, 70), (128, 40)], batch=1)  # sizes the export never saw
    assert record["max_abs_error"] < 1e-4


@needs_onnx
def test_an_edsr_export_keeps_its_scale(small_edsr, tmp_path, capsys):
    out = tmp_path / "sr.onnx"
    code, _, err = call(capsys, "export", f"restorer:edsr:weights={small_edsr}", "-o", str(out))
    assert code == 0, err
    from imrestore.nn.foreign import load_onnx

    model = load_onnx(out)
    assert model.scale == 2 and model.unit_domain
    y = model(np.random.default_rng(0).random((1, 1, 30, 41), dtype=np.float32), tile=16, overlap=4)
    assert y.shape == (1, 1, 60, 82)


def test_export_refuses_what_it_cannot_make_in_one_line(tmp_path, capsys, small_unet):
    code, _, err = call(capsys, "export", "restorer:bm3d", "-o", str(tmp_path / "x.onnx"))
    assert code == 2 and "learned restorer" in err and len(err.strip().splitlines()) == 1
    code, _, err = call(capsys, "export", f"restorer:n2n-unet:weights={small_unet}", "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "--format" in err
    (tmp_path / "there.onnx").write_bytes(b"keep me")
    code, _, err = call(capsys, "export", f"restorer:n2n-unet:weights={small_unet}", "-o", str(tmp_path / "there.onnx"))
    assert code == 2 and "--overwrite" in err and (tmp_path / "there.onnx").read_bytes() == b"keep me"


@pytest.mark.slow  # 7 s: bioimageio's own test of the package; CI runs it
@needs_bmz
def test_a_bmz_package_passes_bioimageio_test_and_round_trips(small_unet, tmp_path, capsys):
    pkg = tmp_path / "unet.zip"
    code, _, err = call(capsys, "export", f"restorer:n2n-unet:weights={small_unet}", "-o", str(pkg))
    assert code == 2 and "--license" in err and not pkg.exists()  # your own weights need a licence to be shared
    code, stdout, err = call(capsys, "export", f"restorer:n2n-unet:weights={small_unet}", "-o", str(pkg), "--license", "CC-BY-4.0",
                             "--author", "A. Microscopist")
    assert code == 0, err
    assert "bioimageio.core test: passed" in stdout and "not in the file" in stdout
    names = set(zipfile.ZipFile(pkg).namelist())
    assert {"rdf.yaml", "README.md", "cover.png", "test_input.npy", "test_output.npy", "weights.pt", "weights.onnx",
            "imrestore_models.py"} <= names
    readme = zipfile.ZipFile(pkg).read("README.md").decode()
    assert "## Validation" in readme and "x8 self-ensemble" in readme
    rdf = zipfile.ZipFile(pkg).read("rdf.yaml").decode()
    assert "license: CC-BY-4.0" in rdf and "A. Microscopist" in rdf
    assert "halo: 32" in rdf and "doi: 10.48550/arXiv.1803.04189" in rdf

    image = noisy_tiff(tmp_path / "noisy.tif")
    outs = {}
    for name, spec in [("own", f"restorer:n2n-unet:weights={small_unet}"), ("bmz", f"restorer:bmz:package={pkg}"),
                       ("bmz-torch", f"restorer:bmz:package={pkg},weights=pytorch_state_dict")]:
        code, _, err = call(capsys, "run", "gaussian:sigma=0", spec, str(image), str(tmp_path / f"{name}.tif"), "-q")
        assert code == 0, err
        outs[name] = tifffile.imread(tmp_path / f"{name}.tif")
    assert outs["own"].dtype == np.float32
    assert np.abs(outs["bmz"] - outs["own"]).max() < 1e-4
    assert np.abs(outs["bmz-torch"] - outs["own"]).max() < 1e-4


@needs_bmz
@pytest.mark.slow
def test_every_shipped_network_exports_to_a_package_that_passes(tmp_path, capsys):
    for specs in (["restorer:n2n-unet"], ["restorer:edsr"], ["restorer:mdsr:scale=4"], ["erase:p=0.9", "restorer:conv-ae"],
                  ["downsample:factor=2", "restorer:sr-mnist"]):
        code, stdout, err = call(capsys, "export", *specs, "-o", str(tmp_path / f"{specs[-1].split(':')[1]}.zip"))
        assert code == 0, err
        assert "bioimageio.core test: passed" in stdout


@needs_onnx
def test_the_onnxruntime_backend_matches_torch_within_1e_4(small_unet, tmp_path, capsys):
    image = noisy_tiff(tmp_path / "in.tif", (70, 90))
    outs = {}
    for backend in ("torch", "onnxruntime"):
        code, _, err = call(capsys, "run", "gaussian:sigma=0", f"restorer:n2n-unet:weights={small_unet},backend={backend}",
                            str(image), str(tmp_path / f"{backend}.tif"), "-q")
        assert code == 0, err
        outs[backend] = tifffile.imread(tmp_path / f"{backend}.tif")
    assert np.abs(outs["onnxruntime"] - outs["torch"]).max() < 1e-4


def test_the_bf16_backend_stays_close_to_fp32_or_is_refused(small_unet, tmp_path, capsys):
    from imrestore.nn.backends import has_bf16

    image = noisy_tiff(tmp_path / "in.tif", (64, 64))
    code, _, err = call(capsys, "run", "gaussian:sigma=0", f"restorer:n2n-unet:weights={small_unet},backend=bf16",
                        str(image), str(tmp_path / "bf16.tif"), "-q")
    if not has_bf16():
        assert code == 2 and "bf16 instructions" in err
        return
    assert code == 0, err
    code, _, err = call(capsys, "run", "gaussian:sigma=0", f"restorer:n2n-unet:weights={small_unet}", str(image),
                        str(tmp_path / "fp32.tif"), "-q")
    diff = np.abs(tifffile.imread(tmp_path / "bf16.tif") - tifffile.imread(tmp_path / "fp32.tif"))
    assert 0 < diff.max() < 0.05


@needs_bmz
@pytest.mark.slow  # 5 s: trains self-supervised weights first; CI runs it
def test_self_supervised_weights_export_end_to_end_with_their_domain_baked_in(tmp_path, capsys):
    """--targets self weights work in a domain training fixed (GAT, affine map, exact unbiased inverse): the package
    takes and gives the data in their own units, as `imrestore run` restores them (ensemble off)."""
    from imrestore.denoising import UnitDomain
    from imrestore.noise import PoissonGaussian

    torch.manual_seed(0)
    weights = tmp_path / "self.safetensors"
    domain = UnitDomain.fixed(PoissonGaussian(0.01, 1e-4)).as_dict()
    save_checkpoint(weights, "n2n-unet", build_network("n2n-unet", {"features": 8}),
                    {"corruptions": [], "targets": "self", "self_supervised": {"method": "sure", "domain": domain}, "data": "stack.tif"})
    rng = np.random.default_rng(0)
    from skimage import data

    clean = data.camera()[:96, :120] / 255 * 0.8 + 0.1
    tifffile.imwrite(tmp_path / "noisy.tif", (rng.poisson(clean / 0.01) * 0.01).astype(np.float32))
    pkg = tmp_path / "self.zip"
    code, stdout, err = call(capsys, "export", f"restorer:n2n-unet:weights={weights}", "-o", str(pkg), "--license", "CC0-1.0")
    assert code == 0, err
    assert "in the file: the fixed domain" in stdout and "bioimageio.core test: passed" in stdout
    assert "build_in_domain" in zipfile.ZipFile(pkg).read("rdf.yaml").decode()
    outs = {}
    for name, spec in [("own", f"restorer:n2n-unet:weights={weights},ensemble=false,backend=torch"), ("onnx", f"restorer:bmz:package={pkg}"),
                       ("torch", f"restorer:bmz:package={pkg},weights=pytorch_state_dict")]:
        code, _, err = call(capsys, "run", spec, str(tmp_path / "noisy.tif"), str(tmp_path / f"{name}.tif"), "-q")
        assert code == 0, err
        outs[name] = tifffile.imread(tmp_path / f"{name}.tif")
    assert np.abs(outs["onnx"] - outs["own"]).max() < 1e-4
    assert np.abs(outs["torch"] - outs["own"]).max() < 1e-4
