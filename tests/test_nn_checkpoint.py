"""Checkpoints: round trips, metadata, refusals, never a pickle."""
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from imrestore.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from imrestore.nn.models import build_network


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    net = build_network("edsr", {"blocks": 2, "features": 8})
    path = save_checkpoint(tmp_path / "e.safetensors", "edsr", net, {"corruptions": ["downsample:factor=2"], "loss": "l1"})
    model, meta = load_checkpoint(path, expect="edsr")
    assert meta["config"]["blocks"] == 2 and meta["loss"] == "l1" and meta["imrestore_version"]
    for k, v in net.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    assert not model.training


def test_wrong_network_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", "conv-ae", build_network("conv-ae"))
    with pytest.raises(CheckpointError, match="holds conv-ae weights, not n2n-unet"):
        load_checkpoint(path, expect="n2n-unet")


def test_mismatched_config_names_the_tensor(tmp_path):
    path = save_checkpoint(tmp_path / "u.safetensors", "n2n-unet", build_network("n2n-unet", {"features": 8}))
    meta = read_metadata(path)
    meta["config"]["features"] = 16
    from safetensors.torch import load_file

    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata={"imrestore": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="does not fit n2n-unet.*shape of dec1.0.0.weight"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_foreign_and_broken_files_are_clear_errors(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="no imrestore metadata"):
        load_checkpoint(tmp_path / "plain.safetensors")
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError, match="is not a safetensors file"):
        load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.safetensors", "conv-ae", build_network("conv-ae"))

    def no_pickle(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    load_checkpoint(path)


@pytest.mark.parametrize("name, why", [("cam.png", "name the file NAME.safetensors"),
                                       ("notes.safetensors", "does not hold imrestore weights")])
def test_train_never_writes_its_weights_over_another_file(tmp_path, capsys, name, why):
    # `train ... -o cam.png` wrote safetensors into an existing image at its first best epoch
    from helpers import call

    victim = tmp_path / name
    victim.write_bytes(b"someone's data")
    code, _, err = call(capsys, "train", "gaussian:sigma=25", "restorer:n2n-unet", "skimage", "--epochs", "1",
                        "-o", str(victim))
    assert code == 2 and why in err and len(err.strip().splitlines()) == 1
    assert victim.read_bytes() == b"someone's data" and not list(tmp_path.glob("*.log.json"))


def test_a_retraining_may_replace_weights_it_wrote(tmp_path):
    from imrestore.nn.checkpoint import check_weights_output

    path = save_checkpoint(tmp_path / "e.safetensors", "edsr", build_network("edsr", {"blocks": 1, "features": 4}))
    check_weights_output(path)  # no error: training replaces its own output
