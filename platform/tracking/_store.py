"""Tracking store resolution, reachability checks and secret masking."""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from plexus.platform.errors import TrackingError

__all__ = ["default_artifact_root", "ensure_reachable", "mask_secrets", "mask_text", "mask_url", "quiet_mlflow_logs",
           "resolve_tracking_uri"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def quiet_mlflow_logs() -> None:
    """MLflow's INFO lines ("Creating initial MLflow database tables...") off the CLI's stderr.

    ``import mlflow`` configures its logger (level INFO, own handler) when it first runs, so the level is set
    after that import; a level set before it would be overwritten.
    """
    import mlflow  # noqa: F401

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def default_artifact_root() -> Path:
    return Path.cwd() / "mlruns"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri`` > ``$MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    quiet_mlflow_logs()
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = default_artifact_root()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def mask_url(url: str) -> str:
    """Replace the password of a URL (``scheme://user:secret@host``) with ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return mask_text(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


_SECRET = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)([^@\s]+)(@)")


def mask_text(text: str) -> str:
    """Mask every ``scheme://user:password@`` inside free text (error messages, logs)."""
    return _SECRET.sub(r"\1***\3", text)


def mask_secrets(obj):
    """``obj`` (nested dicts / lists / strings) with :func:`mask_text` applied to every string."""
    if isinstance(obj, str):
        return mask_text(obj)
    if isinstance(obj, dict):
        return {k: mask_secrets(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mask_secrets(v) for v in obj)
    return obj


def ensure_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when the tracking store cannot be used."""
    scheme = urlsplit(uri).scheme
    if scheme.split("+", 1)[0] not in ("", "file", "http", "https", "sqlite", "postgresql", "mysql", "mssql",
                                       "databricks", "databricks-uc", "uc"):
        raise TrackingError(f"tracking URI {mask_url(uri)}: unsupported scheme '{scheme}' "
                            "(use sqlite:///..., postgresql://..., http(s)://... or a folder)")
    if scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the user's own server
                if resp.status >= 400:
                    raise TrackingError(f"tracking server {mask_url(uri)} answered HTTP {resp.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(f"tracking server {mask_url(uri)} is unreachable ({mask_text(str(reason))})") from None
    elif scheme == "sqlite":
        path = Path(uri.split(":///", 1)[1]) if ":///" in uri else None
        if path is not None and not os.access(path.parent if path.parent.exists() else Path.cwd(), os.W_OK):
            raise TrackingError(f"tracking store {uri}: directory is not writable")
    elif scheme.startswith("postgresql") or scheme.startswith("mysql"):
        import sqlalchemy

        try:
            eng = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": int(timeout)}
                                           if scheme.startswith("postgresql") else {})
            with eng.connect():
                pass
        except Exception as exc:  # noqa: BLE001 - driver errors vary; one line with the password masked
            first = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise TrackingError(f"tracking store {mask_url(uri)} is unreachable: {first}") from None
