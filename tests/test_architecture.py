"""The architecture's rules, checked on the source: layers point one way (``lint-imports`` with the contract in
``pyproject.toml``), no Plexus module is imported by name, no module grows past 500 lines, and the project
speaks only of itself (no development history, no machine paths)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PORTIONS = ("platform", "gnn", "recsys", "nas", "evaluation")
SOURCES = ("plexus",) + PORTIONS


def _modules() -> list[Path]:
    return sorted(p for top in SOURCES for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts)


def _package_tree(dest: Path) -> Path:
    """The ``plexus`` package as a wheel lays it out (the portions inside it, each folder a package):
    import-linter reads files, and the checkout's portions sit beside ``plexus/``, not in it."""
    for top in SOURCES:
        src = REPO / top
        for f in src.rglob("*.py"):
            if "__pycache__" in f.parts:
                continue
            out = dest / "plexus" / ("" if top == "plexus" else top) / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out)
    for d in [dest / "plexus", *(p for p in (dest / "plexus").rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch(exist_ok=True)
    return dest


def test_layers_point_one_way(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    root = _package_tree(tmp_path)
    proc = subprocess.run([str(exe), str(REPO / "pyproject.toml")], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The check can fail: a core module that imports a plugin package breaks the contract."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    root = _package_tree(tmp_path)
    (root / "plexus" / "platform" / "upward.py").write_text("from plexus.recsys import din  # noqa\n")
    proc = subprocess.run([str(exe), str(REPO / "pyproject.toml")], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode != 0 and "plexus.platform.upward -> plexus.recsys" in proc.stdout


def test_no_plexus_module_is_imported_by_name() -> None:
    found = [f"{p.relative_to(REPO)}:{i}" for p in _modules()
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"import_module\(\s*[\"']plexus\.", line)]
    assert found == []


def test_no_module_over_500_lines() -> None:
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


HISTORY = re.compile(r"\b(stop|issue|session|helper)\s+#?\d+\b|\bwork stop\b|/work/|(?<!…)/home/\w+/|\bsubagent\b",
                     re.IGNORECASE)


def test_the_project_speaks_only_of_itself() -> None:
    files = [p for top in (*SOURCES, "docs") for p in (REPO / top).rglob("*")
             if p.is_file() and p.suffix in (".py", ".md", ".yaml", ".yml", ".json", ".sh", ".toml", ".csv")]
    files += [REPO / "README.md", REPO / "ARCHITECTURE.md"]
    hits = [f"{p.relative_to(REPO)}:{i}: {line.strip()[:80]}" for p in files if p.exists()
            for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if HISTORY.search(line)]
    assert hits == []
