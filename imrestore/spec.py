"""The spec grammar: ``[kind:]name[:key=value[,key=value...]]``.

>>> parse_spec("blur:sigma=4")
Spec(kind=None, name='blur', params={'sigma': '4'})
>>> parse_spec("restorer:conv-ae:weights=m.safetensors").kind
'restorer'
>>> format_spec("corruption", "gaussian", {"sigma": 25.0})
'corruption:gaussian:sigma=25.0'

Values stay strings here; :func:`build` coerces them by the parameter's declared
type.  A value may contain ``:`` and ``=`` (paths, HDF5 datasets); a value in square brackets may also contain
``,``: another plugin's whole spec, nested (brackets nest too), as a restorer that takes a denoiser as its prior does:

>>> parse_spec("restorer:pnp:denoiser=[bm3d:profile=np,sigma=10],iterations=8").params
{'denoiser': 'bm3d:profile=np,sigma=10', 'iterations': '8'}
>>> str(parse_spec("pnp:denoiser=[bm3d:profile=np,sigma=10]"))
'pnp:denoiser=[bm3d:profile=np,sigma=10]'
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
        for item in _top_level_items(text, rest):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not _KEY.match(key):
                raise SpecError(f"{text!r}: expected key=value, got {item!r}")
            if key in params:
                raise SpecError(f"{text!r}: {key!r} given twice")
            if value.startswith("["):
                if not value.endswith("]"):
                    raise SpecError(f"{text!r}: {key}={value}: text after the closing ']'")
                value = value[1:-1].strip()
                if not value:
                    raise SpecError(f"{text!r}: {key}=[]: empty brackets; put a spec inside, e.g. {key}=[bm3d]")
            params[key] = value
    return Spec(kind, name.lower(), params)


def _top_level_items(text: str, rest: str) -> list[str]:
    """``rest`` split on the commas outside square brackets; unbalanced brackets are a :class:`SpecError`."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(rest):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise SpecError(f"{text!r}: ']' without its '['")
        elif char == "," and depth == 0:
            items.append(rest[start:i])
            start = i + 1
    if depth:
        raise SpecError(f"{text!r}: '[' without its ']'")
    items.append(rest[start:])
    return items


