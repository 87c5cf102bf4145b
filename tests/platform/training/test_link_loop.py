"""The link task's training loop: negatives per batch or per epoch, drop-last, joint or separate pair calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from plexus.gnn.ncn import NCN
from plexus.platform.config import TrainConfig, build_config
from plexus.platform.data import LinkDataset
from plexus.platform.data.graphs.link import link_dataset, pair_keys, remove_target_edges, sample_negatives
from plexus.platform.errors import ConfigError
from plexus.platform.model import capabilities
from plexus.platform.testing import tiny_problem
from plexus.platform.training import train_model
from plexus.platform.training.link_loop import batch_starts
from plexus.platform.training.tasks import LinkTask, make_task
from torch_geometric.data import Data


def _dataset(n: int = 60, p: float = 0.15, seed: int = 0) -> LinkDataset:
    g = torch.Generator().manual_seed(seed)
    a = torch.triu(torch.rand(n, n, generator=g) < p, 1)
    a = a | a.t()
    d = Data(x=torch.randn(n, 4, generator=g), edge_index=a.nonzero().t(), num_nodes=n)
    return link_dataset(d, "random", seed=seed)


def _epoch(ds: LinkDataset, cfg: TrainConfig, epoch: int = 0, model: torch.nn.Module | None = None) -> list:
    task = LinkTask(ds, cfg)
    task.bind(model if model is not None else torch.nn.Linear(1, 1))
    return list(task.train_batches(epoch, torch.device("cpu")))


def _split(batch: Data, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return batch.edge_label_index[:, target == 1], batch.edge_label_index[:, target == 0]


def test_default_loop_is_the_per_batch_loop_step_for_step() -> None:
    """The defaults draw exactly what the link task drew before the options existed (other rows cannot move)."""
    ds = _dataset()
    cfg = TrainConfig(batch_size=40, num_neg=2, seed=3)
    got = _epoch(ds, cfg, epoch=5, model=NCN(ds.spec, hidden_dim=4))
    g = LinkTask(ds, cfg).epoch_generator(5)
    pos, data = ds.pos["train"], ds.data
    order = torch.randperm(pos.size(1), generator=g)
    starts = list(range(0, pos.size(1), 40))
    assert len(got) == len(starts) and pos.size(1) % 40 != 0  # the partial last batch is kept
    for (batch, target), start in zip(got, starts):
        p = pos[:, order[start:start + 40]]
        n = sample_negatives(data.edge_index, data.num_nodes, p.size(1) * 2, generator=g)
        assert torch.equal(batch.edge_label_index, torch.cat([p, n], 1))
        assert torch.equal(target, torch.cat([torch.ones(p.size(1)), torch.zeros(n.size(1))]))
        assert torch.equal(batch.edge_index, remove_target_edges(data.edge_index, p))  # TLR for NCN
        assert "edge_label_groups" not in batch


@pytest.mark.parametrize("num_neg", [1, 3])
def test_per_epoch_negatives_are_one_draw_shared_by_the_epochs_batches(num_neg: int) -> None:
    ds = _dataset()
    n, num_pos = ds.spec.num_nodes, ds.pos["train"].size(1)
    cfg = TrainConfig(batch_size=32, num_neg=num_neg, negatives="per_epoch", seed=1)
    epochs = [_epoch(ds, cfg, e) for e in (0, 1)]
    draws = []
    for batches in epochs:
        negs = [_split(b, t)[1] for b, t in batches]
        assert all(x.size(1) == num_neg * _split(b, t)[0].size(1) for x, (b, t) in zip(negs, batches))
        keys = pair_keys(torch.cat(negs, 1), n)
        assert keys.numel() == num_pos * num_neg == torch.unique(keys).numel()  # one draw: no pair twice
        train = set(pair_keys(ds.data.edge_index, n).tolist())
        assert train.isdisjoint(keys.tolist())
        draws.append(set(keys.tolist()))
    assert draws[0] != draws[1]  # a new draw each epoch
    # the draw is the epoch generator's after the permutation, and positive i owns columns i, i + P, ...
    g = LinkTask(ds, cfg).epoch_generator(0)
    order = torch.randperm(num_pos, generator=g)
    drawn = sample_negatives(ds.data.edge_index, n, num_pos * num_neg, generator=g)
    for start, (batch, target) in zip(batch_starts(num_pos, 32, False), epochs[0]):
        idx = order[start:start + 32]
        own = drawn[:, (torch.arange(num_neg).view(-1, 1) * num_pos + idx).reshape(-1)]
        assert torch.equal(_split(batch, target)[1], own)
        assert torch.equal(_split(batch, target)[0], ds.pos["train"][:, idx])


@pytest.mark.parametrize("batch_size", [7, 32, 50])
def test_drop_last_gives_floor_steps_of_full_batches(batch_size: int) -> None:
    ds = _dataset()
    num_pos = ds.pos["train"].size(1)
    assert num_pos % batch_size != 0
    kept = _epoch(ds, TrainConfig(batch_size=batch_size))
    dropped = _epoch(ds, TrainConfig(batch_size=batch_size, drop_last=True, negatives="per_epoch"))
    assert len(kept) == -(-num_pos // batch_size) and len(dropped) == num_pos // batch_size
    pos = [_split(b, t)[0] for b, t in dropped]
    assert all(p.size(1) == batch_size for p in pos)
    keys = pair_keys(torch.cat(pos, 1), ds.spec.num_nodes)
    assert torch.unique(keys).numel() == keys.numel()  # each positive at most once per epoch
    assert set(keys.tolist()) < set(pair_keys(ds.pos["train"], ds.spec.num_nodes).tolist())
    assert list(batch_starts(10, 5, True)) == [0, 5] and list(batch_starts(10, 4, True)) == [0, 4]


def test_separate_pair_calls_name_the_groups_and_need_the_capability() -> None:
    ds = _dataset()
    cfg = TrainConfig(batch_size=32, pair_calls="separate", num_neg=2)
    batches = _epoch(ds, cfg, model=NCN(ds.spec, hidden_dim=4))
    for batch, target in batches:
        assert batch.edge_label_groups == [int(target.sum()), int((target == 0).sum())]
    with pytest.raises(ConfigError, match="pair_groups"):
        _epoch(ds, cfg, model=torch.nn.Linear(1, 1))
    with pytest.raises(ConfigError, match="no training step"):
        _epoch(ds, TrainConfig(batch_size=10_000, drop_last=True))


def test_settings_are_typed_and_link_only() -> None:
    for bad in ({"negatives": "per_step"}, {"pair_calls": "both"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="negatives"):
        build_config({"train": {"negatives": "sometimes"}}, model="ncn", dataset="cora")
    spec, data = tiny_problem("node")
    node_ds = type("NodeDs", (), {"spec": spec, "data": data})()
    for key, value in (("negatives", "per_epoch"), ("drop_last", True), ("pair_calls", "separate")):
        with pytest.raises(ConfigError, match=f"train.{key} applies to the link task only"):
            make_task(node_ds, TrainConfig(**{key: value}))
    assert capabilities(NCN).pair_groups and not capabilities(torch.nn.Linear).pair_groups


def test_the_loop_settings_are_mlflow_params(tmp_path: Path, tracking_uri: str) -> None:
    import mlflow

    cfg = build_config({
        "hparams": {"hidden_dim": 8, "pred_edge_dropout": 0.4},
        "dataset_options": {"split": "70/10/20"},
        "train": {"epochs": 1, "max_steps": 2, "batch_size": 512, "negatives": "per_epoch", "drop_last": True,
                  "pair_calls": "separate", "patience": 0},
        "tracking": {"checkpoint_dir": str(tmp_path / "ckpt"), "log_model": False},
    }, model="ncn", dataset="cora")
    res = train_model(cfg, task="link", tracking_uri=tracking_uri, progress=False)
    params = mlflow.MlflowClient(tracking_uri).get_run(res["run_id"]).data.params
    assert (params["train.negatives"], params["train.drop_last"], params["train.pair_calls"]) == (
        "per_epoch", "True", "separate")
