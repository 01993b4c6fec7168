"""Plugin discovery: entry points, broken plugins, restriction, conflicts."""
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from imrestore import Restorer, hookimpl
from imrestore.errors import SpecError
from imrestore.registry import Registry


def make_dist(root, dist, module, source, ep_name=None):
    """A minimal installed distribution: a module plus its imrestore entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[imrestore]\n{ep_name or module} = {module}\n")


BROKEN = "import not_a_real_dependency_xyz\n"
GOOD = """
from dataclasses import dataclass
from imrestore import Restorer, hookimpl

@dataclass
class Halve(Restorer):
    '''Halves every value.'''
    name = "halve"
    def restore_one(self, image, degradation):
        return image * 0.5

@hookimpl
def register_restorers(register):
    register(Halve)
"""


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    make_dist(site, "broken-plugin", "broken_mod", BROKEN)
    make_dist(site, "halve-plugin", "halve_mod", GOOD)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtins_come_through_entry_points():
    reg = Registry()
    reg.load_entry_points()
    assert {reg.find("corruption", "gaussian").plugin, reg.find("restorer", "tv").plugin} == {"corruptions", "restorers"}
    assert reg.find("corruption", "gaussian").package == "imrestore"


def test_broken_plugin_is_reported_not_fatal(fake_site):
    reg = Registry()
    reg.load_entry_points()
    assert [(e.plugin, e.package) for e in reg.errors] == [("broken_mod", "broken-plugin")]
    assert "ModuleNotFoundError: No module named 'not_a_real_dependency_xyz'" in reg.errors[0].error
    assert reg.find("restorer", "halve").package == "halve-plugin"
    assert reg.find("corruption", "gaussian") is not None
    with pytest.raises(SpecError, match="plugin 'broken_mod' failed to load"):
        reg.lookup("broken_mod")


def test_env_var_restricts_which_plugins_load(fake_site):
    reg = Registry()
    reg.load_entry_points(["corruptions", "halve-plugin"])
    assert reg.names("restorer") == ["halve"]
    assert "gaussian" in reg.names("corruption") and reg.names("metric") == []
    assert reg.errors == []


def run_cli(args, site, **env):
    full = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run([sys.executable, "-m", "imrestore.cli", *args], capture_output=True, text=True, env=full)


@pytest.mark.slow  # 9 s: a fresh interpreter with a broken plugin installed (CI runs it)
def test_cli_shows_broken_plugin_and_still_runs(fake_site, mixed_folder, tmp_path):
    proc = run_cli(["plugins"], fake_site)
    assert proc.returncode == 0
    assert "FAILED TO LOAD:" in proc.stdout and "broken_mod [broken-plugin]: ModuleNotFoundError" in proc.stdout
    assert "halve" in proc.stdout and "[halve-plugin 0.3]" in proc.stdout
    proc = run_cli(["run", "restorer:halve", str(mixed_folder / "astro.png"), str(tmp_path / "o"), "-q"], fake_site)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(["plugins", "--json"], fake_site, IMRESTORE_PLUGINS="metrics")
    info = json.loads(proc.stdout)
    assert {p["kind"] for p in info["plugins"]} == {"metric"} and info["errors"] == []


def test_hook_that_raises_is_reported(registry):
    class Bad:
        @hookimpl
        def register_restorers(self, register):
            raise RuntimeError("no GPU driver")

    registry.add_plugin(Bad(), "bad-hook")
    assert any(e.plugin == "bad-hook" and "no GPU driver" in e.error for e in registry.errors)


def test_name_conflicts_keep_the_first_and_report_the_second(registry):
    @dataclass
    class Other(Restorer):
        name = "tv"

        def restore_one(self, image, degradation):
            return image

    class Plug:
        @hookimpl
        def register_restorers(self, register):
            register(Other)

    registry.add_plugin(Plug(), "conflict")
    assert registry.find("restorer", "tv").package == "imrestore"
    assert any("'tv' already registered by imrestore" in e.error for e in registry.errors)


def test_register_refuses_non_plugins(registry):
    class Plug:
        @hookimpl
        def register_restorers(self, register):
            register(dict)

    registry.add_plugin(Plug(), "not-a-plugin")
    assert any("not a subclass of imrestore.Restorer" in e.error for e in registry.errors)


def test_fixture_unregisters_after_the_test(registry):
    assert registry.find("restorer", "grey-only") is None


@pytest.mark.slow  # 7 s: BM3D on the sample folder through the CLI (CI runs it)
def test_bm3d_example_plugin_works_through_the_cli(mixed_folder, tmp_path):
    """The third-party path: installed with pip, found through its entry point."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("imrestore_bm3d")
    proc = subprocess.run(["imrestore", "plugins", "--json"], capture_output=True, text=True)
    entry = next(p for p in json.loads(proc.stdout)["plugins"] if p["name"] == "bm3d")
    assert entry["package"] == "imrestore-bm3d" and entry["kind"] == "restorer"
    proc = subprocess.run(["imrestore", "run", "gaussian:sigma=25", "restorer:bm3d", str(mixed_folder / "sub"), str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["mean"]["restored"]["psnr"] > doc["mean"]["corrupted"]["psnr"] + 8
    assert doc["versions"]["imrestore-bm3d"] == "0.1.0"
