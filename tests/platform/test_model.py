"""The plugin contract declared once: entry-point name = model name, capabilities read from one typed place."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
from plexus.platform.catalog import Catalog, get_catalog
from plexus.platform.errors import CatalogError
from plexus.platform.model import Capabilities, PairScorer, PlexusModel, capabilities
from torch import nn

PLUGIN = '''
from torch import nn
from plexus.platform.catalog import register_model
from plexus.platform.model import PlexusModel


@register_model("alpha", task="node")
class Alpha(PlexusModel):
    """Declared as alpha."""

    output_nodes = True

    def __init__(self, spec, hidden: int = 4) -> None:
        super().__init__()


@register_model("gamma", task="node")
class Gamma(nn.Module):
    """A malformed capability flag."""

    autocast = "no"

    def __init__(self, spec) -> None:
        super().__init__()
'''


@pytest.fixture()
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "contract_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "contract_plugin"


def _catalog(*eps: tuple[str, str]) -> Catalog:
    return Catalog(md.EntryPoints(md.EntryPoint(n, v, "plexus.models") for n, v in eps))


def test_an_entry_point_named_unlike_its_model_is_a_broken_entry(plugin_module: str) -> None:
    models = _catalog(("alpha", f"{plugin_module}:Alpha"), ("beta", f"{plugin_module}:Alpha")).models()
    assert models["alpha"].error is None and models["alpha"].info.name == "alpha"
    assert models["beta"].obj is None
    assert "declared as 'alpha' but its entry point is named 'beta'" in models["beta"].error


def test_a_malformed_capability_breaks_only_its_entry(plugin_module: str) -> None:
    models = _catalog(("alpha", f"{plugin_module}:Alpha"), ("gamma", f"{plugin_module}:Gamma")).models()
    assert "Gamma.autocast must be True or False" in models["gamma"].error
    assert models["alpha"].error is None


def test_capabilities_have_the_declared_defaults() -> None:
    class Plain(nn.Module):
        pass

    class Declared(PlexusModel):
        autocast = False
        target_link_removal = True

    assert capabilities(Plain()) == Capabilities()
    assert capabilities(Declared) == Capabilities(autocast=False, target_link_removal=True)
    assert capabilities(PlexusModel()) == Capabilities()


def test_builtin_capabilities_match_what_the_models_do() -> None:
    """The built-ins declare what their modules implement: NCN drops target links, GSM++ outputs selected
    nodes, EvolveGCN scores pairs from embeddings, ARM-Net explains, DIN's sum-pooling base does not."""
    cat = get_catalog()
    caps = {name: capabilities(cat.model(name).obj) for name in
            ("ncn", "gsmpp", "evolvegcn_o", "armnet", "din_base", "gcn")}
    assert caps["ncn"].target_link_removal and not caps["ncn"].autocast
    assert caps["gsmpp"].output_nodes and not caps["gsmpp"].autocast
    assert caps["evolvegcn_o"].pair_scoring and issubclass(cat.model("evolvegcn_o").obj, PairScorer)
    assert caps["armnet"].explain and caps["armnet"].global_attribution
    assert not caps["din_base"].explain
    assert caps["gcn"] == Capabilities()


def test_every_builtin_entry_point_is_named_like_its_model() -> None:
    models = get_catalog().models()
    builtin = {n: e for n, e in models.items() if e.source == "builtin"}
    assert len(builtin) >= 25
    assert all(e.error is None and e.info.name == n for n, e in builtin.items()), {
        n: e.error for n, e in builtin.items() if e.error}


def test_get_catalog_lookup_error_is_clear() -> None:
    with pytest.raises(CatalogError, match="did you mean"):
        get_catalog().model("ncnn")
