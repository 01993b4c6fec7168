"""Foreign models as restorers: restorer:bmz and restorer:onnx, CAREamics' U-Net built from a state dict, the refusals
(exit 2, one line, nothing written), and a real CAREamics 0.3.5 package matching CAREamics' own prediction."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from helpers import call
from test_nn_export import HAVE_BMZ, needs_bmz, needs_onnx, noisy_tiff

from imrestore.nn.architectures import CareamicsUNet, build_known
from imrestore.nn.checkpoint import save_checkpoint
from imrestore.nn.models import build_network

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """A BMZ package of a small grey U-Net, made by imrestore export."""
    from imrestore.nn.export import load_source, write_bmz

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pkg")
    weights = folder / "unet8.safetensors"
    save_checkpoint(weights, "n2n-unet", build_network("n2n-unet", {"features": 8}), {"corruptions": ["corruption:gaussian:sigma=25.0"]})
    pkg = folder / "unet8.zip"
    write_bmz(load_source([f"restorer:n2n-unet:weights={weights}"]), pkg, test=False)
    return pkg


def unpacked(pkg: Path, where: Path, edit) -> Path:
    """The package unpacked into ``where`` with its rdf.yaml edited by ``edit(dict)``; returns the rdf.yaml."""
    import yaml

    with zipfile.ZipFile(pkg) as z:
        z.extractall(where)
    rdf = where / "rdf.yaml"
    doc = yaml.safe_load(rdf.read_text())
    edit(doc, where)
    rdf.write_text(yaml.safe_dump(doc))
    return rdf


def test_careamics_unet_has_careamics_state_dict_layout():
    """Keys and shapes as CAREamics 0.3.5 names them (recorded from careamics.models.unet.UNet in its own environment)."""
    recorded = json.loads((DATA / "careamics_unet_keys.json").read_text())
    for case in recorded:
        net = CareamicsUNet(**case["kwargs"])
        mine = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert mine == case["keys"], case["kwargs"]


def test_careamics_unet_takes_any_multiple_of_its_poolings():
    net = build_known("careamics.models.unet", "UNet", {"conv_dims": 2, "depth": 3, "num_channels_init": 8, "n2v2": True})
    assert net.multiple == 8
    assert net(torch.zeros(2, 1, 40, 24)).shape == (2, 1, 40, 24)
    three = build_known("careamics.models.unet", "UNet", {"conv_dims": 3, "depth": 2, "num_channels_init": 4})
    assert three(torch.zeros(1, 1, 8, 16, 12)).shape == (1, 1, 8, 16, 12)


@needs_bmz
def test_a_package_that_asks_for_unknown_code_needs_trust(package, tmp_path, capsys):
    def foreign_code(doc, where):
        doc["weights"].pop("onnx")
        doc["weights"]["pytorch_state_dict"]["architecture"] = {"callable": "Net", "import_from": "somelab.nets", "kwargs": {}}

    rdf = unpacked(package, tmp_path / "pkg", foreign_code)
    image = noisy_tiff(tmp_path / "in.tif", (64, 64))
    code, _, err = call(capsys, "run", "restorer:bmz:package=" + str(rdf), str(image), str(tmp_path / "out.tif"), "-q")
    assert code == 2 and "trust=true" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()


@needs_bmz
def test_a_package_that_fails_its_own_test_tensors_is_refused(package, tmp_path, capsys):
    def wrong_output(doc, where):
        np.save(where / "test_output.npy", np.load(where / "test_output.npy") + 0.5)
        doc["outputs"][0]["test_tensor"].pop("sha256", None)

    rdf = unpacked(package, tmp_path / "pkg", wrong_output)
    image = noisy_tiff(tmp_path / "in.tif", (64, 64))
    code, _, err = call(capsys, "run", "restorer:bmz:package=" + str(rdf.parent), str(image), str(tmp_path / "out.tif"), "-q")
    assert code == 2 and "fails its own test tensors" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()


@needs_bmz
def test_invalid_and_missing_packages_are_one_line_errors(tmp_path, capsys):
    image = noisy_tiff(tmp_path / "in.tif", (64, 64))
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("rdf.yaml", "type: model\nformat_version: 0.5.4\nname: x\n")
    for spec, words in [(f"restorer:bmz:package={bad}", "not a valid BioImage Model Zoo model"),
                        (f"restorer:bmz:package={tmp_path / 'nowhere.zip'}", "does not exist"),
                        ("restorer:bmz", "needs package=FILE")]:
        code, _, err = call(capsys, "run", spec, str(image), str(tmp_path / "out.tif"), "-q")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.tif").exists()


@needs_onnx
def test_an_onnx_model_whose_inputs_do_not_fit_is_refused(tmp_path, capsys):
    net = torch.nn.Conv2d(2, 1, 3, padding=1)
    path = tmp_path / "two.onnx"
    torch.onnx.export(net, (torch.zeros(1, 2, 16, 16),), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n", 2: "h", 3: "w"}})
    image = noisy_tiff(tmp_path / "in.tif", (32, 32))
    code, _, err = call(capsys, "run", f"restorer:onnx:model={path}", str(image), str(tmp_path / "out.tif"), "-q")
    assert code == 2 and "takes 2 channel(s), the image has 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    code, _, err = call(capsys, "run", f"restorer:onnx:model={tmp_path / 'junk.onnx'}", str(image), str(tmp_path / "out.tif"), "-q")
    assert code == 2 and "not an ONNX model" in err


@needs_onnx
def test_a_plain_onnx_graph_with_fixed_sizes_is_tiled_and_runs_on_volumes(tmp_path, capsys):
    """A foreign graph that takes only 32x32 inputs restores a larger stack plane by plane, in tiles."""
    net = torch.nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(2.0)
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(net, (torch.zeros(1, 1, 32, 32),), str(path), dynamo=False, input_names=["x"], output_names=["y"])
    stack = np.random.default_rng(0).random((3, 50, 70)).astype(np.float32) / 4
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    code, _, err = call(capsys, "run", f"restorer:onnx:model={path}", str(tmp_path / "stack.tif"), str(tmp_path / "out.tif"), "-q")
    assert code == 0, err
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == stack.shape and np.allclose(out, 2 * stack, atol=1e-5)


def careamics_package() -> Path:
    return DATA / "careamics-n2v-0.3.5.zip"


@needs_bmz
@pytest.mark.skipif(not careamics_package().exists(), reason="the CAREamics package is made by benchmarks/careamics_bmz.py")
def test_a_careamics_package_matches_careamics_own_prediction(tmp_path, capsys):
    """The package and the prediction were made by CAREamics 0.3.5 in its own environment; careamics is not installed here."""
    ref = np.load(DATA / "careamics-n2v-prediction.npz")
    tifffile.imwrite(tmp_path / "raw.tif", ref["test"].astype(np.float32))
    code, _, err = call(capsys, "run", f"restorer:bmz:package={careamics_package()}", str(tmp_path / "raw.tif"),
                        str(tmp_path / "out.tif"))
    assert code == 0, err
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == ref["prediction"].shape
    assert np.abs(out - ref["prediction"]).max() < 1e-3
    record = json.loads((tmp_path / "out.report.json").read_text())["items"][0]["estimated"]["model"]
    assert record["units"] == "raw" and "careamics.models.unet.UNet" in record["network"] and "Noise2Void" in record["citation"]
    code, _, err = call(capsys, "report", str(tmp_path / "out.tif"))
    assert code == 0, err
    page = next(tmp_path.glob("*.html")).read_text()
    assert "<h2>Model</h2>" in page and "Noise2Void" in page and "imrestore_import_check" in page


@needs_bmz
def test_a_3d_package_restores_a_stack_in_slabs_as_the_network_does(tmp_path, capsys):
    from imrestore.nn.export import load_source, write_bmz

    torch.manual_seed(0)
    weights = tmp_path / "u3.safetensors"
    save_checkpoint(weights, "n2n-unet", build_network("n2n-unet", {"features": 4, "dims": 3, "z_pools": 1}),
                    {"corruptions": ["corruption:gaussian:sigma=25.0"]})
    pkg = tmp_path / "u3.zip"
    sample = np.random.default_rng(0).random((1, 1, 6, 40, 48)).astype(np.float32)  # fitted to the declared sizes
    write_bmz(load_source([f"restorer:n2n-unet:weights={weights}"]), pkg, sample=sample, test=False)
    stack = (np.random.default_rng(1).random((20, 40, 48)) * 60000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", stack, photometric="minisblack")
    outs = {}
    for name, spec in [("own", f"restorer:n2n-unet:weights={weights}"), ("bmz", f"restorer:bmz:package={pkg}"),
                       ("torch", f"restorer:bmz:package={pkg},weights=pytorch_state_dict")]:
        code, _, err = call(capsys, "run", "gaussian:sigma=5", spec, str(tmp_path / "in.tif"), str(tmp_path / f"{name}.tif"), "-q")
        assert code == 0, err
        outs[name] = tifffile.imread(tmp_path / f"{name}.tif").astype(np.int64)
    assert outs["own"].shape == stack.shape
    assert np.abs(outs["bmz"] - outs["own"]).max() <= 1 and np.abs(outs["torch"] - outs["own"]).max() <= 1  # uint16 rounding
