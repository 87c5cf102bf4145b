"""Random search: the baseline every NAS claim is measured against (uniform over the space)."""

from __future__ import annotations

from plexus.nas.controllers.base import Controller, Proposal

__all__ = ["RandomController"]


class RandomController(Controller):
    """Samples every decision uniformly and independently (budget-matched baseline)."""

    name = "random"

    def propose(self) -> Proposal:
        return Proposal(self.space.sample(self.rng), info={"phase": "random"})
