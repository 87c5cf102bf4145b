"""The README's "Tabular with given splits" commands run as written, on the shipped example files."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from plexus.platform.catalog import get_catalog
from plexus.cli import main

REPO = Path(__file__).resolve().parents[2]
SECTION = re.search(r"#### Tabular with given splits\n(.*?)\n#### ", (REPO / "README.md").read_text(), flags=re.DOTALL)


@pytest.fixture(autouse=True)
def _fresh_catalog():
    yield
    get_catalog(refresh=True)  # the catalog read this test's data home: forget it


def _blocks(lang: str) -> list[str]:
    assert SECTION, "README lost its 'Tabular with given splits' section"
    return re.findall(rf"```{lang}\n(.*?)```", SECTION.group(1), flags=re.DOTALL)


def _run(args: list[str], capfd: pytest.CaptureFixture) -> str:
    get_catalog(refresh=True)  # a fresh process would read the imported datasets again
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, (args, capfd.readouterr())
    return capfd.readouterr().out


def test_readme_given_split_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracking_uri: str,
                                         capfd: pytest.CaptureFixture) -> None:
    shutil.copytree(REPO / "examples" / "given-splits", tmp_path / "examples" / "given-splits")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    commands = [shlex.split(line, comments=True) for line in _blocks("bash")[0].splitlines() if line.strip()]
    assert commands[0][:3] == ["plexus", "datasets", "import"]
    for cmd in commands:
        args = cmd[1:] + (["--tracking-uri", tracking_uri, "--set", "tracking.log_model=false"]
                          if cmd[1] == "train" else [])
        out = _run(args, capfd)
        if cmd[1:3] == ["datasets", "show"]:
            assert "Options" in out and "min_count" in out
    sizes = {sp: len((tmp_path / "examples" / "given-splits" / f"{sp}.libsvm").read_text().splitlines())
             for sp in ("train", "val", "test")}
    ds = get_catalog(refresh=True).dataset("svm-given").load()
    assert {sp: ds.num_rows(sp) for sp in sizes} == sizes


def test_readme_given_split_schema_is_the_shipped_one() -> None:
    shown = yaml.safe_load(_blocks("yaml")[0])
    assert shown == yaml.safe_load((REPO / "examples" / "given-splits" / "libsvm.yaml").read_text())
