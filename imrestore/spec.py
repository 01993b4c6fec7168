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

import re
from dataclasses import dataclass, field

from .errors import SpecError
from .interfaces import SPEC_KINDS
from .params import format_spec

__all__ = ["Spec", "format_spec", "parse_spec"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_]*$")  # a key may start with a digit: ssim:3d=true


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


