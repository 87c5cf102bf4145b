"""Fixtures of the reliability suite; helpers live in ``reliability_helpers.py`` (importable from the tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plexus.platform.catalog import get_catalog  # noqa: E402

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture()
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private ``$PLEXUS_DATA`` and working directory for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("PLEXUS_DATA", str(home))
    monkeypatch.chdir(tmp_path)
    yield home
    get_catalog(refresh=True)

