"""The command line: exit codes, one-line errors, tables and JSON."""
import json
import subprocess

import numpy as np
import pytest
import tifffile

from imrestore.cli import main


def call(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_run_on_mixed_folder_exits_1_and_lists_the_bad_file(capsys, mixed_folder, tmp_path):
    code, out, err = call(capsys, "run", "gaussian:sigma=25", "restorer:nlmeans", str(mixed_folder), str(tmp_path / "out"))
    assert code == 1
    assert "FAILED broken.png: cannot read" in out
    assert "psnr" in out and "restored" in out
    assert (tmp_path / "out" / "astro.png").exists()


def test_clean_run_exits_0(capsys, mixed_folder, tmp_path):
    code, out, _ = call(capsys, "run", "gaussian", "restorer:tv", str(mixed_folder / "astro.png"), str(tmp_path / "o"), "-q")
    assert code == 0 and out == ""


@pytest.mark.parametrize(
    "spec,needle",
    [("gausian:sigma=25", "'gaussian'"), ("gaussian:sgma=25", "'sigma'"), ("gaussian:sigma=abc", "expected float in [0, 255]"),
     ("gaussian:sigma=300", "out of range"), ("restorer:nope", "unknown restorer 'nope'"), ("blur:", "nothing after ':'")],
)
def test_usage_errors_exit_2_with_one_line(capsys, mixed_folder, tmp_path, spec, needle):
    code, out, err = call(capsys, "run", spec, str(mixed_folder), str(tmp_path / "out"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0]
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_missing_input_exits_2(capsys, tmp_path):
    code, _, err = call(capsys, "run", "gaussian", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert code == 2 and "does not exist" in err


def test_chain_error_exits_2(capsys, mixed_folder, tmp_path):
    code, _, err = call(capsys, "run", "restorer:deconv", str(mixed_folder), str(tmp_path / "out"))
    assert code == 2 and "needs psf" in err


def test_metric_options(capsys, mixed_folder, tmp_path):
    code, out, _ = call(capsys, "run", "gaussian", "restorer:tv", str(mixed_folder / "astro.png"), str(tmp_path / "o"), "--metric", "nmse", "-m", "mse")
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert code == 0 and doc["metrics"] == ["nmse", "mse"]
    call(capsys, "run", "gaussian", str(mixed_folder / "astro.png"), str(tmp_path / "n"), "--metric", "none")
    assert json.loads((tmp_path / "n" / "report.json").read_text())["metrics"] == []


def test_plugins_lists_everything_with_parameters(capsys):
    code, out, _ = call(capsys, "plugins")
    assert code == 0
    for name in ("gaussian", "kspace", "nlmeans", "zerofill", "psnr", "nmse"):
        assert name in out
    assert "sigma=25.0  (float [0, 255])" in out


def test_plugins_json_and_single_name(capsys):
    code, out, _ = call(capsys, "plugins", "--json")
    info = json.loads(out)
    entry = next(p for p in info["plugins"] if p["name"] == "gaussian")
    assert entry["kind"] == "corruption" and entry["package"] == "imrestore" and entry["version"]
    assert entry["parameters"][0] == {"name": "sigma", "type": "float", "default": 25.0, "range": "[0, 255]",
                                      "help": "standard deviation on the 0-255 scale (25 = the usual sigma 25)"}
    code, out, _ = call(capsys, "plugins", "deconv")
    assert "needs: psf" in out and "iterations: int = 30" in out
    code, _, err = call(capsys, "plugins", "deconvv")
    assert code == 2 and "did you mean 'deconv'" in err


def test_eval_folders_and_files(capsys, mixed_folder, tmp_path):
    call(capsys, "run", "gaussian", "restorer:nlmeans", str(mixed_folder), str(tmp_path / "out"), "-q")
    code, out, _ = call(capsys, "eval", str(mixed_folder), str(tmp_path / "out"), "--json")
    doc = json.loads(out)
    run_doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code == 1  # broken.png has no counterpart
    assert doc["mean"]["estimate"]["psnr"] == pytest.approx(run_doc["mean"]["restored"]["psnr"], abs=1e-9)
    code, out, _ = call(capsys, "eval", str(mixed_folder / "astro.png"), str(tmp_path / "out" / "astro.png"), "-m", "psnr")
    assert code == 0 and "psnr" in out
    code, _, err = call(capsys, "eval", str(mixed_folder), str(tmp_path / "out" / "astro.png"))
    assert code == 2 and "not a file with a folder" in err


def test_eval_of_an_image_with_nan_pixels_fails_and_says_so(capsys, tmp_path):
    # the metrics were NaN, printed as '-' with no word why
    ref = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    est = ref.copy()
    est[0, :3] = np.nan
    tifffile.imwrite(tmp_path / "ref.tif", ref)
    tifffile.imwrite(tmp_path / "est.tif", est)
    code, out, _ = call(capsys, "eval", str(tmp_path / "ref.tif"), str(tmp_path / "est.tif"))
    assert code == 1 and "FAILED est.tif: the estimate: 3 of 256 pixels are NaN or infinite" in out
    assert out.startswith("1 items: 0 measured, 1 failed")  # not "0 written": eval writes nothing


def test_help_teaches_with_examples(capsys):
    code, out, _ = call(capsys, "run", "--help")
    assert code == 0 and "imrestore run gaussian:sigma=25 restorer:nlmeans in/ out/" in out and "[kind:]name" in out


def test_console_script_is_installed(mixed_folder, tmp_path):
    proc = subprocess.run(["imrestore", "run", "gausian", str(mixed_folder), str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("Error: unknown plugin 'gausian'; did you mean 'gaussian'")


def test_errors_name_options_as_the_cli_spells_them_and_the_api_as_python_does(tmp_path, capsys):
    """One message, two spellings: `workers` for the Python API, --workers on the command line."""
    import pytest as _pytest

    from imrestore.cli import main
    from imrestore.errors import ImrestoreUsageError
    from imrestore.runner import run

    with _pytest.raises(ImrestoreUsageError, match="`workers` must be at least 1"):
        run(["gaussian"], tmp_path, tmp_path / "out", workers=0)
    with _pytest.raises(SystemExit) as exc:
        main(["run", "gaussian", str(tmp_path), str(tmp_path / "out"), "--range", "5:1"])
    assert exc.value.code == 2 and capsys.readouterr().err.startswith("Error: --range 5:1: HI must be finite and above LO")


@pytest.mark.parametrize("command", [
    ["demo", "{out}"],
    ["eval", "{img}", "{img}", "-o", "{out}"],
    ["report", "{run}", "-o", "{out}/r.html"],
    ["export", "restorer:n2n-unet", "-o", "{out}/m.onnx"],
    ["train", "gaussian:sigma=25", "restorer:n2n-unet", "skimage", "-o", "{out}/w.safetensors"],
])
def test_every_command_that_writes_refuses_an_unwritable_output_before_any_work(tmp_path, capsys, command):
    # they failed at their first write with the OS's words ("[Errno 2] No such file or directory: ...")
    img = tmp_path / "a.tif"
    tifffile.imwrite(img, np.zeros((16, 16), np.uint8))
    (tmp_path / "taken").write_text("")
    if command[0] == "report":
        call(capsys, "run", "restorer:wavelet", str(img), str(tmp_path / "run") + "/", "-q")
    argv = [a.format(out=tmp_path / "taken" / "out", img=img, run=tmp_path / "run") for a in command]
    code, _, err = call(capsys, *argv)
    assert code == 2 and err.strip().startswith("Error: cannot write to") and "is a file, not a folder" in err
