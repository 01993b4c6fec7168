"""Running chains over folders: outputs, reports, failures, resuming, workers."""
import json

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from imrestore.errors import ImrestoreUsageError
from imrestore.runner import run

CHAIN = ["gaussian:sigma=25", "restorer:nlmeans"]


def test_mixed_folder_writes_good_items_and_lists_the_bad_one(mixed_folder, tmp_path, tree_digest):
    before = tree_digest(mixed_folder)
    out = tmp_path / "out"
    report = run(CHAIN, mixed_folder, out)
    assert tree_digest(mixed_folder) == before
    status = {i.path: i.status for i in report.items}
    assert status == {"astro.png": "written", "broken.png": "failed", "sub/cam16.tif": "written"}
    assert "truncated" in report.failed[0].error
    assert not (out / "broken.png").exists()
    png = np.asarray(PILImage.open(out / "astro.png"))
    assert png.dtype == np.uint8 and png.shape == (96, 96, 3)
    with tifffile.TiffFile(out / "sub" / "cam16.tif") as tif:
        assert tif.pages[0].dtype == np.uint16
        assert tif.pages[0].tags["XResolution"].value == (5, 2)
    assert not list(out.rglob("*imrestore-tmp*"))


def test_reported_psnr_equals_skimage_on_written_files(mixed_folder, tmp_path):
    out = tmp_path / "out"
    report = run(CHAIN, mixed_folder, out, save_corrupted=True)
    items = {i.path: i for i in report.items}
    for rel, read in (("astro.png", lambda p: np.asarray(PILImage.open(p))), ("sub/cam16.tif", tifffile.imread)):
        ref, est, cor = read(mixed_folder / rel), read(out / rel), read(out / "corrupted" / rel)
        m = items[rel].metrics
        assert m["restored"]["psnr"] == pytest.approx(peak_signal_noise_ratio(ref, est), abs=1e-6)
        assert m["corrupted"]["psnr"] == pytest.approx(peak_signal_noise_ratio(ref, cor), abs=1e-6)
        assert m["restored"]["psnr"] > m["corrupted"]["psnr"] + 5
        axis = -1 if ref.ndim == 3 else None
        assert m["restored"]["ssim"] == pytest.approx(structural_similarity(ref, est, channel_axis=axis, data_range=float(np.iinfo(ref.dtype).max)), abs=1e-6)


def test_report_json_and_csv(mixed_folder, tmp_path):
    out = tmp_path / "out"
    report = run(CHAIN, mixed_folder, out, seed=7)
    doc = json.loads((out / "report.json").read_text())
    assert doc["chain"] == ["corruption:gaussian:sigma=25.0,clip=false,sigma_max=none", "restorer:nlmeans:sigma=none,noise=auto,noise_a=none,noise_b=none,h=0.8,patch_size=5,patch_distance=6"]
    assert doc["seed"] == 7 and doc["metrics"] == ["psnr", "ssim"]
    assert doc["counts"] == {"written": 2, "skipped": 0, "measured": 0, "failed": 1}
    assert "imrestore" in doc["versions"]
    assert doc["mean"]["restored"]["psnr"] == pytest.approx(report.mean()["restored"]["psnr"])
    rows = (out / "report.csv").read_text().splitlines()
    assert rows[0] == "path,status,seconds,corrupted_psnr,corrupted_ssim,restored_psnr,restored_ssim,error"
    assert len(rows) == 5 and rows[-1].startswith("mean,")


def test_the_report_chain_rebuilds_the_same_run(mixed_folder, tmp_path):
    first = run(CHAIN, mixed_folder, tmp_path / "a", seed=3)
    run(first.chain, mixed_folder, tmp_path / "b", seed=first.seed)
    assert (tmp_path / "a" / "astro.png").read_bytes() == (tmp_path / "b" / "astro.png").read_bytes()


def test_seed_changes_the_output(mixed_folder, tmp_path):
    run(["gaussian"], mixed_folder, tmp_path / "a", seed=1)
    run(["gaussian"], mixed_folder, tmp_path / "b", seed=2)
    assert (tmp_path / "a" / "astro.png").read_bytes() != (tmp_path / "b" / "astro.png").read_bytes()


def test_rerun_resumes_and_still_reports_every_item(mixed_folder, tmp_path):
    out = tmp_path / "out"
    first = run(CHAIN, mixed_folder, out)
    (out / "astro.png").unlink()
    stamp = (out / "sub" / "cam16.tif").stat().st_mtime_ns
    second = run(CHAIN, mixed_folder, out)
    status = {i.path: i.status for i in second.items}
    assert status == {"astro.png": "written", "broken.png": "failed", "sub/cam16.tif": "skipped"}
    assert (out / "sub" / "cam16.tif").stat().st_mtime_ns == stamp
    assert second.mean()["restored"]["psnr"] == pytest.approx(first.mean()["restored"]["psnr"], abs=1e-9)
    third = run(CHAIN, mixed_folder, out, overwrite=True)
    assert {i.status for i in third.items} == {"written", "failed"}


def test_another_chain_into_the_same_output_is_refused(mixed_folder, tmp_path):
    run(CHAIN, mixed_folder, tmp_path / "out")
    with pytest.raises(ImrestoreUsageError, match="holds the results of another run"):
        run(["gaussian:sigma=10", "restorer:tv"], mixed_folder, tmp_path / "out")


def test_another_chain_into_the_same_output_file_names_the_file_and_its_report(mixed_folder, tmp_path):
    # a single file's report lies beside it: the message said "<folder> holds the results of another run" ('.' in the
    # working directory), which names neither the output that is protected nor the report that says so
    out = tmp_path / "o.png"
    run(CHAIN, mixed_folder / "astro.png", out)
    with pytest.raises(ImrestoreUsageError, match=r"o\.png is the output of another run, says .*o\.report\.json \(chain corruption:gaussian"):
        run(["gaussian:sigma=10", "restorer:tv"], mixed_folder / "astro.png", out)


def test_two_workers_give_the_same_files(mixed_folder, tmp_path):
    one = run(CHAIN, mixed_folder, tmp_path / "one", workers=1)
    two = run(CHAIN, mixed_folder, tmp_path / "two", workers=2)
    assert [i.path for i in one.items] == [i.path for i in two.items]
    for rel in ("astro.png", "sub/cam16.tif"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_output_inside_input_is_refused(mixed_folder):
    with pytest.raises(ImrestoreUsageError, match="inside the input folder"):
        run(CHAIN, mixed_folder, mixed_folder / "out")


def test_output_equal_to_input_file_is_refused(mixed_folder):
    with pytest.raises(ImrestoreUsageError, match="is the input file"):
        run(CHAIN, mixed_folder / "astro.png", mixed_folder)


def test_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(ImrestoreUsageError, match="does not exist"):
        run(CHAIN, tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ImrestoreUsageError, match="no images found"):
        run(CHAIN, tmp_path / "empty", tmp_path / "out")


def test_single_file_to_file_and_to_folder(mixed_folder, tmp_path):
    run(CHAIN, mixed_folder / "astro.png", tmp_path / "restored.png")
    assert (tmp_path / "restored.png").exists() and (tmp_path / "restored.report.json").exists()
    run(CHAIN, mixed_folder / "astro.png", tmp_path / "folder")
    assert (tmp_path / "folder" / "astro.png").exists() and (tmp_path / "folder" / "report.json").exists()


def test_no_restorer_writes_the_corrupted_images(mixed_folder, tmp_path):
    report = run(["erase:p=0.5"], mixed_folder, tmp_path / "out")
    assert "restored" not in report.items[0].metrics and "corrupted" in report.items[0].metrics
    back = np.asarray(PILImage.open(tmp_path / "out" / "astro.png"))
    assert (back == 255).all(axis=-1).mean() > 0.4


def test_size_changing_chain_reports_no_corrupted_metric(mixed_folder, tmp_path):
    report = run(["downsample", "restorer:interp"], mixed_folder, tmp_path / "out")
    item = next(i for i in report.items if i.path == "astro.png")
    assert item.metrics["corrupted"]["psnr"] is None and item.metrics["restored"]["psnr"] > 20


def test_a_metric_undefined_for_an_item_is_empty_not_a_failure(tmp_path):
    (tmp_path / "in").mkdir()
    PILImage.fromarray(np.full((2, 2), 100, np.uint8)).save(tmp_path / "in" / "tiny.png")
    PILImage.fromarray(np.full((16, 16), 100, np.uint8)).save(tmp_path / "in" / "small.png")
    report = run(["gaussian:sigma=10", "restorer:tv"], tmp_path / "in", tmp_path / "out")
    tiny = next(i for i in report.items if i.path == "tiny.png")
    assert tiny.status == "written" and (tmp_path / "out" / "tiny.png").exists()
    assert tiny.metrics["restored"]["ssim"] is None and tiny.metrics["restored"]["psnr"] is not None
    assert "too small" in tiny.note and "NOT MEASURED tiny.png" in report.summary()
    assert report.mean()["restored"]["ssim"] is not None  # the other item still counts
    assert "too small" in (tmp_path / "out" / "report.csv").read_text()


def test_interrupted_write_leaves_no_partial_file(mixed_folder, tmp_path, monkeypatch):
    from imrestore_builtins import images

    def boom(self, image, path):
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(images.PillowWriter, "write", boom)
    with pytest.raises(KeyboardInterrupt):
        run(CHAIN, mixed_folder, tmp_path / "out")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.suffix == ".png"]
    assert (tmp_path / "out" / "report.json").exists()  # what finished is recorded


def test_progress_callback_is_called(mixed_folder, tmp_path):
    seen = []

    class Bar:
        def __init__(self, total):
            seen.append(("total", total))

        def update(self, n=1):
            seen.append(("update", n))

        def close(self):
            seen.append(("close",))

    run(CHAIN, mixed_folder, tmp_path / "out", progress=Bar)
    assert seen[0] == ("total", 3) and seen.count(("update", 1)) == 3 and seen[-1] == ("close",)


def test_channel_contract_is_checked(mixed_folder, tmp_path, registry):
    from dataclasses import dataclass

    from imrestore import Restorer, hookimpl

    @dataclass
    class GreyOnly(Restorer):
        name = "grey-only"
        channels = (1,)

        def restore_one(self, image, degradation):
            return image

    class Plug:
        @hookimpl
        def register_restorers(self, register):
            register(GreyOnly)

    registry.add_plugin(Plug(), "grey-only-test")
    report = run(["restorer:grey-only"], mixed_folder, tmp_path / "out")
    errors = {i.path: i.error for i in report.failed}
    assert "accepts (1,) channels, got 3" in errors["astro.png"]


def test_python_api_over_arrays_gives_the_cli_report_shape(camera, astronaut):
    import imrestore

    chain = imrestore.Chain.from_specs(CHAIN)
    outputs, report = chain.run_arrays({"cam": camera, "astro": astronaut}, seed=0)
    assert set(outputs) == {"cam", "astro"} and outputs["astro"].restored.shape == astronaut.shape
    doc = report.to_dict()
    assert doc["counts"]["written"] == 2 and doc["mean"]["restored"]["psnr"] > doc["mean"]["corrupted"]["psnr"]
    assert report.to_csv().splitlines()[0].startswith("path,status,seconds,corrupted_psnr")


def test_images_in_a_pool_or_on_dask_give_the_serial_bytes(tmp_path):
    """One runner: the executors that serve volumes serve image folders too, with the same bytes as one process."""
    from PIL import Image as PILImage
    from skimage import data

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(4):
        PILImage.fromarray(data.camera()[64 * i : 64 * i + 64, :64]).save(src / ("sub" if i % 2 else ".") / f"c{i}.png")
    chain = ["gaussian:sigma=25", "restorer:tv"]
    serial = run(chain, src, tmp_path / "serial")
    pooled = run(chain, src, tmp_path / "pool", workers=2)
    dasked = run(chain, src, tmp_path / "dask", workers=2, dask=True)
    for rel in ("c0.png", "sub/c1.png", "c2.png", "sub/c3.png"):
        ref = (tmp_path / "serial" / rel).read_bytes()
        assert (tmp_path / "pool" / rel).read_bytes() == ref == (tmp_path / "dask" / rel).read_bytes()
    assert [i.path for i in serial.items] == [i.path for i in pooled.items] == [i.path for i in dasked.items]
    assert serial.mean() == pooled.mean() == dasked.mean()


def test_a_resumed_item_reuses_its_corrupted_metrics(mixed_folder, tmp_path, monkeypatch):
    """On resume, a finished item is not corrupted again: its corrupted image's metrics come from the previous report."""
    from imrestore.chain import Chain

    out = tmp_path / "out"
    first = run(CHAIN, mixed_folder, out)
    calls = []
    real = Chain.corrupt
    monkeypatch.setattr(Chain, "corrupt", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    second = run(CHAIN, mixed_folder, out)
    assert not calls and [i.status for i in second.items] == ["skipped", "failed", "skipped"]
    assert second.mean() == first.mean()
    run(CHAIN, mixed_folder, out, metrics=["psnr"])  # other metrics: measured afresh
    assert calls
