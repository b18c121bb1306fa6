"""Sobol' sensitivity indices through SALib (``pip install 'sciml[uq]'``).

For a model ``Y = f(X_1..X_d)`` with independent inputs, the first-order index ``S_i =
Var(E[Y | X_i]) / Var(Y)`` is the share of the variance explained by ``X_i`` alone and the total
index ``ST_i = E[Var(Y | X_~i)] / Var(Y)`` the share involving ``X_i`` at all (Sobol' 1993,
Homma & Saltelli 1996). Estimated with SALib's Saltelli design on a scrambled Sobol' sequence
(``SALib.sample.sobol``: ``n (d + 2)`` evaluations, ``n (2d + 2)`` with second-order indices)
and its estimators (``SALib.analyze.sobol``: Saltelli 2010 for ``S_i``, Jansen 1999 for
``ST_i``) with bootstrap confidence half-widths.

Inputs are uniform on ``[low, high]`` per parameter; parameters of a
:class:`~sciml.simulators.base.ParameterSpace` with ``log_scale`` are uniform in
``[log low, log high]`` (the design is returned in physical units, the indices refer to the
log-uniform inputs). The estimator of several expectations from one adaptive
importance-sampling sample is :mod:`sciml.uq.multi_expectation`.

References: I. M. Sobol', Math. Model. Comput. Exp. 1 (1993) 407; A. Saltelli et al., Comput.
Phys. Commun. 181 (2010) 259; J. Herman, W. Usher, JOSS 2 (2017) 97 (SALib).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml.uq.metrics import MetricInputError, _np

__all__ = ["SobolIndices", "sobol_analyze", "sobol_design", "sobol_indices"]

_HINT = "pip install 'sciml[uq]'"


def _salib() -> tuple[Any, Any]:
    """``(SALib.sample.sobol, SALib.analyze.sobol)`` or an ImportError with the install hint."""
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError as exc:
        raise ImportError(f"Sobol' indices need SALib, which is not installed: {_HINT}") from exc
    return sample, analyze


@dataclass(frozen=True)
class SobolIndices:
    """First, total (and optionally second) order Sobol' indices with confidence half-widths.

    Attributes
    ----------
    names : tuple of str
    first, first_conf, total, total_conf : ndarray, shape ``(d,)`` or ``(k, d)`` for ``k`` outputs
    second, second_conf : ndarray, shape ``(d, d)`` or ``(k, d, d)`` (upper triangle), or None
    level : float
        Level of the bootstrap half-widths.
    n_base, n_evaluations : int
        ``n`` and the number of model evaluations.
    """

    names: tuple[str, ...]
    first: np.ndarray
    first_conf: np.ndarray
    total: np.ndarray
    total_conf: np.ndarray
    second: np.ndarray | None
    second_conf: np.ndarray | None
    level: float
    n_base: int
    n_evaluations: int


def _space(space: Any) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """``(names, bounds (d, 2) in sampling space, log_scale (d,))`` of a ParameterSpace or ``{name: (lo, hi)}``."""
    if hasattr(space, "parameters") and hasattr(space, "names"):
        items = [(p.name, p.low, p.high, bool(p.log_scale)) for p in space.parameters]
    elif isinstance(space, Mapping):
        items = [(str(k), *(float(b) for b in v), False) for k, v in space.items()]
    else:
        raise MetricInputError(f"space must be a ParameterSpace or a mapping name -> (low, high); "
                               f"got {type(space).__name__}")
    if not items:
        raise MetricInputError("the parameter space has no parameters")
    names = tuple(i[0] for i in items)
    bounds = np.array([[i[1], i[2]] for i in items], dtype=np.float64)
    log = np.array([i[3] for i in items], dtype=bool)
    if not np.all(np.isfinite(bounds)) or np.any(bounds[:, 1] <= bounds[:, 0]):
        raise MetricInputError(f"every parameter needs finite bounds with low < high; "
                               f"got {dict(zip(names, bounds.tolist()))}")
    bounds[log] = np.log(bounds[log])
    return names, bounds, log


def _problem(names: tuple[str, ...], bounds: np.ndarray) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": bounds.tolist()}


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 or n & (n - 1):
        raise MetricInputError(f"n (base samples) must be a power of 2 >= 2 (Sobol' sequence balance); got {n!r}")
    return int(n)


def sobol_design(space: Any, n: int, *, seed: int = 0, second_order: bool = False) -> np.ndarray:
    """Saltelli design on a scrambled Sobol' sequence, in physical units.

    Parameters
    ----------
    space : ParameterSpace or mapping name -> (low, high)
    n : int
        Base samples, a power of 2.
    seed : int
        Scrambling seed.
    second_order : bool
        Also the rows for second-order indices.

    Returns
    -------
    ndarray, shape ``(n (d + 2), d)`` or ``(n (2d + 2), d)``

    Raises
    ------
    MetricInputError
        A bad space or ``n``. ImportError without SALib.
    """
    sample, _ = _salib()
    names, bounds, log = _space(space)
    x = sample.sample(_problem(names, bounds), _check_n(n), calc_second_order=bool(second_order), seed=int(seed))
    x[:, log] = np.exp(x[:, log])
    return x


def sobol_analyze(space: Any, y: Any, *, second_order: bool = False, n_resamples: int = 100, level: float = 0.95,
                  seed: int = 0) -> SobolIndices:
    """Sobol' indices from the outputs ``y`` on the rows of :func:`sobol_design` (same ``second_order``).

    Parameters
    ----------
    space : ParameterSpace or mapping name -> (low, high)
    y : array_like, shape ``(n_rows,)`` or ``(n_rows, k)`` for ``k`` outputs
    second_order : bool
    n_resamples : int
        Bootstrap resamples of the confidence half-widths.
    level : float
        Their level, in ``(0, 1)``.
    seed : int
        Bootstrap seed.

    Raises
    ------
    MetricInputError
        Rows that are not a Saltelli design's count, non-finite or constant outputs, a bad level.
    """
    _, analyze = _salib()
    names, bounds, _ = _space(space)
    d = len(names)
    out = _np(y, "y")
    cols = out[:, None] if out.ndim == 1 else out
    per = 2 * d + 2 if second_order else d + 2
    if cols.ndim != 2 or cols.shape[0] % per or cols.shape[0] // per < 2:
        raise MetricInputError(f"y must have n * {per} rows (n >= 2) for d = {d} parameters"
                               f"{' with second order' if second_order else ''}; got shape {out.shape}")
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level must lie in (0, 1); got {level!r}")
    if np.any(np.ptp(cols, axis=0) == 0):
        raise MetricInputError("an output is constant over the design: its Sobol' indices are undefined")
    res = [analyze.analyze(_problem(names, bounds), cols[:, j], calc_second_order=bool(second_order),
                           num_resamples=int(n_resamples), conf_level=float(level), seed=int(seed))
           for j in range(cols.shape[1])]

    def get(key: str) -> np.ndarray:
        arr = np.stack([np.asarray(r[key], dtype=np.float64) for r in res])
        return arr[0] if out.ndim == 1 else arr

    two = (get("S2"), get("S2_conf")) if second_order else (None, None)
    return SobolIndices(names, get("S1"), get("S1_conf"), get("ST"), get("ST_conf"), *two, float(level),
                        cols.shape[0] // per, cols.shape[0])


def sobol_indices(fn: Callable[[np.ndarray], Any], space: Any, n: int, *, seed: int = 0, second_order: bool = False,
                  n_resamples: int = 100, level: float = 0.95) -> SobolIndices:
    """Sobol' indices of a vectorised model ``fn(X (rows, d)) -> (rows,)`` or ``(rows, k)``.

    :func:`sobol_design` then :func:`sobol_analyze` (the bootstrap uses ``seed`` too). To run a
    simulator over the design through an executor, call the two steps yourself.

    Raises
    ------
    MetricInputError
        As the two steps, or ``fn`` returning the wrong number of rows.
    """
    x = sobol_design(space, n, seed=seed, second_order=second_order)
    y = _np(fn(x), "fn(X)")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise MetricInputError(f"fn must return one value (or row) per design row, {x.shape[0]} rows; got {y.shape}")
    return sobol_analyze(space, y, second_order=second_order, n_resamples=n_resamples, level=level, seed=seed)
