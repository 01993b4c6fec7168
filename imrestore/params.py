"""Typed, documented, validated plugin parameters.

A plugin is a dataclass whose fields are declared with :func:`param`.  The
declaration carries the default, the valid range or choices and a one-line help
text, so the CLI can coerce strings, validate values and document them without
any code in the plugin.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass
... class Example:
...     sigma: float = param(25.0, min=0, max=255, help="noise standard deviation")
>>> [p.name for p in params_of(Example)]
['sigma']
>>> coerce_value(params_of(Example)[0], "12.5")
12.5
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Sequence, Union

from .errors import ParameterError

_MISSING = dataclasses.MISSING


def param(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | None = None,
    min_exclusive: bool = False,
    key: str | None = None,
) -> Any:
    """Declare a plugin parameter (a dataclass field with metadata).

    Parameters
    ----------
    default : object
        The default value (``None`` means "derive it", e.g. from the chain).
    help : str
        One line shown by ``imrestore plugins``.
    min, max : float, optional
        Inclusive bounds for numbers (``min_exclusive`` makes ``min`` strict).
    choices : sequence, optional
        The allowed values for strings.
    key : str, optional
        The name in a spec when it cannot be a Python name (``ssim:3d=true``
        sets the field ``volumetric``).
    """
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "min_exclusive": min_exclusive,
        "key": key,
    }
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamInfo:
    """Everything the CLI knows about one parameter."""

    name: str
    type: type
    optional: bool
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    min_exclusive: bool = False
    attr: str | None = None  # the dataclass field, where the spec's name differs

    @property
    def field(self) -> str:
        """The attribute that holds the value."""
        return self.attr or self.name

    @property
    def type_name(self) -> str:
        name = self.type.__name__
        return f"{name} or none" if self.optional else name

    @property
    def range_text(self) -> str:
        if self.choices:
            return "one of " + "|".join(str(c) for c in self.choices)
        if self.min is None and self.max is None:
            return ""
        lo = "-inf" if self.min is None else _fmt(self.min)
        hi = "inf" if self.max is None else _fmt(self.max)
        return f"{'(' if self.min_exclusive else '['}{lo}, {hi}]"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type_name,
            "default": self.default,
            "range": self.range_text,
            "help": self.help,
        }


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _unwrap_optional(tp: Any) -> tuple[type, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unsupported parameter type {tp!r}")
    return tp, False


def params_of(cls: type) -> list[ParamInfo]:
    """Return the declared parameters of a plugin class (or instance)."""
    if not isinstance(cls, type):
        cls = type(cls)
    return list(_params_of(cls))


@functools.lru_cache(maxsize=None)
def _params_of(cls: type) -> tuple[ParamInfo, ...]:
    if not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        if tp not in (int, float, bool, str):
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {tp!r}")
        meta = f.metadata
        default = f.default if f.default is not _MISSING else None
        out.append(
            ParamInfo(
                name=meta.get("key") or f.name,
                type=tp,
                optional=optional or default is None,
                default=default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
                choices=meta.get("choices"),
                min_exclusive=meta.get("min_exclusive", False),
                attr=f.name if meta.get("key") else None,
            )
        )
    return tuple(out)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce_value(info: ParamInfo, value: Any, *, owner: str = "") -> Any:
    """Convert ``value`` (often a string from the CLI) to the declared type.

    Values are coerced by the declared type, never guessed: ``"3"`` becomes
    ``3.0`` for a float parameter and ``3`` for an int one; ``"3.5"`` for an int
    parameter is an error.
    """
    where = f"{owner}:{info.name}" if owner else info.name
    expected = f"expected {info.type_name}" + (f" in {info.range_text}" if info.range_text else "")
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        if info.optional:
            return None
        raise ParameterError(f"{where}: a value is required ({expected})")
    tp = info.type
    try:
        if tp is bool:
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                out = value.lower() in _TRUE
            else:
                raise ValueError
        elif tp is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                out = int(value, 10)
            elif isinstance(value, float) and not value.is_integer():
                raise ValueError
            else:
                out = int(value)
        elif tp is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if math.isnan(out):
                raise ValueError
        else:
            out = str(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: invalid value {value!r}, {expected}") from None
    _check_range(info, out, where, expected)
    return out


def _check_range(info: ParamInfo, value: Any, where: str, expected: str) -> None:
    if info.choices and value not in info.choices:
        raise ParameterError(f"{where}: invalid value {value!r}, {expected}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        too_low = info.min is not None and (
            value <= info.min if info.min_exclusive else value < info.min
        )
        too_high = info.max is not None and value > info.max
        if too_low or too_high:
            raise ParameterError(f"{where}: {value!r} is out of range, {expected}")


def validate_params(obj: Any) -> None:
    """Coerce and check every parameter of a plugin instance in place."""
    owner = getattr(obj, "name", type(obj).__name__)
    for info in params_of(obj):
        value = getattr(obj, info.field)
        object.__setattr__(obj, info.field, coerce_value(info, value, owner=owner))


def format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if hasattr(value, "spec") or "," in text or text.startswith("["):
        return f"[{text}]"  # a nested spec: the brackets keep its commas (see imrestore.spec)
    return text


def format_spec(kind: str | None, name: str, params: dict[str, Any] | None = None) -> str:
    """The inverse of :func:`parse_spec`."""
    out = f"{kind}:{name}" if kind else name
    if params:
        out += ":" + ",".join(f"{k}={format_value(v)}" for k, v in params.items())
    return out
