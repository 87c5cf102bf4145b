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
    """Downloads and caches go to a per-session folder, never to the user's ~/.cache/plexus.

    With no ``PLEXUS_DATA_MIRROR`` the suite runs offline (a fresh machine has no network):
    tests whose dataset is not bundled then skip, or fail under ``PLEXUS_REQUIRE_DATA=1``.
    """
    if "PLEXUS_DATA" not in os.environ:
        os.environ["PLEXUS_DATA"] = str(tmp_path_factory.mktemp("plexus_data"))
    if not os.environ.get("PLEXUS_DATA_MIRROR"):
        os.environ.setdefault("PLEXUS_OFFLINE", "1")


def _require_data() -> bool:
    return os.environ.get("PLEXUS_REQUIRE_DATA", "").lower() in ("1", "true", "yes", "on")


def fetch_or_skip(name: str) -> Path:
    """The raw folder of built-in dataset ``name``, fetched from the mirror; skip (or fail) without one."""
    from plexus.platform.data.sources import ensure_raw
    from plexus.platform.errors import DataError

    try:
        return ensure_raw(name)
    except DataError as exc:
        reason = f"dataset {name} unavailable (set PLEXUS_DATA_MIRROR): {exc}"
        if _require_data():
            pytest.fail(f"PLEXUS_REQUIRE_DATA=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store for the session (creating its schema takes seconds)."""
    d = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{d / 'mlflow.db'}"


@pytest.fixture(scope="session")
def need_raw() -> Callable[[str], Path]:
    """``need_raw("criteo-10k")`` -> the dataset's verified raw folder; skips when it cannot be had."""
    return fetch_or_skip


@pytest.fixture(autouse=True)
def _data_marker(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.data("criteo-10k", ...)``: fetch those datasets first, or skip with one reason."""
    for mark in request.node.iter_markers("data"):
        for name in mark.args:
            fetch_or_skip(name)


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
