"""Shared test fixtures: an isolated data home and MLflow store per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PLEXUS = [sys.executable, "-m", "plexus.platform.cli"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Caches go to a per-session folder, never to the user's ~/.cache/plexus."""
    if "PLEXUS_DATA" not in os.environ:
        os.environ["PLEXUS_DATA"] = str(tmp_path_factory.mktemp("plexus_data"))


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store for the session (creating its schema takes seconds)."""
    d = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{d / 'mlflow.db'}"


@pytest.fixture(scope="session")
def need_raw() -> Callable[[str], Path]:
    """``need_raw("cora")`` -> the dataset's raw folder; skips the test when the shared copy is absent."""
    from plexus.platform.data.paths import find_raw

    def need(folder: str) -> Path:
        root = find_raw(folder)
        if root is None:
            pytest.skip(f"shared data folder {folder} is absent")
        return root

    return need


# Tiny tensors: one thread avoids oversubscription on small CI machines (children inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pip install of the fixture plugins into a separate site folder."""
    target = tmp_path_factory.mktemp("plugin_site")
    for fx in ("thirdparty_plugin", "broken_plugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                        "--target", str(target), str(FIXTURES / fx)], check=True, timeout=300,
                       capture_output=True)
    return target




@pytest.fixture
def cli(capfd: pytest.CaptureFixture) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run the ``plexus`` CLI in this process: ``cli([...])`` -> (exit code, stdout, stderr)."""
    from plexus.platform.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        code = 0
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capfd.readouterr()
        return code, out, err

    return run
