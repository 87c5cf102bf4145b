"""plexus ui: the MLflow UI on the project's store, checked in headless Chromium; its one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _study(uri: str, ckpt: Path) -> dict:
    from mlflow.tracking import MlflowClient
    from plexus.platform.config import build_config
    from plexus.platform.tracking import get_experiment_id
    from plexus.platform.training import train_model

    name, exp = f"ui-study-{uuid.uuid4().hex[:6]}", f"ui-{uuid.uuid4().hex[:6]}"
    client = MlflowClient(uri)
    parent = client.create_run(get_experiment_id(client, exp), run_name=f"study-{name}",
                               tags={"plexus.study": name, "plexus.model": "lr"})
    children = []
    for i, lr in enumerate((0.01, 0.05, 0.002)):
        cfg = build_config({"train": {"seed": 1, "epochs": 1, "batch_size": 512, "lr": lr},
                            "tracking": {"experiment": exp, "log_model": False, "checkpoint_dir": str(ckpt),
                                         "run_name": f"{name}-trial-{i}"},
                            "dataset_options": {"num_users": 200}},  # generated CTR data: no download
                           model="lr", dataset="synthetic-behavior")
        children.append(train_model(cfg, tracking_uri=uri, progress=False, parent_run_id=parent.info.run_id,
                                    extra_tags={"plexus.study": name})["run_id"])
    client.set_terminated(parent.info.run_id)
    return {"name": name, "experiment": exp, "parent": f"study-{name}",
            "children": [f"{name}-trial-{i}" for i in range(3)], "ids": children}


def _read_json(proc: subprocess.Popen, timeout: float) -> dict:
    """The first JSON object on ``plexus ui --json``'s stdout (printed once the server answers)."""
    deadline, buf = time.time() + timeout, ""
    while time.time() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        buf += line
        if line.startswith("}"):
            return json.loads(buf)
    raise AssertionError(f"plexus ui printed no URLs (exit {proc.poll()}): {buf!r}")


@contextlib.contextmanager
def _plexus_ui(uri: str, experiment: str, cwd: Path) -> Iterator[tuple[int, dict]]:
    """``plexus ui --json`` in its own process group: yields (port, printed URLs); on exit SIGTERMs it and
    asserts that its MLflow server does not outlive it."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "plexus.cli", "ui", "--tracking-uri", uri,
                             "--experiment", experiment, "--port", str(port), "--json"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        yield port, _read_json(proc, 300)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # plexus ui stops its server on SIGTERM
        proc.wait(timeout=60)
    deadline = time.time() + 30
    while _port_open(port) and time.time() < deadline:
        time.sleep(0.5)
    assert not _port_open(port), "the MLflow server outlived plexus ui"


@pytest.mark.timeout(600)
def test_mlflow_ui_lists_study_runs_in_chromium(tracking_uri: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install -y chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (dev extra) is absent")
    study = _study(tracking_uri, tmp_path / "ckpt")
    with _plexus_ui(tracking_uri, study["experiment"], tmp_path) as (port, urls):
        assert urls["experiment"] == study["experiment"] and urls["experiment_id"]
        assert urls["mlflow"] == f"http://127.0.0.1:{port}/#/experiments/{urls['experiment_id']}/runs"
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1700, "height": 600})
            page.goto(urls["mlflow"], wait_until="load")  # the UI keeps polling: never networkidle
            page.get_by_text(study["parent"], exact=True).first.wait_for(timeout=180_000)
            box = page.get_by_placeholder("metrics.rmse", exact=False)
            box.fill(f"tags.plexus.study = '{study['name']}'")
            box.press("Enter")
            page.get_by_text("4 matching runs").wait_for(timeout=60_000)  # parent + 3 trials, nothing else
            # the trials are nested under the parent run: expand it
            child = page.get_by_text(study["children"][1], exact=True).first
            if not child.is_visible():
                page.locator("[col-id]", has_text=study["parent"]).first.locator("button").first.click()
            for name in study["children"]:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            # the Dataset column names each trial's data (logged as MLflow dataset inputs, one per split)
            page.get_by_text("synthetic-behavior", exact=False).first.wait_for(timeout=60_000)
            assistant = page.locator("button[aria-label='Close']")  # a side panel that would hide columns
            if assistant.count():
                assistant.first.click()
            shot = Path(os.environ.get("PLEXUS_SCREENSHOT_DIR", tmp_path)) / "mlflow-runs.png"
            page.screenshot(path=str(shot))
            browser.close()
        assert shot.stat().st_size > 10_000


def test_ui_errors_are_one_line_exit_2(tracking_uri: str, tmp_path: Path, cli) -> None:
    code, _, err = cli(["ui", "--tracking-uri", f"file:{tmp_path}/mlruns"])
    assert code == 2 and "needs a database store" in err
    code, _, err = cli(["ui", "--tracking-uri", tracking_uri, "--optuna"])
    assert code == 2 and "--optuna needs --storage" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        code, _, err = cli(["ui", "--tracking-uri", tracking_uri, "--port", str(busy)])
    assert code == 2 and f"--port {busy}: already in use" in err and len(err.strip().splitlines()) == 1
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        code, _, err = cli(["ui", "--tracking-uri", tracking_uri, "--optuna", "--storage", "sqlite:///x.db"])
        assert code == 2 and "optuna-dashboard, which is not installed" in err


def _single_and_nas(uri: str, ckpt: Path) -> dict:
    """A single ARM-Net+ training (model logged, so it carries explain/) and a 2-architecture NAS, one experiment."""
    from plexus.nas.search import run_nas
    from plexus.platform.config import build_config
    from plexus.platform.training import train_model

    exp = f"ui-kinds-{uuid.uuid4().hex[:6]}"
    cfg = build_config({"hparams": {"num_heads": 2, "num_neurons": 8, "mlp_hidden": [32], "dnn_hidden": [32]},
                        "train": {"seed": 1, "epochs": 1, "batch_size": 512},
                        "tracking": {"experiment": exp, "checkpoint_dir": str(ckpt), "run_name": f"{exp}-single"},
                        "dataset_options": {"num_users": 200}}, model="armnet_plus", dataset="synthetic-behavior")
    single = train_model(cfg, tracking_uri=uri, progress=False)["run_id"]
    nas = run_nas(dataset="cora", budget=2, epochs=2, seed=1, choices={"hidden": [4], "heads": [1]},
                  tracking_uri=uri, experiment=exp, retrain_seeds=0)
    return {"experiment": exp, "single": single, "single_name": f"{exp}-single", "nas_parent": nas["parent_run_id"]}


@pytest.mark.timeout(600)
def test_mlflow_ui_shows_each_run_kind_with_its_dataset_and_attribution(tracking_uri: str, tmp_path: Path) -> None:
    """A single training and a NAS search's children name their data in the runs table; the single ARM-Net+ run's
    attribution heatmap opens in the run's artifact view."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install -y chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (dev extra) is absent")
    runs = _single_and_nas(tracking_uri, tmp_path / "ckpt")
    with _plexus_ui(tracking_uri, runs["experiment"], tmp_path) as (port, urls):
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1700, "height": 800})
            page.goto(urls["mlflow"], wait_until="load")
            page.get_by_text(runs["single_name"], exact=True).first.wait_for(timeout=180_000)
            page.get_by_text("synthetic-behavior", exact=False).first.wait_for(timeout=60_000)
            # the NAS children (nested under their parent) name cora; expand the parent when they are collapsed
            box = page.get_by_placeholder("metrics.rmse", exact=False)
            box.fill(f"tags.mlflow.parentRunId = '{runs['nas_parent']}'")
            box.press("Enter")
            page.get_by_text("3 matching runs").wait_for(timeout=60_000)  # the 2 children and their parent
            page.locator("[col-id]", has_text="nas-autognn").first.locator("button").first.click()
            cora = page.get_by_text("cora (", exact=False)
            deadline = time.time() + 60
            while cora.count() < 3 and time.time() < deadline:  # the parent's (search) and each child's (training)
                time.sleep(0.5)
            assert cora.count() >= 3
            # the single run's artifacts: explain/global_attribution.png renders as an image
            page.goto(f"http://127.0.0.1:{port}/#/experiments/{urls['experiment_id']}/runs/{runs['single']}/artifacts",
                      wait_until="load")
            page.get_by_text("explain", exact=True).first.click(timeout=180_000)
            page.get_by_text("global_attribution.png", exact=True).first.click(timeout=60_000)
            # the artifact view draws the PNG from a blob: wait for an image of the heatmap's size to load
            widths = "() => Array.from(document.images).map(i => i.naturalWidth)"
            deadline = time.time() + 60
            while max(page.evaluate(widths) or [0]) < 300 and time.time() < deadline:
                time.sleep(0.5)
            assert max(page.evaluate(widths) or [0]) >= 300, page.evaluate("() => [...document.images].map(i => i.src)")
            page.screenshot(path=str(Path(os.environ.get("PLEXUS_SCREENSHOT_DIR", tmp_path)) / "mlflow-explain.png"))
            browser.close()
