"""User errors through the CLI: one line on stderr, exit code 2, no traceback, nothing left behind."""

from __future__ import annotations

import json
from collections.abc import Callable
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[3]


CLI = Callable[[list[str]], tuple[int, str, str]]  # the ``cli`` fixture of tests/conftest.py


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


DATA = "synthetic-behavior"  # generated: the errors below never depend on which data is at hand

CASES = {
    "unknown-model": (["train", "lrr", "--dataset", DATA], ["unknown model 'lrr'", "did you mean 'lr'"]),
    "unknown-dataset": (["train", "lr", "--dataset", "critteo-10k"], ["unknown dataset", "did you mean 'criteo-10k'"]),
    "unknown-hparam": (["train", "lr", "--dataset", DATA, "--set", "embed_dimm=4"], ["unknown hyperparameter"]),
    "mistyped-hparam": (["train", "dnn", "--dataset", DATA, "--set", "dropout=lots"], ["'dropout' expects float"]),
    "negative-epochs": (["train", "lr", "--dataset", DATA, "--set", "epochs=-3"], ["train.epochs must be"]),
    "absurd-epochs": (["train", "lr", "--dataset", DATA, "--set", "epochs=10000000"], ["train.epochs"]),
    "mistyped-train": (["train", "lr", "--dataset", DATA, "--set", "train.lr=fast"], ["train.lr"]),
    "set-without-equals": (["train", "lr", "--dataset", DATA, "--set", "epochs"], ["--set expects key=value"]),
    "unknown-section": (["train", "lr", "--dataset", DATA, "--set", "trian.lr=1"], ["did you mean 'train'"]),
    "missing-config": (["train", "lr", "--config", "nope.yaml"], ["nope.yaml", "not found"]),
    "task-mismatch": (["train", "lr", "--dataset", "cora"], ["cannot train on dataset 'cora'"]),
    "unknown-option": (["train", "lr", "--datset", "cora"], ["No such option"]),
    "unknown-show": (["models", "show", "dinn"], ["unknown model 'dinn'"]),
    "no-dataset": (["train", "lr"], ["no dataset given"]),
    "unreachable-tracking": (["train", "lr", "--dataset", DATA, "--tracking-uri", "http://127.0.0.1:9"],
                             ["unreachable"]),
    "bad-resume": (["train", "lr", "--dataset", DATA, "--resume", "0123456789abcdef"], ["--resume"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_cli_input(case: str, workdir: Path, cli: CLI) -> None:
    args, needles = CASES[case]
    code, _, err = cli(args)
    assert_one_line_error(code, err, *needles)
    # nothing was trained: no checkpoint folders, no runs
    assert not (workdir / "mlruns" / "checkpoints").exists()


def test_malformed_yaml_and_python_tags(workdir: Path, cli: CLI) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("model: lr\ntrain: {epochs: 2\n")
    code, _, err = cli(["train", "lr", "--dataset", DATA, "--config", str(bad)])
    assert_one_line_error(code, err, "bad.yaml", "malformed YAML")
    evil = workdir / "evil.yaml"
    marker = workdir / "pwned"
    evil.write_text(f"train: !!python/object/apply:os.system ['touch {marker}']\n")
    code, _, err = cli(["train", "lr", "--dataset", DATA, "--config", str(evil)])
    assert_one_line_error(code, err, "evil.yaml")
    assert not marker.exists()
    wrong = workdir / "wrong.yaml"
    wrong.write_text("- just\n- a list\n")
    code, _, err = cli(["train", "lr", "--dataset", DATA, "--config", str(wrong)])
    assert_one_line_error(code, err, "expected a mapping")


def test_debug_shows_traceback(workdir: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "--debug", "models", "show", "nope"],
                       capture_output=True, text=True, cwd=workdir, timeout=300)
    assert r.returncode != 0 and "Traceback" in r.stderr
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "models", "show", "nope", "--json"],
                       capture_output=True, text=True, cwd=workdir, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stdout == ""


def test_models_list_json(cli: CLI) -> None:
    code, out, _ = cli(["models", "list", "--json"])
    assert code == 0
    rows = json.loads(out)
    assert all({"name", "task", "source", "status"} <= set(r) for r in rows)
    assert {"lr", "fm", "dnn", "shared_bottom"} <= {r["name"] for r in rows}


def test_datasets_list_json(cli: CLI) -> None:
    code, out, _ = cli(["datasets", "list", "--json"])
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    expected = {"cora", "bitcoin-otc", "bitcoin-alpha", "uci-messages", "tu-mutag", "tu-proteins", "tu-nci109",
                "tolokers", "chameleon", "squirrel", "criteo-10k", "frappe", "movielens-100k", "amazon-beauty",
                "census-income", "movielens-mtl"}
    assert expected <= set(rows)
    for name in expected:
        r = rows[name]
        assert r["status"] == "ok" and r["tasks"] and r["size"] and isinstance(r["bundled"], bool), r
    assert rows["cora"]["tasks"] == ["node", "link"] and rows["cora"]["bundled"] is True
    assert set(rows["bitcoin-otc"]["tasks"]) == {"dynlink", "edge"}


def test_a_commands_exit_code_reaches_the_shell() -> None:
    """Click in non-standalone mode returns typer.Exit's code instead of raising it: main() must exit with it."""
    import typer
    from plexus.cli import _main

    @_main.app.command("exit-three", hidden=True)
    def _three() -> None:
        raise typer.Exit(3)

    try:
        with pytest.raises(SystemExit) as exc:
            _main.main(["exit-three"])
        assert exc.value.code == 3
    finally:
        _main.app.registered_commands.pop()


def test_search_with_json_keeps_stderr_to_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    from plexus.cli._search import _echo_for

    assert _echo_for(True, False) is None and _echo_for(True, True) is None
    as_json = _echo_for(False, True)
    as_json("trial 3 started lr=0.01")
    as_json("warning: every parameter of the search space is fixed")
    err = capfd.readouterr().err
    assert "trial 3" not in err and "warning: every parameter" in err
    _echo_for(False, False)("trial 4 started")
    assert "trial 4 started" in capfd.readouterr().err
