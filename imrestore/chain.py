"""A chain: corruptions, then at most one restorer, measured by metrics.

The chain is the unit the CLI, the notebooks and the workers share.  It works on
NumPy arrays; :mod:`imrestore.runner` adds files and volumes around it.

Example
-------
>>> import numpy as np
>>> from skimage import data
>>> chain = Chain.from_specs(["gaussian:sigma=25", "restorer:tv"])
>>> out = chain.apply(data.camera()[:64, :64] / 255.0, seed=0)
>>> out.metrics["restored"]["psnr"] > out.metrics["corrupted"]["psnr"]
True
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .dtypes import check_finite
from .errors import ChainError, NotMeasurable, SpecError, option
from .interfaces import Corruption, Metric, Restorer
from .params import params_of
from .registry import build
from .report import ItemResult, Report, new_report
from .spec import parse_spec

DEFAULT_METRICS = ("psnr", "ssim")
#: What a restoration of real data (no corruption, so no clean image) reports by default.
NO_REFERENCE_METRICS = ("noise", "residual", "whiteness", "edges")


def item_rng(seed: int, key: str, index: int) -> np.random.Generator:
    """The generator for corruption ``index`` of the chain on item ``key``.

    The same seed and item always give the same draws; different seeds, items
    or positions in the chain give independent streams.
    """
    ident = zlib.crc32(key.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed) & 0xFFFFFFFFFFFFFFFF, spawn_key=(ident, index)))


@dataclass
class ChainOutput:
    """What one pass of a chain gives for one image."""

    corrupted: np.ndarray
    restored: np.ndarray | None
    degradation: dict
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.restored if self.restored is not None else self.corrupted


def metric_keys(metrics: Sequence[Metric]) -> list[str]:
    """Column names for metrics: the name, and where names repeat, the parameters set away from their defaults.

    >>> from imrestore import build
    >>> metric_keys([build("psnr"), build("ssim"), build("ssim:3d=true")])
    ['psnr', 'ssim', 'ssim:3d=true']
    """
    names = [m.name for m in metrics]
    keys = []
    for m in metrics:
        changed = [f"{p.name}={_text(getattr(m, p.field))}" for p in params_of(m) if getattr(m, p.field) != p.default]
        keys.append(m.name if names.count(m.name) == 1 or not changed else f"{m.name}:{','.join(changed)}")
    return keys


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


#: The record key (under ``estimated``) of a restorer that inverted an operator on real data (a blur, a mask, pooling):
#: its output differs from its input by what it restored, not by noise it removed.
INVERTED = "inverted"


def compares_input(metric: Metric) -> bool:
    """Whether a no-reference metric judges a restoration by what it took from its input (residual, whiteness, edges)."""
    return not metric.needs_reference and not metric.estimate_only


def measure(metrics: Sequence[Metric], reference: np.ndarray, estimate: np.ndarray,
            notes: list[str] | None = None, inverted: str | None = None) -> dict[str, float | None]:
    """Every metric between two arrays.

    None where the shapes differ or where a metric is undefined for the images
    (:class:`NotMeasurable`, e.g. SSIM on a 1x1 image); the latter's reason is
    appended to ``notes`` when given.  ``inverted`` (what the restorer inverted, from its record) leaves out the
    metrics that read the input minus the output as removed noise, with a note.
    """
    out: dict[str, float | None] = {}
    other_size = []  # no-reference metrics that compare input and output, which differ in size (super-resolution)
    skipped = []  # ... which read the input minus the output as removed noise, where the restorer inverted an operator
    for key, metric in zip(metric_keys(metrics), metrics):
        if inverted and compares_input(metric):
            out[key] = None
            skipped.append(key)
            continue
        compared = reference
        if reference.shape != estimate.shape:
            if not metric.estimate_only:
                out[key] = None
                if not metric.needs_reference:
                    other_size.append(key)
                continue
            compared = estimate  # what it ignores
        try:
            out[key] = metric(compared, estimate)
        except NotMeasurable as exc:
            out[key] = None
            if notes is not None:
                _note(notes, str(exc))
    if skipped and notes is not None:
        _note(notes, f"{', '.join(skipped)} read{'s' if len(skipped) == 1 else ''} what a restorer took from its input as "
                     f"removed noise; this one inverted {inverted}, so the difference is what it restored")
    if other_size and notes is not None:
        size = "x".join(map(str, estimate.shape[:2])), "x".join(map(str, reference.shape[:2]))
        _note(notes, f"{', '.join(other_size)} compare{'s' if len(other_size) == 1 else ''} the output with the input pixel by "
                     f"pixel, and the output is {size[0]}, the input {size[1]}")
    return out


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


@dataclass
class Chain:
    """Zero or more corruptions, then at most one restorer, and the metrics."""

    corruptions: list[Corruption] = field(default_factory=list)
    restorer: Restorer | None = None
    metrics: list[Metric] = field(default_factory=list)

    @classmethod
    def from_specs(cls, specs: Iterable[str], metrics: Iterable[str] | None = None, *, prepare: bool = True) -> "Chain":
        """Build and check a chain from spec strings.

        ``metrics=None`` means the defaults: PSNR and SSIM when the chain
        corrupts (the input is the reference); with a restorer and no
        corruption (real data: there is no clean image), the no-reference
        ``noise``, ``residual`` and ``whiteness``; else none.  ``[]`` means none.
        """
        corruptions: list[Corruption] = []
        restorer: Restorer | None = None
        for text in specs:
            spec = parse_spec(text) if isinstance(text, str) else text
            plugin = build(spec, kind=None) if not isinstance(spec, (Corruption, Restorer)) else spec
            if isinstance(plugin, Corruption):
                if restorer is not None:
                    raise ChainError(f"{text}: corruptions must come before the restorer ({restorer.name})")
                corruptions.append(plugin)
            elif isinstance(plugin, Restorer):
                if restorer is not None:
                    raise ChainError(f"{text}: a chain has at most one restorer (already {restorer.name})")
                restorer = plugin
            else:
                raise SpecError(f"{text}: a {plugin.kind} cannot be part of a chain; use {option('metrics')} for metrics")
        if metrics is None:
            metrics = DEFAULT_METRICS if corruptions else NO_REFERENCE_METRICS if restorer is not None else ()
        metric_objs = [build(m, kind="metric") if isinstance(m, str) else m for m in metrics]
        chain = cls(corruptions, restorer, metric_objs)
        chain.check(prepare=prepare)
        return chain

    def check(self, prepare: bool = True) -> None:
        """Fail early when the restorer needs what no corruption provides."""
        if self.restorer is None:
            return
        if prepare:
            self.restorer.prepare(self.corruptions)
        provided = {k for c in self.corruptions for k in c.provides}
        if not self.corruptions:  # real data: what the restorer reconstructs from, the input's own measurements, is there
            provided |= set(self.restorer.consumes)
        missing = self.restorer.missing(provided)
        if missing:
            name = self.restorer.name
            how = [f"{name}:{p}" for k in missing for p in self.restorer.need_params.get(k, ())]
            given = f"give it as {' or '.join(how)}" if how else "set it with a parameter"
            where = "no corruption in the chain provides it" if self.corruptions else "there is no corruption in the chain to provide it"
            raise ChainError(
                f"restorer {name} needs {', '.join(missing)} and {where}: {given}, or put a corruption that provides it "
                f"earlier in the chain (see `imrestore plugins {name}`)"
            )

    @property
    def has_reference(self) -> bool:
        """Whether the input is a clean reference (the chain corrupts it) or the measurement itself (real data)."""
        return bool(self.corruptions)

    @property
    def metric_keys(self) -> list[str]:
        """The report's column name of each metric."""
        return metric_keys(self.metrics)

    def restore(self, corrupted: np.ndarray, degradation: dict) -> np.ndarray | None:
        """The restorer's output for one corrupted image, or None when the chain has no restorer."""
        return self.restorer.restore([corrupted], [degradation])[0] if self.restorer is not None else None

    @property
    def specs(self) -> list[str]:
        return [p.spec for p in self.plugins]

    @property
    def plugins(self) -> list:
        return [*self.corruptions, *([self.restorer] if self.restorer else [])]

    def corrupt(self, image: np.ndarray, seed: int = 0, key: str = "", measured: dict | None = None,
                value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, dict]:
        """Apply the corruptions; return the result and the degradation record.

        ``measured`` holds raw data behind ``image`` (a scan's k-space): the
        first corruption that consumes them works on them instead of the image.
        ``value_range`` says which stored values 0 and 1 stand for (the record
        keeps it for restorers that work in the file's own units: a foreign model).
        """
        x = np.asarray(image, dtype=np.float32)
        check_finite(x)
        # the restorer's own stream (a sampler's draws), after the corruptions': reproducible per seed and item
        degradation: dict = {"shape": x.shape, "operators": [], "unmodelled": [],
                             "rng": item_rng(seed, key, len(self.corruptions))}
        if value_range is not None:
            degradation["value_range"] = tuple(float(v) for v in value_range)
        for i, corruption in enumerate(self.corruptions):
            rng = item_rng(seed, key, i)
            shape = x.shape
            if measured and corruption.consumes and all(k in measured for k in corruption.consumes):
                x, info = corruption.forward_measured(x, measured, rng)
                measured = None  # the measurements describe the uncorrupted image only
            else:
                x, info = corruption.forward(x, rng)
            degradation.update(info)
            op = None if corruption.is_noise else corruption.operator(info, shape)
            if op is not None:
                degradation["operators"].append(op)  # in chain order: a restorer inverts their composition
            elif not corruption.is_noise:
                degradation["unmodelled"].append(corruption.name)
        restorer = self.restorer
        if measured and restorer is not None and restorer.consumes and all(k in measured for k in restorer.consumes):
            degradation["measured"] = measured  # nothing in the chain took them: the restorer reconstructs from them as acquired
        return x, degradation

    def run_arrays(self, images: dict[str, np.ndarray] | Sequence[np.ndarray], seed: int = 0) -> tuple[dict[str, ChainOutput], Report]:
        """Apply the chain to many arrays; return the outputs by key and the report.

        Keys (the dict's, or ``"0"``, ``"1"``... for a list) play the role of
        relative paths: they seed the corruptions and name the report's items.

        >>> import numpy as np
        >>> outs, report = Chain.from_specs(["gaussian"]).run_arrays([np.zeros((8, 8))])
        >>> list(outs), report.items[0].status
        (['0'], 'written')
        """
        named = images if isinstance(images, dict) else {str(i): im for i, im in enumerate(images)}
        report = new_report(self, "<arrays>", "<arrays>", seed=seed, plugin_versions=False)
        outputs: dict[str, ChainOutput] = {}
        for key, image in named.items():
            t0 = time.perf_counter()
            out = self.apply(image, seed=seed, key=key)
            outputs[key] = out
            report.items.append(ItemResult(path=key, status="written", seconds=time.perf_counter() - t0, metrics=out.metrics))
        report.seconds = sum(i.seconds for i in report.items)
        return outputs, report

    def apply(self, image: np.ndarray, seed: int = 0, key: str = "") -> ChainOutput:
        """Corrupt, restore and measure one float image in [0, 1]."""
        reference = np.asarray(image, dtype=np.float32)
        corrupted, degradation = self.corrupt(reference, seed, key)
        restored = self.restore(corrupted, degradation)
        out = ChainOutput(corrupted, restored, degradation)
        if self.metrics:
            ref = reference  # float32: the metrics that need float64 copy it themselves (Metric.float32)
            out.metrics["corrupted"] = measure(self.metrics, ref, np.clip(corrupted, 0, 1))
            if restored is not None:
                out.metrics["restored"] = measure(self.metrics, ref, np.clip(restored, 0, 1))
        return out
