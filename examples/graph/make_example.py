"""Write the small example graphs of the README (deterministic; run from anywhere).

``citation(folder)``: a citation-like graph of 300 papers in 3 topics: ``edges.csv``
(source,target), ``nodes.csv`` (node,label,split: topic names, 30 train / 60 val /
100 test papers, some papers unlabelled) and ``features.npz`` (sparse bag of words,
rows in node-table order). ``molecules(folder)``: 60 small graphs in 2 classes (rings
vs. stars): ``graph_edges.csv`` (graph,source,target) and ``graphs.csv`` (graph,label).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

TOPICS = ("graphs", "learning", "systems")


def citation(folder: Path, n: int = 300, words: int = 200, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    y = rng.integers(0, len(TOPICS), n)
    ids = 1000 + rng.permutation(n)  # node ids need not be 0..n-1
    edges = set()
    for i in range(n):
        for _ in range(3):
            same = rng.random() < 0.8
            j = int(rng.choice(np.flatnonzero(y == y[i]) if same else np.arange(n)))
            if j != i:
                edges.add((min(i, j), max(i, j)))
    split = np.full(n, "", dtype=object)
    order = rng.permutation(n)
    split[order[:30]], split[order[30:90]], split[order[90:190]] = "train", "val", "test"
    labelled = (split != "") | (rng.random(n) < 0.5)
    (folder / "edges.csv").write_text("source,target\n" + "".join(f"{ids[a]},{ids[b]}\n" for a, b in sorted(edges)))
    (folder / "nodes.csv").write_text("node,label,split\n" + "".join(
        f"{ids[i]},{TOPICS[y[i]] if labelled[i] else ''},{split[i]}\n" for i in range(n)))
    topic_words = rng.integers(0, words, (len(TOPICS), 20))
    rows, cols = [], []
    for i in range(n):
        ws = np.unique(np.concatenate([rng.choice(topic_words[y[i]], 4), rng.integers(0, words, 4)]))
        rows += [i] * ws.size
        cols += ws.tolist()
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, words))
    sp.save_npz(folder / "features.npz", x)
    return {"edges": folder / "edges.csv", "nodes": folder / "nodes.csv", "features": folder / "features.npz"}


def molecules(folder: Path, graphs: int = 60, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines, labels = [], []
    for g in range(graphs):
        k, size = g % 2, int(rng.integers(5, 10))
        pairs = [(i, (i + 1) % size) for i in range(size)] if k == 0 else [(0, i) for i in range(1, size)]
        lines += [f"{g},{a},{b}\n" for a, b in pairs]
        labels.append(f"{g},{'ring' if k == 0 else 'star'}\n")
    (folder / "graph_edges.csv").write_text("graph,source,target\n" + "".join(lines))
    (folder / "graphs.csv").write_text("graph,label\n" + "".join(labels))
    return {"edges": folder / "graph_edges.csv", "graphs": folder / "graphs.csv"}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    citation(out)
    molecules(out)
