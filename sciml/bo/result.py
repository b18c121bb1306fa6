"""The history of a BO run (:class:`BOResult`) and the JSON form of what a loop records."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.bo.fidelity import DTYPE

__all__ = ["BOResult", "jsonable", "timing_record"]


@dataclass
class BOResult:
    """History of a :class:`~sciml.bo.loop.BOLoop` run.

    Attributes
    ----------
    problem, method, model_kind : str
    seed : int
    X : Tensor, shape (n, d)
        Evaluated designs (physical units), in the order observed.
    fidelities : Tensor, shape (n,)
        Physical fidelities (NaN for a problem without fidelity).
    values : Tensor, shape (n,)
        Objective values in the problem's own sense (NaN/inf for failures).
    costs, cumulative_cost : Tensor, shape (n,)
        Cost of each evaluation and the running total.
    status : list of str
        ``"ok"`` or ``"failed"`` per evaluation.
    iteration : Tensor, shape (n,), long
        ``0`` for the initial design, ``k`` for BO batch ``k``.
    recommendations : list of dict
        One per completed iteration count: ``after_iteration``, ``n_observations``,
        ``cumulative_cost``, ``x`` (list, physical), ``posterior_mean`` (problem's sense),
        ``true_value`` and ``regret`` (``None`` when not evaluated / optimum unknown).
    timings : list of dict
        Per iteration: ``iteration``, ``fit_s``, ``recommend_s``, ``acquisition_s``,
        ``evaluation_s``, ``n_points``, ``cost``.
    acquisitions : list of dict
        Summary of each acquisition call (``acq_value``, optimizer ...).
    optimum_value : float or None
        The problem's known optimum.
    failures : dict of int to str
        Why each failed evaluation failed, keyed by its index in the history (the objective's
        exception, or the non-finite value).
    """

    problem: str
    method: str
    model_kind: str
    seed: int
    X: Tensor
    fidelities: Tensor
    values: Tensor
    costs: Tensor
    cumulative_cost: Tensor
    status: list[str]
    iteration: Tensor
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)
    acquisitions: list[dict[str, Any]] = field(default_factory=list)
    optimum_value: float | None = None
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def n_evaluations(self) -> int:
        """Number of evaluations (failed ones included)."""
        return int(self.values.shape[0])

    @property
    def n_failed(self) -> int:
        """Number of failed evaluations."""
        return sum(s == "failed" for s in self.status)

    @property
    def total_cost(self) -> float:
        """Cumulative cost of all evaluations."""
        return float(self.costs.sum())

    @property
    def recommendation(self) -> dict[str, Any] | None:
        """The last recommendation (``None`` before any)."""
        return self.recommendations[-1] if self.recommendations else None

    def recommendation_curve(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(cumulative cost, true value, regret)`` of the recommendations, each ``(r,)`` (NaN if unknown)."""
        def col(key: str) -> Tensor:
            return torch.tensor([math.nan if r.get(key) is None else float(r[key]) for r in self.recommendations],
                                dtype=DTYPE)
        return col("cumulative_cost"), col("true_value"), col("regret")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN -> ``None``)."""
        return jsonable({
            "problem": self.problem, "method": self.method, "model_kind": self.model_kind, "seed": self.seed,
            "X": self.X, "fidelities": self.fidelities, "values": self.values, "costs": self.costs,
            "cumulative_cost": self.cumulative_cost, "status": self.status, "iteration": self.iteration,
            "recommendations": self.recommendations, "timings": self.timings,
            "acquisitions": self.acquisitions, "optimum_value": self.optimum_value,
            "failures": self.failures,
        })


def timing_record(iteration: int, fit_s: float | None, recommend_s: float | None, acquisition_s: float | None,
                  n_points: int) -> dict[str, Any]:
    """A per-iteration timing record (``evaluation_s`` and ``cost`` accumulate as points are observed)."""
    return {"iteration": iteration, "fit_s": fit_s, "recommend_s": recommend_s, "acquisition_s": acquisition_s,
            "evaluation_s": 0.0, "n_points": n_points, "cost": 0.0}


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data: tensors and arrays as lists, non-finite floats as ``None``."""
    if isinstance(obj, Tensor):
        return jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)

