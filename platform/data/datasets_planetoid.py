"""Built-in Planetoid citation graphs: ``cora``, ``citeseer``, ``pubmed`` (``plexus.datasets`` entry points).

The three share one loader over the raw ``ind.<name>.*`` files of kimiyoung/planetoid
(MIT): tasks ``node`` (the standard public split of Yang et al. 2016 / Kipf & Welling
2017) and ``link`` (a seeded random edge split). Where the files come from, in order:

1. ``path``: a folder holding ``ind.<name>.*`` (plain or ``.gz``), used as given;
2. the copy bundled in the package (Cora and CiteSeer, gzipped, 0.4 MB together);
3. :func:`~plexus.platform.data.sources.ensure_raw`: PubMed (its ``allx`` alone is 7.6 MB)
   is fetched into ``$PLEXUS_DATA/raw/pubmed/`` on first use.

Files that are another dataset's (CiteSeer's renamed ``ind.cora.*``) raise a one-line
:class:`DataError` naming the node/feature/class counts that do not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from plexus.platform.catalog import register_dataset
from plexus.platform.data._types import Dataset
from plexus.platform.errors import ConfigError, DataError

__all__ = ["EXPECTED", "citeseer", "cora", "pubmed"]

_BUNDLED = Path(__file__).resolve().parent / "graphs" / "bundled"
_HOME = "https://github.com/kimiyoung/planetoid"
_TITLE = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
EXPECTED: dict[str, tuple[int, int, int]] = {"cora": (2708, 1433, 7), "citeseer": (3327, 3703, 6),
                                             "pubmed": (19717, 500, 3)}
"""(nodes, features, classes) of each built-in Planetoid graph."""

Split = Literal["70/10/20", "85/5/10"]


def _root(name: str, path: str | None) -> Path:
    if path:
        root = Path(path)
        root = root.parent if root.is_file() else root
        if not root.is_dir():
            raise DataError(f"folder not found (dataset '{name}' reads the ind.{name}.* files of {_HOME})",
                            file=str(root))
        return root
    if (_BUNDLED / f"ind.{name}.graph.gz").is_file():
        return _BUNDLED
    from plexus.platform.data.sources import ensure_raw

    return ensure_raw(name)


def _planetoid(name: str, path: str | None, task: str, seed: int, split: Split, normalize_features: bool,
               val_edges_as_input: bool, val_neg_ratio: float) -> Dataset:
    from plexus.platform.data.graphs.link import link_dataset
    from plexus.platform.data.graphs.planetoid import planetoid_dataset

    if task not in ("node", "link"):
        raise ConfigError(f"dataset '{name}' supports task(s) node, link, not '{task}'")
    root = _root(name, path)
    ds = planetoid_dataset(root, name, normalize_features=normalize_features)
    got = (int(ds.data.num_nodes), ds.spec.num_features, ds.spec.num_classes)
    if got != EXPECTED[name]:
        want = EXPECTED[name]
        raise DataError(f"the ind.{name}.* files hold {got[0]} nodes, {got[1]} features, {got[2]} classes; "
                        f"{_TITLE[name]} has {want[0]}, {want[1]}, {want[2]} (another dataset's files?)",
                        file=str(root))
    if task == "node":
        return ds
    return link_dataset(ds.data, name, split=split, seed=seed, val_edges_as_input=val_edges_as_input,
                        val_neg_ratio=val_neg_ratio, fingerprint=ds.fingerprint,
                        description=f"{_TITLE[name]} link prediction ({split})")


@register_dataset("cora", ("node", "link"), size="2,708 nodes, 5,278 edges",
                  summary="Cora citation graph (Planetoid split; link: random edge split)", bundled=True, source=_HOME)
def cora(path: str | None = None, task: str = "node", seed: int = 0, split: Split = "70/10/20",
         normalize_features: bool = False, val_edges_as_input: bool = False, val_neg_ratio: float = 1.0) -> Dataset:
    """Cora: 2708 papers, 5278 undirected citations, 1433 bag-of-words features, 7 classes.

    Node split 140/500/1000 (20 training nodes per class). Bundled in the package.

    Args:
        path: folder with the raw ``ind.cora.*`` files (default: the bundled copy).
        task: ``node`` (standard 140/500/1000 split) or ``link`` (seeded random edge split).
        seed: seed of the link split and its val/test negatives.
        split: link split ratios, ``70/10/20`` (NCN) or ``85/5/10`` (GAE).
        normalize_features: row-normalise the features (GCN preprocessing).
        val_edges_as_input: link task: evaluate over train + validation edges.
        val_neg_ratio: link task: validation negatives per validation positive (the NCN reference's
            split has 2.0 at 70/10/20; test always has one per positive).
    """
    return _planetoid("cora", path, task, seed, split, normalize_features, val_edges_as_input, val_neg_ratio)


@register_dataset("citeseer", ("node", "link"), size="3,327 nodes, 4,552 edges",
                  summary="CiteSeer citation graph (Planetoid split; link: random edge split)", bundled=True,
                  source=_HOME)
def citeseer(path: str | None = None, task: str = "node", seed: int = 0, split: Split = "70/10/20",
             normalize_features: bool = False, val_edges_as_input: bool = False,
             val_neg_ratio: float = 1.0) -> Dataset:
    """CiteSeer: 3327 papers, 4552 undirected citations, 3703 bag-of-words features, 6 classes.

    Node split 120/500/1000 (20 training nodes per class). 15 test ids have no
    ``tx``/``ty`` row (isolated papers): zero features and label 0, in no split, as in
    Kipf & Welling's and PyG's loaders. Bundled in the package.

    Args:
        path: folder with the raw ``ind.citeseer.*`` files (default: the bundled copy).
        task: ``node`` (standard 120/500/1000 split) or ``link`` (seeded random edge split).
        seed: seed of the link split and its val/test negatives.
        split: link split ratios, ``70/10/20`` (NCN) or ``85/5/10`` (GAE).
        normalize_features: row-normalise the features (GCN preprocessing).
        val_edges_as_input: link task: evaluate over train + validation edges.
        val_neg_ratio: link task: validation negatives per validation positive (test always has one
            per positive).
    """
    return _planetoid("citeseer", path, task, seed, split, normalize_features, val_edges_as_input, val_neg_ratio)


@register_dataset("pubmed", ("node", "link"), size="19,717 nodes, 44,324 edges",
                  summary="PubMed diabetes citation graph (Planetoid split; link: random edge split)", source=_HOME)
def pubmed(path: str | None = None, task: str = "node", seed: int = 0, split: Split = "70/10/20",
           normalize_features: bool = False, val_edges_as_input: bool = False,
           val_neg_ratio: float = 1.0) -> Dataset:
    """PubMed: 19717 diabetes papers, 44324 undirected citations, 500 TF-IDF features, 3 classes.

    Node split 60/500/1000 (20 training nodes per class). Not bundled: fetched
    (8 files, 8.7 MB) into ``$PLEXUS_DATA/raw/pubmed/`` on first use.

    Args:
        path: folder with the raw ``ind.pubmed.*`` files (default: ``$PLEXUS_DATA/raw/pubmed``, fetched
            when missing).
        task: ``node`` (standard 60/500/1000 split) or ``link`` (seeded random edge split).
        seed: seed of the link split and its val/test negatives.
        split: link split ratios, ``70/10/20`` (NCN) or ``85/5/10`` (GAE).
        normalize_features: row-normalise the features (GCN preprocessing).
        val_edges_as_input: link task: evaluate over train + validation edges.
        val_neg_ratio: link task: validation negatives per validation positive (test always has one
            per positive).
    """
    return _planetoid("pubmed", path, task, seed, split, normalize_features, val_edges_as_input, val_neg_ratio)
