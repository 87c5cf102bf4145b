"""Package layout: the portions never shadow the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_stdlib_platform_not_shadowed_from_repo_root() -> None:
    r = _run("import platform, sys; print(platform.system()); print(platform.__file__)")
    assert r.returncode == 0, r.stderr
    system, path = r.stdout.split()
    assert system == "Linux"
    assert not path.startswith(str(REPO)), path


def test_torch_and_plexus_import_from_repo_root() -> None:
    r = _run("import torch, plexus, plexus.platform.catalog as c; print(plexus.__version__, c.__name__)")
    assert r.returncode == 0, r.stderr
    assert "plexus.platform.catalog" in r.stdout


def test_portions_have_no_root_init() -> None:
    for top in ("platform", "gnn", "recsys", "nas", "evaluation"):
        assert not (REPO / top / "__init__.py").exists(), f"{top}/__init__.py would shadow a top-level name"
