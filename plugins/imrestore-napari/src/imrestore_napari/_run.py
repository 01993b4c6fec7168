"""The work behind the widget, without Qt: restore a layer's array with a restorer, as ``imrestore run`` would.

The array is read in the units of its dtype (uint16: 0..65535 is 0..1; float data as they are), restored plane by
plane (a 3-D restorer gets the whole stack), and returned in the input's dtype, with the arrays the restorer gives
beside its output (a sampler's ``std``) and what it recorded (noise estimates, the operator, the model).

>>> import numpy as np
>>> out = restore_array(np.full((2, 16, 16), 1000, np.uint16), "restorer:identity")
>>> out.data.dtype, out.data.shape, int(out.data[0, 0, 0])
(dtype('uint16'), (2, 16, 16), 1000)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from imrestore.chain import Chain
from imrestore.dtypes import from_unit, to_unit
from imrestore.interfaces import EXTRA_OUTPUTS
from imrestore.params import params_of
from imrestore.registry import get_registry


@dataclass
class Restored:
    """What a restoration gives: the output (input dtype), extra outputs (float32) and per-plane records."""

    data: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    scale: int = 1


def restorer_names() -> list[str]:
    """Every registered restorer, third-party plugins' included."""
    return sorted(get_registry().names("restorer"))


def restorer_params(name: str) -> list:
    """The typed parameters of restorer ``name`` (what the widget's form is built from)."""
    return params_of(get_registry().lookup(name, kind="restorer").cls)


def _planes(shape: tuple[int, ...], rgb: bool) -> tuple[int, ...]:
    """The leading axes that index planes: everything before YX (or YXC for RGB)."""
    return shape[: len(shape) - (3 if rgb else 2)]


def steps(data: np.ndarray, spec: str, rgb: bool = False) -> Iterator[tuple[int, int] | Restored]:
    """Restore ``data`` with ``spec``; yields ``(done, total)`` after each plane, then the :class:`Restored` result.

    A generator, so that a worker thread can report progress and stop between planes.
    """
    chain = Chain.from_specs([spec], metrics=[])
    restorer = chain.restorer
    if restorer is None:
        raise ValueError(f"{spec} is not a restorer")
    lead = _planes(data.shape, rgb)
    unit, value_range = to_unit(np.asarray(data))
    records: list[dict] = []
    extras: dict[str, list[np.ndarray]] = {}
    if restorer.spatial_ndim == 3 and len(lead) >= 1 and not rgb:  # a 3-D restorer takes the stack at once
        stacks = unit.reshape((-1, *unit.shape[-3:]))
        outs = []
        for i, stack in enumerate(stacks):
            corrupted, record = chain.corrupt(stack, key=f"napari/{i}", value_range=value_range)
            outs.append(chain.restore(corrupted, record))
            records.append(record)
            yield i + 1, len(stacks)
        out = np.stack(outs).reshape(unit.shape)
    else:
        planes = unit.reshape((-1, *unit.shape[len(lead):]))
        restorer.check_shape(planes.shape[1:])
        outs = []
        for i, plane in enumerate(planes):
            corrupted, record = chain.corrupt(plane, key=f"napari/{i}", value_range=value_range)
            outs.append(chain.restore(corrupted, record))
            for name, extra in record.pop(EXTRA_OUTPUTS, {}).items():
                extras.setdefault(name, []).append(np.asarray(extra, np.float32))
            records.append(record)
            yield i + 1, len(planes)
        out = np.stack(outs).reshape((*lead, *outs[0].shape))
    scale = int(getattr(restorer, "scale", 1) or 1)
    yield Restored(from_unit(out, data.dtype, value_range),
                   {k: np.stack(v).reshape((*lead, *v[0].shape)) for k, v in extras.items()},
                   [_jsonable(r) for r in records], scale)


@dataclass
class Failed:
    """A restoration that stopped on an error: its message, in one line."""

    message: str


def check_spec(spec: str) -> str | None:
    """Why ``spec`` cannot run (an unknown parameter, a missing file...), in one line, or None: asked before a worker
    starts, so that a mistake in the form is said at once."""
    try:
        Chain.from_specs([spec], metrics=[], prepare=False)
    except Exception as exc:  # noqa: BLE001 - any refusal is shown to the user, not raised in the event loop
        return one_line(exc)
    return None


def guarded(data: np.ndarray, spec: str, rgb: bool = False) -> Iterator[tuple[int, int] | Restored | Failed]:
    """:func:`steps`, with an error yielded as :class:`Failed` instead of raised (a worker thread's exception would
    be re-raised in the event loop)."""
    try:
        yield from steps(data, spec, rgb)
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        yield Failed(one_line(exc))


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def restore_array(data: np.ndarray, spec: str, rgb: bool = False,
                  on_progress: Callable[[int, int], Any] | None = None) -> Restored:
    """:func:`steps` run to the end (for scripts and tests)."""
    for item in steps(data, spec, rgb):
        if isinstance(item, Restored):
            return item
        if on_progress is not None:
            on_progress(*item)
    raise RuntimeError("the restoration gave no result")  # pragma: no cover


def _jsonable(record: dict) -> dict:
    """The parts of a degradation record worth keeping in a layer's metadata (what the report would show)."""
    keep = {k: v for k, v in record.items() if k in ("estimated", "noise_sigma", "value_range")}
    return keep
