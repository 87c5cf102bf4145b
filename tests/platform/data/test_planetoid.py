"""Planetoid datasets (cora, citeseer, pubmed): bundled copies, PyG parity, generated files, bad files."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def _bundled_raw(name: str, dest: Path, as_name: str | None = None) -> Path:
    """Un-gzip the bundled ``ind.<name>.*`` into ``dest`` (renamed to ``ind.<as_name>.*``)."""
    from plexus.platform.data.datasets_planetoid import _BUNDLED

    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        raw = gzip.decompress((_BUNDLED / f"ind.{name}.{part}.gz").read_bytes())
        (dest / f"ind.{as_name or name}.{part}").write_bytes(raw)
    return dest


def _edge_keys(ei: torch.Tensor, n: int) -> torch.Tensor:
    return torch.sort(ei[0] * n + ei[1]).values


def _assert_same_graph(ours: object, ref: object, n: int) -> None:
    assert torch.equal(ours.x, ref.x) and torch.equal(ours.y, ref.y)
    for k in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(ours, k), getattr(ref, k)), k
    assert torch.equal(_edge_keys(ours.edge_index, n), _edge_keys(ref.edge_index, n))


def _assert_clean_undirected(ei: torch.Tensor, n: int) -> None:
    assert not bool((ei[0] == ei[1]).any())
    key = ei[0] * n + ei[1]
    assert torch.unique(key).numel() == key.numel()
    assert torch.equal(torch.sort(key).values, torch.sort(ei[1] * n + ei[0]).values)


# ------------------------------------------------------------------------------------------ bundled copies

@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_bundled_files_are_the_pinned_upstream_bytes(name: str) -> None:
    from plexus.platform.data.datasets_planetoid import _BUNDLED
    from plexus.platform.data.sources import SOURCES

    for f in SOURCES[name].files:
        raw = gzip.decompress((_BUNDLED / f"{f.name}.gz").read_bytes())
        assert (len(raw), hashlib.sha256(raw).hexdigest()) == (f.size, f.sha256), f.name
    assert (_BUNDLED / f"{name}.SOURCE.md").is_file()


@pytest.mark.parametrize("name,nodes,edges,feats,classes,split", [
    ("cora", 2708, 5278, 1433, 7, (140, 500, 1000)),
    ("citeseer", 3327, 4552, 3703, 6, (120, 500, 1000)),
])
def test_bundled_statistics_and_standard_split(name: str, nodes: int, edges: int, feats: int, classes: int,
                                               split: tuple[int, int, int]) -> None:
    from plexus.platform.data import datasets_planetoid

    ds = getattr(datasets_planetoid, name)()
    d = ds.data
    assert (d.num_nodes, d.x.size(1), ds.spec.num_classes, d.edge_index.size(1)) == (nodes, feats, classes, 2 * edges)
    _assert_clean_undirected(d.edge_index, nodes)
    assert tuple(int(getattr(d, f"{k}_mask").sum()) for k in ("train", "val", "test")) == split
    assert not bool((d.train_mask & d.val_mask).any() or (d.val_mask & d.test_mask).any()
                    or (d.train_mask & d.test_mask).any())
    assert torch.bincount(d.y[d.train_mask]).tolist() == [20] * classes
    assert ds.stats()["nodes"] == nodes and ds.fingerprint


def test_citeseer_matches_pyg_and_isolated_test_ids_get_zero_rows(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_planetoid import citeseer
    from torch_geometric.io import read_planetoid_data

    ref = read_planetoid_data(str(_bundled_raw("citeseer", tmp_path)), "citeseer")
    d = citeseer().data
    _assert_same_graph(d, ref, 3327)
    assert ref.edge_index.size(1) == 9104
    listed = set(np.loadtxt(tmp_path / "ind.citeseer.test.index", dtype=np.int64).tolist())
    gaps = torch.tensor(sorted(set(range(2312, 3327)) - listed))
    assert gaps.numel() == 15
    assert not bool(d.x[gaps].any()) and not bool(d.y[gaps].any())
    assert not bool((d.train_mask | d.val_mask | d.test_mask)[gaps].any())


def test_citeseer_link_task_split_sizes() -> None:
    from plexus.platform.data.datasets_planetoid import citeseer

    for split, (va, te) in {"70/10/20": (0.1, 0.2), "85/5/10": (0.05, 0.1)}.items():
        ds = citeseer(task="link", split=split, seed=1)
        p = {k: v.size(1) for k, v in ds.pos.items()}
        assert sum(p.values()) == 4552
        assert abs(p["val"] - va * 4552) <= 1 and abs(p["test"] - te * 4552) <= 1
        assert ds.data.edge_index.size(1) == 2 * p["train"] and ds.data.num_nodes == 3327
        assert ds.spec.task == "link" and ds.spec.num_features == 3703


def test_catalog_entries_and_wrong_task() -> None:
    from plexus.platform.catalog import get_catalog
    from plexus.platform.data.datasets_planetoid import pubmed
    from plexus.platform.errors import ConfigError

    ds = get_catalog(refresh=True).datasets()
    for name, bundled in {"cora": True, "citeseer": True, "pubmed": False}.items():
        assert ds[name].status == "ok", ds[name].error
        assert ds[name].tasks == ("node", "link") and ds[name].info.bundled is bundled
        assert ds[name].target.startswith("plexus.platform.data.datasets_planetoid:")
    with pytest.raises(ConfigError, match="node, link"):
        pubmed(task="graph")


# ------------------------------------------------------------------------------------------ generated files

def _write_planetoid(root: Path, name: str, seed: int = 0) -> dict[str, object]:
    """Small random Planetoid files: 30 train, 560 allx, 40 test ids in 560..609 (10 gaps, shuffled)."""
    rng = np.random.default_rng(seed)
    n_all, f, c = 560, 16, 3
    ids = np.arange(n_all, n_all + 50)
    gaps = np.sort(rng.choice(ids[1:-1], 10, replace=False))
    test = rng.permutation(np.setdiff1d(ids, gaps))
    allx = sp.random(n_all, f, density=0.2, format="csr", random_state=seed, dtype=np.float64)
    tx = sp.random(len(test), f, density=0.2, format="csr", random_state=seed + 1, dtype=np.float64)
    ally = np.eye(c)[rng.integers(0, c, n_all)]
    ty = np.eye(c)[rng.integers(0, c, len(test))]
    graph: dict[int, list[int]] = {u: [] for u in range(n_all + 50)}
    live = np.setdiff1d(np.arange(n_all + 50), gaps)
    for u, v in rng.choice(live, (900, 2)):
        graph[int(u)].append(int(v))
        graph[int(v)].append(int(u))  # upstream dicts list both directions (PyG relies on it)
    graph[5] += [5, 7, 7]  # a self loop and a duplicate
    graph[7] += [5]
    for g in gaps:
        graph[int(g)] = [int(g)]  # isolated, as CiteSeer's missing test ids
    parts = {"x": allx[:30], "y": ally[:30], "tx": tx, "ty": ty, "allx": allx, "ally": ally, "graph": graph}
    root.mkdir(parents=True, exist_ok=True)
    for k, v in parts.items():
        (root / f"ind.{name}.{k}").write_bytes(pickle.dumps(v, protocol=2))
    (root / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test))
    return {**parts, "test": test, "gaps": gaps}


def test_generated_files_with_gaps_match_pyg_and_place_rows(tmp_path: Path) -> None:
    from plexus.platform.data.graphs.planetoid import planetoid_dataset
    from torch_geometric.io import read_planetoid_data

    g = _write_planetoid(tmp_path / "toy", "toy")
    _write_planetoid(tmp_path / "pyg", "citeseer")  # PyG pads test gaps only under this prefix
    ds = planetoid_dataset(tmp_path / "toy", "toy")
    d = ds.data
    _assert_same_graph(d, read_planetoid_data(str(tmp_path / "pyg"), "citeseer"), 610)
    assert d.num_nodes == 610 and ds.spec.num_classes == 3 and ds.spec.num_features == 16
    test = torch.from_numpy(g["test"])
    assert torch.equal(d.x[test], torch.from_numpy(g["tx"].toarray()).float())
    assert torch.equal(d.y[test], torch.from_numpy(g["ty"].argmax(1)))
    gaps = torch.from_numpy(g["gaps"])
    assert not bool(d.x[gaps].any()) and not bool(d.y[gaps].any())
    assert [int(m.sum()) for m in (d.train_mask, d.val_mask, d.test_mask)] == [30, 500, 40]
    assert bool(d.train_mask[:30].all()) and bool(d.val_mask[30:530].all()) and bool(d.test_mask[test].all())
    _assert_clean_undirected(d.edge_index, 610)


def _bad(kind: str, root: Path, g: dict[str, object]) -> str:
    """Break one part of the generated files; return the part the error must name."""
    t = [int(i) for i in g["test"]]
    index = {"index_low": [12, *t[1:]], "index_dup": [t[1], *t[1:]], "index_text": ["561", "five hundred", *t[2:]],
             "index_far": [*t[:-1], 99_999_999]}
    pickled: dict[str, tuple[str, Callable[[], object]]] = {
        "y_rows": ("y", lambda: g["y"][:29]), "ally_rows": ("ally", lambda: g["ally"][:-1]),
        "tx_rows": ("tx", lambda: g["tx"][:-1]), "ty_rows": ("ty", lambda: g["ty"][:-2]),
        "allx_width": ("allx", lambda: sp.hstack([g["allx"], g["allx"]]).tocsr()),
        "ty_width": ("ty", lambda: np.hstack([g["ty"], g["ty"]])),
        "graph_list": ("graph", lambda: list(g["graph"].items())),
        "graph_beyond": ("graph", lambda: {**g["graph"], 3: [5000]}),
        "allx_not_matrix": ("allx", lambda: {"not": "a matrix"}),
    }
    if kind in index:
        (root / "ind.toy.test.index").write_text("\n".join(map(str, index[kind])))
        return "test.index"
    if kind in pickled:
        part, make = pickled[kind]
        (root / f"ind.toy.{part}").write_bytes(pickle.dumps(make(), protocol=2))
        return part
    p = root / ("ind.toy.allx" if kind == "truncated" else "ind.toy.graph")
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2] if kind == "truncated" else b"not a pickle\n" * 4)
    return p.name[len("ind.toy."):]


@pytest.mark.parametrize("kind,needle", [
    ("y_rows", "y has 29 rows but x has 30"), ("ally_rows", "ally has 559 rows but allx has 560"),
    ("tx_rows", "tx has 39 rows but test.index lists 40"), ("ty_rows", "ty has 38 rows"),
    ("allx_width", "allx has 32 features but x has 16"), ("ty_width", "ty has 6 label columns but y has 3"),
    ("graph_list", "must be a dict"), ("graph_beyond", "edge to node 5000 but only 610 nodes"),
    ("allx_not_matrix", "expected allx as a matrix, got dict"), ("truncated", "cannot unpickle"),
    ("garbage", "cannot unpickle"), ("index_low", "test node id 12 is below len(allx) = 560"),
    ("index_dup", "listed more than once"), ("index_text", "one integer node id per line"),
    ("index_far", "test node id 99999999 is beyond"),
])
def test_inconsistent_parts_give_one_line_error_naming_the_file(tmp_path: Path, kind: str, needle: str) -> None:
    from plexus.platform.data.graphs.planetoid import read_planetoid
    from plexus.platform.errors import DataError

    g = _write_planetoid(tmp_path, "toy")
    part = _bad(kind, tmp_path, g)
    with pytest.raises(DataError) as ei:
        read_planetoid(tmp_path, "toy")
    msg = str(ei.value)
    assert "\n" not in msg and needle in msg, msg
    assert ei.value.file == str(tmp_path / f"ind.toy.{part}")


def test_truncated_gzip_part_names_the_file(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_planetoid import cora
    from plexus.platform.errors import DataError

    root = _bundled_raw("cora", tmp_path)
    gz = gzip.compress((root / "ind.cora.tx").read_bytes())
    (root / "ind.cora.tx").unlink()
    (root / "ind.cora.tx.gz").write_bytes(gz[: len(gz) // 3])
    with pytest.raises(DataError, match="cannot unpickle") as ei:
        cora(path=str(root))
    assert ei.value.file.endswith("ind.cora.tx.gz") and "\n" not in str(ei.value)


def test_missing_part_or_folder_says_which(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_planetoid import citeseer
    from plexus.platform.errors import DataError

    root = _bundled_raw("citeseer", tmp_path / "c")
    (root / "ind.citeseer.ally").unlink()
    with pytest.raises(DataError, match="missing Planetoid file ind.citeseer.ally") as ei:
        citeseer(path=str(root))
    assert ei.value.file.endswith("ind.citeseer.ally")
    with pytest.raises(DataError, match="folder not found"):
        citeseer(path=str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------------------------- wrong dataset

def test_citeseer_files_named_as_cora_are_rejected_by_counts(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_planetoid import cora
    from plexus.platform.errors import DataError

    root = _bundled_raw("citeseer", tmp_path, as_name="cora")
    with pytest.raises(DataError) as ei:
        cora(path=str(root))
    msg = str(ei.value)
    assert "\n" not in msg and "3327 nodes, 3703 features, 6 classes" in msg and "2708, 1433, 7" in msg, msg


def test_mixed_parts_of_two_datasets_name_the_odd_file(tmp_path: Path) -> None:
    from plexus.platform.data.datasets_planetoid import cora
    from plexus.platform.errors import DataError

    root = _bundled_raw("cora", tmp_path / "cora")
    _bundled_raw("citeseer", tmp_path / "cs", as_name="cora")
    (root / "ind.cora.allx").write_bytes((tmp_path / "cs" / "ind.cora.allx").read_bytes())
    with pytest.raises(DataError, match="ally has 1708 rows but allx has 2312") as ei:
        cora(path=str(root))
    assert ei.value.file.endswith("ind.cora.ally")


def test_cli_wrong_dataset_exits_2_with_one_line(tmp_path: Path) -> None:
    root = _bundled_raw("citeseer", tmp_path / "raw", as_name="cora")
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "train", "gcn", "--dataset", "cora",
                        "--set", f"dataset_options.path={root}", "--set", "tracking.enabled=false"],
                       check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    err = r.stderr.strip()
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "3327 nodes" in err, err


# ------------------------------------------------------------------------------------------------- pubmed

def test_pubmed_without_a_copy_offline_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plexus.platform.data.datasets_planetoid import pubmed
    from plexus.platform.errors import DataError

    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path))
    monkeypatch.setenv("PLEXUS_OFFLINE", "1")
    monkeypatch.delenv("PLEXUS_DATA_MIRROR", raising=False)
    try:
        with pytest.raises(DataError) as ei:
            pubmed()
    except NotImplementedError:
        pytest.skip("platform/data/download.py is not implemented yet (fetch raises NotImplementedError)")
    msg = str(ei.value)
    assert "\n" not in msg and str(tmp_path / "raw" / "pubmed") in msg, msg
