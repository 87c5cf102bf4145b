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


def test_a_service_leaves_mlflows_global_tracking_uri_as_it_found_it(tmp_path: Path, monkeypatch) -> None:
    """``mlflow.set_tracking_uri`` outranks MLFLOW_TRACKING_URI for the whole process: logging a model to one store
    must not send a later ``mlflow.pyfunc.load_model`` (resolved from the environment) to that store."""
    import mlflow
    from plexus.platform.tracking import using_tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    with using_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}"):
        assert mlflow.get_tracking_uri().endswith("other.db")
    assert mlflow.get_tracking_uri().endswith("env.db")
