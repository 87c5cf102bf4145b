"""The best trial of a study trained: trials cut short are skipped, reported, never registered; progress lines."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from plexus.platform.catalog import get_catalog
from plexus.platform.catalog._registry import ModelEntry, ModelInfo
from plexus.platform.config import build_config
from plexus.platform.errors import ConfigError
from plexus.platform.search._selection import EPOCHS_ATTR, required_epochs, select_best
from plexus.platform.search._space import check_space, parse_override, sample
from torch import nn

DATASET_OPTIONS = {"num_users": 120}  # synthetic-behavior: generated, offline, a few thousand rows
LIMIT = 4.0  # train.time_limit: a trial whose first epoch takes longer stops after it


class Probe(nn.Module):
    """A CTR model for selection tests.

    Args:
        signal: a real DNN on the fields (learns); False: one trainable constant (val AUC exactly 0.5).
        pause: seconds slept in the first training batch (past the time limit: the trial stops after epoch 1).
    """

    def __init__(self, spec, signal: bool = True, pause: float = 0.0) -> None:
        super().__init__()
        self.inner = get_catalog().model("dnn").obj(spec, embed_dim=8, hidden=(32,))
        self.bias = nn.Parameter(torch.zeros(1))
        self.signal, self.pause, self.paused = signal, pause, False

    def forward(self, batch: dict) -> dict:
        if self.training and self.pause and not self.paused:
            self.paused = True
            time.sleep(self.pause)
        if self.signal:
            return self.inner(batch)
        n = next(iter(batch.values())).shape[0]
        return {"logit": self.bias.expand(n) + 0.0 * sum(p.sum() for p in self.inner.parameters())}

    @staticmethod
    def search_space(trial) -> dict:
        return {"signal": trial.suggest_categorical("signal", [True, False]),
                "pause": trial.suggest_categorical("pause", [0.0, LIMIT + 1.0])}


@pytest.fixture
def probe_model(monkeypatch: pytest.MonkeyPatch) -> str:
    cat = get_catalog()
    entry = ModelEntry("probe", "tests", f"{__name__}:Probe", obj=Probe,
                       info=ModelInfo("probe", ("ctr",), "", "", "selection probe", "pyg"))
    monkeypatch.setattr(cat, "_models", {**(cat._models or {}), "probe": entry})
    return "probe"


def _trial(number: int, value: float, epochs: int | None, state=TrialState.COMPLETE):
    attrs = {} if epochs is None else {EPOCHS_ATTR: epochs}
    t = optuna.trial.create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                                  user_attrs=attrs)
    t.number = number
    return t


# ------------------------------------------------------------------------------------------ units
def test_selection_skips_trials_shorter_than_min_epochs() -> None:
    trials = [_trial(0, 0.70, 8), _trial(1, 0.90, 1), _trial(2, 0.75, 3), _trial(3, 0.99, None, TrialState.PRUNED)]
    sel = select_best(trials, "maximize", 3, 10, "val_auc")
    assert sel.best.number == 2 and sel.skipped == [(1, "1 epoch < min_epochs 3")]
    assert sel.describe({"name": "m", "version": 4}) == (
        "registered trial 2 (val_auc 0.7500, 3 epochs) as m version 4; skipped trial 1: 1 epoch < min_epochs 3")
    low = select_best(trials, "minimize", 3, 10, "val_logloss")
    assert low.best.number == 0  # the 1-epoch trial has no say in either direction
    assert required_epochs(3, 2) == 2 and select_best(trials, "maximize", 3, 1, "v").best.number == 1
    assert select_best(trials, "maximize", 0, 10, "v").best.number == 1  # min_epochs 0: every trial counts
    from plexus.platform.search import SearchSettings

    with pytest.raises(ConfigError, match="search.min_epochs must be a non-negative integer"):
        SearchSettings.from_dict({"min_epochs": -1})


def test_no_qualifying_trial_selects_nothing_and_says_so() -> None:
    sel = select_best([_trial(0, 0.9, 1), _trial(1, 0.8, 2)], "maximize", 3, 10, "val_auc")
    assert sel.best is None and sel.to_dict()["best"] is None
    msg = sel.describe()
    assert msg.startswith("no completed trial trained min_epochs=3 epochs: nothing is selected or registered")
    assert "skipped trial 0: 1 epoch < min_epochs 3; skipped trial 1: 2 epochs < min_epochs 3" in msg


def test_space_overrides_replace_a_distribution_by_name() -> None:
    entry = get_catalog().model("armnet")
    names = entry.schema.names()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    alphas = set()
    for _ in range(12):  # default: only the closed forms of entmax
        t = study.ask()
        alphas.add(sample(entry.search_space, t, {}, names)["alpha"])
        study.tell(t, 0.0)
    assert alphas == {1.5, 2.0}
    wide = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    t = wide.ask()
    hp = sample(entry.search_space, t, {}, names, {"alpha": "1.0..3.0"})
    assert 1.0 <= hp["alpha"] <= 3.0 and isinstance(t.distributions["alpha"], optuna.distributions.FloatDistribution)
    assert parse_override("num_heads", {"low": 1, "high": 4})[0] == "suggest_int"
    assert parse_override("alpha", [1.5, 2.0, 2.5]) == ("suggest_categorical", ([1.5, 2.0, 2.5],), {})
    with pytest.raises(ConfigError, match="search.space.alpha: expected a list of choices"):
        parse_override("alpha", 2.0)
    with pytest.raises(ConfigError, match="samples no parameter 'alpah' \\(did you mean 'alpha'"):
        check_space(entry.search_space, {}, names, "armnet", overrides={"alpah": [1.5]})


def test_a_study_sampled_from_another_distribution_is_refused_before_any_trial() -> None:
    from plexus.platform.search._space import distribution_clash

    entry = get_catalog().model("armnet")
    names = entry.schema.names()
    old = optuna.create_study()
    for _ in range(2):  # a study created when alpha was searched over the range [1, 3]
        t = old.ask()
        t.suggest_float("alpha", 1.0, 3.0)
        old.tell(t, 0.5)
    now: dict = {}
    check_space(entry.search_space, {}, names, "armnet", seen=now)
    assert "'alpha' was sampled from FloatDistribution" in distribution_clash(old.trials, now)
    wide: dict = {}
    check_space(entry.search_space, {}, names, "armnet", overrides={"alpha": "1.0..3.0"}, seen=wide)
    assert distribution_clash(old.trials, wide) == ""  # search.space resumes it


# ------------------------------------------------------------------------------------------ a real study
def test_a_trial_cut_short_is_skipped_not_registered(
    probe_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.platform.search import search

    store = tmp_path / "store"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("PLEXUS_HOME", raising=False)
    cfg = build_config({
        "dataset_options": DATASET_OPTIONS,
        "train": {"epochs": 3, "time_limit": LIMIT, "batch_size": 512},
        "search": {"trials": 2, "pruner": "none", "sampler": "random", "min_epochs": 3},
    }, model=probe_model, dataset="synthetic-behavior")
    lines: list[str] = []
    # trial 0 learns from the fields but is cut after one epoch; trial 1 trains 3 epochs of a constant (AUC 0.5)
    result = search(cfg, tracking_uri=uri, echo=lines.append, progress=True,
                    enqueue=[{"signal": True, "pause": LIMIT + 1.0}, {"signal": False, "pause": 0.0}])
    by = {r["number"]: r for r in result["trials"]}
    assert by[0]["state"] == by[1]["state"] == "COMPLETE"
    assert by[0]["epochs"] == 1 and by[1]["epochs"] == 3
    assert by[0]["value"] > by[1]["value"] == pytest.approx(0.5)  # the short trial scored better by chance
    assert result["best"]["number"] == 1
    assert result["selection"]["skipped"] == [{"number": 0, "reason": "1 epoch < min_epochs 3"}]
    reg = result["registered_model"]
    assert reg is not None
    client = MlflowClient(uri)
    assert client.get_model_version(reg["name"], str(reg["version"])).run_id == by[1]["run_id"]
    assert not client.get_run(by[0]["run_id"]).data.tags.get("plexus.model_uri")  # the short trial logged none
    assert result["selection"]["message"].startswith("registered trial 1 (val_auc 0.5000, 3 epochs)")
    assert "skipped trial 0: 1 epoch < min_epochs 3" in result["selection"]["message"]
    # progress: one line per epoch on stderr (not a terminal here), prefixed with the trial
    err = capsys.readouterr().err.splitlines()
    epochs = [ln for ln in err if ln.startswith("trial 1: epoch")]
    assert [ln.split()[3] for ln in epochs] == ["1/3", "2/3", "3/3"] and "val_auc 0.5000" in epochs[-1]
    assert any(ln.startswith("trial 0: epoch 1/3 val_auc") for ln in err)
    assert any(ln.startswith("trial 1 COMPLETE val_auc=0.5000 after 3 epochs") for ln in lines)
    # files follow the tracking store: the study beside mlflow.db, nothing in the working folder
    assert (store / "optuna.db").is_file() and not (work / "mlruns").exists()



def test_workers_prefix_their_progress_lines(tmp_path: Path) -> None:
    """``--workers 2``: each worker's epoch lines name worker and trial; MLflow's registry chatter is gone."""
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PLEXUS_HOME", None)
    out = subprocess.run(
        [sys.executable, "-m", "plexus.cli", "search", "dnn", "--dataset", "synthetic-behavior",
         "--set", "dataset_options.num_users=120", "--set", "train.epochs=2", "--set", "search.min_epochs=2",
         "--trials", "2", "--workers", "2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    err = out.stderr.splitlines()
    epochs: dict[str, list[tuple[str, str]]] = {}  # trial -> [(worker, epoch)]
    for ln in err:
        m = re.match(r"worker (\d) trial (\d): epoch (\d/2) val_auc", ln)
        if m:
            epochs.setdefault(m[2], []).append((m[1], m[3]))
    assert sorted(epochs) == ["0", "1"], out.stderr
    for trial, seen in epochs.items():
        (worker,) = {w for w, _ in seen}  # a trial's lines all name the worker that ran it
        assert [e for _, e in seen] == ["1/2", "2/2"]
        assert any(ln.startswith(f"[worker {worker}] trial {trial} COMPLETE ") for ln in err)
    assert not any("Successfully registered" in ln or "ran trials" in ln for ln in err)
    assert "registered trial " in out.stdout and max(len(ln) for ln in out.stdout.splitlines()) <= 80
