"""Peer-library workers for ``plexus bench speed``; run with ``.venv-bench/bin/python`` (never imports Plexus).

``python peers.py deepctr din|autoint DATA.npz [--epochs 2]`` trains DeepCTR-Torch's
model on the arrays exported by Plexus (``DATA.npz`` + ``DATA.npz.json`` with vocab
sizes) with the benchmark protocol (batch 1024, d = 16, Adam 1e-3, 1 warm-up epoch,
then ``--epochs`` timed epochs, shuffled) and prints one JSON line:
samples/s and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def _right_align(seq):
    """Plexus pads histories on the left; DeepCTR masks by length from the left: move ids to the front."""
    import numpy as np

    lens = (seq != 0).sum(1)
    out = np.zeros_like(seq)
    for i, n in enumerate(lens):  # cheap enough for 352k x 20 once, before timing
        if n:
            out[i, :n] = seq[i, seq.shape[1] - n:]
    return out, lens


def deepctr(model: str, path: str, epochs: int) -> dict:
    import numpy as np
    import torch
    from deepctr_torch.inputs import DenseFeat, SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import DIN, AutoInt

    torch.set_num_threads(int(os.environ.get("PLEXUS_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    arrays = dict(np.load(path))
    with open(path + ".json") as fh:
        meta = json.load(fh)
    y = arrays.pop("label").astype("float32")
    x = {}
    if model == "din":
        cols = []
        for f in meta["fields"]:
            if f["kind"] == "sequence":
                seq, lens = _right_align(arrays[f["name"]])
                x[f["name"]] = seq
                x["seq_length"] = lens.astype("int64")
                base = f["share_vocab"]
                vocab = next(g["vocab_size"] for g in meta["fields"] if g["name"] == base)
                cols.append(VarLenSparseFeat(SparseFeat(f["name"], vocabulary_size=vocab, embedding_dim=16,
                                                        embedding_name=base), maxlen=f["max_len"],
                                             length_name="seq_length"))
            else:
                x[f["name"]] = arrays[f["name"]]
                cols.append(SparseFeat(f["name"], vocabulary_size=f["vocab_size"], embedding_dim=16))
        net = DIN(cols, ["item", "cate"], dnn_hidden_units=(200, 80), att_hidden_size=(80, 40), device="cpu")
    else:
        cols = []
        for f in meta["fields"]:
            if f["kind"] == "numeric":
                x[f["name"]] = arrays[f["name"]].astype("float32")
                cols.append(DenseFeat(f["name"], 1))
            else:
                x[f["name"]] = arrays[f["name"]]
                cols.append(SparseFeat(f["name"], vocabulary_size=f["vocab_size"], embedding_dim=16))
        net = AutoInt(cols, cols, att_layer_num=3, att_head_num=2, dnn_hidden_units=(), device="cpu")
    net.compile(torch.optim.Adam(net.parameters(), lr=1e-3), "binary_crossentropy")
    net.fit(x, y, batch_size=1024, epochs=1, verbose=0, shuffle=True)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    net.fit(x, y, batch_size=1024, epochs=epochs, verbose=0, shuffle=True)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(y)
    return {"samples_per_s": epochs * n / dt, "seconds": dt, "rows": n, "samples_per_cpu_s": epochs * n / cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params": sum(p.numel() for p in net.parameters())}


FUXI_REPO = os.environ.get("PLEXUS_FUXICTR_REPO") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv-bench", "fuxictr-repo")


def fuxictr(model: str, path: str, epochs: int) -> dict:
    """FuxiCTR 2.3.10's model_zoo DIN / AutoInt (repository reczoo/FuxiCTR, exported into .venv-bench).

    The model and its own ``train_step`` (forward, BCE, backward, grad-norm clip 10, Adam)
    run on the same arrays; FuxiCTR's Ray/parquet data loader is not used (the batches are
    sliced from in-memory tensors, as for the other libraries).
    """
    import numpy as np
    import torch
    from fuxictr.features import FeatureMap

    torch.set_num_threads(int(os.environ.get("PLEXUS_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    sys.path.insert(0, os.path.join(FUXI_REPO, "model_zoo", "DIN" if model == "din" else "AutoInt"))
    arrays = dict(np.load(path))
    with open(path + ".json") as fh:
        meta = json.load(fh)
    fmap = FeatureMap("bench", "")
    fmap.labels = ["label"]
    fmap.default_emb_dim = 16
    for f in meta["fields"]:
        if f["kind"] == "numeric":
            fmap.features[f["name"]] = {"type": "numeric", "source": ""}
        elif f["kind"] == "sequence":
            fmap.features[f["name"]] = {"type": "sequence", "source": "", "vocab_size": f["vocab_size"],
                                        "padding_idx": 0, "max_len": f["max_len"],
                                        "share_embedding": f["share_vocab"]}
        else:
            fmap.features[f["name"]] = {"type": "categorical", "source": "", "vocab_size": f["vocab_size"],
                                        "padding_idx": 0}
    fmap.num_fields = fmap.get_num_fields()
    common = {"gpu": -1, "learning_rate": 1e-3, "embedding_dim": 16, "optimizer": "adam",
              "loss": "binary_crossentropy", "verbose": 0, "model_root": tempfile.mkdtemp(prefix="fuxictr-bench-"), "metrics": ["AUC"],
              "embedding_regularizer": None, "net_regularizer": None}
    if model == "din":
        from src.DIN import DIN

        net = DIN(fmap, dnn_hidden_units=[200, 80], attention_hidden_units=[80, 40],
                  din_target_field=[("item", "cate")], din_sequence_field=[("hist_item", "hist_cate")], **common)
    else:
        from src.AutoInt import AutoInt

        net = AutoInt(fmap, dnn_hidden_units=[], attention_layers=3, num_heads=2, attention_dim=16, **common)
    net._max_gradient_norm = 10.0
    data = {k: torch.from_numpy(v if v.dtype != np.float64 else v.astype("float32")) for k, v in arrays.items()}
    data["label"] = data["label"].float()
    n = len(data["label"])

    def one_epoch() -> None:
        net.train()
        order = torch.randperm(n)
        for s in range(0, n, 1024):
            idx = order[s:s + 1024]
            net.train_step({k: v[idx] for k, v in data.items()})

    one_epoch()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        one_epoch()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"samples_per_s": epochs * n / dt, "seconds": dt, "rows": n, "samples_per_cpu_s": epochs * n / cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params": sum(p.numel() for p in net.parameters())}


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("library", choices=["deepctr", "fuxictr"])
    ap.add_argument("model", choices=["din", "autoint"])
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    run = deepctr if args.library == "deepctr" else fuxictr
    print(json.dumps(run(args.model, args.data, args.epochs)))


if __name__ == "__main__":
    main(sys.argv[1:])
