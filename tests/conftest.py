"""Shared test fixtures: an isolated data home and MLflow store per test session."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PLEXUS = [sys.executable, "-m", "plexus.cli"]

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
PLUGIN_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pip install of the example plugin and the broken fixture plugin into a separate site folder."""
    target = tmp_path_factory.mktemp("plugin_site")
    for fx in (PLUGIN_EXAMPLE, FIXTURES / "broken_plugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                        "--target", str(target), str(fx)], check=True, timeout=300,
                       capture_output=True)
    return target




@pytest.fixture
def cli(capfd: pytest.CaptureFixture) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run the ``plexus`` CLI in this process: ``cli([...])`` -> (exit code, stdout, stderr)."""
    from plexus.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        code = 0
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capfd.readouterr()
        return code, out, err

    return run


# ------------------------------------------------------------------------------------------------ PostgreSQL
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict]:
    """A private PostgreSQL cluster with password authentication, in a temporary folder (one per test module).

    Yields ``url`` (database ``optuna``), ``password`` and ``port``; skips when the server binaries are absent."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"
        )
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    root = Path(tempfile.mkdtemp(prefix="plexus-pg-"))
    password = secrets.token_hex(8)
    (root / "pw").write_text(password)
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = root / "data"
    subprocess.run(
        [
            *as_user,
            initdb,
            "-D",
            str(data),
            "-U",
            "plexus",
            "--pwfile",
            str(root / "pw"),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-k {root} -p {port} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        with psycopg.connect(
            f"postgresql://plexus:{password}@127.0.0.1:{port}/postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE optuna")
        yield {
            "url": f"postgresql://plexus:{password}@127.0.0.1:{port}/optuna",
            "password": password,
            "port": port,
        }
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
