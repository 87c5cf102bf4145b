"""Broken third-party plugins, pip-installed for real: each failure is one stderr line, exit code 2.

Fixture packages: tests/fixtures/broken_plugin (module raises on import) and tests/fixtures/faulty_plugins
(a module importing a missing dependency, a constructor that raises, a dataset loader that raises).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plexus.platform.catalog import get_catalog
from reliability_helpers import FIXTURES, assert_one_line_error, run_cli, runs


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of copies of the fixture plugins (the fixture folders stay clean)."""
    root = tmp_path_factory.mktemp("faulty_site")
    target = root / "site"
    for fx in ("broken_plugin", "faulty_plugins"):
        src = root / fx
        shutil.copytree(FIXTURES / fx, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "--target", str(target), str(src)], check=True, timeout=300,
                       capture_output=True)
    return target


@pytest.fixture()
def with_plugins(plugin_site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.chdir(tmp_path)
    get_catalog(refresh=True)
    yield plugin_site
    monkeypatch.undo()
    get_catalog(refresh=True)


# Any CTR data will do (the failures are the plugins'): the generated one runs on a fresh, offline machine.
DATA = ["--dataset", "synthetic-behavior", "--set", "dataset_options.num_users=200"]

CASES = {
    "raises-on-import": (["train", "broken_model", *DATA],
                         ["broken_model", "plexus-broken-plugin", "broken on purpose"]),
    "missing-dependency": (["train", "faulty_import", *DATA],
                           ["faulty_import", "No module named 'plexus_no_such_dependency'"]),
    "raises-on-construction": (["train", "faulty_ctor", *DATA],
                               ["model 'faulty_ctor' from plexus-faulty-plugins could not be built",
                                "constructor exploded on purpose"]),
    "loader-raises": (["train", "lr", "--dataset", "faulty_loader"],
                      ["dataset 'faulty_loader' from plexus-faulty-plugins failed to load", "loader exploded"]),
    "show-loader-raises": (["datasets", "show", "faulty_loader"], ["loader exploded"]),
    "show-broken-model": (["models", "show", "faulty_import"], ["plexus_no_such_dependency"]),
}


def _checkpoints(uri: str) -> list[str]:
    """Checkpoint folders beside the store: a plugin that fails before training must add none."""
    from plexus.platform.tracking._locations import checkpoint_root

    root = checkpoint_root(uri)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("case", sorted(CASES))
def test_faulty_plugin(case: str, with_plugins: Path, tracking_uri: str, capfd: pytest.CaptureFixture,
                       tmp_path: Path) -> None:
    args, needles = CASES[case]
    if args[0] == "train":
        args = [*args, "--tracking-uri", tracking_uri, "--set", "epochs=1", "--set", "tracking.log_model=false"]
    before, ckpts = set(runs(tracking_uri)), _checkpoints(tracking_uri)
    code, out, err = run_cli(args, capfd)
    assert_one_line_error(code, err, *needles)
    assert set(runs(tracking_uri)) == before and _checkpoints(tracking_uri) == ckpts


def test_listing_survives_every_faulty_plugin(with_plugins: Path, capfd: pytest.CaptureFixture) -> None:
    import json

    code, out, err = run_cli(["models", "list", "--json"], capfd)
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["broken_model"]["status"] == rows["faulty_import"]["status"] == "broken"
    assert rows["faulty_ctor"]["status"] == "ok"  # it imports fine; it only fails when built
    assert all(r["status"] == "ok" for n, r in rows.items() if n not in ("broken_model", "faulty_import"))

