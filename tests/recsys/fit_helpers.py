"""Small fit loops of the recommender tests: a model's ability to learn a planted signal, measured in a few
hundred steps without the trainer's datasets (the trainer itself is tested in tests/platform/training)."""

from __future__ import annotations

import torch

__all__ = ["fit_ctr", "fit_multitask"]


def fit_ctr(model: torch.nn.Module, train: dict[str, torch.Tensor], y: torch.Tensor, test: dict[str, torch.Tensor],
            y_test: torch.Tensor, *, seed: int = 0, steps: int = 150, lr: float = 3e-3,
            batch_size: int = 128) -> float:
    """Train a CTR model on ``(train, y)`` and return its test ROC AUC on ``(test, y_test)``.

    Adam(``lr``), ``steps`` batches of ``batch_size`` rows drawn with replacement, loss = binary cross-entropy of
    ``out["logit"]`` plus ``out["aux_loss"]`` when the model returns one (DIEN-style auxiliary losses). Reseeds
    torch's global RNG with ``seed`` first, so batches and dropout masks depend on the arguments only. The model
    is left in eval mode.
    """
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch_size,))
        out = model({k: v[idx] for k, v in train.items()})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["logit"], y[idx]) + out.get("aux_loss", 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float(roc_auc_score(y_test.numpy(), model(test)["logit"].numpy()))


def fit_multitask(model: torch.nn.Module, feats: dict[str, torch.Tensor], labels: dict[str, torch.Tensor],
                  n_train: int, *, seed: int = 0, steps: int = 300, lr: float = 1e-2,
                  batch_size: int = 128) -> dict[str, float]:
    """Train a multi-task model on rows ``:n_train`` and return the held-out AUC per task (rows ``n_train:``).

    Adam(``lr``), ``steps`` batches of ``batch_size`` rows drawn with a generator seeded by ``seed``, loss = the
    sum of the tasks' binary cross-entropies. The model is left in eval mode.
    """
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch_size,), generator=g)
        out = model({k: v[idx] for k, v in feats.items()})
        loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(out[t], y[idx]) for t, y in labels.items())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model({k: v[n_train:] for k, v in feats.items()})
    return {t: roc_auc_score(y[n_train:].numpy(), out[t].numpy()) for t, y in labels.items()}
