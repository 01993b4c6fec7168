"""Run reports: per-item metrics, means, and what is needed to repeat the run.

``report.json`` holds everything; ``report.csv`` one row per item plus a mean
row.  Non-finite numbers (PSNR of identical images) are written as null.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ._version import __version__
from .dtypes import RangeSpec, range_text
from .registry import get_registry

#: The no-reference ``edges`` metric above which a report says that the restorer removed structure (calibrated in
#: benchmarks/bench_report_flag.py: blurred clean images score above it, properly denoised noisy images below).
REMOVED_STRUCTURE = 0.3
REMOVED_STRUCTURE_WORDS = ("removed structure: the part the restorer took away follows the image's edges and texture "
                           f"(edges > {REMOVED_STRUCTURE}), so detail was lost along with any noise")

#: What a metric compares with the reference: the corrupted input, the
#: restorer's output, or (``imrestore eval``) a given estimate.
STAGES = ("corrupted", "restored", "estimate")


@dataclass
class ItemResult:
    """The outcome of one item."""

    path: str
    status: str  # "written", "skipped" (output existed), "measured" (eval) or "failed"
    output: str = ""
    error: str = ""
    note: str = ""  # why a metric is empty for a written item (e.g. too small for SSIM)
    seconds: float = 0.0
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: What the restorer estimated from the data (its noise model...), as it recorded it.
    estimated: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Everything a run produced, in the form the CLI and notebooks share."""

    chain: list[str]
    metrics: list[str]
    seed: int
    input: str
    output: str
    items: list[ItemResult] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The working folder of the run: what relative input and output paths are relative to.
    cwd: str = field(default_factory=os.getcwd)
    #: Which stored values were 0 and 1 (``--range``: dtype, data or LO:HI).
    value_range: str = "dtype"
    #: Volume runs: metrics of the whole volume per stage (fastMRI's way) and its shape.
    volume: dict[str, Any] = field(default_factory=dict)
    #: What the metrics compare with: "input" (a benchmark: the chain corrupted a clean input) or
    #: "none" (real data: the input is the measurement, there is no clean image).
    reference: str = "input"

    NO_REFERENCE_NOTE: ClassVar[str] = ("no reference: the input is the measurement and there is no clean image, so the "
                                        "metrics judge the restored image on its own (noise left, structure in the removed part); "
                                        "the 'corrupted' stage is the input as acquired")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Report":
        """Rebuild a report from its JSON form (``to_dict``)."""
        names = {f for f in cls.__dataclass_fields__}
        report = cls(**{k: v for k, v in d.items() if k in names and k != "items"})
        fields = set(ItemResult.__dataclass_fields__)
        report.items = [ItemResult(**{k: v for k, v in i.items() if k in fields}) for i in d.get("items", [])]
        return report

    def removed_structure(self) -> list[ItemResult]:
        """Real data: the items whose restoration removed structure (see ``REMOVED_STRUCTURE``)."""
        if self.reference != "none":
            return []
        def edges(item: ItemResult) -> float:  # a run's restored image, or the estimate of `eval --no-reference`
            return max((item.metrics.get(stage, {}).get("edges") or 0.0) for stage in ("restored", "estimate"))

        return [i for i in self.items if edges(i) > REMOVED_STRUCTURE]

    def shown_metrics(self, mean: dict | None = None) -> list[str]:
        """The metrics worth a row in a summary: all but those no restored image could have (``residual`` after an
        inverted blur: the item's NOT MEASURED note says why), which would show the input's value beside nothing."""
        mean = self.mean() if mean is None else mean
        return [k for k in self.metrics if not ("restored" in mean and mean["restored"].get(k) is None
                                                and mean.get("corrupted", {}).get(k) is not None)]

    def kept(self) -> list[ItemResult]:
        """The items the restorer kept as they were (too little noise to remove, weights that failed their harm check)."""
        return [i for i in self.items if i.status != "failed" and i.estimated.get("kept")]

    def kept_summary(self) -> str | None:
        """One line on the kept items: how many, which, and why (the first one's reason, which names the restorer).

        >>> r = Report(chain=[], metrics=[], seed=0, input="in", output="out")
        >>> r.items = [ItemResult("a.png", "written", estimated={"kept": True, "note": "tv: too little noise"}),
        ...            ItemResult("b.png", "written")]
        >>> r.kept_summary()
        '1 of 2 items kept as they are (a.png): tv: too little noise'
        """
        kept = self.kept()
        if not kept:
            return None
        noun = "planes" if self.volume else "items"
        done = [i for i in self.items if i.status != "failed"]
        which = "" if len(kept) == len(done) else " (" + ", ".join(i.path for i in kept[:5]) + (" ..." if len(kept) > 5 else "") + ")"
        return f"{len(kept)} of {len(self.items)} {noun} kept as they are{which}: {kept[0].estimated['note']}"

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "failed"]

    def mean(self) -> dict[str, dict[str, float | None]]:
        """Mean of each metric over the items that have it, per stage."""
        out: dict[str, dict[str, float | None]] = {}
        for stage in self.stages():
            for key in self.metrics:
                values = [i.metrics.get(stage, {}).get(key) for i in self.items if i.status != "failed"]
                values = [v for v in values if v is not None and math.isfinite(v)]  # identical images: PSNR inf
                if values:
                    out.setdefault(stage, {})[key] = float(np.mean(values))
                elif any(stage in i.metrics for i in self.items):
                    out.setdefault(stage, {})[key] = None
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = self.mean()
        d["counts"] = {s: sum(i.status == s for i in self.items) for s in ("written", "skipped", "measured", "failed")}
        if self.kept():
            d["kept"] = self.kept_summary()
        if self.reference == "none":
            d["note"] = self.NO_REFERENCE_NOTE
            flagged = {i.path for i in self.removed_structure()}
            for item in d["items"]:
                if item["path"] in flagged:
                    item["flag"] = REMOVED_STRUCTURE_WORDS
            if "edges" in self.metrics:
                d["removed_structure"] = (f"{len(flagged)} of {len(self.items)} {'planes' if self.volume else 'items'}: "
                                          + REMOVED_STRUCTURE_WORDS if flagged else
                                          f"none of the {'planes' if self.volume else 'items'}: the removed part does not follow the image's edges")
        return _finite(d)

    def write(self, folder: Path | str, stem: str = "report") -> tuple[Path, Path]:
        """Write ``stem.json`` and ``stem.csv`` atomically into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        jpath, cpath = folder / f"{stem}.json", folder / f"{stem}.csv"
        atomic_write_text(jpath, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        atomic_write_text(cpath, self.to_csv())
        self._written = jpath
        return jpath, cpath

    @property
    def written(self) -> Path | None:
        """Where :meth:`write` last put the JSON report (None before it did)."""
        return getattr(self, "_written", None)

    def stages(self) -> list[str]:
        """The stages measured, in a fixed order (corrupted, restored, estimate)."""
        return [s for s in STAGES if any(s in i.metrics for i in self.items)]

    def columns(self) -> list[tuple[str, str]]:
        return [(s, k) for s in self.stages() for k in self.metrics]

    def to_csv(self) -> str:
        cols = self.columns()
        noise = any("noise" in i.estimated for i in self.items)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["path", "status", "seconds", *[f"{self.stage_label(s)}_{k}" for s, k in cols], *(["estimated_noise"] if noise else []),
                    "error"])
        for item in self.items:
            vals = [_cell(item.metrics.get(s, {}).get(k)) for s, k in cols]
            est = [_noise_text(item.estimated.get("noise"))] if noise else []
            w.writerow([item.path, item.status, f"{item.seconds:.3f}", *vals, *est, item.error or item.note])
        mean = self.mean()
        w.writerow(["mean", "", "", *[_cell(mean.get(s, {}).get(k)) for s, k in cols], *([""] if noise else []), ""])
        return buf.getvalue()

    def summary(self) -> str:
        """A plain-text table for the terminal."""
        counts = self.to_dict()["counts"]
        labels = {"written": "written", "skipped": "already done", "measured": "measured", "failed": "failed"}
        evaluation = bool(counts["measured"]) or not self.chain  # `imrestore eval` measures, it writes nothing
        shown = ("measured" if evaluation else "written", "failed")
        parts = [f"{n} {labels[s]}" for s, n in counts.items() if n or s in shown]
        if evaluation:
            parts = [p for p in parts if not p.endswith("written")]
        noun = "planes" if self.volume else "items"
        lines = [f"{len(self.items)} {noun}: {', '.join(parts)}  ({self.seconds:.1f} s)"]
        if self.reference == "none" and self.metrics:
            lines.append(self.NO_REFERENCE_NOTE)
        mean = {} if self.volume else self.mean()  # a volume is summed up as a whole below
        if self.metrics and "estimate" in mean and "corrupted" in mean:  # eval --no-reference: the input and the estimate
            lines += ["", f"{'metric':<10}{'input':>12}{'estimate':>12}", "-" * 34]
            lines += [f"{k:<10}{_num(mean['corrupted'].get(k)):>12}{_num(mean['estimate'].get(k)):>12}" for k in self.metrics]
        elif self.metrics and "estimate" in mean:
            lines += ["", f"{'metric':<10}{'mean':>12}", "-" * 22]
            lines += [f"{k:<10}{_num(mean['estimate'].get(k)):>12}" for k in self.metrics]
        elif self.metrics and mean:
            first = "input" if self.reference == "none" else "corrupted"
            header = f"{'metric':<10}{first:>12}{'restored':>12}{'change':>10}"
            lines += ["", header, "-" * len(header)]
            for key in self.shown_metrics(mean):
                c = mean.get("corrupted", {}).get(key)
                r = mean.get("restored", {}).get(key)
                delta = f"{r - c:+10.4f}" if c is not None and r is not None else f"{'':>10}"
                lines.append(f"{key:<10}{_num(c):>12}{_num(r):>12}{delta}")
        if self.volume and self.metrics:
            lines += ["", self.volume_summary()]
        flagged = self.removed_structure()
        if flagged:
            noun = "planes" if self.volume else "items"
            lines += ["", f"WARNING {len(flagged)} of {len(self.items)} {noun}: {REMOVED_STRUCTURE_WORDS}: "
                      + ", ".join(i.path for i in flagged[:5]) + (" ..." if len(flagged) > 5 else "")]
        if self.kept():
            lines += ["", f"NOTE {self.kept_summary()}"]
        for item in self.items:
            if item.note and item.status != "failed":
                lines.append(f"NOT MEASURED {item.path}: {item.note}")
        for item in self.failed:
            lines.append(f"FAILED {item.path}: {item.error}")
        return "\n".join(lines)

    def stage_label(self, stage: str) -> str:
        """A stage as a reader should see it: with no reference, the "corrupted" stage is the input as acquired."""
        return "input" if stage == "corrupted" and self.reference == "none" else stage

    def volume_summary(self) -> str:
        """The whole-volume metrics as a table (fastMRI: data range = volume maximum)."""
        v = self.volume
        stages = [s for s in STAGES if s in v]
        crop = f", centre crop {v['center_crop'][0]}x{v['center_crop'][1]}" if v.get("center_crop") else ""
        dr = v.get("data_range")
        head = f"volume {'x'.join(map(str, v.get('shape', [])))} {v.get('axes', '')} {v.get('dtype', '')}"
        head += f" (data range: the reference volume maximum{crop})" if dr is not None else crop
        header = f"{'volume':<10}" + "".join(f"{self.stage_label(s):>12}" for s in stages)
        lines = [head, header, "-" * len(header)]
        for key in self.metrics:
            lines.append(f"{key:<10}" + "".join(f"{_num(v[s].get(key)):>12}" for s in stages))
        return "\n".join(lines)


def new_report(chain: Any, input: str | Path, output: str | Path, *, seed: int = 0, command: list[str] | None = None,
               value_range: RangeSpec = "dtype", plugin_versions: bool = True) -> Report:
    """An empty report of a run of ``chain`` (anything with ``specs`` and ``metric_keys``, as a ``Chain`` has).

    ``versions`` holds imrestore's version and, with ``plugin_versions``, every plugin package's.
    """
    versions = {"imrestore": __version__, **(get_registry().versions() if plugin_versions else {})}
    return Report(chain=list(chain.specs), metrics=list(chain.metric_keys), seed=seed, input=str(input), output=str(output),
                  versions=versions, command=list(command or []), value_range=range_text(value_range),
                  reference="input" if getattr(chain, "has_reference", True) else "none")


def _noise_text(noise: dict | None) -> str:
    """A noise model as recorded (``{"model": ..., params..., "reason": ...}``) in one cell."""
    if not noise:
        return ""
    params = " ".join(f"{k}={v:.4g}" for k, v in noise.items() if isinstance(v, (int, float)))
    return f"{noise.get('model', '?')} {params}".strip()


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}"


def _cell(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else repr(round(float(v), 10))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.imrestore-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
