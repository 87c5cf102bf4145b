"""The ``plexus ui`` service: the MLflow server command for each kind of store, and a real start/stop."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from plexus.platform.errors import ConfigError
from plexus.platform.team import Viewer, experiment_url
from plexus.platform.team._viewer import port_free, ui_server_command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_command_matches_the_store(tmp_path: Path) -> None:
    cmd = ui_server_command(f"sqlite:///{tmp_path}/mlflow.db", "127.0.0.1", 5999)
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/mlflow.db"
    assert cmd[cmd.index("--default-artifact-root") + 1] == (tmp_path / "artifacts").as_uri()
    assert cmd[cmd.index("--workers") + 1] == "1"
    pg = ui_server_command("postgresql+psycopg://u:p@h/db", "0.0.0.0", 5999)
    assert "--artifacts-destination" in pg and "--default-artifact-root" not in pg
    assert experiment_url("http://h:1/", "7") == "http://h:1/#/experiments/7/runs"
    assert experiment_url("http://h:1", None) == "http://h:1/#/experiments"


def test_a_file_store_or_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a database store"):
        Viewer(f"file://{tmp_path}/mlruns", log_dir=tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        viewer = Viewer(f"sqlite:///{tmp_path}/mlflow.db", port=port, log_dir=tmp_path)
        with pytest.raises(ConfigError, match=f"--port {port}: already in use"):
            viewer.start()
        assert viewer.procs == []


def test_an_http_store_needs_no_process(tmp_path: Path) -> None:
    viewer = Viewer("http://127.0.0.1:1/", log_dir=tmp_path)
    assert not viewer.needs_processes
    assert viewer.start() == {"mlflow": "http://127.0.0.1:1"} and viewer.procs == []


def test_viewer_serves_the_store_and_stops_its_process_group(tmp_path: Path) -> None:
    port = _free_port()
    viewer = Viewer(f"sqlite:///{tmp_path}/mlflow.db", port=port, log_dir=tmp_path / "logs")
    try:
        urls = viewer.start()
        assert urls == {"mlflow": f"http://127.0.0.1:{port}"}
        with urllib.request.urlopen(f"{urls['mlflow']}/health", timeout=10) as resp:
            assert resp.status == 200
        assert (tmp_path / "logs" / "mlflow-server.log").exists()
        (proc,) = viewer.procs
        assert proc.poll() is None
    finally:
        viewer.stop()
    assert proc.poll() is not None
    assert port_free("127.0.0.1", port)
