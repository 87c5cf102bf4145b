"""The local viewers behind ``plexus ui``: an MLflow UI on a database store, optionally optuna-dashboard.

:class:`Viewer` starts them as supervised child processes (each in its own session, so a stop takes their
whole process group), waits until they answer HTTP, reports the first one that dies, and stops all of them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from plexus.platform.errors import ConfigError, TrackingError
from plexus.platform.team._server import port_free, stop_group
from plexus.platform.tracking import default_artifact_root, mask_text

__all__ = ["Viewer", "experiment_url", "port_free", "ui_server_command"]


def _artifact_root(uri: str) -> Path:
    """Where this project's clients put artifacts: next to a SQLite file (see get_experiment_id), else ./mlruns."""
    if uri.startswith("sqlite:///"):
        return Path(uri.split(":///", 1)[1]).parent / "artifacts"
    return default_artifact_root()


def ui_server_command(uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for a database-backed store.

    A SQLite store is local, so the server reads the runs' ``file://`` artifact locations directly
    (``--default-artifact-root``, no proxy); a remote database gets a proxied artifact store
    (``--artifacts-destination``) so browsers on other machines can read artifacts too.
    """
    root = _artifact_root(uri).resolve()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host, "--port", str(port),
           "--workers", "1"]
    if uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", root.as_uri(), "--no-serve-artifacts"]
    else:
        cmd += ["--serve-artifacts", "--artifacts-destination", root.as_uri()]
    return cmd


def experiment_url(base: str, experiment_id: str | None) -> str:
    """The runs page of an experiment in the MLflow UI at ``base`` (the experiments list without an id)."""
    base = base.rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id else f"{base}/#/experiments"


def _optuna_dashboard_cmd() -> list[str]:
    exe = shutil.which("optuna-dashboard") or shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if exe:
        return [exe]
    if importlib.util.find_spec("optuna_dashboard") is not None:
        return [sys.executable, "-m", "optuna_dashboard"]
    raise ConfigError("--optuna needs optuna-dashboard, which is not installed (pip install optuna-dashboard)")


class Viewer:
    """Supervised MLflow UI (and optuna-dashboard) processes for one tracking store.

    Args:
        uri: tracking URI; a database store gets a local ``mlflow server``, an http(s) server needs none.
        host: interface the viewers listen on.
        port: port of the MLflow UI.
        log_dir: folder of the viewers' logs.
        optuna_storage: an Optuna storage URL: also start optuna-dashboard on it (``port + 1`` by default).
        optuna_port: port of optuna-dashboard.
    """

    def __init__(self, uri: str, *, host: str = "127.0.0.1", port: int = 5000, log_dir: Path,
                 optuna_storage: str | None = None, optuna_port: int | None = None) -> None:
        scheme = urlsplit(uri).scheme
        if scheme in ("file", ""):
            raise ConfigError(f"tracking URI {uri}: the MLflow UI needs a database store (sqlite:///..., "
                              "postgresql://...) or an http(s) server")
        self.uri, self.host, self.port, self.log_dir = uri, host, port, Path(log_dir)
        self.remote = scheme in ("http", "https")
        self.optuna_storage = optuna_storage
        self.optuna_port = optuna_port or port + 1
        self._dash_cmd = _optuna_dashboard_cmd() if optuna_storage else None
        self.procs: list[subprocess.Popen] = []
        self.urls: dict[str, str] = {}

    @property
    def needs_processes(self) -> bool:
        """False when the store is already a server and no dashboard was asked for."""
        return not self.remote or self._dash_cmd is not None

    def start(self, timeout: float = 120) -> dict[str, str]:
        """Start what the store needs; returns ``{"mlflow": base URL, "optuna": URL}`` (keys that apply).
        Refuses a taken port with :class:`ConfigError`; a viewer that exits or does not answer within
        ``timeout`` seconds raises :class:`TrackingError` (and everything started is stopped)."""
        try:
            if self.remote:
                self.urls["mlflow"] = self.uri.rstrip("/")
            else:
                if not port_free(self.host, self.port):
                    raise ConfigError(f"--port {self.port}: already in use on {self.host} (pick another with --port)")
                log = self.log_dir / "mlflow-server.log"
                self.procs.append(self._spawn(ui_server_command(self.uri, self.host, self.port), log))
                base = f"http://{self.host}:{self.port}"
                self._wait_http(f"{base}/health", self.procs[-1], log, timeout, "mlflow server")
                self.urls["mlflow"] = base
            if self._dash_cmd is not None:
                if not port_free(self.host, self.optuna_port):
                    raise ConfigError(f"--optuna-port {self.optuna_port}: already in use on {self.host}")
                log = self.log_dir / "optuna-dashboard.log"
                cmd = self._dash_cmd + [str(self.optuna_storage), "--host", self.host, "--port", str(self.optuna_port)]
                self.procs.append(self._spawn(cmd, log))
                url = f"http://{self.host}:{self.optuna_port}/"
                self._wait_http(url, self.procs[-1], log, min(timeout, 60), "optuna-dashboard")
                self.urls["optuna"] = url
        except BaseException:
            self.stop()
            raise
        return dict(self.urls)

    def wait(self, poll: float = 0.5) -> None:
        """Block while every viewer runs; raises :class:`TrackingError` naming the first that stopped."""
        while all(p.poll() is None for p in self.procs):
            time.sleep(poll)
        dead = next(p for p in self.procs if p.poll() is not None)
        what = " ".join(dead.args[:4]) if isinstance(dead.args, list) else str(dead.args)
        raise TrackingError(f"{what} stopped (exit code {dead.returncode}); see {self.log_dir}")

    def stop(self) -> None:
        """SIGTERM to each viewer's process group, SIGKILL after a grace period."""
        for p in self.procs:
            stop_group(p)

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen:
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)

    @staticmethod
    def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
                last = mask_text(lines[-1].strip()) if lines else f"exit code {proc.returncode}"
                raise TrackingError(f"{what} exited before it was ready: {last} (log: {log})")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status < 500:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise TrackingError(f"{what} did not answer on {url} within {timeout:.0f}s (log: {log})")
