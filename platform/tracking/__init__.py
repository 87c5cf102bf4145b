"""MLflow tracking: store resolution, the run callback, model export, secret masking."""

from plexus.platform.tracking._inputs import log_dataset_inputs, run_source
from plexus.platform.tracking._mlflow import MLflowTracker, get_experiment_id, git_commit, run_name
from plexus.platform.tracking._model import PlexusScorer, log_trained_model
from plexus.platform.tracking._store import (
    default_artifact_root,
    ensure_reachable,
    mask_text,
    mask_url,
    prepare_tracking_store,
    resolve_tracking_uri,
    using_tracking_uri,
)

__all__ = [
    "MLflowTracker",
    "PlexusScorer",
    "default_artifact_root",
    "ensure_reachable",
    "get_experiment_id",
    "git_commit",
    "log_dataset_inputs",
    "log_trained_model",
    "mask_text",
    "mask_url",
    "prepare_tracking_store",
    "resolve_tracking_uri",
    "run_name",
    "run_source",
    "using_tracking_uri",
]
