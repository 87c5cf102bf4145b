"""The EvolveGCN link bench's run settings: the reference yamls' values, and flags that override them."""

from __future__ import annotations

import pytest
from plexus.evaluation.bench.evolvegcn_device import REFERENCE, RUNS, run_settings
from plexus.platform.catalog import get_catalog
from plexus.platform.config import TrainConfig

NO_FLAGS = {"lr": None, "num_neg": None, "class_weights": None, "neg_sampling": None, "patience": None}


@pytest.mark.parametrize(("dataset", "model"), sorted(REFERENCE))
def test_reference_settings_are_valid_for_the_trainer_and_the_model(dataset: str, model: str) -> None:
    """Every run of the bench has a reference entry whose settings the trainer and the model's schema accept."""
    run, hp = run_settings(dataset, model, True, NO_FLAGS, {})
    TrainConfig(epochs=1, **run)  # validates
    assert get_catalog().model(model).schema.validate(hp) == hp
    assert run["neg_sampling"] == "active" and run["patience"] == 50
    assert (run["lr"], run["num_neg"], run["class_weights"]) == tuple(
        REFERENCE[dataset, model][k] for k in ("lr", "num_neg", "class_weights"))
    assert {(d, m) for d, m, _ in RUNS} == set(REFERENCE)


def test_flags_override_the_reference_and_plain_runs_keep_the_defaults() -> None:
    """A flag given beside --reference wins; without --reference the yaml's values are not used."""
    run, hp = run_settings("bitcoin-otc", "evolvegcn_o", True, {**NO_FLAGS, "lr": 0.002, "patience": 30},
                           {"cls_feats": 50})
    assert run["lr"] == 0.002 and run["patience"] == 30 and run["num_neg"] == 100
    assert hp == {"hidden_dim": 100, "cls_feats": 50}
    plain, plain_hp = run_settings("bitcoin-otc", "evolvegcn_o", False, NO_FLAGS, {})
    assert plain == {"lr": 0.005, "num_neg": 1, "class_weights": None, "neg_sampling": "uniform", "patience": 0}
    assert plain_hp == {}
