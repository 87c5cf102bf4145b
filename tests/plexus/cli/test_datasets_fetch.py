"""``plexus datasets fetch|list|show`` through the real download path (the mirror in PLEXUS_DATA_MIRROR)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLEXUS = [sys.executable, "-m", "plexus.cli"]


def _plexus(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(PLEXUS + args, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def mirror_env(tmp_path: Path) -> dict[str, str]:
    if not os.environ.get("PLEXUS_DATA_MIRROR"):
        if os.environ.get("PLEXUS_REQUIRE_DATA") == "1":
            pytest.fail("PLEXUS_REQUIRE_DATA=1 but PLEXUS_DATA_MIRROR is not set", pytrace=False)
        pytest.skip("no dataset mirror (set PLEXUS_DATA_MIRROR)")
    env = {**os.environ, "PLEXUS_DATA": str(tmp_path / "home")}
    env.pop("PLEXUS_OFFLINE", None)
    return env


def test_fetch_all_downloads_every_dataset_once(mirror_env: dict[str, str]) -> None:
    from plexus.platform.data.sources import SOURCES

    lacking = {n for n in os.environ.get("PLEXUS_MIRROR_LACKS", "").split(",") if n}
    first = _plexus(["datasets", "fetch", "--all", "--json"], mirror_env)
    rows = {r["name"]: r for r in json.loads(first.stdout)}
    bundled = {"cora", "citeseer"}
    assert set(rows) == set(SOURCES) - bundled  # every built-in dataset with files to download
    got: dict[tuple[str, str], int] = {}  # (folder, file) -> size downloaded; folders can be shared
    for name, r in rows.items():
        if name in lacking:
            assert r["status"] == "failed" and os.environ["PLEXUS_DATA_MIRROR"] in r["error"], r
            continue
        assert r["status"] in ("fetched", "present"), r
        src = SOURCES[name]
        for f in src.files:
            assert (Path(r["root"]) / f.name).stat().st_size == f.size
        for n in r["downloaded"]:
            assert (src.folder, n) not in got  # each file is downloaded once
            got[(src.folder, n)] = next(f.size for f in src.files if f.name == n)
    wanted = {(SOURCES[n].folder, f.name): f.size for n in rows if n not in lacking for f in SOURCES[n].files}
    assert got == wanted
    assert sum(r.get("bytes", 0) for r in rows.values()) == sum(wanted.values())
    assert first.returncode == (2 if lacking & set(rows) else 0), first.stderr
    assert not list(Path(mirror_env["PLEXUS_DATA"]).rglob("*.part"))

    again = _plexus(["datasets", "fetch", "--all", "--json"], mirror_env)
    for r in json.loads(again.stdout):
        if r["name"] not in lacking:
            assert r["status"] == "present" and r["downloaded"] == [] and r["bytes"] == 0, r

    listed = {r["name"]: r for r in json.loads(_plexus(["datasets", "list", "--json"], mirror_env).stdout)}
    assert listed["criteo-10k"]["local"] == "present" and listed["cora"]["local"] == "bundled"


def test_show_names_terms_and_fetch_says_so(mirror_env: dict[str, str]) -> None:
    show = _plexus(["datasets", "show", "frappe"], mirror_env)
    assert show.returncode == 0, show.stderr
    assert "terms (accepted by fetching)" in show.stdout and "no redistribution" in show.stdout
    fetch = _plexus(["datasets", "fetch", "frappe"], mirror_env)  # already present after show
    assert fetch.returncode == 0 and "by fetching you accept its terms" in fetch.stdout


def test_offline_without_files_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PLEXUS_DATA": str(tmp_path / "empty"), "PLEXUS_OFFLINE": "1"}
    env.pop("PLEXUS_DATA_MIRROR", None)
    r = _plexus(["datasets", "show", "criteo-10k"], env)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "criteo-10k" in r.stderr and "PLEXUS_DATA_MIRROR" in r.stderr
    r = _plexus(["datasets", "fetch", "nosuchset"], env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_search_and_nas_fail_before_their_first_trial_when_data_cannot_be_had(tmp_path: Path) -> None:
    env = {**os.environ, "PLEXUS_DATA": str(tmp_path / "empty"), "PLEXUS_OFFLINE": "1"}
    env.pop("PLEXUS_DATA_MIRROR", None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    r = _plexus(["search", "lr", "--dataset", "criteo-10k", "--trials", "3", "--tracking-uri", uri,
                 "--storage", f"sqlite:///{tmp_path / 'optuna.db'}"], env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "train_examples.txt" in r.stderr and "trial" not in r.stdout
    assert not (tmp_path / "optuna.db").exists()  # no study was created, so no trial ran or failed
    r = _plexus(["nas", "--dataset", "tolokers", "--budget", "3", "--tracking-uri", uri], env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "tolokers.npz" in r.stderr and "[1/3]" not in r.stdout
    if (tmp_path / "mlflow.db").exists():
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        exps = [e.experiment_id for e in client.search_experiments()]
        assert not client.search_runs(exps)  # no parent run, no child run
