"""The search service under bad input, failing trials and concurrent workers.

tests/platform/search covers the PostgreSQL cases (two workers on one study, wrong password) and a killed
search; here: one-line errors for bad search arguments, failing trials end FAIL (never RUNNING) with their
MLflow runs FAILED and a reason, and two worker processes sharing one SQLite study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from plexus.platform.catalog import get_catalog
from reliability_helpers import BAD, assert_one_line_error, good_rows, run_cli, runs, write_rows

pytest.importorskip("plexus.platform.search")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tracking_uri: str) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("search_rel")
    write_rows(root / "d.csv", good_rows(60))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLEXUS_DATA", str(root / "home"))
        mp.chdir(root)
        from plexus.cli import main

        get_catalog(refresh=True)
        main(["datasets", "import", str(root / "d.csv"), "--name", "d", "--schema", str(BAD / "schema.yaml")])
        yield {"root": root, "uri": tracking_uri, "storage": f"sqlite:///{root / 'optuna.db'}"}
    get_catalog(refresh=True)


def no_running(env: dict) -> None:
    """No MLflow run and no Optuna trial is left RUNNING."""
    assert all(r.info.status != "RUNNING" for r in runs(env["uri"]).values())
    if (env["root"] / "optuna.db").exists():
        import optuna

        for s in optuna.get_all_study_summaries(env["storage"]):
            study = optuna.load_study(study_name=s.study_name, storage=env["storage"])
            assert all(t.state.name != "RUNNING" for t in study.trials)


CASES = {
    "trials-negative": (["--trials", "-1"], ["search.trials must be"]),
    "trials-zero": (["--trials", "0"], ["search.trials must be"]),
    "trials-absurd": (["--trials", "100000000"], ["search.trials must be"]),
    "trials-text": (["--trials", "many"], ["'--trials'", "valid integer"]),
    "sampler-unknown": (["--sampler", "bayes"], ["search.sampler"]),
    "pruner-unknown": (["--pruner", "patient"], ["pruner"]),
    "workers-negative": (["--workers", "-2"], ["search.workers must be"]),
    "timeout-negative": (["--timeout", "-5"], ["search.timeout"]),
    "setting-typo": (["--set", "search.n_trials=3"], ["did you mean 'trials'"]),
    "storage-bad-scheme": (["--storage", "ftp://x/y"], ["ftp://x/y"]),
    "storage-unreachable-password": (["--storage", "postgresql+psycopg://al:Hunter2pw@127.0.0.1:9/db"],
                                     ["al:***@127.0.0.1:9"]),
    "hparam-unknown": (["--set", "embed_dimm=3"], ["embed_dimm", "neither a hyperparameter"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_search_input(case: str, env: dict, capfd: pytest.CaptureFixture) -> None:
    args, needles = CASES[case]
    before = set(runs(env["uri"]))
    code, out, err = run_cli(["search", "lr", "--dataset", "d", "--tracking-uri", env["uri"], "--storage",
                              env["storage"], *args, "--set", "epochs=1", "--json"], capfd)
    line = assert_one_line_error(code, err, *needles)
    assert "Hunter2pw" not in line + out
    assert set(runs(env["uri"])) == before
    no_running(env)


def test_unknown_study_for_worker(env: dict, capfd: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(["worker", "--study", "nosuch", "--storage", env["storage"], "--tracking-uri", env["uri"]],
                           capfd)
    assert_one_line_error(code, err, "study 'nosuch' does not exist")


def test_failing_trials_end_fail_never_running(env: dict, capfd: pytest.CaptureFixture) -> None:
    """Every trial overflows at its first step: trials end FAIL, their MLflow runs FAILED with the reason."""
    code, out, err = run_cli(["search", "lr", "--dataset", "d", "--tracking-uri", env["uri"], "--storage",
                              env["storage"], "--study", "nan", "--trials", "2", "--set", "init_std=1e38",
                              "--set", "epochs=1", "--set", "search.log_models=none", "--set", "search.register=false",
                              "--set", "search.max_retry=0", "--json"], capfd)
    import optuna

    study = optuna.load_study(study_name="nan", storage=env["storage"])
    assert study.trials and all(t.state.name == "FAIL" for t in study.trials), [t.state for t in study.trials]
    assert code != 0 or all(t.state.name == "FAIL" for t in study.trials)
    assert "Traceback" not in err
    trial_runs = [r for r in runs(env["uri"]).values()
                  if r.data.tags.get("mlflow.parentRunId") and r.data.tags.get("plexus.dataset") == "d"
                  and "loss became nan" in r.data.tags.get("plexus.failure_reason", "")]
    assert len(trial_runs) >= len(study.trials)
    assert all(r.info.status == "FAILED" for r in trial_runs)
    no_running(env)


@pytest.mark.slow
def test_two_workers_share_a_sqlite_study(env: dict) -> None:
    """``--workers 2`` on one SQLite study: every budgeted trial done once, none lost, none duplicated."""
    e = {**os.environ, "OMP_NUM_THREADS": "1", "PLEXUS_DATA": str(env["root"] / "home")}
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "search", "lr", "--dataset", "d", "--trials", "4",
                        "--workers", "2", "--study", "shared", "--storage", env["storage"], "--tracking-uri",
                        env["uri"], "--set", "epochs=1", "--set", "search.log_models=none",
                        "--set", "search.register=false", "--json"],
                       capture_output=True, text=True, cwd=env["root"], env=e, timeout=580)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert result["workers"] == {"count": 2, "exit_codes": [0, 0]}
    import optuna

    study = optuna.load_study(study_name="shared", storage=env["storage"])
    counted = [t for t in study.trials if not t.user_attrs.get("plexus.surplus")]
    assert len(counted) == 4 and len({t.number for t in counted}) == 4
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in counted)
    assert {t.user_attrs["plexus.worker"].rsplit(":", 1)[1] for t in counted} <= {"w0", "w1"}
    run_ids = [t.user_attrs["mlflow_run_id"] for t in counted]
    assert len(set(run_ids)) == 4  # one MLflow run per trial, never shared
    all_runs = runs(env["uri"])
    assert all(all_runs[rid].data.tags["mlflow.parentRunId"] == result["parent_run_id"] for rid in run_ids)
    no_running(env)
