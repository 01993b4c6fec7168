"""The lecture reproductions still run and give their committed numbers (quick versions).

Each script in ``benchmarks/`` has a ``--quick`` mode whose results are committed
under ``benchmarks/results/quick/``.  Rerunning it must give the same numbers
within a tolerance: 3 % relative, or 0.01 absolute for numbers near zero
(seeded CPU training is deterministic on one machine; the tolerance absorbs
floating-point differences between CPUs and library builds).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks"
QUICK = BENCH / "results" / "quick"
#: Not compared: provenance, timings, and differences of two compared numbers (near zero, so
#: a tolerance on them would be far tighter than on their terms).
IGNORED = {"command", "machine", "seconds", "train_seconds", "quick", "noisy_minus_clean_db", "edsr_minus_bicubic_db",
           "edsr_minus_bicubic_db_photos"}
SCRIPTS = [
    ("bench_repro_toy2d.py", "repro_toy2d"),
    ("bench_mnist.py", "bench_mnist"),
    ("bench_repro_seven_nine.py", "repro_seven_nine"),
    ("bench_sample_seven_nine.py", "sample_seven_nine"),
    ("bench_repro_n2n_losses.py", "repro_n2n_losses"),
    ("bench_n2n_targets.py", "bench_n2n_targets"),
    ("bench_sr.py", "bench_sr"),
    ("bench_repro_mri_n2n.py", "repro_mri_n2n"),
    ("bench_repro_sdae.py", "repro_sdae"),
]


def numbers(obj, prefix=""):
    """Every number in a JSON tree, by its path."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in IGNORED:
                yield from numbers(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix, float(obj)


@pytest.mark.slow
@pytest.mark.parametrize("script,name", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_quick_reproduction_matches_its_committed_numbers(tmp_path, script, name):
    committed = json.loads((QUICK / f"{name}.json").read_text())
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = json.loads((tmp_path / "quick" / f"{name}.json").read_text())
    assert (tmp_path / "quick" / f"{name}.png").exists()  # the figure
    old, new = dict(numbers(committed)), dict(numbers(fresh))
    assert old.keys() == new.keys()
    off = {k: (old[k], new[k]) for k in old
           if not (math.isclose(old[k], new[k], rel_tol=0.03, abs_tol=0.01) or (math.isnan(old[k]) and math.isnan(new[k])))}
    assert not off, f"numbers moved beyond the tolerance: {off}"


def test_benchmarks_readme_quotes_the_committed_json():
    sys.path.insert(0, str(BENCH))
    try:
        import readme_table
    finally:
        sys.path.remove(str(BENCH))
    readme = (BENCH / "README.md").read_text()
    assert readme_table.BEGIN in readme, "run python benchmarks/readme_table.py"
    assert readme_table.render(readme) == readme, "benchmarks/README.md is stale: run python benchmarks/readme_table.py"
