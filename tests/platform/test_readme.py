"""The README's examples stay true: its experiment file validates against the real schemas."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from plexus.platform.catalog import get_catalog
from plexus.platform.config import build_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_experiment_file_validates() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    experiments = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("model:")]
    assert experiments, "README lost its experiment example"
    for raw in experiments:
        cfg = build_config(raw)
        get_catalog().model(cfg.model).schema.validate(cfg.hparams)
        assert cfg.dataset in get_catalog().datasets()


def test_readme_quickstart_commands_exist() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    makefile = (README.parent / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
