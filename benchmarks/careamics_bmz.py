"""Make a BioImage Model Zoo package with CAREamics, and CAREamics' own prediction of an image: the peer side of
bench_bmz_import.py.

Runs in the benchmark's own virtual environment (CAREamics pins its own torch; it is never one of imrestore's
requirements):

    python -m venv benchmarks/.venv-careamics
    benchmarks/.venv-careamics/bin/pip install torch==2.9.1 torchvision==0.24.1
    benchmarks/.venv-careamics/bin/pip install careamics==0.3.5 "pydantic<2.14" torch==2.9.1 torchvision==0.24.1
    benchmarks/.venv-careamics/bin/python benchmarks/careamics_bmz.py data.npz OUT_DIR --minutes 2 [--n2v2]

``data.npz`` holds ``train`` (``SYX`` float32, raw counts) and ``test`` (``YX``, larger than the 128x128 patches).
OUT_DIR gets ``model.zip`` (``CAREamist.export_to_bmz``), and ``prediction.npz`` with ``prediction`` (CAREamics'
``predict`` of ``test``, whole, no tiling; and ``tiled``: 128x128 tiles with 48 pixels of overlap, as its
documentation shows) and ``train_seconds``. The configuration is CAREamics' documented N2V one (64x64 patches,
batch 16, its default U-Net); only the number of epochs is replaced by the time budget.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _image(outs, shape) -> np.ndarray:
    """CAREamics' prediction of one image (it answers (predictions, sources) with lists in 0.3.5) as a float32 array."""
    if isinstance(outs, tuple):
        outs = outs[0]
    if isinstance(outs, list):
        outs = outs[0]
    return np.asarray(outs, np.float32).reshape(shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output", type=Path)
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--n2v2", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from careamics import CAREamist
    from careamics.config import create_advanced_n2v_config

    torch.set_num_threads(args.threads)
    data = np.load(args.input)
    train, test = data["train"].astype(np.float32), data["test"].astype(np.float32)
    budget = int(round(args.minutes * 60))
    config = create_advanced_n2v_config(
        experiment_name="imrestore_import_check", data_type="array", axes="SYX", patch_size=[64, 64], batch_size=16,
        num_epochs=100000, use_n2v2=args.n2v2, num_workers=0, seed=1,
        trainer_params={"max_time": f"00:{budget // 3600:02d}:{budget % 3600 // 60:02d}:{budget % 60:02d}", "accelerator": "cpu"},
    )
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        model = CAREamist(config, work_dir=work, enable_progress_bar=False)
        t0 = time.perf_counter()
        model.train(train_data=train)
        seconds = time.perf_counter() - t0
        whole = _image(model.predict(test, axes="YX", batch_size=1), test.shape)
        tiled = _image(model.predict(test, axes="YX", tile_size=(128, 128), tile_overlap=(48, 48), batch_size=1), test.shape)
        model.export_to_bmz(args.output / "model.zip", friendly_model_name="imrestore_import_check",
                            input_array=train[:1, :128, :128], authors=[{"name": "imrestore benchmark"}],
                            general_description="CAREamics N2V, trained briefly to check imrestore's import of BMZ packages",
                            data_description="a noisy photograph in raw counts")
    np.savez(args.output / "prediction.npz", prediction=whole, tiled=tiled, train_seconds=seconds)


if __name__ == "__main__":
    main()
