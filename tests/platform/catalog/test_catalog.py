"""Catalog: entry-point discovery, schemas from signatures, third-party and broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from torch import nn

from plexus.platform.catalog import get_catalog, register_model, schema_from_callable
from plexus.platform.errors import CatalogError, ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REPO = Path(__file__).resolve().parents[3]


def plexus_cli(args: list[str], site: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "plexus.cli", *args], capture_output=True, text=True,
                          env=env, cwd=kw.pop("cwd", REPO), timeout=kw.pop("timeout", 300), **kw)


@register_model("toy", task="ctr", summary="toy")
class Toy(nn.Module):
    """A toy model.

    Args:
        width: hidden width.
        rate: a rate
            spanning two lines.
        mode: which mode.
        dims: layer sizes.
    """

    def __init__(self, spec, width: int = 8, rate: float = 0.5, mode: Literal["a", "b"] = "a",
                 dims: tuple[int, ...] = (4, 2), name: str | None = None) -> None:
        super().__init__()


def test_schema_from_signature_types_defaults_help() -> None:
    schema = schema_from_callable(Toy)
    assert schema.names() == ["width", "rate", "mode", "dims", "name"]
    d = {p["name"]: p for p in schema.to_list()}
    assert d["width"] == {"name": "width", "type": "int", "default": 8, "required": False, "help": "hidden width."}
    assert d["rate"]["help"] == "a rate spanning two lines."
    assert d["mode"]["type"] == "'a'|'b'"
    assert d["dims"]["default"] == [4, 2]


def test_schema_coerces_cli_strings_and_rejects_bad_values() -> None:
    schema = schema_from_callable(Toy)
    assert schema.validate({"width": "16", "rate": "1e-3", "mode": "b", "dims": "8,4", "name": "none"}) == {
        "width": 16, "rate": 1e-3, "mode": "b", "dims": (8, 4), "name": None}
    with pytest.raises(ConfigError, match="did you mean 'width'"):
        schema.validate({"widht": 3})
    with pytest.raises(ConfigError, match="'width' expects int"):
        schema.validate({"width": "wide"})
    with pytest.raises(ConfigError, match="expects 'a'\\|'b'"):
        schema.validate({"mode": "c"})
    with pytest.raises(ConfigError, match="expects float"):
        schema.validate({"rate": "nan"})
    with pytest.raises(ConfigError):
        schema.validate({"width": True})


def test_builtins_are_found_through_entry_points() -> None:
    models = get_catalog().models()
    assert "lr" in models and models["lr"].source == "builtin"
    assert models["lr"].target.startswith("plexus.recsys.")
    with pytest.raises(CatalogError, match="did you mean 'lr'"):
        get_catalog().model("lrr")


def test_third_party_plugin_listed_like_a_builtin(plugin_site: Path) -> None:
    r = plexus_cli(["models", "list", "--json"], plugin_site)
    assert r.returncode == 0, r.stderr
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    tiny = rows["tiny_mlp"]
    assert tiny["source"] == "plexus-demo-plugin" and tiny["status"] == "ok" and tiny["task"] == "node"
    assert {"name", "task", "source", "status"} <= set(rows["lr"])
    broken = rows["broken_model"]
    assert broken["status"] == "broken" and "on purpose" in broken["error"]
    assert broken["source"] == "plexus-broken-plugin"
    # the broken plugin does not break anything else
    assert all(m["status"] == "ok" for n, m in rows.items() if n != "broken_model")


def test_third_party_plugin_described_like_a_builtin(plugin_site: Path) -> None:
    r = plexus_cli(["models", "show", "tiny_mlp", "--json"], plugin_site)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    hp = {h["name"]: h for h in d["hyperparameters"]}
    assert hp["hidden"]["type"] == "int" and hp["hidden"]["default"] == 32
    assert hp["hidden"]["help"] == "width of the hidden layer."
    assert hp["act"]["type"] == "'relu'|'tanh'"
    assert "suggest_int" in d["search_space"]
    r = plexus_cli(["models", "show", "broken_model"], plugin_site)
    assert r.returncode == 2 and "broken" in r.stderr and "Traceback" not in r.stderr
