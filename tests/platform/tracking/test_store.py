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


def test_a_new_sqlite_store_is_seeded_with_a_migrated_empty_store(tmp_path: Path, monkeypatch) -> None:
    """The schema comes from a cached copy at MLflow's head; the default experiment is this store's own."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from plexus.platform.tracking import _store
    from plexus.platform.tracking._schema import inspect_store

    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    template = tmp_path / "home" / "cache" / "tracking" / f"mlflow-{mlflow.__version__}-empty.db"
    stores = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        uri = f"sqlite:///{tmp_path / name / 'mlflow.db'}"
        _store._seed_new_sqlite_store(uri)
        assert template.exists() and (tmp_path / name / "mlflow.db").exists()
        client = MlflowClient(uri)
        default = client.get_experiment("0")  # created on first open, with this store's artifact root
        assert default.name == "Default" and default.artifact_location.endswith(f"{name}/mlruns/0")
        run = client.create_run(client.create_experiment("x"))
        client.log_metric(run.info.run_id, "m", 1.0)
        assert inspect_store(uri).state == "current"
        stores.append(uri)
    assert [len(MlflowClient(u).search_experiments()) for u in stores] == [2, 2]
    # an existing store is never touched; a broken template is dropped and MLflow creates the schema
    before = (tmp_path / "a" / "mlflow.db").read_bytes()
    _store._seed_new_sqlite_store(stores[0])
    assert (tmp_path / "a" / "mlflow.db").read_bytes() == before
    template.write_bytes(b"not a database")
    uri = f"sqlite:///{tmp_path / 'c' / 'mlflow.db'}"
    _store._seed_new_sqlite_store(uri)
    assert not (tmp_path / "c" / "mlflow.db").exists() and not template.exists()
    MlflowClient(uri).search_experiments()
    assert inspect_store(uri).state == "current"
