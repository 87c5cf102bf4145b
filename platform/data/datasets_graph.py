"""Built-in graph datasets (entry points in the ``plexus.datasets`` group).

Every loader takes ``path`` (a folder holding the raw files; default: the
verified copy under ``$PLEXUS_DATA/raw``, downloaded on first use from the
source declared in :mod:`~plexus.platform.data.sources`) and ``task`` plus typed
options, and returns a :class:`~plexus.platform.data.Dataset`. The Planetoid
citation graphs live in :mod:`~plexus.platform.data.datasets_planetoid`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from plexus.platform.catalog import register_dataset
from plexus.platform.data._types import Dataset, GraphClsDataset, NodeDataset, TemporalDataset
from plexus.platform.data.sources import ensure_raw
from plexus.platform.errors import ConfigError

__all__ = [
    "actor",
    "bitcoin_alpha",
    "bitcoin_otc",
    "chameleon",
    "squirrel",
    "tolokers",
    "tu_mutag",
    "tu_nci109",
    "tu_proteins",
    "uci_messages",
]

def _check_task(name: str, task: str, allowed: tuple[str, ...]) -> None:
    if task not in allowed:
        raise ConfigError(f"dataset '{name}' supports task(s) {', '.join(allowed)}, not '{task}'")


def _locate(name: str, path: str | None, files: list[str]) -> Path:
    return ensure_raw(name, path, files=files)


# ---------------------------------------------------------------------------------------------------- TU

_TU_URL = "https://chrsmrrs.github.io/datasets/docs/datasets/ (TUDataset)"


def _tu(key: str, ds_name: str, path: str | None, task: str, seed: int, fold: int, use_node_attr: bool) -> GraphClsDataset:
    from plexus.platform.data.graphs.tu import tu_dataset

    _check_task(key, task, ("graph",))
    root = _locate(key, path, [f"{ds_name}_A.txt", f"{ds_name}_graph_indicator.txt", f"{ds_name}_graph_labels.txt"])
    return tu_dataset(root, ds_name, seed=seed, fold=fold, use_node_attr=use_node_attr, dataset_name=key)


@register_dataset("tu-mutag", "graph", size="188 graphs", summary="MUTAG: 188 molecules, mutagenicity (TU)", source=_TU_URL)
def tu_mutag(path: str | None = None, task: str = "graph", seed: int = 0, fold: int = 0,
             use_node_attr: bool = True) -> Dataset:
    """MUTAG graph classification (188 graphs, 7 atom types, 4 bond types as edge_attr).

    Args:
        path: folder with the raw ``MUTAG_*.txt`` files.
        task: ``graph``.
        seed: seed of the stratified 10-fold assignment.
        fold: test fold (0..9); the next fold is validation (80/10/10).
        use_node_attr: prepend continuous node attributes when the dataset has them.
    """
    return _tu("tu-mutag", "MUTAG", path, task, seed, fold, use_node_attr)


@register_dataset("tu-proteins", "graph", size="1,113 graphs", summary="PROTEINS: 1113 proteins, enzyme vs non-enzyme (TU)",
                  source=_TU_URL)
def tu_proteins(path: str | None = None, task: str = "graph", seed: int = 0, fold: int = 0,
                use_node_attr: bool = True) -> Dataset:
    """PROTEINS graph classification (1113 graphs, 3 node labels + 1 attribute).

    Args:
        path: folder with the raw ``PROTEINS_*.txt`` files.
        task: ``graph``.
        seed: seed of the stratified 10-fold assignment.
        fold: test fold (0..9); the next fold is validation (80/10/10).
        use_node_attr: prepend the continuous node attribute to the one-hot label.
    """
    return _tu("tu-proteins", "PROTEINS", path, task, seed, fold, use_node_attr)


@register_dataset("tu-nci109", "graph", size="4,127 graphs", summary="NCI109: 4127 molecules, anti-cancer activity (TU)", source=_TU_URL)
def tu_nci109(path: str | None = None, task: str = "graph", seed: int = 0, fold: int = 0,
              use_node_attr: bool = True) -> Dataset:
    """NCI109 graph classification (4127 graphs, 38 atom types).

    Args:
        path: folder with the raw ``NCI109_*.txt`` files.
        task: ``graph``.
        seed: seed of the stratified 10-fold assignment.
        fold: test fold (0..9); the next fold is validation (80/10/10).
        use_node_attr: prepend continuous node attributes when the dataset has them.
    """
    return _tu("tu-nci109", "NCI109", path, task, seed, fold, use_node_attr)


# ------------------------------------------------------------------------------------------ heterophilous

_HET_URL = "https://github.com/yandex-research/heterophilous-graphs (data/)"


def _het(key: str, file: str, path: str | None, task: str, split: int) -> NodeDataset:
    from plexus.platform.data.graphs.npz import npz_dataset

    _check_task(key, task, ("node",))
    root = _locate(key, path, [file])
    return npz_dataset(root / file, key, split=split)


@register_dataset("tolokers", "node", size="11,758 nodes, 519,000 edges", summary="Tolokers: 11758 crowd workers, banned or not (ROC AUC)",
                  source=_HET_URL)
def tolokers(path: str | None = None, task: str = "node", split: int = 0) -> Dataset:
    """Tolokers (Platonov et al. 2023): 11758 nodes, 519000 edges, 10 features, 2 classes.

    Args:
        path: folder holding ``tolokers.npz``.
        task: ``node``.
        split: which of the 10 fixed splits (0..9).
    """
    return _het("tolokers", "tolokers.npz", path, task, split)


@register_dataset("chameleon", "node", size="890 nodes", summary="Chameleon (filtered): 890 Wikipedia pages, 5 traffic classes",
                  source=_HET_URL)
def chameleon(path: str | None = None, task: str = "node", split: int = 0) -> Dataset:
    """Chameleon-filtered (duplicates removed, Platonov et al. 2023): 890 nodes, 2325 features, 5 classes.

    Args:
        path: folder holding ``chameleon_filtered.npz``.
        task: ``node``.
        split: which of the 10 fixed splits (0..9).
    """
    return _het("chameleon", "chameleon_filtered.npz", path, task, split)


@register_dataset("squirrel", "node", size="2,223 nodes", summary="Squirrel (filtered): 2223 Wikipedia pages, 5 traffic classes",
                  source=_HET_URL)
def squirrel(path: str | None = None, task: str = "node", split: int = 0) -> Dataset:
    """Squirrel-filtered (duplicates removed, Platonov et al. 2023): 2223 nodes, 2089 features, 5 classes.

    Args:
        path: folder holding ``squirrel_filtered.npz``.
        task: ``node``.
        split: which of the 10 fixed splits (0..9).
    """
    return _het("squirrel", "squirrel_filtered.npz", path, task, split)


@register_dataset("actor", "node", size="7,600 nodes", summary="Actor co-occurrence graph: 7600 actors, 5 classes", source=_HET_URL)
def actor(path: str | None = None, task: str = "node", split: int = 0) -> Dataset:
    """Actor (Geom-GCN / Platonov et al. 2023 splits): 7600 nodes, 932 features, 5 classes.

    Args:
        path: folder holding ``actor.npz``.
        task: ``node``.
        split: which of the 10 fixed splits (0..9).
    """
    return _het("actor", "actor.npz", path, task, split)


# ------------------------------------------------------------------------------------------------ temporal

_SNAP = "https://snap.stanford.edu/data/"


def _bitcoin(key: str, folder: str, file: str, path: str | None, task: str, window: float | None,
             num_snapshots: int | None, steps: tuple[int, int, int], features: str, max_degree: int,
             edge_targets: str) -> TemporalDataset:
    from plexus.platform.data.graphs.temporal import read_temporal_csv, temporal_dataset

    _check_task(key, task, ("dynlink", "edge"))
    root = _locate(key, path, [file])
    ev = read_temporal_csv(root / file, header=False, columns=("source", "target", "weight", "time"))
    ev["label"] = (ev["weight"] > 0).long()  # edge classification: rating > 0 -> 1 (trust) else 0
    ds = temporal_dataset(ev, key, task=task, window=window, num_snapshots=num_snapshots, steps=steps,
                          features=features, max_degree=max_degree, edge_targets=edge_targets,
                          fingerprint_of=[root / file])
    if task == "edge":  # the EvolveGCN yaml files' fixed loss weights for {0: distrust, 1: trust}
        ds.spec.extra["class_weights"] = [0.8, 0.2]
    return ds


@register_dataset("bitcoin-otc", ("dynlink", "edge"), size="5,881 nodes, 35,592 edges, 138 snapshots", summary="Bitcoin-OTC signed trust network over time (SNAP)",
                  source=_SNAP + "soc-sign-bitcoin-otc.html")
def bitcoin_otc(path: str | None = None, task: str = "dynlink", window: float | None = 1_200_000.0,
                num_snapshots: int | None = None, steps: tuple[int, int, int] = (95, 14, 28),
                features: Literal["degree", "identity", "none"] = "degree", max_degree: int = 32,
                edge_targets: Literal["pairs", "events"] = "pairs") -> Dataset:
    """Bitcoin-OTC as in EvolveGCN: 5881 nodes, 35592 rated edges, 138 snapshots of ~2 weeks.

    Args:
        path: folder holding ``soc-sign-bitcoinotc.csv.gz``.
        task: ``dynlink`` (predict the edges of the next snapshot) or ``edge`` (rating sign).
        window: seconds per snapshot (EvolveGCN: 1,200,000); ignored when ``num_snapshots`` is set.
        num_snapshots: cut the time span into this many equal windows instead.
        steps: number of train / val / test target steps, the last ones of the sequence (EvolveGCN 95/14/28).
        features: ``degree`` (one-hot degree per snapshot), ``identity`` or ``none`` (a constant 1).
        max_degree: cap of the one-hot degree (larger degrees share the last column); 0 = no cap.
        edge_targets: the targets of a step. ``pairs`` (the EvolveGCN reference): each pair rated in the
            snapshot, in both orientations; for ``edge``, labelled by majority vote over its ratings in both
            directions (ties -> distrust). ``events``: each rated (rater, ratee) edge, labelled by its latest
            rating.
    """
    return _bitcoin("bitcoin-otc", "bitcoin-otc", "soc-sign-bitcoinotc.csv.gz", path, task, window,
                    num_snapshots, steps, features, max_degree, edge_targets)


@register_dataset("bitcoin-alpha", ("dynlink", "edge"), size="3,783 nodes, 24,186 edges, 137 snapshots", summary="Bitcoin-Alpha signed trust network over time (SNAP)",
                  source=_SNAP + "soc-sign-bitcoin-alpha.html")
def bitcoin_alpha(path: str | None = None, task: str = "dynlink", window: float | None = 1_200_000.0,
                  num_snapshots: int | None = None, steps: tuple[int, int, int] = (95, 13, 28),
                  features: Literal["degree", "identity", "none"] = "degree", max_degree: int = 32,
                  edge_targets: Literal["pairs", "events"] = "pairs") -> Dataset:
    """Bitcoin-Alpha as in EvolveGCN: 3783 nodes, 24186 rated edges, 137 snapshots of ~2 weeks.

    Args:
        path: folder holding ``soc-sign-bitcoinalpha.csv.gz``.
        task: ``dynlink`` (predict the edges of the next snapshot) or ``edge`` (rating sign).
        window: seconds per snapshot (EvolveGCN: 1,200,000); ignored when ``num_snapshots`` is set.
        num_snapshots: cut the time span into this many equal windows instead.
        steps: number of train / val / test target steps, the last ones of the sequence (EvolveGCN 95/13/28).
        features: ``degree`` (one-hot degree per snapshot), ``identity`` or ``none`` (a constant 1).
        max_degree: cap of the one-hot degree (larger degrees share the last column); 0 = no cap.
        edge_targets: the targets of a step. ``pairs`` (the EvolveGCN reference): each pair rated in the
            snapshot, in both orientations; for ``edge``, labelled by majority vote over its ratings in both
            directions (ties -> distrust). ``events``: each rated (rater, ratee) edge, labelled by its latest
            rating.
    """
    return _bitcoin("bitcoin-alpha", "bitcoin-alpha", "soc-sign-bitcoinalpha.csv.gz", path, task, window,
                    num_snapshots, steps, features, max_degree, edge_targets)


@register_dataset("uci-messages", "dynlink", size="1,899 nodes, 59,835 messages, 89 snapshots", summary="UC Irvine private messages over time (SNAP CollegeMsg)",
                  source=_SNAP + "CollegeMsg.html")
def uci_messages(path: str | None = None, task: str = "dynlink", window: float | None = 190_080.0,
                 num_snapshots: int | None = None, steps: tuple[int, int, int] = (62, 9, 17),
                 features: Literal["degree", "identity", "none"] = "degree", max_degree: int = 32,
                 edge_targets: Literal["pairs", "events"] = "pairs") -> Dataset:
    """UCI messages as in EvolveGCN: 1899 users, 59835 messages, 89 snapshots of 2.2 days.

    Args:
        path: folder holding ``CollegeMsg.txt``.
        task: ``dynlink``.
        window: seconds per snapshot (EvolveGCN: 190,080); ignored when ``num_snapshots`` is set.
        num_snapshots: cut the time span into this many equal windows instead.
        steps: number of train / val / test target steps, the last ones of the sequence (EvolveGCN 62/9/17).
        features: ``degree`` (one-hot degree per snapshot), ``identity`` or ``none`` (a constant 1).
        max_degree: cap of the one-hot degree (larger degrees share the last column); 0 = no cap.
        edge_targets: the link targets of a step. ``pairs`` (the EvolveGCN reference, whose loader adds every
            message reversed): both orientations of each pair that exchanged a message. ``events``: each
            (sender, receiver) pair.
    """
    from plexus.platform.data.graphs.temporal import read_temporal_csv, temporal_dataset

    _check_task("uci-messages", task, ("dynlink",))
    root = _locate("uci-messages", path, ["CollegeMsg.txt"])
    ev = read_temporal_csv(root / "CollegeMsg.txt", header=True, sep=" ", source="src", target="dst")
    return temporal_dataset(ev, "uci-messages", task=task, window=window, num_snapshots=num_snapshots, steps=steps,
                            features=features, max_degree=max_degree, edge_targets=edge_targets,
                            fingerprint_of=[root / "CollegeMsg.txt"])
