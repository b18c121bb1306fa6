"""The declared cost of a problem as a deterministic BoTorch model of the unit fidelity.

Cost-aware acquisitions (``InverseCostWeightedUtility``) weigh candidates with a BoTorch cost
model on model coordinates; :func:`cost_model_for` builds it from the problem's declared cost.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.cost import AffineFidelityCostModel
from botorch.models.deterministic import DeterministicModel, GenericDeterministicModel
from torch import Tensor

from sciml.bo.candidates import check_problem
from sciml.bo.fidelity import DTYPE
from sciml.bo.names import MFKG
from sciml.bo.problem import MultiFidelityProblem

__all__ = ["cost_model_for"]


class _UnitCost(torch.autograd.Function):
    """``problem.cost_unit(z)`` with a central finite-difference derivative (0 for discrete levels)."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, problem: MultiFidelityProblem) -> Tensor:  # type: ignore[override]
        ctx.problem = problem
        ctx.save_for_backward(z)
        flat = z.detach().reshape(-1).clamp(0.0, 1.0)
        return problem.cost_unit(flat).reshape(z.shape).to(z)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        problem: MultiFidelityProblem = ctx.problem
        if problem.fidelity is None or problem.fidelity.kind == "discrete":
            return torch.zeros_like(z), None
        h = 1e-6
        flat = z.detach().reshape(-1).clamp(0.0, 1.0)
        lo, hi = (flat - h).clamp(0.0, 1.0), (flat + h).clamp(0.0, 1.0)
        dc = (problem.cost_unit(hi) - problem.cost_unit(lo)) / (hi - lo)
        return grad * dc.reshape(z.shape).to(z), None


def cost_model_for(problem: MultiFidelityProblem) -> tuple[DeterministicModel, str]:
    """Deterministic BoTorch cost model of the problem's declared cost, in unit-fidelity coordinates.

    The declared cost is probed with :meth:`MultiFidelityProblem.cost_unit` on 17 points of a
    continuous fidelity (or on the discrete levels). When it is affine in the unit fidelity
    ``z`` (to ``1e-9`` relative) the result is BoTorch's ``AffineFidelityCostModel`` with
    ``cost = c(0) + (c(1) - c(0)) z``; otherwise a ``GenericDeterministicModel`` evaluating
    ``problem.cost_unit`` (with a finite-difference derivative for a continuous fidelity).

    Parameters
    ----------
    problem : MultiFidelityProblem
        With a fidelity.

    Returns
    -------
    model : DeterministicModel
        Maps ``(.., q, d + 1)`` model inputs to ``(.., q, 1)`` positive costs.
    kind : {"affine", "generic"}
    """
    check_problem(problem, MFKG)
    f = problem.fidelity
    assert f is not None
    z = (torch.tensor(f.unit_values, dtype=DTYPE) if f.kind == "discrete"
         else torch.linspace(0.0, 1.0, 17, dtype=DTYPE))
    c = problem.cost_unit(z)
    c0, c1 = float(problem.cost_unit(torch.zeros(1, dtype=DTYPE))[0]), float(problem.cost_unit(
        torch.ones(1, dtype=DTYPE))[0])
    affine = c0 + (c1 - c0) * z
    if float((c - affine).abs().max()) <= 1e-9 * float(c.abs().max()):
        return AffineFidelityCostModel(fidelity_weights={problem.dim: c1 - c0}, fixed_cost=c0), "affine"
    col = problem.dim

    def cost(X: Tensor) -> Tensor:
        return _UnitCost.apply(X[..., col], problem).unsqueeze(-1)

    return GenericDeterministicModel(cost, num_outputs=1), "generic"

