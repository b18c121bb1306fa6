"""Control variates for paired expensive/cheap runs: CARPool.

``N`` pairs ``(y_i, c_i)`` of an expensive QoI ``y`` and a cheap QoI ``c`` computed with the
same seed (shared initial conditions, so ``y`` and ``c`` are strongly correlated), and the mean
``mu_c`` of the cheap QoI from ``M`` independent cheap runs (or known exactly), give the
CARPool estimate of ``E[y]`` (Chartier, Wandelt, Akrami, Villaescusa-Navarro 2021)::

    x_bar = y_bar - beta (c_bar - mu_c)

with ``beta`` one of

``"univariate"``
    per bin ``beta_b = Cov(y_b, c_b) / Var(c_b)`` (a diagonal ``beta``; 0 where ``Var(c_b) = 0``);
``"multivariate"``
    ``beta = Sigma_yc Sigma_cc^+`` with the Moore-Penrose pseudo-inverse: the least-squares
    regression of ``y`` on ``c``; a singular ``Sigma_cc`` (duplicated or constant bins) gives the
    minimum-norm regression instead of a failure;
an array
    a given ``(B,)`` (diagonal) or ``(B, B)`` matrix.

``beta`` is fitted on the pairs themselves (then correlated with ``c_bar``: a bias of order
``1/N``, none for jointly Gaussian pairs), or out of sample on a separate set of pairs
(``beta_pairs``; the estimate is then exactly unbiased, as with a given ``beta``). Its variance
(squared standard error)::

    Var(x_bar) = diag Cov(y - beta c) / N + diag(beta Cov(mu_c) beta^T),   Cov(mu_c) = Cov(c_cheap) / M

(the second term vanishes for an exact ``mu_c``); the residual variance has ``N - 1 - p``
degrees of freedom, ``p`` the number of regressors fitted per bin on the pairs (1 univariate,
``rank Sigma_cc`` multivariate, 0 for a given or out-of-sample ``beta``), and a ``beta`` fitted
on the pairs multiplies the first term by the normal-theory factor ``(N - 2) / (N - 2 - p)``
(Lavenberg & Welch), so that ``N >= p + 3`` pairs are needed. The per-bin gain
``1 / (1 - rho_b^2)`` (``rho_b`` the sample correlation of ``y_b`` and ``c_b``) is the variance
reduction of the univariate estimator against the plain mean of the same ``N`` expensive runs
when ``mu_c`` is known. Bootstrap intervals resample pairs and cheap runs (and refit ``beta``).

:func:`paired_runs` runs the pairs of any two simulators (:class:`~sciml.simulators.base.Simulator`),
or of a simulator and a surrogate (:class:`~sciml.surrogates.base.Surrogate`, through
``predict(...).mean``), with shared seeds through an executor of :mod:`sciml.executors`.

References: N. Chartier, B. Wandelt, Y. Akrami, F. Villaescusa-Navarro, MNRAS 503 (2021) 1897
(CARPool); S. S. Lavenberg, P. D. Welch, Manag. Sci. 27 (1981) 322 (control variates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml.uq.metrics import MetricInputError, _np

__all__ = ["CARPoolEstimate", "PairedRuns", "carpool", "paired_runs"]

BetaKind = Literal["univariate", "multivariate"]


@dataclass(frozen=True)
class CARPoolEstimate:
    """A CARPool estimate of ``E[y]`` per bin, with its variance and diagnostics.

    Arrays have the shape of one QoI (``bins``) unless said otherwise.

    Attributes
    ----------
    mean, variance, std_error
        ``x_bar``, ``Var(x_bar)`` and its square root.
    plain_mean, plain_variance
        The mean of the ``N`` expensive runs and its variance ``Var(y) / N``.
    variance_reduction
        ``plain_variance / variance`` (at an equal number of expensive runs).
    beta : ndarray, shape ``(B,)`` (diagonal) or ``(B, B)``
        The coefficients used (``B`` = number of bins, flattened).
    rho, gain
        Sample correlation of ``y`` and ``c`` per bin and ``1 / (1 - rho^2)`` (``inf`` where
        ``|rho| = 1``; ``rho = 0`` where ``y`` or ``c`` is constant).
    mu_c, mu_c_variance
        The cheap mean used and its variance (0 when given exactly).
    lower, upper
        Bootstrap percentile interval at ``level`` (``None`` without bootstrap).
    n_pairs, n_cheap
        ``N`` and ``M`` (0 for an exact ``mu_c``).
    beta_kind, beta_source
        ``"univariate"``, ``"multivariate"`` or ``"given"``; ``"pairs"``, ``"out_of_sample"`` or
        ``"given"``.
    """

    mean: np.ndarray
    variance: np.ndarray
    std_error: np.ndarray
    plain_mean: np.ndarray
    plain_variance: np.ndarray
    variance_reduction: np.ndarray
    beta: np.ndarray
    rho: np.ndarray
    gain: np.ndarray
    mu_c: np.ndarray
    mu_c_variance: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    level: float
    n_pairs: int
    n_cheap: int
    beta_kind: str
    beta_source: str


# ----------------------------------------------------------------------------- validation
def _as_runs(x: Any, name: str) -> np.ndarray:
    arr = _np(x, name)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise MetricInputError(f"{name} must have shape (N, ...) with one row per run; got shape {arr.shape}")
    return arr


def _check_seeds(seeds_y: Any, seeds_c: Any, n: int) -> None:
    if seeds_y is None and seeds_c is None:
        return
    if seeds_y is None or seeds_c is None:
        raise MetricInputError("give the seeds of both the expensive and the cheap runs (seeds_y and seeds_c), "
                               "or neither")
    sy, sc = np.asarray(seeds_y).ravel(), np.asarray(seeds_c).ravel()
    if sy.size != n or sc.size != n:
        raise MetricInputError(f"seeds_y and seeds_c must hold one seed per pair (N = {n}); "
                               f"got {sy.size} and {sc.size}")
    bad = np.nonzero(sy != sc)[0]
    if bad.size:
        i = int(bad[0])
        raise MetricInputError(f"{bad.size} pair(s) were not run with the same seed, first at index {i}: "
                               f"expensive seed {sy[i]!r}, cheap seed {sc[i]!r}")


def _pairs(y: Any, c: Any, names: tuple[str, str] = ("y", "c")) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    yy, cc = _as_runs(y, names[0]), _as_runs(c, names[1])
    if yy.shape != cc.shape:
        raise MetricInputError(f"paired arrays must have the same shape (N pairs, ...): {names[0]} {yy.shape}, "
                               f"{names[1]} {cc.shape}")
    return yy.reshape(yy.shape[0], -1), cc.reshape(cc.shape[0], -1), yy.shape[1:]


def _mu_c(mu_c: Any, cheap: Any, n_bins: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(mu_c (B,), cheap runs (M, B) or None)``."""
    if (mu_c is None) == (cheap is None):
        raise MetricInputError("give exactly one of mu_c (the exact cheap mean) and cheap (M independent cheap runs)")
    if mu_c is not None:
        mu = _np(mu_c, "mu_c")
        if mu.shape != shape:
            raise MetricInputError(f"mu_c must have the shape of one QoI {shape}; got {mu.shape}")
        return mu.reshape(n_bins), None
    runs = _as_runs(cheap, "cheap")
    if runs.shape[1:] != shape:
        raise MetricInputError(f"cheap runs must have shape (M, *{shape}); got {runs.shape}")
    if runs.shape[0] < 2:
        raise MetricInputError(f"the variance of mu_c needs M >= 2 independent cheap runs; got {runs.shape[0]}")
    runs = runs.reshape(runs.shape[0], n_bins)
    return runs.mean(axis=0), runs


# ----------------------------------------------------------------------------- beta
def _center(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=0)


def _beta_univariate(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    yc, cc = _center(y), _center(c)
    var_c = np.sum(cc * cc, axis=0)
    cov = np.sum(yc * cc, axis=0)
    pos = var_c > 0
    return np.where(pos, cov / np.where(pos, var_c, 1.0), 0.0)


def _beta_multivariate(y: np.ndarray, c: np.ndarray, rcond: float) -> tuple[np.ndarray, int]:
    """``Sigma_yc Sigma_cc^+`` ``(B, B)`` and ``rank Sigma_cc`` (eigenvalues above ``rcond * max``)."""
    yc, cc = _center(y), _center(c)
    w, v = np.linalg.eigh(cc.T @ cc)
    keep = w > rcond * max(float(w.max()), 0.0) if w.size and w.max() > 0 else np.zeros(w.shape, dtype=bool)
    pinv = (v[:, keep] / w[keep]) @ v[:, keep].T
    return (yc.T @ cc) @ pinv, int(keep.sum())


def _fit_beta(y: np.ndarray, c: np.ndarray, kind: BetaKind, rcond: float) -> tuple[np.ndarray, int]:
    if kind == "univariate":
        return _beta_univariate(y, c), 1
    return _beta_multivariate(y, c, rcond)


def _apply(beta: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``beta c`` row by row for a diagonal ``(B,)`` or full ``(B, B)`` beta."""
    return c * beta if beta.ndim == 1 else c @ beta.T


def _given_beta(beta: Any, n_bins: int) -> np.ndarray:
    b = _np(beta, "beta")
    if b.shape not in ((n_bins,), (n_bins, n_bins)):
        raise MetricInputError(f"a given beta must have shape (B,) or (B, B) with B = {n_bins} bins; got {b.shape}")
    return b


def _correlation(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    yc, cc = _center(y), _center(c)
    den = np.sqrt(np.sum(yc * yc, axis=0) * np.sum(cc * cc, axis=0))
    pos = den > 0
    return np.where(pos, np.clip(np.sum(yc * cc, axis=0) / np.where(pos, den, 1.0), -1.0, 1.0), 0.0)


def _mu_variance(beta: np.ndarray, cheap: np.ndarray | None, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Var(mu_c) per bin, diag(beta Cov(mu_c) beta^T))``."""
    if cheap is None:
        return np.zeros(n_bins), np.zeros(n_bins)
    m = cheap.shape[0]
    if beta.ndim == 1:
        var_mu = cheap.var(axis=0, ddof=1) / m
        return var_mu, beta**2 * var_mu
    cov_mu = np.cov(cheap, rowvar=False, ddof=1).reshape(n_bins, n_bins) / m
    return np.diag(cov_mu).copy(), np.einsum("ij,jk,ik->i", beta, cov_mu, beta)


# ----------------------------------------------------------------------------- estimator
def carpool(y: Any, c: Any, *, mu_c: Any = None, cheap: Any = None, beta: BetaKind | Any = "univariate",
            beta_pairs: tuple[Any, Any] | None = None, seeds_y: Any = None, seeds_c: Any = None,
            n_bootstrap: int = 0, level: float = 0.95, seed: int = 0, rcond: float = 1e-12) -> CARPoolEstimate:
    """CARPool estimate ``y_bar - beta (c_bar - mu_c)`` of ``E[y]`` per bin (see the module docstring).

    Parameters
    ----------
    y, c : array_like or Tensor, shape ``(N, ...)``
        Expensive and cheap QoIs of ``N`` pairs run with the same seeds (row ``i`` of both).
    mu_c : array_like, shape ``(...)``, optional
        The exact mean of the cheap QoI (variance 0).
    cheap : array_like, shape ``(M, ...)``, optional
        ``M >= 2`` cheap runs independent of the pairs; ``mu_c`` is their mean. Exactly one of
        ``mu_c`` and ``cheap``.
    beta : {"univariate", "multivariate"} or array_like ``(B,)`` / ``(B, B)``
        How the coefficients are chosen (``B`` = number of bins).
    beta_pairs : (y, c), optional
        Separate pairs to fit ``beta`` on (out of sample); default: the pairs themselves.
    seeds_y, seeds_c : array_like of shape ``(N,)``, optional
        The recorded seeds of the runs, checked pair by pair.
    n_bootstrap : int
        Bootstrap resamples for the percentile interval (0: none).
    level : float
        Level of the bootstrap interval, in ``(0, 1)``.
    seed : int
        Seed of the bootstrap.
    rcond : float
        Relative cutoff of the pseudo-inverse of ``Sigma_cc`` (and of its rank).

    Returns
    -------
    CARPoolEstimate

    Raises
    ------
    MetricInputError
        Pairs of different shapes, differing seeds, non-finite values, both or neither of
        ``mu_c`` and ``cheap``, fewer than 2 pairs or too few for the fitted ``beta`` (no residual
        degrees of freedom: use ``"univariate"``, ``beta_pairs`` or more pairs), a bad ``beta``,
        ``level`` or ``n_bootstrap``.
    """
    yy, cc, shape = _pairs(y, c)
    n, n_bins = yy.shape
    _check_arguments(n, seeds_y, seeds_c, level, n_bootstrap)
    mu, runs = _mu_c(mu_c, cheap, n_bins, shape)
    kind, source, fit_on = _beta_plan(beta, beta_pairs, n_bins, shape)
    if source == "given":
        b, p = _given_beta(beta, n_bins), 0
    else:
        b, p = _fit_beta(*(fit_on if fit_on is not None else (yy, cc)), kind, rcond)
        p = p if source == "pairs" else 0
    dof = n - 1 - p
    if dof < 1 or (p and n - 2 - p < 1):
        raise MetricInputError(f"a {kind} beta with {p} regressor(s) per bin fitted on N = {n} pairs needs "
                               f"N >= {p + 3}: use beta='univariate', out-of-sample beta_pairs, or more pairs")
    inflation = (n - 2) / (n - 2 - p) if p else 1.0
    resid = yy - _apply(b, cc)
    var_mu, var_mu_term = _mu_variance(b, runs, n_bins)
    variance = inflation * np.sum(_center(resid) ** 2, axis=0) / dof / n + var_mu_term
    est = yy.mean(axis=0) - _apply(b, (cc.mean(axis=0) - mu)[None, :])[0]
    plain_var = yy.var(axis=0, ddof=1) / n
    rho = _correlation(yy, cc)
    with np.errstate(divide="ignore"):
        gain = np.where(np.abs(rho) < 1.0, 1.0 / (1.0 - rho**2), np.inf)
        reduction = np.where(variance > 0, plain_var / np.where(variance > 0, variance, 1.0),
                             np.where(plain_var > 0, np.inf, 1.0))
    lower = upper = None
    if n_bootstrap:
        boots = _bootstrap(yy, cc, mu, runs, b, kind if source == "pairs" else None, rcond, n_bootstrap, seed)
        lower, upper = np.quantile(boots, [0.5 * (1 - level), 0.5 * (1 + level)], axis=0)
        lower, upper = lower.reshape(shape), upper.reshape(shape)
    return CARPoolEstimate(
        est.reshape(shape), variance.reshape(shape), np.sqrt(variance).reshape(shape), yy.mean(axis=0).reshape(shape),
        plain_var.reshape(shape), reduction.reshape(shape), b, rho.reshape(shape), gain.reshape(shape),
        mu.reshape(shape), var_mu.reshape(shape), lower, upper, float(level), n,
        0 if runs is None else runs.shape[0], kind, source)


def _check_arguments(n: int, seeds_y: Any, seeds_c: Any, level: float, n_bootstrap: Any) -> None:
    """The pair count, the recorded seeds, the interval level and the bootstrap count of :func:`carpool`."""
    _check_seeds(seeds_y, seeds_c, n)
    if n < 2:
        raise MetricInputError(f"CARPool needs N >= 2 pairs; got {n}")
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level must lie in (0, 1); got {level!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise MetricInputError(f"n_bootstrap must be an integer >= 0; got {n_bootstrap!r}")


def _beta_plan(beta: Any, beta_pairs: Any, n_bins: int,
               shape: tuple[int, ...]) -> tuple[str, str, tuple[np.ndarray, np.ndarray] | None]:
    """``(kind, source, pairs to fit on or None)``."""
    if isinstance(beta, str):
        if beta not in ("univariate", "multivariate"):
            raise MetricInputError(f"beta must be 'univariate', 'multivariate' or an array; got {beta!r}")
        if beta_pairs is None:
            return beta, "pairs", None
        by, bc, bshape = _pairs(*beta_pairs, names=("beta_pairs y", "beta_pairs c"))
        if bshape != shape:
            raise MetricInputError(f"beta_pairs must hold QoIs of shape {shape}; got {bshape}")
        if by.shape[0] < 2:
            raise MetricInputError(f"fitting beta out of sample needs >= 2 pairs; got {by.shape[0]}")
        return beta, "out_of_sample", (by, bc)
    if beta_pairs is not None:
        raise MetricInputError("beta_pairs fits beta: it cannot go with a given beta array")
    return "given", "given", None


def _bootstrap(y: np.ndarray, c: np.ndarray, mu: np.ndarray, runs: np.ndarray | None, beta: np.ndarray,
               refit: str | None, rcond: float, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, B)`` CARPool estimates on pairs (and cheap runs) resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    out = np.empty((n_boot, y.shape[1]))
    for k in range(n_boot):
        idx = rng.integers(0, n, n)
        yb, cb = y[idx], c[idx]
        mub = mu if runs is None else runs[rng.integers(0, runs.shape[0], runs.shape[0])].mean(axis=0)
        bb = beta if refit is None else _fit_beta(yb, cb, refit, rcond)[0]  # type: ignore[arg-type]
        out[k] = yb.mean(axis=0) - _apply(bb, (cb.mean(axis=0) - mub)[None, :])[0]
    return out


# ----------------------------------------------------------------------------- running pairs
@dataclass(frozen=True)
class PairedRuns:
    """QoIs of ``N`` paired runs (shared seeds) and ``M`` independent cheap runs.

    Attributes
    ----------
    y, c : ndarray, shape ``(N, ...)``
        Expensive and cheap QoIs, row ``i`` run with ``seeds[i]``.
    seeds : ndarray of int, shape ``(N,)``
    cheap : ndarray, shape ``(M, ...)`` or None
        Cheap QoIs of the runs with ``cheap_seeds`` (for ``mu_c``).
    cheap_seeds : ndarray of int, shape ``(M,)``
    """

    y: np.ndarray
    c: np.ndarray
    seeds: np.ndarray
    cheap: np.ndarray | None
    cheap_seeds: np.ndarray

    def estimate(self, **kwargs: Any) -> CARPoolEstimate:
        """:func:`carpool` of these runs (``mu_c`` from the cheap runs unless ``mu_c`` is given)."""
        if "mu_c" not in kwargs:
            kwargs["cheap"] = self.cheap
        return carpool(self.y, self.c, seeds_y=self.seeds, seeds_c=self.seeds, **kwargs)


_Task = tuple[Any, Mapping[str, float], int, Callable[[Any], Any], Callable[..., Any] | None]


def _evaluate(task: _Task) -> np.ndarray:
    """One run: ``qoi(model.run(params, seed=seed))`` or ``qoi(model.predict(inputs(params, seed)).mean)``."""
    model, params, seed, qoi, inputs = task
    out = model.run(params, seed=seed, n_samples=1) if inputs is None else model.predict(inputs(params, seed)).mean
    return _np(qoi(out), "QoI")


def _kind(model: Any, inputs: Any, role: str) -> None:
    if hasattr(model, "run") and hasattr(model, "parameter_space"):
        return
    if hasattr(model, "predict"):
        if inputs is None:
            raise MetricInputError(f"the {role} model is a Surrogate: give cheap_inputs(params, seed) -> its inputs")
        return
    raise MetricInputError(f"the {role} model must be a Simulator (run) or a Surrogate (predict); "
                           f"got {type(model).__name__}")


def _seed_array(seeds: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(list(seeds))
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise MetricInputError(f"{name} must be a sequence of integer seeds; got {seeds!r}")
    if np.unique(arr).size != arr.size:
        raise MetricInputError(f"{name} has repeated seeds: repeated runs are not independent")
    return arr.astype(np.int64)


def paired_runs(expensive: Any, cheap: Any, qoi: Callable[[Any], Any], params: Mapping[str, float],
                seeds: Sequence[int], *, cheap_seeds: Sequence[int] = (), cheap_qoi: Callable[[Any], Any] | None = None,
                cheap_inputs: Callable[[Mapping[str, float], int], Any] | None = None,
                executor: Any = None) -> PairedRuns:
    """Run ``N`` pairs with shared seeds and ``M`` independent cheap runs, and reduce each to its QoI.

    Parameters
    ----------
    expensive : Simulator
        Run as ``expensive.run(params, seed=s, n_samples=1)``.
    cheap : Simulator or Surrogate
        A simulator (as above) or a surrogate, run as ``cheap.predict(cheap_inputs(params, s)).mean``.
    qoi : callable
        Output of one run (a Dataset) -> QoI array (the same shape for every run).
    params : mapping
        Physical parameters of every run.
    seeds : sequence of int
        One seed per pair, distinct.
    cheap_seeds : sequence of int
        Seeds of the independent cheap runs for ``mu_c``; distinct and disjoint from ``seeds``.
    cheap_qoi : callable, optional
        QoI of a cheap output (default ``qoi``; a surrogate's output is its mean tensor).
    cheap_inputs : callable ``(params, seed) -> inputs``, optional
        Required when ``cheap`` is a Surrogate.
    executor : Executor or mapping, optional
        An executor (used as is, not closed) or a :func:`sciml.executors.make_executor`
        configuration; default in-process. Process-based kinds need picklable models and QoIs.

    Raises
    ------
    MetricInputError
        Not a Simulator/Surrogate, a surrogate without ``cheap_inputs``, repeated or overlapping
        seeds, no pairs, QoIs of different shapes or non-finite.
    """
    from sciml.executors import make_executor

    _kind(expensive, None, "expensive")
    _kind(cheap, cheap_inputs, "cheap")
    s_pairs, s_cheap = _seed_array(seeds, "seeds"), _seed_array(cheap_seeds, "cheap_seeds")
    if s_pairs.size < 1:
        raise MetricInputError("paired_runs needs at least one seed")
    shared = np.intersect1d(s_pairs, s_cheap)
    if shared.size:
        raise MetricInputError(f"cheap_seeds {shared.tolist()} are also pair seeds: the mu_c runs must be independent")
    c_inputs = cheap_inputs if not (hasattr(cheap, "run") and hasattr(cheap, "parameter_space")) else None
    c_qoi = qoi if cheap_qoi is None else cheap_qoi
    tasks = [(expensive, dict(params), int(s), qoi, None) for s in s_pairs]
    tasks += [(cheap, dict(params), int(s), c_qoi, c_inputs) for s in np.concatenate([s_pairs, s_cheap])]
    owned = executor is None or isinstance(executor, Mapping)
    ex = make_executor(executor if executor is not None else {"kind": "inprocess"}) if owned else executor
    results: list[Any] = [None] * len(tasks)
    try:
        for i, value in ex.map(_evaluate, tasks, desc="paired runs"):
            results[i] = value
    finally:
        if owned:
            ex.close()
    shapes = {r.shape for r in results}
    if len(shapes) != 1:
        raise MetricInputError(f"the QoIs of the runs have different shapes {sorted(shapes)}")
    n = s_pairs.size
    y, c = np.stack(results[:n]), np.stack(results[n:2 * n])
    extra = np.stack(results[2 * n:]) if s_cheap.size else None
    return PairedRuns(y, c, s_pairs, extra, s_cheap)
