"""User edge lists: good imports and a corpus of malformed files (tests/fixtures/bad_graphs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from plexus.platform.data._types import LinkDataset, NodeDataset, TemporalDataset
from plexus.platform.data.graphs.edgelist import load_edge_list
from plexus.platform.errors import DataError, PlexusError

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad_graphs"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path_factory.getbasetemp() / "plexus-data"))


# (edge file, kind, options, file the error must name, row, field)
CASES = [
    ("empty.csv", "graph", {}, "empty.csv", 1, None),
    ("empty.csv", "temporal", {}, "empty.csv", 1, None),
    ("header_only.csv", "graph", {}, "header_only.csv", 2, None),
    ("missing_target.csv", "graph", {}, "missing_target.csv", 1, "target"),
    ("missing_time.csv", "temporal", {}, "missing_time.csv", 1, "time"),
    ("negative_id.csv", "graph", {}, "negative_id.csv", 4, "source"),
    ("nonnumeric_time.csv", "temporal", {}, "nonnumeric_time.csv", 4, "time"),
    ("unknown_node.csv", "graph", {"node_file": "unknown_node.nodes.csv"}, "unknown_node.csv", 4, "target"),
    ("ragged.csv", "temporal", {}, "ragged.csv", 3, None),
    ("float_id.csv", "graph", {}, "float_id.csv", 3, "source"),
    ("dup_node.csv", "graph", {"node_file": "dup_node.nodes.csv", "task": "node"}, "dup_node.nodes.csv", 4, "node"),
    ("bad_label.csv", "graph", {"node_file": "bad_label.nodes.csv", "task": "node"}, "bad_label.nodes.csv", 3,
     "label"),
    ("bad_feature.csv", "graph", {"node_file": "bad_feature.nodes.csv"}, "bad_feature.nodes.csv", 3, "f0"),
    ("blank_source.csv", "temporal", {}, "blank_source.csv", 3, "source"),
    ("negative_label.csv", "temporal", {"task": "edge"}, "negative_label.csv", 3, "label"),
    ("corrupt.csv.gz", "temporal", {}, "corrupt.csv.gz", None, None),
    ("does_not_exist.csv", "graph", {}, "does_not_exist.csv", None, None),
]


@pytest.mark.parametrize("edge_file,kind,opts,err_file,row,field", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_input_names_file_row_field(edge_file: str, kind: str, opts: dict, err_file: str, row: int | None,
                                        field: str | None) -> None:
    opts = {k: (str(BAD / v) if k == "node_file" else v) for k, v in opts.items()}
    with pytest.raises(DataError) as ei:
        load_edge_list(BAD / edge_file, kind=kind, name="bad", **opts)  # type: ignore[arg-type]
    err = ei.value
    assert err.file is not None and Path(err.file).name == err_file
    assert err.row == row
    assert err.field == field
    msg = str(err)
    assert err_file in msg and (row is None or f"row {row}" in msg)
    assert isinstance(err, PlexusError)


def test_corpus_is_large_enough() -> None:
    assert len({c[0] for c in CASES if (BAD / c[0]).exists()}) >= 8


def test_good_graph_link_and_node(tmp_path: Path) -> None:
    edges = tmp_path / "e.tsv"
    rows = [(i, (i + 1) % 40) for i in range(40)] + [(i, (i + 7) % 40) for i in range(40)]
    edges.write_text("source\ttarget\n" + "".join(f"{100 + u}\t{100 + v}\n" for u, v in rows))
    ds = load_edge_list(edges, kind="graph", name="ring")
    assert isinstance(ds, LinkDataset) and ds.spec.num_nodes == 40
    assert sum(v.size(1) for v in ds.pos.values()) == 80
    assert torch.equal(ds.data.x, torch.eye(40))
    nodes = tmp_path / "n.csv"
    nodes.write_text("node,label,f0,f1\n" + "".join(f"{100 + i},{i % 2},{i},{-i}\n" for i in range(40)))
    nd = load_edge_list(edges, kind="graph", name="ring", node_file=nodes, task="node")
    assert isinstance(nd, NodeDataset) and nd.spec.num_classes == 2 and nd.spec.num_features == 2
    assert torch.equal(nd.data.y, torch.arange(40) % 2)
    assert torch.equal(nd.data.x[:, 0], torch.arange(40).float())
    m = nd.data
    assert int(m.train_mask.sum() + m.val_mask.sum() + m.test_mask.sum()) == 40
    assert not bool((m.train_mask & m.test_mask).any())


def test_good_temporal_gz(tmp_path: Path) -> None:
    import gzip

    f = tmp_path / "t.csv.gz"
    lines = "source,target,time,weight\n" + "".join(f"{i % 9},{(i * 3 + 1) % 9},{i * 10},{1}\n" for i in range(200))
    with gzip.open(f, "wt") as fh:
        fh.write(lines)
    ds = load_edge_list(f, kind="temporal", name="t", num_snapshots=10)
    assert isinstance(ds, TemporalDataset) and len(ds.snapshots) == 10
    assert [len(ds.steps[k]) for k in ("train", "val", "test")] == [6, 1, 2]
    with pytest.raises(PlexusError):
        load_edge_list(f, kind="temporal", name="t", task="edge")  # no label column
