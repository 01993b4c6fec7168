"""MDSR: the heads' output sizes, the paper's parameter counts, scale selection (chain and parameter), the refusal of a
scale the weights lack, seam-free tiling at x3, the start from EDSR x2, and multi-scale training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from helpers import call

from imrestore import build
from imrestore.chain import Chain
from imrestore.nn.checkpoint import read_metadata, save_checkpoint
from imrestore.nn.inference import predict
from imrestore.nn.models import build_network, config_from_dict, mdsr_from_edsr
from imrestore.nn.batches import BatchMaker, with_factor
from imrestore.nn.training import TrainOptions, train


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def tiny(scales=(2, 3, 4), channels: int = 1) -> dict:
    return {"scales": list(scales), "channels": channels, "blocks": 1, "features": 8, "pre_blocks": 1}


@pytest.fixture
def weights(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "mdsr23.safetensors"
    save_checkpoint(path, "mdsr", build_network("mdsr", tiny((2, 3))), {"corruptions": ["corruption:downsample:factor=2"]})
    return path


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_each_head_up_scales_by_its_factor(scale):
    net = build_network("mdsr", tiny())
    assert net.at(scale)(torch.zeros(2, 1, 7, 9)).shape == (2, 1, 7 * scale, 9 * scale)


def test_the_papers_presets_have_the_lectures_parameter_counts():
    assert abs(count(build_network("edsr", {"preset": "paper", "scale": 4})) / 43e6 - 1) < 0.03
    assert abs(count(build_network("mdsr", {"preset": "paper"})) / 8e6 - 1) < 0.03
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        config_from_dict("mdsr", {"preset": "huge"})
    assert config_from_dict("mdsr", {"preset": "paper", "blocks": 4}).blocks == 4  # given values win


def test_the_scale_comes_from_the_chain_or_the_parameter(weights):
    chain = Chain.from_specs(["downsample:factor=3", f"restorer:mdsr:weights={weights}"], metrics=[])
    assert chain.restorer.scale == 3
    real = build(f"restorer:mdsr:weights={weights},scale=3")
    real.prepare([])
    out = real.restore([np.zeros((10, 12), np.float32)], [{}])[0]
    assert out.shape == (30, 36)
    default = build(f"restorer:mdsr:weights={weights}")
    default.prepare([])
    assert default.scale == 2


def test_a_scale_the_weights_lack_is_refused_in_one_line(weights, tmp_path, capsys):
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((16, 16), np.uint8))
    code, _, err = call(capsys, "run", f"restorer:mdsr:weights={weights},scale=4", str(tmp_path / "in.tif"), str(tmp_path / "out.tif"))
    assert code == 2 and "have scales x2, x3, not x4" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()
    code, _, err = call(capsys, "run", "downsample:factor=2", f"restorer:mdsr:weights={weights},scale=3", str(tmp_path / "in.tif"),
                        str(tmp_path / "out2.tif"))
    assert code == 2 and "down-samples by 2" in err


def test_tiling_is_seam_free_at_x3():
    torch.manual_seed(0)
    net = build_network("mdsr", tiny()).at(3).eval()
    image = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    whole = predict(net, [image], tile=None)[0]
    tiled = predict(net, [image], tile=48, overlap=32, scale=3, multiple=1)[0]  # the restorers' overlap
    assert tiled.shape == whole.shape == (210, 270)
    assert np.abs(tiled - whole).max() < 0.5 / 255  # under half an 8-bit grey level: no seam to see


def test_the_start_from_edsr_x2_is_edsr_at_x2():
    torch.manual_seed(0)
    edsr = build_network("edsr", {"channels": 1, "blocks": 2, "features": 8, "upsample_skip": True}).eval()
    mdsr = mdsr_from_edsr(edsr, config_from_dict("mdsr", {"channels": 1, "blocks": 2, "features": 8})).eval()
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        assert torch.allclose(mdsr.at(2)(x), edsr(x), atol=1e-6)


def test_training_takes_one_scale_per_batch_and_records_the_scales(tmp_path):
    chain = Chain.from_specs(["downsample:factor=2", "restorer:mdsr"], metrics=[], prepare=False)
    opts = TrainOptions(epochs=1, steps_per_epoch=3, batch_size=2, crop=24, net={"blocks": 1, "features": 8, "pre_blocks": 1},
                        val_fraction=0.5, scales=(2, 3, 4))
    images = [np.random.default_rng(i).random((40, 40)).astype(np.float32) for i in range(4)]
    maker = BatchMaker(images, chain, opts, 24, 3)
    sizes = [maker[k][0].shape[1] for k in range(3)]
    assert sizes == [12, 8, 6]  # 24 / 2, 24 / 3, 24 / 4: each batch one scale
    assert [c.corruptions[0].factor for c in (with_factor(chain, s) for s in (3, 4))] == [3, 4]
    train(chain, images, tmp_path / "m.safetensors", opts)
    assert read_metadata(tmp_path / "m.safetensors")["config"]["scales"] == [2, 3, 4]


def test_scales_are_for_multi_scale_networks_only(tmp_path):
    from imrestore.errors import ImrestoreUsageError

    chain = Chain.from_specs(["downsample:factor=2", "restorer:edsr"], metrics=[], prepare=False)
    with pytest.raises(ImrestoreUsageError, match="multi-scale networks"):
        train(chain, [np.zeros((32, 32), np.float32)] * 2, tmp_path / "e.safetensors", TrainOptions(epochs=1, scales=(2, 3)))
