"""Monte Carlo estimates of a scalar quantity of interest with confidence intervals.

From ``n`` independent draws ``X_1..X_n`` of a QoI (e.g. a submodel's peak stress under
generated boundary conditions):

===========================  ====================================================================
function                     estimate and interval
===========================  ====================================================================
:func:`mc_mean`              sample mean ``m``; ``m -/+ c s / sqrt(n)`` with ``c`` the Student-t
                             (``n - 1`` degrees of freedom) or normal quantile of ``(1 + level)/2``
:func:`mc_quantile`          empirical quantile; distribution-free interval ``[X_(l), X_(u)]``
                             between order statistics, ``P(X_(l) <= xi_q <= X_(u)) =
                             F_B(u - 1) - F_B(l - 1) >= level`` with ``F_B`` the Binomial(n, q) cdf
:func:`mc_exceedance`        ``P(X > threshold)`` as ``k / n``; Wilson score or Clopper-Pearson
                             (exact, conservative) interval
===========================  ====================================================================

Each returns a frozen dataclass. References: D. J. Hahn, W. Q. Meeker, *Statistical
Intervals* (1991), ch. 5 (order-statistic intervals); E. B. Wilson, JASA 22 (1927) 209;
C. J. Clopper, E. S. Pearson, Biometrika 26 (1934) 404; A. Agresti, B. Coull, Am. Stat. 52
(1998) 119.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy import stats

from sciml.uq.metrics import MetricInputError

__all__ = [
    "ExceedanceEstimate",
    "MeanEstimate",
    "QuantileEstimate",
    "mc_exceedance",
    "mc_mean",
    "mc_quantile",
    "order_statistic_ranks",
]

_NUMBER = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class MeanEstimate:
    """Sample mean of ``n`` draws with its standard error and a ``level`` confidence interval."""

    estimate: float
    std_error: float
    lower: float
    upper: float
    level: float
    n: int
    method: str


@dataclass(frozen=True)
class QuantileEstimate:
    """Empirical ``q``-quantile with a distribution-free interval between order statistics.

    ``lower_rank``/``upper_rank`` are the 1-based ranks ``l``, ``u`` of the bounds (0: the
    lower bound is ``-inf``; ``n + 1``: the upper bound is ``+inf``, too few draws for that
    side); ``coverage`` is the interval's exact coverage for a continuous distribution.
    """

    q: float
    estimate: float
    lower: float
    upper: float
    level: float
    coverage: float
    lower_rank: int
    upper_rank: int
    n: int


@dataclass(frozen=True)
class ExceedanceEstimate:
    """``P(X > threshold)`` estimated as ``n_exceed / n`` with a ``level`` interval."""

    threshold: float
    estimate: float
    lower: float
    upper: float
    level: float
    n_exceed: int
    n: int
    method: str


def _sample(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise MetricInputError(f"the QoI sample must be 1-D (one value per draw); got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError("the QoI sample is empty")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise MetricInputError(f"the QoI sample has {bad} non-finite value(s) of {arr.size}")
    return arr


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER) or not 0.0 < value < 1.0:
        raise MetricInputError(f"{name} must be a number in (0, 1); got {value!r}")
    return float(value)


def mc_mean(x: Any, *, level: float = 0.95, method: Literal["t", "normal"] = "t") -> MeanEstimate:
    """Mean of a QoI sample with a Student-t (default) or normal confidence interval.

    Parameters
    ----------
    x : array-like or Tensor, shape ``(n,)``
        ``n >= 2`` finite draws.
    level : float
        Confidence level in ``(0, 1)``.
    method : {"t", "normal"}
        Quantile of Student's t with ``n - 1`` degrees of freedom, or of the standard normal.

    Raises
    ------
    MetricInputError
        Not 1-D, fewer than 2 draws, non-finite values, ``level`` outside ``(0, 1)``, unknown method.
    """
    arr, level = _sample(x), _check_fraction(level, "level")
    if arr.size < 2:
        raise MetricInputError(f"a confidence interval of the mean needs n >= 2 draws; got {arr.size}")
    if method not in ("t", "normal"):
        raise MetricInputError(f"method must be one of 't', 'normal'; got {method!r}")
    n = arr.size
    se = float(arr.std(ddof=1) / math.sqrt(n))
    upper_prob = 0.5 * (1.0 + level)
    c = float(stats.t.ppf(upper_prob, n - 1)) if method == "t" else float(stats.norm.ppf(upper_prob))
    m = float(arr.mean())
    return MeanEstimate(m, se, m - c * se, m + c * se, level, n, method)


def order_statistic_ranks(n: int, q: float, level: float) -> tuple[int, int, float]:
    """1-based ranks ``(l, u)`` of a distribution-free ``level`` interval of the ``q``-quantile, and its coverage.

    ``l - 1`` is the largest ``k`` with ``F_B(k) <= (1 - level)/2`` and ``u - 1`` the smallest
    ``k`` with ``F_B(k) >= (1 + level)/2`` (``F_B``: Binomial(n, q) cdf, ``F_B(-1) = 0``), so each
    tail misses with probability at most ``(1 - level)/2``; ``l = 0`` / ``u = n + 1`` mean no
    finite bound on that side. ``coverage = F_B(u - 1) - F_B(l - 1)``.

    Raises
    ------
    MetricInputError
        ``n`` not an integer >= 1, ``q`` or ``level`` outside ``(0, 1)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise MetricInputError(f"n must be an integer >= 1; got {n!r}")
    q, level = _check_fraction(q, "q"), _check_fraction(level, "level")
    alpha = 1.0 - level
    cdf = np.concatenate([[0.0], stats.binom.cdf(np.arange(n + 1), n, q)])  # cdf[k + 1] = F_B(k)
    tol = 1e-12
    low_k = int(np.nonzero(cdf <= alpha / 2 + tol)[0].max()) - 1  # in -1..n
    high_k = int(np.nonzero(cdf >= 1 - alpha / 2 - tol)[0].min()) - 1
    lower_rank, upper_rank = low_k + 1, high_k + 1
    coverage = float(cdf[high_k + 1] - cdf[low_k + 1])
    return lower_rank, upper_rank, coverage


def mc_quantile(x: Any, q: float, *, level: float = 0.95) -> QuantileEstimate:
    """The ``q``-quantile of a QoI sample with a distribution-free (binomial) confidence interval.

    The estimate is ``np.quantile(x, q)`` (linear interpolation); the interval
    ``[X_(l), X_(u)]`` (order statistics, :func:`order_statistic_ranks`) covers the true
    quantile of any continuous distribution with probability ``coverage >= level``; a side
    without enough draws is unbounded (``-inf`` / ``+inf``).

    Raises
    ------
    MetricInputError
        Not 1-D, empty, non-finite values, ``q`` or ``level`` outside ``(0, 1)``.
    """
    arr = _sample(x)
    q, level = _check_fraction(q, "q"), _check_fraction(level, "level")
    n = arr.size
    l, u, coverage = order_statistic_ranks(n, q, level)
    s = np.sort(arr)
    lower = float(s[l - 1]) if l >= 1 else -math.inf
    upper = float(s[u - 1]) if u <= n else math.inf
    return QuantileEstimate(q, float(np.quantile(arr, q)), lower, upper, level, coverage, l, u, n)


def _wilson(k: int, n: int, level: float) -> tuple[float, float]:
    z = float(stats.norm.ppf(0.5 * (1.0 + level)))
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4)
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    alpha = 1.0 - level
    lower = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower, upper


def mc_exceedance(x: Any, threshold: float, *, level: float = 0.95,
                  method: Literal["wilson", "clopper-pearson"] = "wilson") -> ExceedanceEstimate:
    """``P(X > threshold)`` from a QoI sample, with a Wilson score or Clopper-Pearson interval.

    Parameters
    ----------
    x : array-like or Tensor, shape ``(n,)``
        Finite draws.
    threshold : float
        Finite; a draw exceeds it when strictly greater.
    level : float
        Confidence level in ``(0, 1)``.
    method : {"wilson", "clopper-pearson"}
        Wilson score interval (near-nominal coverage) or the exact Clopper-Pearson interval
        (coverage ``>= level``; ``[0, 1 - ((1 - level)/2)^(1/n)]`` when nothing exceeds).

    Raises
    ------
    MetricInputError
        Not 1-D, empty, non-finite values or threshold, ``level`` outside ``(0, 1)``, unknown method.
    """
    arr, level = _sample(x), _check_fraction(level, "level")
    if isinstance(threshold, bool) or not isinstance(threshold, _NUMBER) or not math.isfinite(threshold):
        raise MetricInputError(f"threshold must be a finite number; got {threshold!r}")
    if method not in ("wilson", "clopper-pearson"):
        raise MetricInputError(f"method must be one of 'wilson', 'clopper-pearson'; got {method!r}")
    n, k = arr.size, int((arr > threshold).sum())
    lower, upper = _wilson(k, n, level) if method == "wilson" else _clopper_pearson(k, n, level)
    return ExceedanceEstimate(float(threshold), k / n, lower, upper, level, k, n, method)
