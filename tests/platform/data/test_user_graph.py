"""Imported graphs in every graph task kind: a labelled citation-like graph (sparse ``.npz`` features, a given
split) for ``node`` and ``link``, a NAS run on it, several graphs for ``graph``; bad input through the CLI."""

from __future__ import annotations

import csv
import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from plexus.platform.catalog import get_catalog
from plexus.platform.config import ExperimentConfig, build_config
from plexus.platform.data.service import load_dataset
from plexus.platform.data.user import import_dataset
from plexus.platform.errors import ConfigError
from plexus.platform.training import train_model
from plexus.platform.training.tasks import make_task

REPO = Path(__file__).resolve().parents[3]
CLI = Callable[[list[str]], tuple[int, str, str]]  # the ``cli`` fixture of tests/conftest.py


def _example() -> object:
    spec = importlib.util.spec_from_file_location("graph_example", REPO / "examples" / "graph" / "make_example.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A private data home with ``cite`` (one labelled graph) and ``mols`` (60 graphs) imported."""
    root = tmp_path_factory.mktemp("user_graph")
    ex = _example()
    cite, mols = ex.citation(root / "src"), ex.molecules(root / "src")  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLEXUS_DATA", str(root / "home"))
        get_catalog(refresh=True)
        m = import_dataset(cite["edges"], name="cite", kind="graph", node_file=cite["nodes"],
                           features=cite["features"])
        import_dataset(mols["edges"], name="mols", kind="graph", graph_file=mols["graphs"])
        yield {"root": root, "cite": cite, "mols": mols, "manifest": m}
    get_catalog(refresh=True)


def _given_split(nodes: Path) -> dict[str, set[int]]:
    with open(nodes, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: {int(r["node"]) for r in rows if r["split"] == k} for k in ("train", "val", "test")}


def _cfg(model: str, dataset: str, tmp: Path, epochs: int = 2, **hparams: object) -> ExperimentConfig:
    return build_config({"hparams": hparams, "train": {"epochs": epochs, "seed": 0, "patience": 0},
                         "tracking": {"enabled": False, "checkpoint_dir": str(tmp / "ckpt"), "log_model": False}},
                        model=model, dataset=dataset)


def test_import_registers_node_and_link_with_the_given_split(home: dict) -> None:
    entry = get_catalog().dataset("cite")
    assert entry.tasks == ("node", "link")
    st = home["manifest"]["stats"]
    assert st["split_sizes"] == {"train": 30, "val": 60, "test": 100}
    assert "given by the split column of nodes.csv" in st["split_method"]
    assert st["class_names"] == "0=graphs, 1=learning, 2=systems"
    assert "sparse features.npz" in st["feature_source"]
    assert get_catalog().dataset("mols").tasks == ("graph",)


def test_node_masks_are_exactly_the_given_split(home: dict) -> None:
    ds = load_dataset("cite", task="node")
    ids = ds.node_ids.tolist()
    given = _given_split(home["cite"]["nodes"])
    for k in ("train", "val", "test"):
        mask = getattr(ds.data, f"{k}_mask")
        assert {ids[i] for i in mask.nonzero().view(-1).tolist()} == given[k]
    assert "split" not in ds.stats()["feature_source"] and ds.spec.num_features == 200  # the split is no feature
    link = load_dataset("cite", task="link")
    assert link.spec.task == "link" and link.data.x.shape == ds.data.x.shape


def test_gcn_trains_and_tests_on_exactly_the_given_nodes(home: dict, tmp_path: Path) -> None:
    res = train_model(_cfg("gcn", "cite", tmp_path, epochs=40, hidden=32), task="node", progress=False)
    assert res["task"] == "node"
    assert res["metrics"]["test_acc"] > 0.6  # 3 topics: features misaligned with the node order would be chance
    # the test metric reads exactly the given test nodes: recompute it by hand for some model
    ds = load_dataset("cite", task="node")
    cfg = _cfg("gcn", "cite", tmp_path)
    model = get_catalog().model("gcn").build(ds.spec, hidden=8)
    task = make_task(ds, cfg.train)
    task.bind(model)
    model.eval()
    pred = model(ds.data)["logit"].argmax(-1)
    test_ids = _given_split(home["cite"]["nodes"])["test"]
    pos = {n: i for i, n in enumerate(ds.node_ids.tolist())}
    idx = torch.tensor(sorted(pos[n] for n in test_ids))
    by_hand = float((pred[idx] == ds.data.y[idx]).float().mean())
    assert task.evaluate(model, "test", torch.device("cpu"))["test_acc"] == pytest.approx(by_hand)


NODE_MODELS = ["gat", "sage", "mlp", "gsmpp", "gsm_transformer", "gsm_ssm"]


@pytest.mark.parametrize("model", NODE_MODELS)
def test_every_node_model_trains_on_the_imported_graph(home: dict, tmp_path: Path, model: str) -> None:
    res = train_model(_cfg(model, "cite", tmp_path, epochs=1), task="node", progress=False)
    assert 0.0 <= res["metrics"]["test_acc"] <= 1.0


def test_nas_two_architectures_on_the_imported_graph(home: dict, tmp_path: Path, cli: CLI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["nas", "--dataset", "cite", "--budget", "2", "--epochs", "2", "--controller", "random",
                          "--retrain-seeds", "0", "--tracking-uri", f"sqlite:///{tmp_path / 'nas.db'}", "--json"])
    assert code == 0, err
    assert "Traceback" not in err
    assert len(re.findall(r'"step":', out)) >= 2


def test_graph_classification_on_imported_graphs(home: dict, tmp_path: Path) -> None:
    ds = load_dataset("mols")
    assert ds.spec.task == "graph" and len(ds.graphs) == 60 and ds.spec.num_classes == 2
    idx = torch.cat(list(ds.split_index.values()))
    assert idx.numel() == 60 and idx.unique().numel() == 60  # folds like TU: disjoint, covering
    res = train_model(_cfg("gin", "mols", tmp_path, epochs=2), task="graph", progress=False)
    assert 0.0 <= res["metrics"]["test_acc"] <= 1.0


def test_graph_table_split_column_is_used(tmp_path: Path, home: dict) -> None:
    rows = (home["mols"]["graphs"]).read_text().splitlines()[1:]
    split = ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    (tmp_path / "g.csv").write_text("graph,label,split\n" + "".join(f"{r},{s}\n" for r, s in zip(rows, split)))
    import_dataset(home["mols"]["edges"], name="mols-split", kind="graph", graph_file=tmp_path / "g.csv")
    ds = load_dataset("mols-split")
    assert ds.split_index["test"].tolist() == list(range(50, 60))
    assert ds.stats()["split_method"].startswith("given")


def test_graphs_take_node_table_features_and_isolated_nodes(tmp_path: Path, home: dict) -> None:
    (tmp_path / "e.csv").write_text("graph,source,target\n0,0,1\n0,1,2\n1,5,6\n1,6,7\n2,0,1\n")
    (tmp_path / "g.csv").write_text("graph,label,split\n0,a,train\n1,b,val\n2,a,test\n")
    (tmp_path / "n.csv").write_text("graph,node,f0,f1\n0,0,1,0\n0,1,1,0\n0,2,1,0\n0,3,1,1\n1,5,0,1\n1,6,0,1\n"
                                    "1,7,0,1\n2,0,1,0\n2,1,1,0\n")
    import_dataset(tmp_path / "e.csv", name="tiny-graphs", kind="graph", graph_file=tmp_path / "g.csv",
                   node_file=tmp_path / "n.csv")
    ds = load_dataset("tiny-graphs")
    assert [g.num_nodes for g in ds.graphs] == [4, 3, 2]  # node 3 of graph 0 has no edge but is listed
    assert ds.graphs[0].x.tolist() == [[1, 0], [1, 0], [1, 0], [1, 1]]
    assert ds.graphs[1].edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]  # ids 5..7 renumbered, undirected
    assert [g.y.item() for g in ds.graphs] == [0, 1, 0]
    assert {k: v.tolist() for k, v in ds.split_index.items()} == {"train": [0], "val": [1], "test": [2]}


def test_stratified_split_without_a_split_column(home: dict, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    text = home["cite"]["nodes"].read_text().splitlines()
    nodes.write_text("node,label\n" + "".join(",".join(r.split(",")[:2]) + "\n" for r in text[1:]))
    import_dataset(home["cite"]["edges"], name="cite-nosplit", kind="graph", node_file=nodes,
                   features=home["cite"]["features"])
    ds = load_dataset("cite-nosplit", task="node", seed=3, node_split=(0.5, 0.25, 0.25))
    y, d = ds.data.y, ds.data
    labelled = int(ds.stats()["labelled_nodes"])
    assert int(d.train_mask.sum() + d.val_mask.sum() + d.test_mask.sum()) == labelled
    for c in range(3):  # stratified: each class is cut 50/25/25
        n_c = int(((y == c) & (d.train_mask | d.val_mask | d.test_mask)).sum())
        assert abs(int((d.train_mask & (y == c)).sum()) - 0.5 * n_c) <= 1
    assert "seeded stratified 50/25/25" in ds.stats()["split_method"]
    again = load_dataset("cite-nosplit", task="node", seed=3, node_split=(0.5, 0.25, 0.25))
    assert torch.equal(again.data.test_mask, d.test_mask)
    with pytest.raises(ConfigError, match="did you mean 'node_split'"):
        load_dataset("cite-nosplit", task="node", node_splits=(0.5, 0.25, 0.25))


def test_feature_files_npy_and_triples_match_npz(home: dict, tmp_path: Path) -> None:
    import scipy.sparse as sp

    x = sp.load_npz(home["cite"]["features"]).toarray()
    np.save(tmp_path / "f.npy", x)
    ids = [int(r.split(",")[0]) for r in home["cite"]["nodes"].read_text().splitlines()[1:]]
    r, c = np.nonzero(x)
    (tmp_path / "f.csv").write_text("node,feature_index,value\n" + "".join(
        f"{ids[i]},{j},{x[i, j]}\n" for i, j in zip(r, c)))
    ref = load_dataset("cite", task="node").data.x
    for f in ("f.npy", "f.csv"):
        name = f"cite-{f.replace('.', '-')}"
        import_dataset(home["cite"]["edges"], name=name, kind="graph", node_file=home["cite"]["nodes"],
                       features=tmp_path / f)
        got = load_dataset(name, task="node").data.x
        assert torch.equal(got[:, : ref.size(1)], ref), f


def test_readme_graph_commands_run(home: dict, tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's 'graph with node labels' and 'multiple graphs' commands, as written (fewer epochs)."""
    text = (REPO / "README.md").read_text()
    start = text.index("#### A graph with node labels, features and a split")
    multi = text.index("#### Multiple graphs", start)
    nxt = re.search(r"\n#{2,4} ", text[multi + 1:])
    part = text[start: multi + 1 + nxt.start() if nxt else len(text)]
    cmds = [ln.split("#")[0].strip() for b in re.findall(r"```bash\n(.*?)```", part, flags=re.DOTALL)
            for ln in b.splitlines() if ln.startswith("plexus ")]
    assert any("--graph-file" in c for c in cmds) and any(c.startswith("plexus nas") for c in cmds)
    monkeypatch.chdir(tmp_path)  # runs write under the working folder: never into the repository
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    get_catalog(refresh=True)
    uri = f"sqlite:///{tmp_path / 'readme.db'}"
    for cmd in cmds:
        args = [str(REPO / a) if a.startswith("examples/") else a for a in cmd.split()[1:]]
        if args[0] in ("train", "nas"):
            args = [re.sub(r"^epochs=\d+", "epochs=2", a) for a in args] + ["--tracking-uri", uri]
            args = ["2" if i and args[i - 1] == "--epochs" else a for i, a in enumerate(args)]
        code, _, err = cli(args)
        assert code == 0, (cmd, err)
    get_catalog(refresh=True)


BAD_CASES = {  # name: (files to write {name: text}, extra CLI args, words the one-line error must hold)
    "unknown-node-in-features": ({"f.csv": "node,feature_index,value\n1,0,1.0\n99,1,2.0\n"},
                                 ["--features", "{d}/f.csv"], ["f.csv", "row 3", "field 'node'", "unknown node id 99"]),
    "label-missing-for-train-node": ({"n.csv": "node,label,split\n1,a,train\n2,,train\n3,b,val\n"}, [],
                                     ["n.csv", "row 3", "field 'label'", "no label"]),
    "split-value": ({"n.csv": "node,label,split\n1,a,train\n2,b,trian\n3,b,test\n"}, [],
                    ["n.csv", "row 3", "field 'split'", "expected train, val, test or empty"]),
    "feature-rows-mismatch": ({"f.npy": None}, ["--features", "{d}/f.npy"], ["f.npy", "expected 3 rows"]),
    "mixed-label-kinds": ({"n.csv": "node,label\n1,0\n2,cat\n3,1\n"}, [], ["n.csv", "row 3", "field 'label'"]),
    "empty-val-split": ({"n.csv": "node,label,split\n1,a,train\n2,b,train\n3,b,test\n"}, [],
                        ["n.csv", "field 'split'", "no node is in split 'val'"]),
    "features-without-node-file": ({"f.npy": None}, ["--features", "{d}/f.npy", "--no-node-file"],
                                   ["--features", "--node-file"]),
    "unknown-graph-in-edges": ({"ge.csv": "graph,source,target\n0,0,1\n7,0,1\n", "g.csv": "graph,label\n0,a\n"},
                               ["--graph-file", "{d}/g.csv", "--edges", "{d}/ge.csv"],
                               ["ge.csv", "row 3", "field 'graph'", "not in the graph table"]),
    "graph-without-label": ({"ge.csv": "graph,source,target\n0,0,1\n1,0,1\n", "g.csv": "graph,label\n0,a\n1,\n"},
                            ["--graph-file", "{d}/g.csv", "--edges", "{d}/ge.csv", "--no-node-file"],
                            ["g.csv", "row 3", "field 'label'", "graph 1 has no label"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_graph_input_is_one_line_exit_2_nothing_registered(case: str, tmp_path: Path, cli: CLI,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files, extra, needles = BAD_CASES[case]
    d = tmp_path
    (d / "e.csv").write_text("source,target\n1,2\n2,3\n")
    (d / "n.csv").write_text("node,label,split\n1,a,train\n2,b,val\n3,b,test\n")
    for name, body in files.items():
        if body is None:
            np.save(d / name, np.ones((4, 2), np.float32))
        else:
            (d / name).write_text(body)
    monkeypatch.setenv("PLEXUS_DATA", str(d / "home"))
    get_catalog(refresh=True)
    extra = [a.format(d=d) for a in extra]
    edges = str(d / "e.csv")
    if "--edges" in extra:
        i = extra.index("--edges")
        edges = extra[i + 1]
        del extra[i:i + 2]
    node_args = [] if "--no-node-file" in extra else ["--node-file", str(d / "n.csv")]
    extra = [a for a in extra if a != "--no-node-file"]
    code, _, err = cli(["datasets", "import", edges, "--kind", "graph", "--name", "bad", *node_args, *extra])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert not (d / "home" / "datasets" / "bad").exists()
    get_catalog(refresh=True)


def test_dataset_options_task_is_a_one_line_error(home: dict, cli: CLI) -> None:
    code, _, err = cli(["train", "gcn", "--dataset", "cite", "--set", "dataset_options.task=node",
                        "--set", "tracking.enabled=false"])
    assert code == 2 and "Traceback" not in err and "--task" in err
    code, _, err = cli(["train", "gcn", "--dataset", "cite", "--task", "node", "--set", "dataset_options.sed=1",
                        "--set", "tracking.enabled=false"])
    assert code == 2 and "did you mean 'seed'" in err and "Traceback" not in err
