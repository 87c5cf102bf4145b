"""Auto-GNN's reinforced conservative controller (RCNAS), Zhou et al., arXiv 1909.03184.

* **Conservative explorer**: keeps the best architecture ``b`` found so far (its
  reward never decreases); every proposal differs from ``b`` in exactly one action class.
* **Class controllers**: one LSTM per action class ``c`` (``lstm_size`` 100). It reads
  ``b`` with class ``c`` removed (one embedded token per remaining decision), then emits
  class ``c``'s value for every layer autoregressively with ENAS' logits
  ``tanh_constant * tanh(W h / temperature)`` (2.5, 5).
* **Action guider**: picks the class to change from the controllers' decision entropies
  ``H_c`` on ``b``: ``argmax_c H_c`` or a sample from ``softmax(H)`` (default), over the
  classes with more than one value (``--choices`` may pin a class to one value).
* **Reward / update**: the reward is the child's validation accuracy ``r``. REINFORCE
  with baseline ``beta`` initialised to the best reward and then an EMA
  (``beta <- d beta + (1-d) r``, AutoGL); advantage ``A = r - beta`` (``baseline="best"``:
  ``A = r - r_best``, the third-party variant). Only the chosen class's controller is updated:
  ``loss = -A log p_c(child | b) - entropy_coeff H``, Adam (lr 3.5e-4).
* **Constrained parameter sharing**: the child's ``parent`` is ``b``; the NAS loop copies
  ``b``'s trained weights into homogeneous layers (:mod:`plexus.nas.sharing`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from plexus.nas.controllers.base import Controller, Proposal
from plexus.nas.spaces.base import SearchSpace
from plexus.platform.errors import ConfigError
from torch import Tensor, nn

__all__ = ["ClassController", "RCNASController"]


class ClassController(nn.Module):
    """The RNN of one action class: ``(best tokens) -> distribution over the class's value in each layer``."""

    def __init__(self, space: SearchSpace, action: str, lstm_size: int = 100, temperature: float = 5.0,
                 tanh_constant: float = 2.5) -> None:
        super().__init__()
        self.action = action
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.out_positions = space.positions(action)
        self.ctx_positions = [k for k, d in enumerate(space.decisions) if d.action != action]
        sizes = [len(space.decisions[k].choices) for k in self.ctx_positions]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        n_choices = len(space.choices(action))
        self.start = nn.Parameter(torch.zeros(1, lstm_size))
        self.ctx_emb = nn.Embedding(max(1, sum(sizes)), lstm_size)
        self.query = nn.Embedding(len(self.out_positions), lstm_size)
        self.value_emb = nn.Embedding(n_choices, lstm_size)
        self.lstm = nn.LSTMCell(lstm_size, lstm_size)
        self.decoder = nn.Linear(lstm_size, n_choices)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def forward(self, tokens: Sequence[int], values: Sequence[int] | None = None,
                generator: torch.Generator | None = None) -> tuple[list[int], Tensor, Tensor]:
        """Sample (or score, when ``values`` is given) this class's values given the rest of ``tokens``.

        Returns ``(values, sum of log-probabilities, sum of entropies)``.
        """
        h = c = torch.zeros_like(self.start)
        h, c = self.lstm(self.start, (h, c))
        for off, k in zip(self.offsets, self.ctx_positions):
            h, c = self.lstm(self.ctx_emb.weight[off + int(tokens[k])].unsqueeze(0), (h, c))
        out: list[int] = []
        log_p, ent = self.start.new_zeros(()), self.start.new_zeros(())
        for j in range(len(self.out_positions)):
            x = self.query.weight[j].unsqueeze(0)
            if out:
                x = x + self.value_emb.weight[out[-1]].unsqueeze(0)
            h, c = self.lstm(x, (h, c))
            logits = self.tanh_constant * torch.tanh(self.decoder(h).squeeze(0) / self.temperature)
            logp = torch.log_softmax(logits, -1)
            if values is None:
                v = int(torch.multinomial(logp.exp().detach(), 1, generator=generator))
            else:
                v = int(values[j])
            log_p = log_p + logp[v]
            ent = ent - (logp.exp() * logp).sum()
            out.append(v)
        return out, log_p, ent


class RCNASController(Controller):
    """Reinforced conservative NAS with constrained parameter sharing (Auto-GNN).

    Args:
        space: the search space.
        seed: seed of sampling and of the controllers' initialisation.
        share: pass the best architecture as the child's parent (constrained parameter sharing).
        lstm_size: LSTM width per class controller.
        temperature: softmax temperature of the logits.
        tanh_constant: logit range constant.
        lr: Adam learning rate of the controllers.
        guide: ``sample`` (softmax over entropies) | ``argmax`` (the most uncertain class).
        baseline: ``ema`` (initialised at the best reward) | ``best`` (advantage over the best reward).
        baseline_decay: EMA decay of the baseline.
        entropy_coeff: entropy bonus in the policy loss.
    """

    name = "autognn"

    def __init__(self, space: SearchSpace, seed: int = 0, *, share: bool = True, lstm_size: int = 100,
                 temperature: float = 5.0, tanh_constant: float = 2.5, lr: float = 3.5e-4,
                 guide: Literal["sample", "argmax"] = "sample", baseline: Literal["ema", "best"] = "ema",
                 baseline_decay: float = 0.95, entropy_coeff: float = 1e-4) -> None:
        super().__init__(space, seed)
        self.shares_weights = share
        self.guide, self.baseline_mode = guide, baseline
        self.baseline_decay, self.entropy_coeff = baseline_decay, entropy_coeff
        self.baseline: float | None = None
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.controllers = nn.ModuleDict({
                c.replace("-", "_"): ClassController(space, c, lstm_size, temperature, tanh_constant)
                for c in space.classes})
        self.optimizers = {k: torch.optim.Adam(m.parameters(), lr=lr) for k, m in self.controllers.items()}
        self.generator = torch.Generator().manual_seed(seed)
        self.last_entropies: dict[str, float] = {}

    def controller(self, action: str) -> ClassController:
        return self.controllers[action.replace("-", "_")]

    # ------------------------------------------------------------- guider
    @torch.no_grad()
    def entropies(self, arch: Any) -> dict[str, float]:
        """Decision entropy of each class controller on ``arch`` (teacher-forced on its own values)."""
        tokens = self.space.encode(arch)
        out = {}
        for c in self.space.classes:
            ctl = self.controller(c)
            _, _, ent = ctl(tokens, [tokens[k] for k in ctl.out_positions])
            out[c] = float(ent)
        return out

    def mutable_classes(self) -> list[str]:
        """The action classes with more than one value (a class restricted to one value can never change)."""
        return [c for c in self.space.classes if len(self.space.choices(c)) > 1]

    def choose_class(self, arch: Any) -> str:
        ent = self.entropies(arch)
        self.last_entropies = ent
        classes = self.mutable_classes()
        if not classes:
            raise ConfigError("autognn: every action class of the space has a single value, so no child can differ "
                              "from the current best in one class; widen --choices")
        if self.guide == "argmax":
            return max(classes, key=lambda c: ent[c])
        top = max(ent.values())
        weights = [math.exp(ent[c] - top) for c in classes]
        return self.rng.choices(classes, weights=weights, k=1)[0]

    # ------------------------------------------------------------- proposals
    def mutate(self, arch: Any, action: str, tries: int = 20) -> Any:
        """``arch`` with class ``action`` resampled by its controller in every layer (always a change)."""
        if len(self.space.choices(action)) < 2:
            raise ConfigError(f"autognn: action class {action!r} has a single value; it cannot be mutated")
        tokens = self.space.encode(arch)
        ctl = self.controller(action)
        current = [tokens[k] for k in ctl.out_positions]
        with torch.no_grad():
            for _ in range(tries):
                values, _, _ = ctl(tokens, generator=self.generator)
                if values != current:
                    break
            else:  # the controller is confident in the current values: force one layer to move
                j = self.rng.randrange(len(current))
                choices = [v for v in range(len(self.space.decisions[ctl.out_positions[j]].choices))
                           if v != current[j]]
                values = list(current)
                values[j] = self.rng.choice(choices)
        for k, v in zip(ctl.out_positions, values):
            tokens[k] = v
        return self.space.decode(tokens)

    def propose(self) -> Proposal:
        if self.best_arch is None:  # the explorer's starting point
            return Proposal(self.space.sample(self.rng), info={"phase": "init"})
        action = self.choose_class(self.best_arch)
        child = self.mutate(self.best_arch, action)
        return Proposal(child, parent=self.best_arch,
                        info={"phase": "mutate", "action": action, "entropies": dict(self.last_entropies)})

    # ------------------------------------------------------------- learning
    def log_prob(self, parent: Any, child: Any, action: str) -> Tensor:
        """``log p_c(child's class-c values | parent without class c)`` (differentiable)."""
        ctl = self.controller(action)
        ptoks, ctoks = self.space.encode(parent), self.space.encode(child)
        _, logp, _ = ctl(ptoks, [ctoks[k] for k in ctl.out_positions])
        return logp

    def reinforce(self, parent: Any, child: Any, action: str, advantage: float) -> float:
        """One REINFORCE step of class ``action``'s controller; returns the loss."""
        ctl = self.controller(action)
        ptoks, ctoks = self.space.encode(parent), self.space.encode(child)
        _, logp, ent = ctl(ptoks, [ctoks[k] for k in ctl.out_positions])
        loss = -advantage * logp - self.entropy_coeff * ent
        opt = self.optimizers[action.replace("-", "_")]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def observe(self, proposal: Proposal, reward: float | None, state: str = "COMPLETE",
                weights: dict[str, Tensor] | None = None) -> None:
        if proposal.info.get("phase") == "mutate" and state != "PRUNED":
            r = 0.0 if reward is None else float(reward)
            if self.baseline is None:
                self.baseline = self.best_reward
            adv = r - (self.best_reward if self.baseline_mode == "best" else self.baseline)
            proposal.info["advantage"] = adv
            self.reinforce(proposal.parent, proposal.arch, proposal.info["action"], adv)
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * r
        super().observe(proposal, reward, state, weights)

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": self.baseline,
                "controllers": self.controllers.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline = state["baseline"]
        self.controllers.load_state_dict(state["controllers"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.generator.set_state(state["generator"])
