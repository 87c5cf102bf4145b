"""Static graph loaders: Planetoid, heterophilous npz, TU, catalog entries, DGL bridge."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path_factory.getbasetemp() / "plexus-data"))


# ------------------------------------------------------------------------------------------------ Planetoid

def test_cora_node_stats_and_standard_split() -> None:
    from plexus.platform.data.datasets_planetoid import cora

    ds = cora()
    d = ds.data
    assert (d.num_nodes, d.x.size(1), ds.spec.num_classes) == (2708, 1433, 7)
    ei = d.edge_index
    assert ei.size(1) == 2 * 5278
    assert not bool((ei[0] == ei[1]).any())
    key = ei[0] * 2708 + ei[1]
    assert torch.unique(key).numel() == key.numel()
    assert torch.equal(torch.sort(key).values, torch.sort(ei[1] * 2708 + ei[0]).values)  # symmetric
    sizes = {k: int(getattr(d, f"{k}_mask").sum()) for k in ("train", "val", "test")}
    assert sizes == {"train": 140, "val": 500, "test": 1000}
    assert not bool((d.train_mask & d.val_mask).any() or (d.val_mask & d.test_mask).any())
    assert torch.bincount(d.y[d.train_mask]).tolist() == [20] * 7
    assert ds.stats()["nodes"] == 2708 and ds.stats()["classes"] == 7
    assert ds.fingerprint


def test_cora_matches_pyg_reader_and_bundled_copy(tmp_path: Path, need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data.datasets_planetoid import _BUNDLED
    from plexus.platform.data.graphs.planetoid import read_planetoid
    from torch_geometric.io import read_planetoid_data

    raw = need_raw("cora")
    for f in raw.glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name)
    ref = read_planetoid_data(str(tmp_path), "cora")
    ours = read_planetoid(raw, "cora")
    bundled = read_planetoid(_BUNDLED, "cora")
    for d in (ours, bundled):
        assert torch.equal(d.x, ref.x) and torch.equal(d.y, ref.y)
        for k in ("train_mask", "val_mask", "test_mask"):
            assert torch.equal(getattr(d, k), getattr(ref, k))
        assert torch.equal(torch.sort(d.edge_index[0] * 2708 + d.edge_index[1]).values,
                           torch.sort(ref.edge_index[0] * 2708 + ref.edge_index[1]).values)


def test_cora_row_normalised_features() -> None:
    from plexus.platform.data.datasets_planetoid import cora

    x = cora(normalize_features=True).data.x
    s = x.sum(1)
    nz = s > 0
    assert torch.allclose(s[nz], torch.ones(int(nz.sum())))


def test_cora_link_task_both_protocols() -> None:
    from plexus.platform.data.datasets_planetoid import cora

    for split, (tr, va, te) in {"70/10/20": (0.7, 0.1, 0.2), "85/5/10": (0.85, 0.05, 0.1)}.items():
        ds = cora(task="link", split=split)
        p = {k: v.size(1) for k, v in ds.pos.items()}
        assert sum(p.values()) == 5278
        assert abs(p["val"] - va * 5278) <= 1 and abs(p["test"] - te * 5278) <= 1
        assert ds.data.edge_index.size(1) == 2 * p["train"]
        assert ds.spec.task == "link" and ds.spec.num_features == 1433


def test_wrong_task_is_config_error() -> None:
    from plexus.platform.data.datasets_graph import tu_mutag
    from plexus.platform.data.datasets_planetoid import cora
    from plexus.platform.errors import ConfigError

    with pytest.raises(ConfigError):
        cora(task="graph")
    with pytest.raises(ConfigError):
        tu_mutag(task="node")


def test_missing_local_copy_says_where(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_graph import tu_proteins
    from plexus.platform.errors import DataError

    with pytest.raises(DataError, match="PROTEINS_A.txt.*not found in the given path"):
        tu_proteins(path=str(tmp_path))


# ------------------------------------------------------------------------------------------- heterophilous

@pytest.mark.parametrize("name,file,sizes,classes", [
    ("tolokers", "tolokers.npz", (5879, 2939, 2940), 2),
    ("chameleon", "chameleon_filtered.npz", (409, 287, 194), 5),
    ("squirrel", "squirrel_filtered.npz", (1053, 718, 452), 5),
])
def test_heterophilous_split_sizes(name: str, file: str, sizes: tuple[int, int, int], classes: int,
                                   need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data import datasets_graph

    need_raw(name)
    ds = getattr(datasets_graph, name)(split=0)
    d = ds.data
    got = tuple(int(getattr(d, f"{k}_mask").sum()) for k in ("train", "val", "test"))
    assert got == sizes
    assert not bool((d.train_mask & d.test_mask).any() or (d.train_mask & d.val_mask).any())
    assert ds.spec.num_classes == classes
    # another fixed split is a different partition
    d3 = getattr(datasets_graph, name)(split=3).data
    assert not torch.equal(d3.train_mask, d.train_mask)


def test_heterophilous_edges_undirected_and_bad_split(need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data.datasets_graph import chameleon
    from plexus.platform.errors import ConfigError

    need_raw("chameleon")
    d = chameleon().data
    assert d.edge_index.size(1) == 2 * 8854 and d.num_nodes == 890
    with pytest.raises(ConfigError):
        chameleon(split=10)


# ---------------------------------------------------------------------------------------------------- TU

@pytest.mark.parametrize("loader,count,nodes,feats", [
    ("tu_mutag", 188, 3371, 7), ("tu_proteins", 1113, 43471, 4), ("tu_nci109", 4127, 122494, 38),
])
def test_tu_counts(loader: str, count: int, nodes: int, feats: int, need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data import datasets_graph

    need_raw(loader.replace("_", "-"))
    ds = getattr(datasets_graph, loader)()
    assert len(ds.graphs) == count
    assert sum(g.num_nodes for g in ds.graphs) == nodes
    assert ds.spec.num_features == feats and ds.spec.num_classes == 2
    idx = torch.cat(list(ds.split_index.values()))
    assert torch.equal(idx.sort().values, torch.arange(count))  # a partition
    # stratified: each split's positive rate is close to the overall one
    y = torch.cat([g.y for g in ds.graphs]).float()
    for part in ds.split_index.values():
        assert abs(float(y[part].mean()) - float(y.mean())) < 0.05
    assert abs(ds.split_index["train"].numel() - 0.8 * count) <= 10
    for g in ds.graphs[:50]:
        assert int(g.edge_index.max()) < g.num_nodes and int(g.edge_index.min()) >= 0


def test_tu_mutag_matches_pyg_reader(need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data.graphs.tu import read_tu
    from torch_geometric.io import read_tu_data

    raw = need_raw("tu-mutag")
    ours = read_tu(raw, "MUTAG")
    ref, slices, _ = read_tu_data(str(raw), "MUTAG")
    assert torch.equal(ours["x"], ref.x) and torch.equal(ours["y"], ref.y)
    assert torch.equal(ours["edge_attr"], ref.edge_attr)
    glob = ref.edge_index + torch.repeat_interleave(slices["x"][:-1], slices["edge_index"].diff())
    assert torch.equal(ours["edge_index"], glob)


@pytest.mark.data("tu-mutag")
def test_tu_folds_are_disjoint_test_sets_and_cache_is_reused() -> None:
    from plexus.platform.data.datasets_graph import tu_mutag
    from plexus.platform.data.paths import cache_dir

    tests = [tu_mutag(fold=k).split_index["test"] for k in range(10)]
    assert torch.equal(torch.cat(tests).sort().values, torch.arange(188))
    assert list(cache_dir("graphs", "tu").glob("*.pt"))
    a, b = tu_mutag(seed=1), tu_mutag(seed=1)
    assert torch.equal(a.split_index["test"], b.split_index["test"])
    assert not torch.equal(a.split_index["test"], tu_mutag(seed=2).split_index["test"])


def test_tu_bad_file_names_row() -> None:
    from plexus.platform.data.graphs.tu import read_tu
    from plexus.platform.errors import DataError

    root = Path(__file__).resolve().parents[2] / "fixtures" / "bad_graphs" / "tu_bad"
    with pytest.raises(DataError) as ei:
        read_tu(root, "BAD")
    assert ei.value.file.endswith("BAD_A.txt") and ei.value.row == 2


# ----------------------------------------------------------------------------------------------- catalog

@pytest.mark.data("tu-mutag")
def test_entry_points_registered() -> None:
    from plexus.platform.catalog import get_catalog

    ds = get_catalog(refresh=True).datasets()
    expected = {"cora": ("node", "link"), "tu-mutag": ("graph",), "tu-proteins": ("graph",),
                "tu-nci109": ("graph",), "tolokers": ("node",), "chameleon": ("node",), "squirrel": ("node",),
                "bitcoin-otc": ("dynlink", "edge"), "bitcoin-alpha": ("dynlink", "edge"),
                "uci-messages": ("dynlink",)}
    for name, tasks in expected.items():
        assert name in ds, name
        assert ds[name].status == "ok", ds[name].error
        assert ds[name].tasks == tasks
    assert ds["cora"].info.bundled and not ds["tu-mutag"].info.bundled
    assert ds["tu-mutag"].load(fold=1).stats()["graphs"] == 188


# ------------------------------------------------------------------------------------------------- DGL

def test_dgl_round_trip() -> None:
    from plexus.platform.backends.dgl import dgl_available, from_dgl, import_dgl, to_dgl
    from plexus.platform.data.datasets_planetoid import cora

    if not dgl_available():
        pytest.skip("dgl is not installed/usable")
    ds = cora()
    g = to_dgl(ds)
    assert g.num_nodes() == 2708 and g.num_edges() == 10556
    src, dst = g.edges(order="eid")
    assert torch.equal(torch.stack([src, dst]), ds.data.edge_index)
    back = from_dgl(g)
    for k in ("x", "y", "train_mask", "test_mask"):
        assert torch.equal(back[k], ds.data[k])
    # message passing agrees with PyG: in-degree sum of neighbour features
    dgl = import_dgl()
    g.update_all(dgl.function.copy_u("x", "m"), dgl.function.sum("m", "h"))
    ref = torch.zeros_like(ds.data.x).index_add_(0, ds.data.edge_index[1], ds.data.x[ds.data.edge_index[0]])
    assert torch.allclose(g.ndata["h"], ref)


def test_dgl_unavailable_is_an_import_error_and_a_one_line_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import plexus.platform.backends.dgl as bridge
    from plexus.platform.errors import PlexusError

    monkeypatch.setattr(bridge, "_DGL", None)
    monkeypatch.setitem(sys.modules, "dgl", None)  # `import dgl` now raises ModuleNotFoundError
    with pytest.raises(ImportError, match="plexus-ml\\[dgl\\]") as caught:
        bridge.import_dgl()
    assert isinstance(caught.value, PlexusError)
    assert not bridge.dgl_available()


def test_to_dgl_keeps_node_and_edge_tensors_and_infers_missing_node_count() -> None:
    from plexus.platform.backends.dgl import dgl_available, from_dgl, to_dgl
    from torch_geometric.data import Data

    if not dgl_available():
        pytest.skip("dgl is not installed/usable")
    ei = torch.tensor([[0, 2, 3], [1, 1, 0]])
    g = to_dgl(Data(edge_index=ei, edge_weight=torch.tensor([0.5, 1.0, 2.0])))
    assert g.num_nodes() == 4 and torch.equal(g.edata["edge_weight"], torch.tensor([0.5, 1.0, 2.0]))
    x = torch.randn(5, 3)
    back = from_dgl(to_dgl(Data(x=x, edge_index=ei)))
    assert back.num_nodes == 5 and torch.equal(back.x, x) and torch.equal(back.edge_index, ei)
