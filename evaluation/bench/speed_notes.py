"""The protocol notes that ``plexus bench speed`` writes under its results table (speed.md)."""

from __future__ import annotations

__all__ = ["NOTES"]

NOTES: list[str] = [
    ("CTR: batch 1024, embedding dim 16, Adam lr 1e-3, shuffled every epoch, 1 warm-up epoch then the timed epochs; "
     "samples/s = epochs x N / time. DIN: Amazon Beauty (every next-item position with one random negative, "
     "history <= 20, category = first attribute), attention MLP (80, 40), DNN (200, 80). AutoInt: criteo-10k "
     "label-encoded, numerics sign(x)·log1p(|x|), replicated 20x; 3 interacting layers, 2 heads of size 8 "
     "(DeepCTR's embedding_size // heads; Plexus' default is the paper's 32), no DNN."),
    ("Two Plexus rows per model, both the same plugin with different hyperparameters. DIN 'paper': Dice in the "
     "attention MLP and in the DNN, the paper's input [k, q, k*q], mini-batch-aware L2 (l2_reg 0.01) as an aux "
     "loss. DIN 'as the peers' (DeepCTR-Torch's and FuxiCTR's DIN): Dice in the attention MLP only, ReLU DNN, "
     "input [q, k, q-k, q*k], no MBA (activation=relu, use_diff=true, l2_reg=0). AutoInt 'paper': the 13 numerics "
     "embedded as fields, 39 attended fields (FuxiCTR's AutoInt does the same). AutoInt 'as DeepCTR': attention "
     "over the 26 categoricals, numerics only through the first-order linear term (attend_numeric=false, "
     "has_wide=true), as DeepCTR-Torch's AutoInt. Each peer's ratio is taken against the Plexus row with its "
     "architecture (per round: the two ran back to back); the paper row's ratio is given beside it."),
    ("Same architecture, not the same amount of work: Plexus' DIN runs its activation unit only at the real "
     "behaviour positions of each batch (a third of the 20 on Amazon Beauty; Dice's statistics exclude padding), "
     "where both peers run it at every padded position too and mask the weights afterwards (their Dice "
     "statistics include the padded rows). Plexus' AutoInt computes the same attention with a hand-written "
     "backward on CPU."),
    ("Plexus is timed through its own data path and the Trainer's settings: the CTRTask batch iterator, the "
     "catalog model, the task loss (plus DIN's MBA aux loss in the paper row), the Trainer's optimizer (fused "
     "Adam on CPU) and its denormal flushing (train.flush_denormal, on by default on CPU), i.e. the Trainer's "
     "inner loop without per-epoch evaluation."),
    ("DeepCTR-Torch runs in a separate venv (same torch 2.13.0 CPU wheel) on the very same arrays (exported by "
     "Plexus as .npz); model.fit(..., shuffle=True), Dice in DIN's attention as in its default; its default "
     "l2_reg_embedding 1e-6 stays on (it is how a user runs it)."),
    ("FuxiCTR 2.3.10 (PyPI, in the same separate venv) with DIN / AutoInt from its repository's model_zoo "
     "(reczoo/FuxiCTR, commit 0245987, exported with `git archive` next to that venv, not into Plexus): its model "
     "and its own train_step (which also clips the gradient norm at 10) on the same in-memory arrays, batches "
     "sliced from tensors. Its Ray/parquet data loader and its preprocessing are NOT measured (the PyPI loader "
     "API does not match model_zoo's run_expid.py), so FuxiCTR's numbers here are model-only. FuxiCTR AutoInt: "
     "attention_dim 16 over 2 heads, 39 fields (it embeds the numerics, like Plexus' paper row)."),
    ("GNN: GCN 2 layers, hidden 16, dropout 0.5 on every layer's input (input dropout ON in both), Adam lr 0.01, "
     "weight decay 5e-4, full batch, 1 warm-up epoch. NCN: puregcn 1 layer, hidden 256, batch 1152, one fresh "
     "negative per positive, target-link removal, 70/10/20 split; the plain PyG scripts (plain_pyg.py) implement "
     "the same models with torch_geometric only (NCN's common neighbours via a dense 0/1 adjacency, since "
     "torch-sparse is not installed)."),
    ("Trial overhead: 3 timed trials of GCN on Cora (fixed hyperparameters, 30 epochs, no model artifacts) per "
     "process, as (a) untracked train_model calls, (b) tracked train_model calls (MLflow SQLite run, params, "
     "per-epoch metrics, learning-curve PNG), (c) `plexus.platform.search.search` (random sampler, no pruner, "
     "SQLite Optuna storage, nested MLflow runs, its end-of-study report included and amortised over the 3 trials). "
     "`trial-overhead`: in fresh stores (MLflow's and Optuna's schema creation and the first trial's lazy imports "
     "inside the timed part); `trial-overhead-steady`: after 3 untimed trials in the same process and stores, "
     "as every trial of a search after its first. Overhead per trial = t - t_untracked (same kind of row), given "
     "as seconds, as a share of this trial and as a share of a 3-second trial; imports are outside the timed "
     "part, each trial's (cached) dataset load and evaluation inside."),
    "Peak memory is ru_maxrss of the worker process (no worker subprocesses in the libraries measured here).",
    ("CTR rows also give samples per CPU second (the worker's process time over the timed epochs) and the "
     "like-for-like ratio of those: on a shared, loaded machine it depends much less on the other jobs than wall "
     "time does (with 1 thread it is the work per sample; with more threads it also counts spin-waiting)."),
]
