"""Plain PyTorch Geometric scripts of GCN and NCN on Cora: the baseline of ``plexus bench speed``.

``python plain_pyg.py gcn|ncn [--epochs N] [--raw DIR]`` uses torch_geometric only
(Planetoid reader, GCNConv, RandomLinkSplit, negative_sampling): what a user would
write without Plexus. Prints one JSON line: epochs/s, ms per epoch, peak RSS.

- GCN (Kipf and Welling): 2 GCNConv layers, hidden 16, dropout 0.5 on each layer's
  input (input dropout on), Adam lr 0.01, weight decay 5e-4, full batch.
- NCN (Wang et al. 2024), the ``puregcn`` variant: h = Â·Linear(x) (hidden 256, 1
  propagation); score(i, j) = MLP([h_i ⊙ h_j ‖ Σ_{k ∈ N(i) ∩ N(j)} h_k]) with a
  3-layer MLP; 70/10/20 random edge split; per batch of 1152 positives, as many
  random negatives; the batch's positives are removed from the message-passing
  graph (target link removal). Common neighbours via a dense 0/1 adjacency.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _cora(raw: str):
    from torch_geometric.datasets import Planetoid

    tmp = tempfile.mkdtemp()
    dst = Path(tmp) / "Cora" / "raw"
    dst.mkdir(parents=True)
    for f in Path(raw).glob("ind.cora.*"):
        if f.suffix == ".gz":  # Plexus' bundled copy is gzipped; PyG's reader wants plain files
            import gzip

            (dst / f.stem).write_bytes(gzip.decompress(f.read_bytes()))
        else:
            shutil.copy(f, dst / f.name)
    return Planetoid(tmp, "Cora")[0], tmp


def gcn(data, epochs: int) -> float:
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv

    class Net(torch.nn.Module):
        def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
            super().__init__()
            self.c1, self.c2 = GCNConv(d_in, hidden), GCNConv(hidden, d_out)

        def forward(self, x, ei):
            x = F.dropout(x, 0.5, self.training)
            x = F.relu(self.c1(x, ei))
            x = F.dropout(x, 0.5, self.training)
            return self.c2(x, ei)

    net = Net(data.num_features, 16, int(data.y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=5e-4)

    def step() -> None:
        net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(epochs):
        step()
    return time.perf_counter() - t0


def ncn(data, epochs: int) -> float:
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.transforms import RandomLinkSplit
    from torch_geometric.utils import negative_sampling

    train, _, _ = RandomLinkSplit(num_val=0.1, num_test=0.2, is_undirected=True,
                                  add_negative_train_samples=False)(data)
    n, h = data.num_nodes, 256
    ei = train.edge_index  # both directions of the training edges
    pos = train.edge_label_index  # one direction each

    lin = torch.nn.Linear(data.num_features, h)
    mlp = torch.nn.Sequential(torch.nn.Linear(2 * h, h), torch.nn.ReLU(), torch.nn.Linear(h, h), torch.nn.ReLU(),
                              torch.nn.Linear(h, 1))
    params = list(lin.parameters()) + list(mlp.parameters())
    opt = torch.optim.Adam(params, lr=0.0043)

    def step() -> None:
        perm = torch.randperm(pos.size(1))
        for s in range(0, pos.size(1), 1152):
            p = pos[:, perm[s:s + 1152]]
            key = ei[0] * n + ei[1]
            drop = torch.isin(key, torch.cat([p[0] * n + p[1], p[1] * n + p[0]]))
            g = ei[:, ~drop]  # target link removal
            neg = negative_sampling(ei, num_nodes=n, num_neg_samples=p.size(1))
            gi, w = gcn_norm(g, None, n, add_self_loops=True)
            adj = torch.sparse_coo_tensor(gi, w, (n, n))
            hid = torch.sparse.mm(adj, lin(data.x))
            a = torch.zeros(n, n)
            a[g[0], g[1]] = 1.0
            pairs = torch.cat([p, neg], dim=1)
            cn = a[pairs[0]] * a[pairs[1]]
            z = torch.cat([hid[pairs[0]] * hid[pairs[1]], cn @ hid], dim=-1)
            logit = mlp(z).view(-1)
            y = torch.cat([torch.ones(p.size(1)), torch.zeros(neg.size(1))])
            loss = F.binary_cross_entropy_with_logits(logit, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(epochs):
        step()
    return time.perf_counter() - t0


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["gcn", "ncn"])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--raw", default=os.environ.get("PLEXUS_CORA_RAW", ""),
                    help="folder of ind.cora.* files (default: the bundled copy)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("PLEXUS_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    raw = args.raw if args.raw and any(Path(args.raw).glob("ind.cora.x*")) else str(
        Path(__file__).resolve().parents[2] / "platform" / "data" / "graphs" / "bundled")
    data, tmp = _cora(raw)
    try:
        dt = (gcn if args.model == "gcn" else ncn)(data, args.epochs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"epochs_per_s": args.epochs / dt, "epoch_ms": 1000 * dt / args.epochs,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(sys.argv[1:])
