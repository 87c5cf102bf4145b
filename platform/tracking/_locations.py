"""Where Plexus writes its own files: checkpoints, Optuna studies (``optuna.db``), reports, NAS state.

They follow the tracking store, so that one folder holds a project's runs and everything made with them:

========================================  =============================================================
``$PLEXUS_HOME`` set                      ``$PLEXUS_HOME`` (also the default tracking store's folder)
tracking store ``sqlite:///DIR/FILE.db``  ``DIR`` (beside the database; MLflow artifacts go to ``DIR/artifacts``)
tracking store a folder (``file://``)     ``plexus/`` beside that folder (MLflow treats every sub-folder
                                          of its own as an experiment)
any other store (server, PostgreSQL)      ``./mlruns``
no tracking store set                     ``./mlruns`` (where the default store ``mlruns/mlflow.db`` is)
========================================  =============================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from plexus.platform.tracking._lock import sqlite_path
from plexus.platform.tracking._store import default_artifact_root

__all__ = ["checkpoint_root", "files_root", "report_path"]


def _absolute(p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else Path.cwd() / p


def files_root(tracking_uri: str | None = None) -> Path:
    """The folder for Plexus's files of tracking store ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``).

    ``$PLEXUS_HOME`` wins when set; see the module's table. The folder is not created here.
    """
    if os.environ.get("PLEXUS_HOME"):
        return default_artifact_root()
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return default_artifact_root()
    db = sqlite_path(uri)
    if db is not None:
        return _absolute(db).parent
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return _absolute(Path(unquote(parts.path))).parent / "plexus"
    if not parts.scheme or (len(parts.scheme) == 1 and uri[1:3] in (":\\", ":/")):  # a folder (or C:\...)
        return _absolute(Path(uri)).parent / "plexus"
    return Path.cwd() / "mlruns"


def checkpoint_root(tracking_uri: str | None = None) -> Path:
    """``files_root/checkpoints``: one folder per run (``<run id>/last.pt``)."""
    return files_root(tracking_uri) / "checkpoints"


def report_path(name: str, tracking_uri: str | None = None) -> Path:
    """``files_root/reports/NAME`` (HTML reports of ``plexus compare``)."""
    return files_root(tracking_uri) / "reports" / name
