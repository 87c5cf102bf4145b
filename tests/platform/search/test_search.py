"""Search service: nested MLflow runs per trial, pruning, failures, crash recovery, shared PostgreSQL studies."""

from __future__ import annotations

import ast
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from plexus.platform.config import build_config
from plexus.platform.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
PLUGIN_EXAMPLE = REPO / "examples" / "plugin"
# The search service needs some CTR dataset, not Criteo: the generated one runs on a fresh, offline machine.
DATASET = "synthetic-behavior"
USERS = 200  # small for speed (about 4k training rows)
DATA_ARGS = ["--dataset", DATASET, "--set", f"dataset_options.num_users={USERS}"]


def plexus(
    args: list[str], *, cwd: Path, env: dict | None = None, timeout: int = 400
) -> subprocess.CompletedProcess:
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "plexus.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=e,
        timeout=timeout,
    )


def load_study(url: str, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=url)


# ------------------------------------------------------------------------------------------ units (no training)
def test_fixed_values_win_and_are_not_sampled() -> None:
    import optuna
    from plexus.platform.catalog import get_catalog
    from plexus.platform.search._space import check_space, sample

    entry = get_catalog().model("dnn")
    names = entry.schema.names()
    fixed = {"width": 64, "embed_dim": 8}
    sampled = check_space(entry.search_space, fixed, names, "dnn")
    assert "width" not in sampled and "embed_dim" not in sampled and "depth" in sampled
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        hp = sample(entry.search_space, trial, fixed, names)
        assert (
            hp["embed_dim"] == 8 and set(hp["hidden"]) == {64} and len(hp["hidden"]) == trial.params["depth"]
        )
        assert "width" not in trial.params and "embed_dim" not in trial.params
        study.tell(trial, 0.5)
    with pytest.raises(ConfigError, match="widht.*did you mean 'width'"):
        check_space(entry.search_space, {"widht": 64}, names, "dnn")
    with pytest.raises(ConfigError, match="no search space"):
        check_space(lambda t: {}, {}, names, "dnn")


def test_budget_ignores_retried_and_surplus_trials() -> None:
    import optuna
    from optuna.trial import TrialState
    from plexus.platform.search import budget
    from plexus.platform.search._storage import SURPLUS_ATTR, is_surplus

    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(
        optuna.create_trial(state=TrialState.COMPLETE, value=1.0, params={"x": 0.1}, distributions=dist)
    )
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, params={"x": 0.2}, distributions=dist))  # died
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params={"x": 0.2},
            distributions=dist,
            system_attrs={"failed_trial": 1, "retry_history": [1]},
        )
    )  # its retry
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={SURPLUS_ATTR: True}))
    b = budget(study)
    assert (b.done, b.running, b.waiting) == (1, 0, 1)
    assert b.counts == {"COMPLETE": 1, "RETRIED": 1, "WAITING": 1}
    assert not is_surplus(study, 2, 2) and is_surplus(study, 2, 1)


def test_interrupted_trials_are_queued_again_once() -> None:
    from optuna.trial import TrialState
    from plexus.platform.search import budget
    from plexus.platform.search._service import _requeue_interrupted

    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(
        optuna.create_trial(
            state=TrialState.FAIL,
            params={"x": 0.3},
            distributions=dist,
            user_attrs={"plexus.interrupted": True},
        )
    )
    study.add_trial(
        optuna.create_trial(state=TrialState.FAIL, params={"x": 0.4}, distributions=dist)
    )  # a real failure
    assert _requeue_interrupted(study) == [0]
    assert _requeue_interrupted(study) == []  # already queued
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert (
        len(waiting) == 1 and waiting[0].params == {"x": 0.3} and waiting[0].system_attrs["failed_trial"] == 0
    )
    assert budget(study).done == 1 and budget(study).waiting == 1


def test_bad_settings_are_one_line_config_errors(tmp_path: Path) -> None:
    from plexus.platform.search import SearchSettings, StorageError, open_storage

    with pytest.raises(ConfigError, match="search.sampler"):
        SearchSettings.from_dict({"sampler": "bayes"})
    with pytest.raises(ConfigError, match="grace_period"):
        SearchSettings.from_dict({"heartbeat_interval": 10, "grace_period": 5})
    with pytest.raises(StorageError, match="not a URL"):
        open_storage("optuna.db")


# ------------------------------------------------------------------------------------------ in-process study
class PruneTrialOne(optuna.pruners.BasePruner):
    """A pruner that prunes exactly trial 1 (at its first report)."""

    def prune(self, study, trial) -> bool:
        return trial.number == 1


def test_search_tracks_every_trial_as_a_nested_run(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.platform.search import RUN_ID_ATTR, search

    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    raw = {
        "hparams": {"width": 32, "embed_dim": 4},
        "train": {"epochs": 2, "batch_size": 2048},
        "tracking": {"experiment": "search-test"},
        "search": {"trials": 3, "study": "dnn-nested", "storage": storage, "sampler": "random", "seed": 3},
        "dataset_options": {"num_users": USERS},
    }
    cfg = build_config(raw, model="dnn", dataset=DATASET)
    pruner = PruneTrialOne()
    lines: list[str] = []
    # trial 0: dropout=1.5 makes the model constructor raise -> FAIL; trial 1 pruned; trial 2 completes
    result = search(
        cfg, tracking_uri=tracking_uri, echo=lines.append, pruner=pruner, enqueue=[{"dropout": 1.5}]
    )

    study = load_study(storage, "dnn-nested")
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "FAIL", 1: "PRUNED", 2: "COMPLETE"}
    assert result["counts"] == {"FAIL": 1, "PRUNED": 1, "COMPLETE": 1} and result["finished"] == 3
    assert (
        "Dropout" in study.trials[0].user_attrs["plexus.error"]
        or "dropout" in study.trials[0].user_attrs["plexus.error"]
    )

    client = MlflowClient(tracking_uri)
    parent = client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["plexus.study"] == "dnn-nested"
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 3
    by_trial = {int(r.data.tags["plexus.trial"]): r for r in children}
    # the study names its data once; each trial that trained names its three splits
    assert [(i.dataset.name, i.tags[0].value) for i in parent.inputs.dataset_inputs] == [(DATASET, "search")]
    assert {i.tags[0].value for i in by_trial[2].inputs.dataset_inputs} == {"training", "validation", "testing"}
    for t in study.trials:
        run = by_trial[t.number]
        assert t.user_attrs[RUN_ID_ATTR] == run.info.run_id
        assert run.data.tags["plexus.state"] == t.state.name
        assert run.data.tags["plexus.study"] == "dnn-nested" and run.data.tags["plexus.model"] == "dnn"
        assert run.data.params["hparams.embed_dim"] == "4"  # fixed values reach every trial ...
        assert "width" not in t.params and "embed_dim" not in t.params  # ... and are not sampled
    assert (
        by_trial[0].info.status == "FAILED"
        and "dropout" in by_trial[0].data.tags["plexus.failure_reason"].lower()
    )
    # pruned and complete trials have per-epoch metrics and their sampled parameters
    for n, epochs in ((1, 1), (2, 2)):
        hist = client.get_metric_history(by_trial[n].info.run_id, "val_auc")
        assert [m.step for m in hist] == list(range(1, epochs + 1))
        assert by_trial[n].data.params["optuna.depth"] == str(study.trials[n].params["depth"])
        assert (
            list(ast.literal_eval(by_trial[n].data.params["hparams.hidden"]))
            == [32] * study.trials[n].params["depth"]
        )
    assert study.trials[1].intermediate_values and max(study.trials[1].intermediate_values) == 1

    # the parent holds the best trial, the plots and the registered model
    best = study.best_trial
    assert best.number == 2 and result["best"]["number"] == 2
    for k, v in best.params.items():
        assert parent.data.params[f"best.{k}"] == str(v)
    assert parent.data.metrics["best_val_auc"] == pytest.approx(best.value)
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {
        f"plots/{n}.html"
        for n in ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")
    }
    html = Path(
        client.download_artifacts(parent.info.run_id, "plots/optimization_history.html", str(tmp_path))
    )
    assert "plotly" in html.read_text()[:20000].lower()
    versions = client.search_model_versions("name='dnn-nested'")
    assert [v.run_id for v in versions] == [by_trial[2].info.run_id]
    assert result["registered_model"]["version"] == int(versions[0].version)
    assert any("PRUNED" in line for line in lines) and any("FAIL" in line for line in lines)

    # re-running the same study resumes it: nothing left to do, same parent, no new trials or versions
    again = search(cfg, tracking_uri=tracking_uri, echo=None)
    assert again["parent_run_id"] == parent.info.run_id and len(load_study(storage, "dnn-nested").trials) == 3
    assert len(client.search_model_versions("name='dnn-nested'")) == 1
    # a different fixed value under the same study name is refused
    with pytest.raises(ConfigError, match="different hparams"):
        search(
            build_config({**raw, "hparams": {"width": 64}}, model="dnn", dataset=DATASET),
            tracking_uri=tracking_uri,
        )


# ------------------------------------------------------------------------------------------ crash recovery
@pytest.mark.slow
def test_killed_search_resumes_and_retries_the_dead_trial(tmp_path: Path, tracking_uri: str) -> None:
    import optuna
    from mlflow.tracking import MlflowClient

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = [
        "search",
        "lr",
        *DATA_ARGS,
        "--trials",
        "2",
        "--study",
        "killed",
        "--storage",
        storage,
        "--tracking-uri",
        tracking_uri,
        "--sampler",
        "random",
        "--set",
        "epochs=6",
        "--set",
        "batch_size=4",  # ~1,000 steps an epoch (~0.5 s): the poll below sees a trial mid-run
        "--set",
        "search.heartbeat_interval=1",
        "--set",
        "search.grace_period=3",
        "--set",
        "search.log_models=none",
        "--set",
        "search.register=false",
        "--json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexus.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    victim = None
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:  # kill it mid-trial: after the first epoch
            time.sleep(0.2)
            try:
                running = load_study(storage, "killed").get_trials(states=(optuna.trial.TrialState.RUNNING,))
            except Exception:  # noqa: BLE001,S112 - study not created yet
                continue
            if running and running[0].intermediate_values and "mlflow_run_id" in running[0].user_attrs:
                victim = running[0]
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and victim is None:
            proc.kill()
        proc.wait()
    assert victim is not None, "the search finished or stalled before a trial reported an epoch"
    assert load_study(storage, "killed").trials[victim.number].state.name == "RUNNING"  # nobody cleaned up

    done = plexus(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    trials = load_study(storage, "killed").trials
    dead = trials[victim.number]
    assert dead.state.name == "FAIL"  # failed through the missing heartbeat, not left RUNNING
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params and retries[0].state.name == "COMPLETE"
    finished = [r for r in result["trials"] if not r["retried"]]
    assert len(finished) == 2 and all(r["state"] == "COMPLETE" for r in finished)
    assert result["finished"] == 2 and result["complete"] is True
    run = MlflowClient(tracking_uri).get_run(victim.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["plexus.state"] == "FAIL"
    assert "heartbeat" in run.data.tags["plexus.failure_reason"]


# ------------------------------------------------------------------------------------------ PostgreSQL
@pytest.mark.postgres
def test_wrong_password_is_one_line_and_never_printed(postgres: dict, tmp_path: Path) -> None:
    wrong = "Wr0ngSecret" + secrets.token_hex(4)
    url = postgres["url"].replace(postgres["password"], wrong)
    out = plexus(["search", "lr", *DATA_ARGS, "--trials", "2", "--storage", url], cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: storage postgresql://plexus:***@"), out.stderr
    assert "password" in lines[0].lower()  # the server's reason is kept
    assert wrong not in out.stderr + out.stdout


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_a_postgres_study(postgres: dict, tmp_path: Path, tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    out = plexus(
        [
            "search",
            "lr",
            *DATA_ARGS,
            "--trials",
            "4",
            "--workers",
            "2",
            "--study",
            "shared",
            "--storage",
            postgres["url"],
            "--tracking-uri",
            tracking_uri,
            "--set",
            "epochs=1",
            "--set",
            "search.log_models=none",
            "--set",
            "search.register=false",
            "--json",
        ],
        cwd=tmp_path,
        timeout=580,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert postgres["password"] not in out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["workers"] == {"count": 2, "exit_codes": [0, 0]}
    assert result["storage"].startswith("postgresql://plexus:***@")
    study = load_study(postgres["url"], "shared")
    counted = [t for t in study.trials if not t.user_attrs.get("plexus.surplus")]
    numbers = [t.number for t in counted]
    assert len(counted) == 4 and len(set(numbers)) == 4 and all(t.state.name == "COMPLETE" for t in counted)
    assert {t.user_attrs["plexus.worker"].rsplit(":", 1)[1] for t in counted} <= {"w0", "w1"}
    runs = {t.user_attrs["mlflow_run_id"] for t in counted}
    client = MlflowClient(tracking_uri)
    assert all(client.get_run(r).data.tags["mlflow.parentRunId"] == result["parent_run_id"] for r in runs)


# ------------------------------------------------------------------------------------------ third-party plugin
def test_third_party_plugin_can_be_searched(tmp_path: Path, tracking_uri: str) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(PLUGIN_EXAMPLE),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = plexus(
        [
            "search",
            "tiny_mlp",
            "--dataset",
            "cora",
            "--trials",
            "2",
            "--tracking-uri",
            tracking_uri,
            "--set",
            "epochs=2",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["model"] == "tiny_mlp" and result["counts"] == {"COMPLETE": 2}
    assert set(result["best"]["params"]) == {"hidden", "dropout"}
    assert result["registered_model"]["name"] == "tiny_mlp-cora"
    # the default storage sits beside the tracking store's SQLite file, not in the working folder
    assert (Path(tracking_uri.split(":///", 1)[1]).parent / "optuna.db").exists()
    assert not (tmp_path / "mlruns").exists()
