"""Tracking-store helpers: URI resolution and what reaches the CLI's stderr."""

from __future__ import annotations

import logging
from pathlib import Path

from plexus.platform.tracking import resolve_tracking_uri


def test_resolving_a_store_keeps_mlflow_info_lines_off_stderr(tmp_path: Path) -> None:
    """``import mlflow`` sets its logger to INFO; a store lookup must not print "Creating initial MLflow database
    tables..." beside a one-line CLI error, whatever imported mlflow first."""
    logger = logging.getLogger("mlflow")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)  # the state right after mlflow's own import-time logging setup
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        assert resolve_tracking_uri(uri) == uri
        assert logger.getEffectiveLevel() >= logging.WARNING
    finally:
        logger.setLevel(before)
