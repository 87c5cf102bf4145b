"""MLflow tracking: store resolution, the run callback, model export, secret masking."""

from plexus.platform.tracking._inputs import log_dataset_inputs, run_source
from plexus.platform.tracking._locations import checkpoint_root, files_root, report_path
from plexus.platform.tracking._lock import OPTUNA_LOCK_KEY, store_lock
from plexus.platform.tracking._mlflow import MLflowTracker, get_experiment_id, git_commit, run_name
from plexus.platform.tracking._model import PlexusScorer, log_trained_model
from plexus.platform.tracking._optuna_schema import optuna_sqlite_problem
from plexus.platform.tracking._process import process_alive
from plexus.platform.tracking._schema import inspect_store, repair_store, upgrade_store
from plexus.platform.tracking._store import (
    default_artifact_root,
    describe_store_error,
    ensure_reachable,
    mask_secrets,
    mask_text,
    mask_url,
    note_store,
    prepare_tracking_store,
    quiet_mlflow_logs,
    resolve_tracking_uri,
    using_tracking_uri,
)

__all__ = [
    "MLflowTracker",
    "OPTUNA_LOCK_KEY",
    "PlexusScorer",
    "checkpoint_root",
    "default_artifact_root",
    "describe_store_error",
    "ensure_reachable",
    "files_root",
    "get_experiment_id",
    "git_commit",
    "inspect_store",
    "log_dataset_inputs",
    "log_trained_model",
    "mask_secrets",
    "mask_text",
    "mask_url",
    "note_store",
    "optuna_sqlite_problem",
    "prepare_tracking_store",
    "process_alive",
    "quiet_mlflow_logs",
    "repair_store",
    "report_path",
    "resolve_tracking_uri",
    "run_name",
    "run_source",
    "store_lock",
    "upgrade_store",
    "using_tracking_uri",
]
