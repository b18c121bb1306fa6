"""Declared cost models of a fidelity: the cost of one evaluation as a function of ``s``.

Each is a callable ``cost(s) -> Tensor`` on physical fidelities ``s`` (float64, any shape),
finite and positive over the fidelity's range; :class:`~sciml.bo.problem.MultiFidelityProblem`
checks that when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from sciml.bo.fidelity import DTYPE, REL_TOL
from sciml.errors import ParameterError

__all__ = ["AffineFidelityCost", "CostModel", "PowerFidelityCost", "TableFidelityCost"]

CostModel = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class AffineFidelityCost:
    """Declared cost ``fixed_cost + weight * s`` (``s`` in physical fidelity units).

    With ``s`` in ``[0, 1]``, ``AffineFidelityCost(5, 1)`` is the cost model of BoTorch's
    multi-fidelity knowledge-gradient tutorial.
    """

    fixed_cost: float = 1.0
    weight: float = 1.0

    def __call__(self, s: Tensor) -> Tensor:
        return self.fixed_cost + self.weight * s


@dataclass(frozen=True)
class PowerFidelityCost:
    """Declared cost ``scale * (s / reference) ** exponent``.

    E.g. an explicit 1D solver on ``n`` cells under a CFL condition costs ``~ n^2``:
    ``PowerFidelityCost(reference=512, exponent=2)`` gives cost 1 at ``n = 512``.
    """

    reference: float = 1.0
    exponent: float = 1.0
    scale: float = 1.0

    def __call__(self, s: Tensor) -> Tensor:
        return self.scale * (s / self.reference) ** self.exponent


@dataclass(frozen=True)
class TableFidelityCost:
    """Declared cost per level of a discrete fidelity, ``{level: cost}``."""

    costs: Mapping[float, float]

    def __call__(self, s: Tensor) -> Tensor:
        levels = torch.tensor([float(k) for k in self.costs], dtype=DTYPE)
        values = torch.tensor([float(v) for v in self.costs.values()], dtype=DTYPE)
        dist = (s.reshape(-1, 1) - levels).abs()
        idx = dist.argmin(dim=1)
        missing = dist.gather(1, idx[:, None])[:, 0] > REL_TOL * torch.clamp(levels[idx].abs(), min=1.0)
        if bool(missing.any()):
            raise ParameterError(f"no declared cost for fidelity value(s) {s.reshape(-1)[missing].tolist()}; "
                                 f"costs are declared for {sorted(float(k) for k in self.costs)}")
        return values[idx].reshape(s.shape)

