"""The spec grammar: ``[kind:]name[:key=value[,key=value...]]``.

>>> parse_spec("blur:sigma=4")
Spec(kind=None, name='blur', params={'sigma': '4'})
>>> parse_spec("restorer:conv-ae:weights=m.safetensors").kind
'restorer'
>>> format_spec("corruption", "gaussian", {"sigma": 25.0})
'corruption:gaussian:sigma=25.0'

Values stay strings here; :func:`build` coerces them by the parameter's declared
type.  A value may contain ``:`` and ``=`` (paths, HDF5 datasets) but not ``,``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError, SpecError
from .interfaces import Plugin
from .params import coerce_value, params_of

SPEC_KINDS = ("corruption", "restorer", "metric", "reader", "writer")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Spec:
    """A parsed spec: an optional kind, a plugin name and raw string values."""

    kind: str | None
    name: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return format_spec(self.kind, self.name, self.params)


def parse_spec(text: str) -> Spec:
    """Parse a spec string; raise :class:`SpecError` when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty spec; expected [kind:]name[:key=value,...]")
    text = text.strip()
    head, sep, rest = text.partition(":")
    kind = None
    if head in SPEC_KINDS:
        kind = head
        if not sep or not rest:
            raise SpecError(f"{text!r}: missing plugin name after '{head}:'")
        head, sep, rest = rest.partition(":")
    name = head
    if not _NAME.match(name):
        raise SpecError(f"{text!r}: invalid plugin name {name!r}; expected [kind:]name[:key=value,...]")
    params: dict[str, str] = {}
    if sep:
        if not rest:
            raise SpecError(f"{text!r}: nothing after ':'; expected key=value")
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not _KEY.match(key):
                raise SpecError(f"{text!r}: expected key=value, got {item!r}")
            if key in params:
                raise SpecError(f"{text!r}: {key!r} given twice")
            params[key] = value.strip()
    return Spec(kind, name.lower(), params)


def format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_spec(kind: str | None, name: str, params: dict[str, Any] | None = None) -> str:
    """The inverse of :func:`parse_spec`."""
    out = f"{kind}:{name}" if kind else name
    if params:
        out += ":" + ",".join(f"{k}={format_value(v)}" for k, v in params.items())
    return out


def build(spec: "str | Spec | Plugin", kind: str | None = None, **overrides: Any) -> Plugin:
    """Build a plugin object from a spec string and/or keyword arguments.

    >>> build("gaussian:sigma=25").sigma
    25.0
    >>> build("gaussian", sigma=10).spec
    'corruption:gaussian:sigma=10.0,clip=false,sigma_max=none'
    """
    from .registry import get_registry

    if isinstance(spec, Plugin):
        if overrides:
            raise ParameterError("cannot override the parameters of an already built plugin")
        return spec
    parsed = spec if isinstance(spec, Spec) else parse_spec(spec)
    if kind and parsed.kind and kind != parsed.kind:
        raise SpecError(f"{str(parsed)!r} is a {parsed.kind}, expected a {kind}")
    entry = get_registry().lookup(parsed.name, kind=parsed.kind or kind)
    infos = {p.name: p for p in params_of(entry.cls)}
    values: dict[str, Any] = {**parsed.params, **overrides}
    kwargs = {}
    for key, value in values.items():
        if key not in infos:
            valid = ", ".join(infos) or "none"
            close = difflib.get_close_matches(key, list(infos), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ParameterError(f"{entry.name}: unknown parameter {key!r}; {hint}valid keys: {valid}")
        kwargs[key] = coerce_value(infos[key], value, owner=entry.name)
    return entry.cls(**kwargs)
