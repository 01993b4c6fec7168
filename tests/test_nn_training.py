"""Training and running learned restorers end to end on the CPU (tiny budgets)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from skimage import data

from imrestore.chain import Chain
from imrestore.cli import main
from imrestore.datasets import training_data
from imrestore.errors import ChainError, ImrestoreUsageError
from imrestore.nn.checkpoint import load_checkpoint, read_metadata
from imrestore.nn.training import TrainOptions, train

TINY = ["--net", "features=16", "--crop", "32", "--batch-size", "8", "--epochs", "2", "--steps-per-epoch", "30", "-q"]


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    (root / "train").mkdir()
    (root / "test").mkdir()
    cam = data.camera()
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        PILImage.fromarray(cam[y : y + 256, x : x + 256]).save(root / "train" / f"cam{i}.png")
    PILImage.fromarray(data.moon()[100:228, 100:228]).save(root / "test" / "moon.png")
    PILImage.fromarray(data.coins()[50:178, 50:178]).save(root / "test" / "coins.png")
    return root


@pytest.fixture(scope="module")
def n2n_weights(photo_dirs, tmp_path_factory):
    """A tiny Noise2Noise U-Net trained from the CLI on noisy targets only."""
    out = tmp_path_factory.mktemp("w") / "m.safetensors"
    with pytest.raises(SystemExit) as exc:
        main(["train", "gaussian:sigma=25", "restorer:n2n-unet", "--targets", "noisy", str(photo_dirs / "train"), "-o", str(out), *TINY])
    assert exc.value.code == 0
    return out


def test_noise2noise_train_then_run_beats_the_noisy_input(capsys, n2n_weights, photo_dirs, tmp_path):
    meta = read_metadata(n2n_weights)
    assert meta["targets"] == "noisy" and meta["corruptions"] == ["corruption:gaussian:sigma=25.0,clip=false,sigma_max=none"]
    assert meta["network"] == "n2n-unet" and len(meta["history"]) == 2
    code, out, err = cli(capsys, "run", "gaussian:sigma=25", f"restorer:n2n-unet:weights={n2n_weights}", str(photo_dirs / "test"), str(tmp_path / "o"))
    assert code == 0, err
    assert "using given weights m.safetensors" in err
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["mean"]["restored"]["psnr"] > doc["mean"]["corrupted"]["psnr"] + 3


def test_weights_that_make_the_validation_images_worse_are_said_to(capsys, photo_dirs, tmp_path):
    # one step from scratch: the numbers were printed ("best validation PSNR 5 dB (input 34 dB)") and nothing more
    code, _, err = cli(capsys, "train", "gaussian:sigma=5", "restorer:n2n-unet", str(photo_dirs / "train"),
                       "-o", str(tmp_path / "w.safetensors"), "--net", "features=16", "--crop", "32", "--batch-size", "2",
                       "--epochs", "1", "--steps-per-epoch", "1", "-q")
    assert code == 0 and "warning: these weights make the validation images worse than they were" in err
    # real data (no corruption in the chain): a run keeps the images and says why, unless forced
    weights = tmp_path / "w.safetensors"
    code, out, err = cli(capsys, "run", f"restorer:n2n-unet:weights={weights}", str(photo_dirs / "test"), str(tmp_path / "o"))
    assert code == 0 and "made their validation images worse at training" in err
    assert "NOTE 2 of 2 items kept as they are" in out
    for name in ("moon.png", "coins.png"):
        assert np.array_equal(np.asarray(PILImage.open(tmp_path / "o" / name)), np.asarray(PILImage.open(photo_dirs / "test" / name)))
    code, out, _ = cli(capsys, "run", f"restorer:n2n-unet:weights={weights},force=true", str(photo_dirs / "test"), str(tmp_path / "f"))
    assert code == 0 and "made their validation images worse" not in out  # (kept anyway: too little noise to remove)


def test_training_writes_last_checkpoint_and_log(n2n_weights):
    assert n2n_weights.with_name("m.last.safetensors").exists()
    log = json.loads(n2n_weights.with_name("m.log.json").read_text())
    assert [h["epoch"] for h in log["history"]] == [1, 2]
    assert log["history"][-1]["val_psnr"] > log["history"][-1]["val_input_psnr"]


def _tiny_options(**kw):
    base = dict(epochs=2, batch_size=4, crop=32, steps_per_epoch=5, net={"features": 8}, seed=3)
    return TrainOptions(**{**base, **kw})


def test_training_is_reproducible_and_resume_continues_exactly(photo_dirs, tmp_path, monkeypatch):
    import imrestore.nn.training as training

    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    train(chain, training_data(photo_dirs / "train"), tmp_path / "a.safetensors", _tiny_options())
    train(chain, training_data(photo_dirs / "train"), tmp_path / "b.safetensors", _tiny_options())
    real_save = training.save_checkpoint

    def killed_in_epoch_2(path, network, model, meta, **kw):
        if meta["epoch"] == 1:
            raise KeyboardInterrupt  # Ctrl-C before epoch 2 was saved
        return real_save(path, network, model, meta, **kw)

    monkeypatch.setattr(training, "save_checkpoint", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(chain, training_data(photo_dirs / "train"), tmp_path / "c.safetensors", _tiny_options())
    stopped_log = json.loads((tmp_path / "c.log.json").read_text())  # the history so far survives the stop
    assert [h["epoch"] for h in stopped_log["history"]] == [1] and stopped_log["finished"] is False
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    train(chain, training_data(photo_dirs / "train"), tmp_path / "c.safetensors", _tiny_options(resume=True))
    a, _ = load_checkpoint(tmp_path / "a.last.safetensors")
    b, _ = load_checkpoint(tmp_path / "b.last.safetensors")
    c, meta = load_checkpoint(tmp_path / "c.last.safetensors")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
        assert torch.allclose(v, c.state_dict()[k], atol=1e-6), k
    assert [h["epoch"] for h in meta["history"]] == [1, 2]


def test_a_time_budget_stops_at_an_epoch_end_after_the_ramp_down(photo_dirs, tmp_path):
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    log = train(chain, training_data(photo_dirs / "train"), tmp_path / "t.safetensors", _tiny_options(epochs=50, max_minutes=1e-9))
    assert [h["epoch"] for h in log["history"]] == [1]
    assert log["stopped"].startswith("time limit")
    _, meta = load_checkpoint(tmp_path / "t.last.safetensors")
    assert meta["optimizer_param_groups"][0]["lr"] < 1e-5  # the cosine ramp-down ran by the clock (base 1e-3)


def test_keep_last_ships_the_last_epoch_not_the_one_validation_chose(photo_dirs, tmp_path):
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    train(chain, training_data(photo_dirs / "train"), tmp_path / "t.safetensors", _tiny_options(epochs=3, keep="last"))
    out, meta = load_checkpoint(tmp_path / "t.safetensors")
    last, _ = load_checkpoint(tmp_path / "t.last.safetensors")
    assert meta["epochs"] == 3
    for (k, a), (_, b) in zip(out.state_dict().items(), last.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ImrestoreUsageError, match="`keep` must be best or last"):
        TrainOptions(keep="worst").validate()


def test_a_fine_tune_records_the_weights_it_started_from(n2n_weights, photo_dirs, tmp_path):
    import hashlib

    chain = Chain.from_specs(["gaussian:sigma=25", f"restorer:n2n-unet:weights={n2n_weights}"], metrics=[], prepare=False)
    train(chain, training_data(photo_dirs / "train"), tmp_path / "ft.safetensors", _tiny_options(epochs=1, net={}))
    init = read_metadata(tmp_path / "ft.safetensors")["init_weights"]
    assert init["file"] == n2n_weights.name and init["sha256"] == hashlib.sha256(n2n_weights.read_bytes()).hexdigest()
    assert init["epochs"] == read_metadata(n2n_weights)["epochs"]


def test_a_time_budget_sizes_the_progress_bar_to_where_the_clock_stops(photo_dirs, tmp_path, capsys):
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    opts = _tiny_options(epochs=50, max_minutes=1e-9)
    train(chain, training_data(photo_dirs / "train"), tmp_path / "t.safetensors", opts, progress=True)
    last = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "step" in line][-1]
    spe = opts.steps_per_epoch
    assert "100%" in last and f"{spe}/{spe}" in last  # one epoch, not the 50 the budget cut short


def test_noisy_targets_need_noise_that_keeps_what_the_loss_estimates(photo_dirs, tmp_path):
    chain = Chain.from_specs(["impulse:p=0.7", "restorer:n2n-unet"], metrics=[], prepare=False)
    with pytest.raises(ChainError, match="needs noise whose mean is the clean image, but impulse keeps only its mode; use `loss='l0'`"):
        train(chain, training_data(photo_dirs / "train"), tmp_path / "x.safetensors", _tiny_options(targets="noisy", loss="l2"))
    chain = Chain.from_specs(["poisson", "restorer:n2n-unet"], metrics=[], prepare=False)
    with pytest.raises(ChainError, match="median"):
        train(chain, training_data(photo_dirs / "train"), tmp_path / "x.safetensors", _tiny_options(targets="noisy", loss="l1"))


def test_untrainable_restorer_is_refused(capsys, photo_dirs, tmp_path):
    code, _, err = cli(capsys, "train", "gaussian", "restorer:tv", str(photo_dirs / "train"), "-o", str(tmp_path / "x.safetensors"))
    assert code == 2 and "not trainable" in err


def test_conv_ae_refuses_other_sizes_and_points_to_n2n(tmp_path):
    from imrestore_builtins.learned import ConvAERestorer

    r = ConvAERestorer(weights=None)
    with pytest.raises(ValueError, match="use restorer:n2n-unet"):
        r.check_image(np.zeros((64, 64), np.float32))


def test_weights_of_another_network_are_refused(n2n_weights):
    with pytest.raises(ChainError, match="holds n2n-unet weights, not edsr"):
        Chain.from_specs(["downsample", f"restorer:edsr:weights={n2n_weights}"])


def test_super_resolution_validates_on_odd_sized_images(tmp_path):
    """An odd crop would restore to one pixel less than the clean image: validation crops to a multiple of the factor."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for i, (h, w) in enumerate([(47, 61), (53, 45)]):
        PILImage.fromarray(data.astronaut()[:h, :w]).save(folder / f"a{i}.png")
    chain = Chain.from_specs(["downsample:factor=2", "restorer:edsr"], metrics=[], prepare=False)
    opts = TrainOptions(epochs=1, batch_size=2, crop=16, steps_per_epoch=2, net={"blocks": 1, "features": 8}, val_fraction=0.5)
    log = train(chain, training_data(folder), tmp_path / "e.safetensors", opts)
    assert np.isfinite(log["history"][0]["val_psnr"])
    assert (tmp_path / "e.safetensors").exists()


def test_a_checkpoint_records_what_an_export_needs_as_data(photo_dirs, tmp_path):
    chain = Chain.from_specs(["gaussian:sigma=25", "restorer:n2n-unet"], metrics=[], prepare=False)
    opts = _tiny_options(epochs=1)
    opts.authors, opts.license = ("A. Microscopist",), "CC-BY-4.0"
    train(chain, training_data(photo_dirs / "train"), tmp_path / "t.safetensors", opts)
    meta = read_metadata(tmp_path / "t.safetensors")
    assert meta["input"] == {"axes": "bcyx", "dtype": "float32", "range": [0.0, 1.0], "stored_values": "dtype"}
    assert meta["authors"] == [{"name": "A. Microscopist"}] and meta["license"] == "CC-BY-4.0"
    assert meta["citation"][0]["doi"] == "10.48550/arXiv.1803.04189"


def test_bf16_precision_trains_on_a_cpu_that_has_it_and_is_refused_in_one_line_where_it_has_not(capsys, photo_dirs, tmp_path, monkeypatch):
    from imrestore.nn import inference

    argv = ["train", "gaussian:sigma=25", "restorer:n2n-unet", str(photo_dirs / "train"), *TINY, "--epochs", "1", "--precision", "bf16"]
    if inference.has_bf16():
        code, _, err = cli(capsys, *argv, "-o", str(tmp_path / "b.safetensors"))
        assert code == 0, err
        meta = read_metadata(tmp_path / "b.safetensors")
        assert meta["options"]["precision"] == "bf16" and np.isfinite(meta["history"][0]["loss"])
        assert meta["history"][0]["val_psnr"] > meta["history"][0]["val_input_psnr"]  # it learned something in 30 steps
    monkeypatch.setattr(inference, "has_bf16", lambda: False)
    code, _, err = cli(capsys, *argv, "-o", str(tmp_path / "c.safetensors"))
    assert code == 2 and "--precision bf16 on the CPU needs bf16 instructions" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("net, message", [("blocks=x", "--net edsr:blocks: invalid value 'x', expected int"),
                                          ("blocks=2.5", "expected int"),
                                          ("foo=1", "edsr has no setting 'foo'; it has blocks, channels"),
                                          ("preset=nope", "edsr has the presets baseline, paper")])
def test_net_settings_are_converted_by_the_configs_types_and_bad_ones_refused_in_one_line(capsys, tmp_path, net, message):
    code, _, err = cli(capsys, "train", "downsample:factor=2", "restorer:edsr", "skimage", "-o", str(tmp_path / "w.safetensors"), "--net", net)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_net_text_values_become_the_declared_types():
    from imrestore.nn.training import typed_net_config

    assert typed_net_config("edsr", {"res_scale": "1", "upsample_skip": "false", "preset": "paper"}) == \
        {"res_scale": 1.0, "upsample_skip": False, "preset": "paper"}
    assert isinstance(typed_net_config("edsr", {"res_scale": "1"})["res_scale"], float)
