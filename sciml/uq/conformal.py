"""Split-conformal prediction intervals around any :class:`~sciml.surrogates.base.Surrogate`.

A surrogate's posterior (``mean``, ``variance``, ``sample``) gives a nonconformity score per
calibration point; the finite-sample quantile of the ``n`` scores turns any later prediction
into an interval that contains a new exchangeable observation with probability at least
``1 - alpha`` (``alpha`` is the *miscoverage*, as in the conformal literature; the Gaussian
helpers of :mod:`sciml.uq.metrics` take the nominal coverage instead):

==================  ===============================================  ===================================
score               nonconformity ``s(y)``                           interval
==================  ===============================================  ===================================
``"absolute"``      ``|y - mean|``                                   ``mean -/+ q``
``"normalized"``    ``|y - mean| / std``                             ``mean -/+ q std``
``"cqr"``           ``max(lo - y, y - hi)``, ``lo``/``hi`` the       ``[lo - q, hi + q]``
                    posterior's ``alpha/2`` and ``1 - alpha/2``
                    quantiles
==================  ===============================================  ===================================

with ``q`` the ``k``-th smallest score, ``k = ceil((n + 1)(1 - alpha))`` (the empirical quantile
at level ``k / n``); ``k > n`` (``n < 1/alpha - 1``) has no finite interval and is an error. The
guarantee ``P(y in interval) >= 1 - alpha`` holds marginally over the calibration and test
draws, and the coverage is at most ``1 - alpha + 1/(n + 1)`` for continuous scores. Scores are
pooled over every entry of the prediction (``pooled=True``) or taken per entry across the
leading axis of exchangeable examples (``pooled=False``: one ``q`` per entry).

``"cqr"`` is conformalized quantile regression with the surrogate's predictive quantiles: the
empirical quantiles of ``posterior.sample`` (``quantiles="samples"``) or the Gaussian
quantiles ``mean -/+ z std`` (``quantiles="gaussian"``); a negative ``q`` (quantiles wider than
needed) narrows them, down to an empty interval (``lower > upper``).

References: J. Lei, M. G'Sell, A. Rinaldo, R. Tibshirani, L. Wasserman, JASA 113 (2018) 1094
(split conformal); Y. Romano, E. Patterson, E. Candès, NeurIPS 2019 (CQR); A. N. Angelopoulos,
S. Bates, arXiv:2107.07511 (normalized scores, the coverage bounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
from scipy.special import ndtri

from sciml.uq.metrics import MetricInputError, _np

__all__ = ["ConformalIntervals", "SplitConformal", "conformal_quantile"]

Score = Literal["absolute", "normalized", "cqr"]
SCORES: tuple[str, ...] = ("absolute", "normalized", "cqr")


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < alpha < 1.0:
        raise MetricInputError(f"alpha (the miscoverage) must lie in (0, 1); got {alpha!r}")
    return float(alpha)


def conformal_quantile(scores: Any, alpha: float, *, axis: int | None = None) -> float | np.ndarray:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` scores (along ``axis``; all if None).

    Raises
    ------
    MetricInputError
        ``alpha`` outside ``(0, 1)``, non-finite scores, or too few points: ``n < 1/alpha - 1``.
    """
    a = _check_alpha(alpha)
    s = _np(scores, "scores")
    s = s.ravel() if axis is None else np.moveaxis(s, axis, 0)
    n = s.shape[0] if s.ndim else 0
    k = math.ceil((n + 1) * (1.0 - a) - 1e-12)
    if n < 1 or k > n:
        need = math.ceil((1.0 - a) / a - 1e-12)
        raise MetricInputError(f"too few calibration points for alpha = {a:g}: n = {n}, need n >= {need} "
                               f"(the {k}-th smallest score)")
    q = np.partition(s, k - 1, axis=0)[k - 1]
    return float(q) if axis is None else q


@dataclass(frozen=True)
class ConformalIntervals:
    """Intervals ``[lower, upper]`` of nominal coverage ``1 - alpha``.

    Attributes
    ----------
    lower, upper : ndarray
        The prediction's shape.
    alpha : float
    score : str
    quantile : float or ndarray
        The calibrated ``q`` (per entry when not pooled).
    n_calibration : int
    """

    lower: np.ndarray
    upper: np.ndarray
    alpha: float
    score: str
    quantile: float | np.ndarray
    n_calibration: int

    @property
    def width(self) -> np.ndarray:
        """``upper - lower``."""
        return self.upper - self.lower

    def coverage(self, y: Any, *, where: Any = None) -> float:
        """Fraction of ``y`` (the prediction's shape) inside the intervals (over ``where`` if given)."""
        obs = _np(y, "y")
        if obs.shape != self.lower.shape:
            raise MetricInputError(f"y must have the intervals' shape {self.lower.shape}; got {obs.shape}")
        inside = (obs >= self.lower) & (obs <= self.upper)
        return float(inside[_mask(where, obs.shape)].mean())


def _mask(where: Any, shape: tuple[int, ...]) -> np.ndarray:
    if where is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(where)
    if m.dtype != bool or m.shape != shape:
        raise MetricInputError(f"where must be a boolean mask of shape {shape}; got {m.dtype} {m.shape}")
    if not m.any():
        raise MetricInputError("where selects no point")
    return m


class SplitConformal:
    """Split-conformal intervals around a surrogate (see the module docstring).

    Parameters
    ----------
    surrogate : Surrogate
        Anything with ``predict(inputs) -> Posterior``.
    alpha : float
        Miscoverage in ``(0, 1)``: intervals of nominal coverage ``1 - alpha``.
    score : {"absolute", "normalized", "cqr"}
    pooled : bool
        One ``q`` over every calibration entry, or one per entry across the leading axis.
    quantiles : {"samples", "gaussian"}
        Where ``"cqr"`` takes the posterior's quantiles from.
    n_samples : int
        Posterior draws for ``quantiles="samples"``.
    seed : int
        Seed of those draws (the same for calibration and prediction).
    std_floor : float
        ``"normalized"`` divides by ``max(std, std_floor)``.

    Raises
    ------
    MetricInputError
        A bad ``alpha``, ``score``, ``quantiles``, ``n_samples`` or ``std_floor``.
    """

    def __init__(self, surrogate: Any, *, alpha: float = 0.1, score: Score = "absolute", pooled: bool = True,
                 quantiles: Literal["samples", "gaussian"] = "samples", n_samples: int = 256, seed: int = 0,
                 std_floor: float = 1e-12) -> None:
        if not hasattr(surrogate, "predict"):
            raise MetricInputError(f"surrogate must have predict(inputs) -> Posterior; got {type(surrogate).__name__}")
        if score not in SCORES:
            raise MetricInputError(f"score must be one of {list(SCORES)}; got {score!r}")
        if quantiles not in ("samples", "gaussian"):
            raise MetricInputError(f"quantiles must be 'samples' or 'gaussian'; got {quantiles!r}")
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise MetricInputError(f"n_samples must be an integer >= 2; got {n_samples!r}")
        if not (isinstance(std_floor, (int, float)) and std_floor > 0):
            raise MetricInputError(f"std_floor must be a number > 0; got {std_floor!r}")
        self.surrogate, self.alpha, self.score, self.pooled = surrogate, _check_alpha(alpha), score, bool(pooled)
        self.quantiles, self.n_samples, self.seed, self.std_floor = quantiles, n_samples, int(seed), float(std_floor)
        self.quantile_: float | np.ndarray | None = None
        self.n_calibration_ = 0

    # ------------------------------------------------------------------ posterior pieces
    def _parts(self, posterior: Any) -> dict[str, np.ndarray]:
        """``mean`` and, by score, ``std`` or the ``lo``/``hi`` quantiles, as float64 arrays."""
        mean = _np(posterior.mean, "posterior mean")
        if self.score == "absolute":
            return {"mean": mean}
        if self.score == "normalized" or self.quantiles == "gaussian":
            var = _np(posterior.variance, "posterior variance")
            if self.score == "normalized" and not np.any(var > 0):
                raise MetricInputError("score='normalized' needs a posterior with variance > 0; this one is "
                                       "deterministic: use score='absolute'")
            std = np.sqrt(np.clip(var, 0.0, None))
            if self.score == "normalized":
                return {"mean": mean, "std": np.maximum(std, self.std_floor)}
            z = float(ndtri(1.0 - self.alpha / 2))
            return {"mean": mean, "lo": mean - z * std, "hi": mean + z * std}
        draws = _np(posterior.sample(self.n_samples, generator=self.seed), "posterior samples")
        lo, hi = np.quantile(draws, [self.alpha / 2, 1.0 - self.alpha / 2], axis=0)
        return {"mean": mean, "lo": lo, "hi": hi}

    def _scores(self, parts: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        if self.score == "absolute":
            return np.abs(y - parts["mean"])
        if self.score == "normalized":
            return np.abs(y - parts["mean"]) / parts["std"]
        return np.maximum(parts["lo"] - y, y - parts["hi"])

    # ------------------------------------------------------------------ API
    def calibrate_posterior(self, posterior: Any, y: Any, *, where: Any = None) -> Self:
        """Set ``q`` from a posterior and the observations ``y`` (its mean's shape), over ``where``.

        Raises
        ------
        MetricInputError
            Shapes differ, non-finite values, a deterministic posterior with ``"normalized"``,
            ``where`` with ``pooled=False``, or too few calibration points.
        """
        parts = self._parts(posterior)
        obs = _np(y, "y")
        if obs.shape != parts["mean"].shape:
            raise MetricInputError(f"y must have the prediction's shape {parts['mean'].shape}; got {obs.shape}")
        scores = self._scores(parts, obs)
        if self.pooled:
            scores = scores[_mask(where, obs.shape)]
            self.quantile_, self.n_calibration_ = conformal_quantile(scores, self.alpha), int(scores.size)
        else:
            if where is not None:
                raise MetricInputError("where selects pooled points: it cannot go with pooled=False")
            if obs.ndim < 1:
                raise MetricInputError("pooled=False needs a leading axis of calibration examples")
            self.quantile_, self.n_calibration_ = conformal_quantile(scores, self.alpha, axis=0), int(obs.shape[0])
        return self

    def calibrate(self, inputs: Any, y: Any, *, where: Any = None) -> Self:
        """:meth:`calibrate_posterior` of ``surrogate.predict(inputs)`` (held-out data)."""
        return self.calibrate_posterior(self.surrogate.predict(inputs), y, where=where)

    def intervals(self, posterior: Any) -> ConformalIntervals:
        """Conformal intervals around a posterior (per example when not pooled: shape ``(B, *entry)``).

        Raises
        ------
        MetricInputError
            Not calibrated, or a prediction whose entries do not match the calibration's.
        """
        if self.quantile_ is None:
            raise MetricInputError("calibrate the conformal predictor before asking for intervals")
        parts = self._parts(posterior)
        q = self.quantile_
        if not self.pooled and parts["mean"].shape[1:] != np.shape(q):
            raise MetricInputError(f"per-entry quantiles of shape {np.shape(q)} do not fit a prediction of shape "
                                   f"{parts['mean'].shape}")
        if self.score == "absolute":
            lower, upper = parts["mean"] - q, parts["mean"] + q
        elif self.score == "normalized":
            lower, upper = parts["mean"] - q * parts["std"], parts["mean"] + q * parts["std"]
        else:
            lower, upper = parts["lo"] - q, parts["hi"] + q
        return ConformalIntervals(lower, upper, self.alpha, self.score, q, self.n_calibration_)

    def predict(self, inputs: Any) -> ConformalIntervals:
        """:meth:`intervals` of ``surrogate.predict(inputs)``."""
        return self.intervals(self.surrogate.predict(inputs))
