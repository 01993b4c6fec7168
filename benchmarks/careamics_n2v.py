"""CAREamics' Noise2Void (or N2V2) on an array of noisy images, for a wall-clock budget: the peer of bench_self_supervised.py.

Runs in the benchmark's own virtual environment (CAREamics pins its own torch;
it is never one of imrestore's requirements):

    python -m venv benchmarks/.venv-careamics
    benchmarks/.venv-careamics/bin/pip install careamics==0.3.5
    benchmarks/.venv-careamics/bin/python benchmarks/careamics_n2v.py noisy.npz out.npz --minutes 4 [--n2v2]

``noisy.npz`` holds ``images`` (``SYX`` or ``SZYX`` float32); ``out.npz`` gets
``restored`` (same shape) and ``train_seconds``. The configuration is the one
CAREamics' documentation gives (``create_n2v_config``: 64x64 patches, or
16x64x64 in 3-D, batch 16, its default U-Net, flips and rotations,
mean/std normalisation, 8 validation patches); only the number of epochs is
replaced by the time budget (Lightning's ``max_time``).
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--n2v2", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bmz", help="also export the trained model as a BioImage Model Zoo package to this .zip (2-D only)")
    args = ap.parse_args()

    from careamics import CAREamist
    from careamics.config import create_advanced_n2v_config

    torch.set_num_threads(args.threads)
    images = np.load(args.input)["images"].astype(np.float32)
    three_d = images.ndim == 4
    budget = int(round(args.minutes * 60))
    config = create_advanced_n2v_config(
        experiment_name="bench_n2v2" if args.n2v2 else "bench_n2v",
        data_type="array",
        axes="SZYX" if three_d else "SYX",
        patch_size=[16, 64, 64] if three_d else [64, 64],
        batch_size=16,
        num_epochs=100000,
        use_n2v2=args.n2v2,
        num_workers=0,
        seed=1,
        trainer_params={"max_time": f"00:{budget // 3600:02d}:{budget % 3600 // 60:02d}:{budget % 60:02d}",
                        "accelerator": "cpu"},
    )
    with tempfile.TemporaryDirectory() as work:
        model = CAREamist(config, work_dir=work, enable_progress_bar=False)
        t0 = time.perf_counter()
        model.train(train_data=images)
        seconds = time.perf_counter() - t0
        tile = (32, 128, 128) if three_d else (128, 128)
        overlap = (8, 48, 48) if three_d else (48, 48)
        outs = model.predict(images, axes="SZYX" if three_d else "SYX", tile_size=tile, tile_overlap=overlap, batch_size=1)
        if args.bmz and not three_d:  # the same weights, to run through imrestore's restorer:bmz (bench_self_supervised)
            model.export_to_bmz(args.bmz, friendly_model_name="bench_n2v2" if args.n2v2 else "bench_n2v",
                                input_array=images[:1, :128, :128], authors=[{"name": "imrestore benchmark"}],
                                general_description="CAREamics N2V trained by bench_self_supervised.py",
                                data_description="the benchmark's noisy images")
    restored = np.concatenate([np.asarray(o, np.float32).reshape((-1,) + images.shape[1:]) for o in outs[0]], axis=0) \
        if isinstance(outs, tuple) else np.asarray(outs, np.float32)
    np.savez(args.output, restored=restored.reshape(images.shape), train_seconds=seconds)


if __name__ == "__main__":
    main()
