"""Architecture search with an Optuna sampler (one categorical parameter per decision) and pruning.

Each architecture is one Optuna trial (ask/tell). Per-epoch validation accuracy is
reported through the platform's :class:`~plexus.platform.training.callbacks.PruningHook`;
a pruned architecture ends its child run early (state ``PRUNED``) and is told to the
study as pruned.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import distribution_to_json, json_to_distribution
from optuna.trial import TrialState
from plexus.nas.controllers.base import Controller, Proposal
from plexus.platform.errors import ConfigError
from plexus.platform.training.callbacks import Callback, PruningHook

__all__ = ["PRUNERS", "SAMPLERS", "OptunaController"]

SAMPLERS = ("tpe", "random", "nsga2", "qmc")
PRUNERS = ("median", "hyperband", "none")


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose from {list(SAMPLERS)}")


def _pruner(name: str, warmup_steps: int) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_steps)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_steps))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose from {list(PRUNERS)}")


class OptunaController(Controller):
    """An Optuna study over the space's decisions.

    Args:
        space: the search space.
        seed: sampler seed.
        sampler: ``tpe`` | ``random`` | ``nsga2`` | ``qmc``.
        pruner: ``median`` | ``hyperband`` | ``none``.
        warmup_steps: evaluations (epochs) before an architecture can be pruned.
    """

    name = "optuna"

    def __init__(self, space: Any, seed: int = 0, *, sampler: str = "tpe", pruner: str = "median",
                 warmup_steps: int = 10) -> None:
        super().__init__(space, seed)
        self.sampler_name, self.pruner_name, self.warmup_steps = sampler, pruner, warmup_steps
        self.study = self._new_study(seed)
        self._trials: dict[int, optuna.trial.Trial] = {}

    def _new_study(self, seed: int) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna.create_study(direction="maximize", sampler=_sampler(self.sampler_name, seed),
                                   pruner=_pruner(self.pruner_name, self.warmup_steps))

    def propose(self) -> Proposal:
        trial = self.study.ask()
        self._trials[trial.number] = trial
        return Proposal(self.space.suggest(trial), info={"phase": "trial", "trial": trial.number})

    def callbacks(self, proposal: Proposal, monitor: str) -> list[Callback]:
        trial = self._trials[proposal.info["trial"]]

        def report(value: float, step: int) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        return [PruningHook(monitor, report, optuna.TrialPruned)]

    def observe(self, proposal: Proposal, reward: float | None, state: str = "COMPLETE",
                weights: Any = None) -> None:
        trial = self._trials.pop(proposal.info["trial"])
        if state == "COMPLETE" and reward is not None:
            self.study.tell(trial, float(reward))
        else:
            self.study.tell(trial, state=TrialState.PRUNED if state == "PRUNED" else TrialState.FAIL)
        super().observe(proposal, reward, state, weights)

    def state_dict(self) -> dict[str, Any]:
        trials = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                TrialState.FAIL)):
            trials.append({"params": dict(t.params), "state": t.state.name, "value": t.value,
                           "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()},
                           "intermediate": {int(k): float(v) for k, v in t.intermediate_values.items()}})
        return {**super().state_dict(), "sampler": self.sampler_name, "pruner": self.pruner_name, "trials": trials}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        # a fresh study replays the finished trials; the sampler is reseeded past them
        self.study = self._new_study(self.seed + len(state["trials"]))
        self._trials = {}
        for t in state["trials"]:
            self.study.add_trial(optuna.trial.create_trial(
                params=t["params"], distributions={k: json_to_distribution(d) for k, d in t["distributions"].items()},
                value=t["value"] if t["state"] == "COMPLETE" else None, state=TrialState[t["state"]],
                intermediate_values=t["intermediate"]))
