"""How fast the command line answers, and what a classical chain's run holds in memory: this checkout against an
earlier commit, measured side by side (interleaved) in one run.

    python benchmarks/bench_cli_start.py                 # against 4157756 (before the lazy imports)
    python benchmarks/bench_cli_start.py --before REV --repeats 9

Each command runs in a fresh interpreter (the console script's own code: ``from imrestore.cli import main``); the
earlier commit is checked out in a temporary git worktree and put first on ``PYTHONPATH``. Wall time is the median of
the repeats, peak RSS the median of each child's own maximum (``os.wait4``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRIPT = "import sys\nfrom imrestore.cli import main\nsys.argv = ['imrestore', *sys.argv[1:]]\nmain()\n"


def timed(args: list[str], tree: Path | None, cwd: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``imrestore ARGS`` from ``tree`` (None: the installed checkout)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "plugins")])
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"imrestore {' '.join(args)} failed ({'before' if tree else 'after'})")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="4157756", help="the commit to compare with")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    old = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before], check=True,
                   capture_output=True)
    try:
        rng = np.random.default_rng(0)
        tifffile.imwrite(work / "img.tif", (rng.random((256, 256)) * 255).astype(np.uint8))
        commands = {"--help": ["--help"], "plugins": ["plugins"],
                    "classical chain": ["run", "gaussian:sigma=25", "restorer:tv", "img.tif", "OUT", "-q", "--overwrite"]}
        runs: dict[str, dict[str, list]] = {name: {"before": [], "after": []} for name in commands}
        for _ in range(args.repeats):  # interleaved: the machine's noise falls on both alike
            for name, argv in commands.items():
                for side, tree in (("before", old), ("after", None)):
                    argv_side = [a.replace("OUT", f"out_{side}") for a in argv]
                    runs[name][side].append(timed(argv_side, tree, work))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    table = {name: {side: {"seconds": statistics.median(s for s, _ in v), "peak_rss_mib": statistics.median(m for _, m in v)}
                    for side, v in sides.items()} for name, sides in runs.items()}
    result = {"command": "python benchmarks/bench_cli_start.py " + " ".join(sys.argv[1:]), "before": args.before,
              "repeats": args.repeats, "python": sys.version.split()[0], "results": table}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_cli_start.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Command-line start ({args.repeats} interleaved runs each, medians; before = {args.before})", "",
             f"`{result['command']}`", "", "| command | before s | after s | before peak RSS MiB | after peak RSS MiB |",
             "|---|---|---|---|---|"]
    for name, sides in table.items():
        b, a = sides["before"], sides["after"]
        lines.append(f"| `imrestore {' '.join(commands[name]).replace('OUT', 'out/')}` | {b['seconds']:.2f} | {a['seconds']:.2f} "
                     f"| {b['peak_rss_mib']:.0f} | {a['peak_rss_mib']:.0f} |")
    (RESULTS / "bench_cli_start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
