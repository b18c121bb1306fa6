"""Parameter designs: which parameter values a campaign runs.

Four kinds, each producing a list of ``{name: value}`` points:

``list``
    Points given explicitly.
``grid``
    The Cartesian product of per-parameter value lists.
``lhs``
    A Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`) of ``n`` points.
``sobol``
    A scrambled Sobol sequence (:class:`scipy.stats.qmc.Sobol`) of ``n`` points
    (a power of two keeps its balance properties).

Space-filling designs sample each parameter uniformly between its bounds, or uniformly in
``log`` when the parameter is declared ``log_scale`` (or listed in ``log``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import qmc

from sciml.simulators.base import ParameterSpace


def list_design(points: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Return the given points as a list of plain dicts."""
    return [dict(p) for p in points]


def grid_design(values: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Cartesian product of per-parameter values, last parameter varying fastest.

    Examples
    --------
    >>> grid_design({"a": [1, 2], "b": [0.5]})
    [{'a': 1, 'b': 0.5}, {'a': 2, 'b': 0.5}]
    """
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))]


def space_filling_design(
    kind: str,
    n: int,
    bounds: Mapping[str, tuple[float, float]],
    *,
    seed: int,
    log: Sequence[str] = (),
) -> list[dict[str, float]]:
    """Latin hypercube or scrambled Sobol points in a box.

    Parameters
    ----------
    kind : {"lhs", "sobol"}
        Sampler.
    n : int
        Number of points.
    bounds : mapping of name to (low, high)
        Box to fill.
    seed : int
        Seed of the (scrambled) sampler.
    log : sequence of str
        Parameters sampled uniformly in ``log10`` (bounds must be positive).

    Returns
    -------
    list of dict
        ``n`` points.
    """
    names = list(bounds)
    d = len(names)
    if d == 0:
        raise ValueError("a space-filling design needs at least one parameter with bounds")
    if kind == "lhs":
        sampler: qmc.QMCEngine = qmc.LatinHypercube(d=d, seed=seed)
    elif kind == "sobol":
        sampler = qmc.Sobol(d=d, scramble=True, seed=seed)
    else:
        raise ValueError(f"unknown space-filling design {kind!r}; accepted: 'lhs', 'sobol'")
    unit = sampler.random(n)
    lows = np.empty(d)
    highs = np.empty(d)
    for j, name in enumerate(names):
        lo, hi = (float(v) for v in bounds[name])
        if name in log:
            if lo <= 0:
                raise ValueError(f"log-scaled parameter {name!r} needs positive bounds, got {lo}")
            lo, hi = np.log10(lo), np.log10(hi)
        lows[j], highs[j] = lo, hi
    scaled = qmc.scale(unit, lows, highs) if np.all(highs > lows) else lows + unit * (highs - lows)
    points = []
    for row in scaled:
        point = {}
        for j, name in enumerate(names):
            v = float(row[j])
            point[name] = float(10.0**v) if name in log else v
        points.append(point)
    return points


def default_bounds(space: ParameterSpace, names: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """Bounds of the named parameters (all by default) from a simulator's parameter space."""
    chosen = list(names) if names is not None else space.names
    return {n: (space[n].low, space[n].high) for n in chosen}
