"""The README's 'A temporal graph' commands run as written (fewer epochs) on the shipped example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index("#### A temporal graph")
    nxt = re.search(r"\n#{2,4} ", text[start + 1:])
    part = text[start: start + 1 + nxt.start() if nxt else len(text)]
    return [ln.split("#")[0].strip() for b in re.findall(r"```bash\n(.*?)```", part, flags=re.DOTALL)
            for ln in b.splitlines() if ln.startswith("plexus ")]


def test_the_shipped_example_is_what_its_script_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "examples/temporal/make_example.py"), str(tmp_path)], check=True)
    assert (tmp_path / "events.csv").read_bytes() == (REPO / "examples/temporal/events.csv").read_bytes()


@pytest.mark.timeout(600)
def test_readme_temporal_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.platform.catalog import get_catalog
    from plexus.cli._main import main

    cmds = _commands()
    assert [c.split()[1] for c in cmds] == ["datasets", "datasets", "train"]
    monkeypatch.chdir(tmp_path)  # runs write under the working folder: never into the repository
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    get_catalog(refresh=True)
    uri = f"sqlite:///{tmp_path / 'readme.db'}"
    try:
        for cmd in cmds:
            args = [str(REPO / a) if a.startswith("examples/") else a for a in cmd.split()[1:]]
            if args[0] == "train":
                args = [re.sub(r"^epochs=\d+", "epochs=2", a) for a in args] + ["--tracking-uri", uri, "--quiet"]
            try:
                main(args)
            except SystemExit as exc:
                assert not exc.code, cmd
        (run,) = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("plexus").experiment_id])
        assert run.data.tags["plexus.task"] == "dynlink" and run.data.params["dataset_options.window"] == "86400"
        assert 0.0 < run.data.metrics["test_map"] <= 1.0  # ranked every non-self pair of the test steps
    finally:
        get_catalog(refresh=True)
