"""The search service: Optuna studies over a plugin's search space, tracked as nested MLflow runs.

``search(cfg)`` creates or resumes a study (SQLite by default, any Optuna storage URL
such as ``postgresql://...`` for shared studies) and runs its trials in this process
or in local worker processes; ``run_worker(study, storage)`` joins a study from any
machine. Heartbeats fail and retry the trials of dead workers with the same parameters.
"""

from plexus.platform.search._service import STUDY_ATTR, run_worker, search
from plexus.platform.search._settings import (
    PRUNERS,
    SAMPLERS,
    SearchError,
    SearchSettings,
    StorageError,
    make_pruner,
    make_sampler,
)
from plexus.platform.search._space import FixedTrial
from plexus.platform.search._storage import RUN_ID_ATTR, budget, default_storage_url, open_storage

__all__ = [
    "PRUNERS",
    "RUN_ID_ATTR",
    "SAMPLERS",
    "STUDY_ATTR",
    "FixedTrial",
    "SearchError",
    "SearchSettings",
    "StorageError",
    "budget",
    "default_storage_url",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "run_worker",
    "search",
]
