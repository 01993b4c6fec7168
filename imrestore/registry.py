"""Plugin discovery and the registry of named plugin classes.

Plugins are found through the ``imrestore`` entry-point group (the built-ins
too).  A plugin that fails to import, or whose hook raises, is recorded in
:attr:`Registry.errors` and never breaks the others.  The environment variable
``IMRESTORE_PLUGINS`` (comma-separated entry-point or package names) restricts
which entry points are loaded.

Example
-------
>>> reg = get_registry()
>>> reg.lookup("gaussian").kind
'corruption'
"""
from __future__ import annotations

import difflib
import importlib.metadata as md
import os
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import ParameterError, SpecError
from .interfaces import CHAIN_KINDS, KINDS, PLUGIN_KINDS, Plugin
from .params import coerce_value, params_of
from .spec import Spec, parse_spec

ENTRY_POINT_GROUP = "imrestore"
ENV_PLUGINS = "IMRESTORE_PLUGINS"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
@dataclass(frozen=True)
class Entry:
    """One registered plugin class and where it came from."""

    kind: str
    name: str
    cls: type
    plugin: str
    package: str
    version: str
    aliases: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclass(frozen=True)
class LoadError:
    """A plugin (or one of its classes) that could not be loaded."""

    plugin: str
    package: str
    error: str


@dataclass
class Registry:
    """Named plugin classes by kind, filled from pluggy hooks."""

    pm: pluggy.PluginManager = field(default_factory=lambda: _new_manager())
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    aliases: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    errors: list[LoadError] = field(default_factory=list)
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)

    # -- loading -----------------------------------------------------------
    def load_entry_points(self, allowed: Iterable[str] | None = None) -> None:
        """Import every entry point of the group (restricted to ``allowed``)."""
        allowed_set = set(allowed) if allowed is not None else None
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            package, version = _dist_of(ep)
            if allowed_set is not None and ep.name not in allowed_set and package not in allowed_set:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the CLI
                self.errors.append(LoadError(ep.name, package, _one_line(exc)))
                continue
            self.add_plugin(module, ep.name, package=package, version=version)

    def add_plugin(self, obj: Any, name: str, *, package: str = "", version: str = "") -> None:
        """Register a plugin object (module or class with hookimpls) by name."""
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            self.errors.append(LoadError(name, package, _one_line(exc)))
            return
        self.origins[name] = (package or name, version)
        others = [p for p in self.pm.get_plugins() if p is not obj]
        for kind in PLUGIN_KINDS.values():  # through pluggy's hook caller, limited to this plugin (to know who registers what)
            call = self.pm.subset_hook_caller(kind.hook, remove_plugins=others)
            try:
                call(register=self._register_callback(kind.name, name))
            except Exception as exc:
                self.errors.append(LoadError(name, package, f"{kind.hook}: {_one_line(exc)}"))

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin and every class it registered (for tests)."""
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        for kind in KINDS:
            for key in [k for k, e in self.entries[kind].items() if e.plugin == name]:
                entry = self.entries[kind].pop(key)
                for alias in entry.aliases:
                    self.aliases[kind].pop(alias, None)
        self.origins.pop(name, None)
        self.errors = [e for e in self.errors if e.plugin != name]

    def _register_callback(self, kind: str, plugin: str):
        package, version = self.origins.get(plugin, (plugin, ""))

        def register(cls: type) -> None:
            base = PLUGIN_KINDS[kind].base
            label = getattr(cls, "__name__", repr(cls))
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"{label} is not a subclass of imrestore.{base.__name__}")
            name = cls.name
            if not name or not _NAME_RE.match(name):
                raise ValueError(f"{label}.name must be lower-case letters, digits and '-', got {name!r}")
            taken = self.entries[kind].get(name) or self.entries[kind].get(self.aliases[kind].get(name, ""))
            if taken is not None:
                self.errors.append(
                    LoadError(plugin, package, f"{kind} {name!r} already registered by {taken.package}; ignored")
                )
                return
            entry = Entry(kind, name, cls, plugin, package, version, tuple(cls.aliases))
            self.entries[kind][name] = entry
            for alias in entry.aliases:
                self.aliases[kind].setdefault(alias, name)

        return register

    # -- lookup ------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def all_entries(self) -> list[Entry]:
        return [e for k in KINDS for _, e in sorted(self.entries[k].items())]

    def find(self, kind: str, name: str) -> Entry | None:
        table = self.entries[kind]
        return table.get(name) or table.get(self.aliases[kind].get(name, ""))

    def lookup(self, name: str, kind: str | None = None, kinds: Iterable[str] = CHAIN_KINDS) -> Entry:
        """Find a plugin by name (and kind); errors list the close matches."""
        search = [kind] if kind else list(kinds)
        hits = [e for k in search if (e := self.find(k, name)) is not None]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            options = ", ".join(f"{e.kind}:{e.name}" for e in hits)
            raise SpecError(f"{name!r} is ambiguous; say which kind: {options}")
        known = sorted({n for k in search for n in list(self.entries[k]) + list(self.aliases[k])})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        what = f"{kind} " if kind else "plugin "
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        broken = [e for e in self.errors if name in (e.plugin, e.package)]
        if broken:
            hint += f" (plugin {broken[0].plugin!r} failed to load: {broken[0].error})"
        return _raise(SpecError(f"unknown {what}{name!r}{hint} (see `imrestore plugins`)"))

    def for_path(self, kind: str, path: Path | str) -> Entry:
        """The reader or writer whose suffixes match ``path``."""
        suffix = Path(str(path)).suffix.lower()
        for entry in self.entries[kind].values():
            if suffix in entry.cls.suffixes:
                return entry
        raise SpecError(f"no {kind} for {suffix or 'files without a suffix'!r} files ({path})")

    def suffixes(self, kind: str = "reader") -> set[str]:
        return {s for e in self.entries[kind].values() for s in e.cls.suffixes}

    def versions(self) -> dict[str, str]:
        """Package versions of every loaded plugin, for reports."""
        return {pkg: ver for pkg, ver in self.origins.values()}


def _raise(exc: Exception):
    raise exc


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.module.split(".")[0], ""
    return dist.metadata["Name"], dist.version


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)
    loc = f" ({Path(where[-1].filename).name}:{where[-1].lineno})" if where else ""
    return (text[0] if text else type(exc).__name__) + loc


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = Registry()
        env = os.environ.get(ENV_PLUGINS)
        allowed = None if env is None else [s.strip() for s in env.split(",") if s.strip()]
        reg.load_entry_points(allowed)
        _REGISTRY = reg
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded registry (the next call reloads, e.g. after env changes)."""
    global _REGISTRY
    _REGISTRY = None


def plugin_class(obj: Plugin | type) -> type:
    return obj if isinstance(obj, type) else type(obj)


def build(spec: "str | Spec | Plugin", kind: str | None = None, **overrides: Any) -> Plugin:
    """Build a plugin object from a spec string and/or keyword arguments.

    >>> build("gaussian:sigma=25").sigma
    25.0
    >>> build("gaussian", sigma=10).spec
    'corruption:gaussian:sigma=10.0,clip=false,sigma_max=none'
    """
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
        kwargs[infos[key].field] = coerce_value(infos[key], value, owner=entry.name)
    return entry.cls(**kwargs)
