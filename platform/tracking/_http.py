"""Checks of an MLflow tracking server before a run starts: does it accept this process's credentials?"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request

from plexus.platform.errors import TrackingError

__all__ = ["check_http_credentials"]


def check_http_credentials(uri: str, masked: str, timeout: float = 10.0) -> None:
    """One authenticated request to ``uri``; a refusal is one :class:`TrackingError` line naming the user.

    The credentials are MLflow's own: ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` or
    ``MLFLOW_TRACKING_TOKEN`` (never shown). A server without authentication accepts any request.
    """
    req = urllib.request.Request(uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    if user or password:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    elif token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        if exc.code not in (401, 403):
            return  # other answers are the client's to report (old servers, proxies)
        if not (user or password or token):
            raise TrackingError(f"tracking server {masked} requires authentication: set MLFLOW_TRACKING_USERNAME "
                                "and MLFLOW_TRACKING_PASSWORD") from None
        who = f"user '{user}'" if user else "the token in MLFLOW_TRACKING_TOKEN"
        what = "wrong user name or password" if exc.code == 401 else "no permission"
        raise TrackingError(f"tracking server {masked} refused {who} (HTTP {exc.code}: {what}; check "
                            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)") from None
    except (urllib.error.URLError, OSError):
        return  # reachability was checked just before; a hiccup is the client's to report
