"""A team's search across hosts: the shared tracking server and Optuna storage, and cleanup of dead runs."""

from plexus.platform.team._credentials import Credentials, load_credentials
from plexus.platform.team._gc import GcAction, gc_runs
from plexus.platform.team._server import (
    ServerPlan,
    is_loopback,
    plan_server,
    prepare_stores,
    start_tracking_server,
    stop_group,
)
from plexus.platform.team._viewer import Viewer, experiment_url

__all__ = [
    "Credentials",
    "GcAction",
    "ServerPlan",
    "Viewer",
    "experiment_url",
    "gc_runs",
    "is_loopback",
    "load_credentials",
    "plan_server",
    "prepare_stores",
    "start_tracking_server",
    "stop_group",
]
