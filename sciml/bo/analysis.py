"""What a set of BO runs achieved: regret curves against cumulative cost, their mean over runs,
and the cost at which a curve reaches a target.

A run's **inference regret** after each iteration is ``problem.simple_regret(true value of the
recommendation)`` (``>= 0``); as a function of the cumulative cost it is a right-continuous step
function that changes at each recorded recommendation (:func:`regret_curve`,
:func:`step_values`). All arrays are float64 numpy arrays; NaN means "undefined" (no
recommendation yet, or not evaluated).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "cost_to_reach",
    "curve_of",
    "mean_curve",
    "nan_to_none",
    "regret_curve",
    "standard_error",
    "step_values",
]


def regret_curve(recommendations: Sequence[Mapping[str, Any]], *, cost_offset: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Regret of each recorded recommendation against the cumulative cost when it was made.

    Parameters
    ----------
    recommendations : sequence of dict
        ``BOResult.recommendations`` (keys ``cumulative_cost`` and ``regret``).
    cost_offset : float
        Subtracted from every cost (e.g. the cost of the initial design).

    Returns
    -------
    cost, regret : ndarray, shape (r,)
        Costs non-decreasing; a recommendation without a regret (not evaluated) is NaN.

    Raises
    ------
    ValueError
        Costs that decrease (not one run's history).
    """
    cost = np.array([float(r["cumulative_cost"]) for r in recommendations], dtype=np.float64) - cost_offset
    regret = np.array([math.nan if r.get("regret") is None else float(r["regret"]) for r in recommendations],
                      dtype=np.float64)
    if cost.size > 1 and bool((np.diff(cost) < 0).any()):
        raise ValueError(f"recommendation costs must not decrease, got {cost.tolist()}")
    return cost, regret


def step_values(cost: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Evaluate the right-continuous step function through ``(cost, values)`` at ``at``.

    ``f(c)`` is the value of the last point with ``cost <= c``: NaN before the first point,
    the last value after the last point (a finished run keeps its final recommendation).
    Among points with equal costs the last one wins.

    Parameters
    ----------
    cost : ndarray, shape (r,)
        Non-decreasing breakpoints.
    values : ndarray, shape (r,)
    at : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (m,)
    """
    cost = np.asarray(cost, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    idx = np.searchsorted(cost, at, side="right") - 1
    out = np.full(at.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def mean_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard error over runs of step-function curves, exactly, at all breakpoints.

    Parameters
    ----------
    curves : sequence of (cost, regret)
        One per run (:func:`regret_curve`).

    Returns
    -------
    grid : ndarray, shape (m,)
        Sorted union of the breakpoints.
    mean, se : ndarray, shape (m,)
        Mean and ``std(ddof=1) / sqrt(n)`` over runs (``se = 0`` for one run); NaN where
        some run has no recommendation yet.
    """
    if not curves:
        raise ValueError("mean_curve needs at least one curve")
    grid = np.unique(np.concatenate([np.asarray(c, dtype=np.float64) for c, _ in curves]))
    vals = np.stack([step_values(c, r, grid) for c, r in curves])
    n = vals.shape[0]
    with np.errstate(invalid="ignore"):
        mean = vals.mean(axis=0)
        se = vals.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return grid, mean, se


def cost_to_reach(grid: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """Smallest cost from which the curve stays ``<= target`` up to its last point.

    Parameters
    ----------
    grid : ndarray, shape (m,)
        Breakpoints (sorted).
    values : ndarray, shape (m,)
        Curve values there (NaN = undefined, never "reached").
    target : float

    Returns
    -------
    float or None
        ``None`` when the last value is above the target (or undefined).
    """
    grid = np.asarray(grid, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if grid.size == 0:
        return None
    below = values <= target  # NaN compares False
    if not bool(below[-1]):
        return None
    above = np.nonzero(~below)[0]
    first = 0 if above.size == 0 else int(above[-1]) + 1
    return float(grid[first])


def standard_error(values: Sequence[float]) -> float:
    """``std(ddof=1) / sqrt(n)`` of ``values`` (0 for a single value)."""
    v = [float(x) for x in values]
    return statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else 0.0


def nan_to_none(a: np.ndarray) -> list[float | None]:
    """A JSON-able list: non-finite entries as ``None``."""
    return [None if not math.isfinite(float(x)) else float(x) for x in a]


def curve_of(curve: Mapping[str, Any], key: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """``(cost, values)`` arrays of a JSON curve ``{"cost": [...], key: [...]}`` (``None`` -> NaN)."""
    return (np.asarray(curve["cost"], dtype=np.float64),
            np.asarray([math.nan if v is None else v for v in curve[key]], dtype=np.float64))
