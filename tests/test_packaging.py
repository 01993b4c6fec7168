"""setup.cfg lists every package, so a regular (non-editable) install has all of the code."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_python_package_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    roots = {"imrestore": ROOT / "imrestore", "imrestore_builtins": ROOT / "plugins" / "imrestore_builtins"}
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from setup.cfg: {sorted(found - listed)}; listed but absent: {sorted(listed - found)}"
