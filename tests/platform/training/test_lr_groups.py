"""Per-submodule learning rates: ``train.lr_groups`` -> optimizer param groups (e.g. NCN's gnnlr / prelr)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from plexus.gnn.ncn import NCNC
from plexus.platform.config import TrainConfig, apply_overrides, build_config, parse_set
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from plexus.platform.training import load_checkpoint, train_model
from plexus.platform.training.trainer import lr_group_of, param_groups


def _ncnc() -> torch.nn.Module:
    torch.manual_seed(0)
    return NCNC(DataSpec("link", num_features=5, num_nodes=30), hidden_dim=8, combine="sum", use_xlin=True,
                layer_norm=True, jk=True, tail_act=True)


def _check_cover(model: torch.nn.Module, groups: list[dict]) -> None:
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)), "a parameter is in two groups"
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}, "a parameter is in no group"


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_groups_have_the_right_lr_and_cover_every_parameter_once(weight_decay: float) -> None:
    model = _ncnc()
    groups = param_groups(model, weight_decay, True, {"mpnn": 0.0043})
    _check_cover(model, groups)
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        in_mpnn = {names[id(p)].startswith("mpnn.") for p in g["params"]}
        assert len(in_mpnn) == 1  # a group never mixes MPNN and predictor parameters
        assert (g.get("lr") == 0.0043) == in_mpnn.pop()
    assert len(groups) == (2 if weight_decay == 0 else 4)
    mpnn = {id(p) for g in groups if g.get("lr_group") == "mpnn" for p in g["params"]}
    assert mpnn == {id(p) for p in model.mpnn.parameters()}  # input Linear and jk weights included
    opt = torch.optim.Adam(groups, lr=0.0024)
    lrs = {names[id(p)]: g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs["mpnn.lins.0.weight"] == lrs["mpnn.jk_weights"] == 0.0043
    assert lrs["lin.blocks.0.linear.weight"] == lrs["xcnlin.0.blocks.0.linear.weight"] == lrs["beta"] == 0.0024


def test_longest_prefix_wins_and_prefixes_stop_at_dots() -> None:
    assert lr_group_of("lins.0.weight", ["lin"]) is None  # 'lin' is not an ancestor of 'lins'
    assert lr_group_of("lin.0.weight", ["lin", "lin.0"]) == "lin.0"
    assert lr_group_of("beta", ["beta"]) == "beta"
    model = _ncnc()
    groups = param_groups(model, 0.0, True, {"lin": 0.1, "lin.blocks.1": 0.2, "mpnn": 0.3})
    _check_cover(model, groups)
    by_name = {n: g.get("lr") for g in groups for n, p in model.named_parameters() if any(p is q for q in g["params"])}
    assert by_name["lin.blocks.0.linear.weight"] == 0.1 and by_name["lin.blocks.1.linear.weight"] == 0.2
    assert by_name["xcnlin.0.blocks.0.linear.weight"] is None and by_name["mpnn.lins.0.bias"] == 0.3


def test_unknown_prefix_and_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="prefix 'predictr' matches no trainable parameter"):
        param_groups(_ncnc(), 0.0, True, {"predictr": 0.01})
    with pytest.raises(ConfigError, match="lr_groups"):
        TrainConfig(lr_groups={"mpnn": 0.0})
    with pytest.raises(ConfigError, match="lr_groups"):
        build_config({"train": {"lr_groups": [0.1]}}, model="ncn", dataset="cora")


def test_lr_groups_from_yaml_and_from_set() -> None:
    raw = {"train": {"lr": 0.0024, "lr_groups": {"mpnn": 0.0043}}}
    assert build_config(raw, model="ncn", dataset="cora").train.lr_groups == {"mpnn": 0.0043}
    over = apply_overrides({}, parse_set(["lr_groups={mpnn: 0.0043, lin: 1e-3}"]))
    assert build_config(over, model="ncn", dataset="cora").train.lr_groups == {"mpnn": 0.0043, "lin": 0.001}
    assert build_config({"train": {"lr_groups": "mpnn: 0.5"}}, model="ncn", dataset="cora").train.lr_groups == {
        "mpnn": 0.5
    }
    assert build_config({}, model="ncn", dataset="cora").train.lr_groups == {}


def test_lr_groups_reach_the_optimizer_and_survive_resume(tmp_path: Path, tracking_uri: str) -> None:
    def run(epochs: int, resume: str | None = None) -> dict:
        cfg = build_config(
            {"train": {"seed": 3, "epochs": epochs, "lr": 0.01, "lr_groups": {"bias": 0.5}, "patience": 0},
             "tracking": {"checkpoint_dir": str(tmp_path / "ckpt"), "log_model": False},
             "dataset_options": {"num_users": 200}},  # any CTR data: the generated one needs no download
            model="lr", dataset="synthetic-behavior",
        )
        return train_model(cfg, tracking_uri=tracking_uri, progress=False, resume=resume)

    first = run(1)
    ckpt = Path(first["checkpoint_dir"]) / "last.pt"
    saved = load_checkpoint(ckpt)["optimizer"]["param_groups"]
    assert sorted(g["lr"] for g in saved) == [0.01, 0.5]
    assert [g.get("lr_group") for g in saved if g["lr"] == 0.5] == ["bias"]
    second = run(2, resume=str(ckpt))
    assert second["epochs_run"] == 2
    saved = load_checkpoint(Path(second["checkpoint_dir"]) / "last.pt")["optimizer"]["param_groups"]
    assert sorted(g["lr"] for g in saved) == [0.01, 0.5]
