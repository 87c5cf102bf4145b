"""A trial's per-epoch reports to Optuna, written in one transaction when its pruner never prunes.

Each ``trial.report`` is one database commit (~13 ms on a SQLite file: the commit waits for the disk),
30 of them in a 30-epoch trial. With ``pruner: none`` nothing reads them while the trial runs (only the
study's ``intermediate_values`` plot does, after it), so they are kept in memory and written together by
:meth:`TrialReports.flush`, which the trial calls when training ends, also after a failure.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrialReports", "freeze_heap"]


class TrialReports:
    """Report ``(value, step)`` pairs of one trial; ``report`` returns whether the trial should be pruned.

    Args:
        study: the trial's study (its ``pruner`` decides: a ``NopPruner`` defers every report).
        trial: the running Optuna trial.
    """

    def __init__(self, study: Any, trial: Any) -> None:
        import optuna

        self.trial = trial
        self.storage = study._storage
        self.deferred = isinstance(study.pruner, optuna.pruners.NopPruner)
        self.pending: dict[int, float] = {}

    def report(self, value: float, step: int) -> bool:
        if not self.deferred:
            self.trial.report(value, step)
            return bool(self.trial.should_prune())
        self.pending[int(step)] = float(value)  # the last value of a step wins, as in trial.report
        return False

    def flush(self) -> None:
        """Write the deferred reports (one transaction on an RDB storage, else one call each)."""
        if not self.pending:
            return
        items, self.pending = sorted(self.pending.items()), {}
        backend = getattr(self.storage, "_backend", self.storage)
        write = getattr(backend, "_set_trial_intermediate_value_without_commit", None)
        if write is not None and hasattr(backend, "scoped_session"):
            from optuna.storages._rdb.storage import _create_scoped_session

            with _create_scoped_session(backend.scoped_session, True) as session:
                for step, value in items:
                    write(session, self.trial._trial_id, step, value)
            return
        for step, value in items:
            self.trial.report(value, step)


_FREEZES: list[int] = [0]


def freeze_heap() -> None:
    """Move the objects alive now (imported modules, the study, the catalog) out of the collector's reach.

    A search collects garbage after every trial (models and optimizers hold reference cycles); a full
    collection of a process with torch, MLflow and SQLAlchemy loaded scans millions of objects: ~0.4 s per
    trial on a 2-core CPU box, 15 % of a 3-second trial. Called before each trial; it freezes twice per
    process: before the first trial, and before the second (what the first imported lazily is then alive
    and its garbage is collected). Later collections scan only what the trials create. Frozen objects are
    never collected; they live as long as the process anyway.
    """
    import gc

    if _FREEZES[0] < 2:
        gc.collect()
        gc.freeze()
        _FREEZES[0] += 1
