"""What ``imrestore plugins`` shows: every plugin, its origin and parameters."""
from __future__ import annotations

from .errors import SpecError
from .interfaces import IO_KINDS, KINDS
from .params import params_of
from .registry import ENV_PLUGINS, Entry, get_registry


def _entry_dict(e: Entry) -> dict:
    d = {
        "kind": e.kind,
        "name": e.name,
        "aliases": list(e.aliases),
        "package": e.package,
        "version": e.version,
        "plugin": e.plugin,
        "summary": e.summary,
        "parameters": [p.as_dict() for p in params_of(e.cls)],
    }
    if e.kind in IO_KINDS:
        d["suffixes"] = list(e.cls.suffixes)
    if e.kind == "restorer" and e.cls.needs:
        d["needs"] = list(e.cls.needs)
    if e.kind == "corruption" and e.cls.provides:
        d["provides"] = list(e.cls.provides)
    return d


def describe(name: str | None = None) -> dict:
    """Plugins (all, or those called ``name``) and load errors, as plain data."""
    reg = get_registry()
    entries = reg.all_entries()
    if name is not None:
        spec_kind, _, bare = name.rpartition(":") if ":" in name else ("", "", name)
        entries = [e for e in entries if (bare == e.name or bare in e.aliases) and spec_kind in ("", e.kind)]
        errors = [e for e in reg.errors if name in (e.plugin, e.package)]
        if not entries and not errors:
            reg.lookup(bare, kinds=KINDS)
            raise SpecError(f"no plugin called {name!r}")
    else:
        errors = reg.errors
    return {
        "plugins": [_entry_dict(e) for e in entries],
        "errors": [{"plugin": e.plugin, "package": e.package, "error": e.error} for e in errors],
        "env": {ENV_PLUGINS: __import__("os").environ.get(ENV_PLUGINS)},
    }


def render(info: dict, detailed: bool = False) -> str:
    """Human-readable text of :func:`describe`'s result."""
    lines: list[str] = []
    kind = None
    for p in info["plugins"]:
        if p["kind"] != kind:
            kind = p["kind"]
            lines += ["" if lines else "", f"{kind}s:".upper()]
        alias = f" (alias {', '.join(p['aliases'])})" if p["aliases"] else ""
        origin = f"[{p['package']} {p['version']}]".replace(" ]", "]")
        lines.append(f"  {p['name']:<12} {p['summary']}{alias}  {origin}")
        if not detailed and p["kind"] in IO_KINDS:
            lines.append(f"      suffixes: {' '.join(p['suffixes'])}")
        params = p["parameters"]
        if detailed:
            for key in ("needs", "provides", "suffixes"):
                if key in p:
                    lines.append(f"      {key}: {', '.join(p[key])}")
        for q in params:
            rng = f" {q['range']}" if q["range"] else ""
            if detailed:
                lines.append(f"      {q['name']}: {q['type']} = {q['default']}{rng}")
                lines.append(f"          {q['help']}")
            else:
                lines.append(f"      {q['name']}={q['default']}  ({q['type']}{rng}) {q['help']}")
    if info["errors"]:
        lines += ["", "FAILED TO LOAD:"]
        for e in info["errors"]:
            lines.append(f"  {e['plugin']} [{e['package']}]: {e['error']}")
    env = info.get("env", {})
    if any(v is not None for v in env.values()):
        lines += ["", f"(restricted by {', '.join(f'{k}={v}' for k, v in env.items() if v is not None)})"]
    return "\n".join(lines).strip("\n")
