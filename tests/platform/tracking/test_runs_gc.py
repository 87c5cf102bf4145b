"""``plexus runs gc``: RUNNING runs whose process is gone become KILLED with a reason; live ones are untouched."""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start_run_and_hang(uri: str) -> subprocess.Popen:
    """A process that starts a run through MLflowTracker (as training does) and then hangs."""
    code = ("import sys, time\n"
            "from plexus.platform.tracking import MLflowTracker\n"
            f"t = MLflowTracker({uri!r}, 'gc', 'victim', {{'x': 1}}, {{'plexus.model': 'm'}})\n"
            "print(t.start(), flush=True)\n"
            "time.sleep(600)\n")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _gc(cli, *args: str) -> dict:
    code, out, err = cli(["runs", "gc", *args, "--json"])
    assert code == 0, err
    return json.loads(out)


def test_dead_process_run_is_killed_live_and_foreign_runs_untouched(tmp_path: Path, cli) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.platform.tracking import MLflowTracker, get_experiment_id

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = _start_run_and_hang(uri)
    try:
        dead = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    live = MLflowTracker(uri, "gc", "live", {}, {}).start()  # this test's own process: alive
    client = MlflowClient(uri)
    exp = get_experiment_id(client, "gc")
    host = socket.gethostname()
    reused = client.create_run(exp, run_name="reused", tags={  # our pid, but another process's start time
        "plexus.host": host, "plexus.pid": str(os.getpid()), "plexus.pid_start": "1"}).info.run_id
    old_ms = int((time.time() - 3 * 3600) * 1000)
    foreign = client.create_run(exp, run_name="foreign", start_time=old_ms, tags={
        "plexus.host": "another-host", "plexus.pid": "1"}).info.run_id

    tags = client.get_run(live).data.tags
    assert tags["plexus.host"] == host and tags["plexus.pid"] == str(os.getpid())

    dry = _gc(cli, "--tracking-uri", uri, "--dry-run")
    assert {a["run_id"] for a in dry["killed"]} == {dead, reused}
    assert client.get_run(dead).info.status == "RUNNING"  # --dry-run changes nothing

    done = _gc(cli, "--tracking-uri", uri)
    assert {a["run_id"] for a in done["killed"]} == {dead, reused}
    run = client.get_run(dead)
    assert run.info.status == "KILLED" and run.data.tags["plexus.state"] == "KILLED"
    assert f"process {proc.pid} on {host} is gone" in run.data.tags["plexus.failure_reason"]
    assert client.get_run(live).info.status == "RUNNING"
    assert client.get_run(foreign).info.status == "RUNNING"  # another host, no trial: nobody can tell

    done = _gc(cli, "--tracking-uri", uri, "--older-than", "2")  # hours
    assert [a["run_id"] for a in done["killed"]] == [foreign]
    assert "nothing logged for 3.0 h" in client.get_run(foreign).data.tags["plexus.failure_reason"]
    assert client.get_run(live).info.status == "RUNNING"
    assert _gc(cli, "--tracking-uri", uri)["killed"] == []  # idempotent


def test_trial_runs_follow_their_optuna_trial(tmp_path: Path, cli) -> None:
    """A stale heartbeat or an ended trial marks the run KILLED; a fresh heartbeat keeps it."""
    import optuna
    import sqlalchemy
    from mlflow.tracking import MlflowClient
    from optuna.distributions import FloatDistribution
    from plexus.platform.search._storage import open_storage
    from plexus.platform.tracking import get_experiment_id

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage_url = f"sqlite:///{tmp_path / 'optuna.db'}"
    client = MlflowClient(uri)
    exp = get_experiment_id(client, "gc")

    def run(name: str) -> str:  # a run of a worker on another host
        return client.create_run(exp, run_name=name, tags={"plexus.host": "gpu-7", "plexus.pid": "4242"}).info.run_id

    storage = open_storage(storage_url)
    study = optuna.create_study(study_name="s", storage=storage)
    study.set_user_attr("plexus.search", {"settings": {"heartbeat_interval": 2, "grace_period": 0}})
    old = datetime.datetime.now() - datetime.timedelta(minutes=10)
    ended = run("ended")
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
        user_attrs={"mlflow_run_id": ended}))
    runs = {}
    for name in ("stale", "fresh"):
        trial = study.ask()
        runs[name] = run(name)
        trial.set_user_attr("mlflow_run_id", runs[name])
        storage.record_heartbeat(trial._trial_id)
        if name == "stale":
            with storage.engine.begin() as con:
                con.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = :t WHERE trial_id = :i"),
                            {"t": old, "i": trial._trial_id})
    with storage.engine.begin() as con:  # the FAIL trial ended ten minutes ago
        con.execute(sqlalchemy.text("UPDATE trials SET datetime_complete = :t WHERE number = 0"), {"t": old})

    done = _gc(cli, "--tracking-uri", uri, "--storage", storage_url)
    reasons = {a["run_id"]: a["reason"] for a in done["killed"]}
    assert set(reasons) == {ended, runs["stale"]}
    assert "trial 0 of study s ended FAIL" in reasons[ended]
    assert "trial 1 of study s: no heartbeat from its worker" in reasons[runs["stale"]]
    assert client.get_run(runs["fresh"]).info.status == "RUNNING"
    for r in reasons:
        assert client.get_run(r).info.status == "KILLED"


@pytest.mark.parametrize("args, needle", [
    (["--older-than", "0"], "--older-than 0.0: expected a positive number of hours"),
])
def test_bad_gc_options_are_one_line(args: list[str], needle: str, tmp_path: Path, cli) -> None:
    code, _, err = cli(["runs", "gc", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", *args])
    assert code == 2 and err.strip() == f"error: {needle}"
