"""Accuracy, conservation and uncertainty-quantification metrics (ProbConserv's evaluation).

Inputs may be numpy arrays or torch tensors (detached and converted to float64 numpy);
results are Python floats (reductions) or float64 numpy arrays (per-point / per-time values).
Predictive distributions are described by a mean and a **variance** (never a standard
deviation) of the same shape, or by samples with a leading sample axis.

================================  ===========================================================
function                          definition
================================  ===========================================================
:func:`mse`                       ``mean (pred - true)^2``
:func:`conservation_error`        ``CE = G mu - b`` per time (and conserved quantity);
                                  ``relative=True``: ``|G mu - b| / max(|b|, tiny)``
:func:`max_conservation_error`    ``max |CE|`` (or of the relative version)
:func:`gaussian_nll`              ``mean_i [log(2 pi s_i^2) / 2 + (y_i - mu_i)^2 / (2 s_i^2)]``
                                  (negative log-likelihood, **mean over points**, lower is better)
:func:`gaussian_log_likelihood`   ``-gaussian_nll`` (ProbConserv's "LL", higher is better)
:func:`crps_gaussian`             ``s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]``, ``z = (y - mu)/s``
:func:`crps_ensemble`             ``E|X - y| - E|X - X'| / 2`` over the empirical distribution
:func:`interval_coverage`         fraction of ``y`` inside the central ``alpha`` Gaussian interval
:func:`empirical_interval_coverage`  same with the empirical quantiles of samples
:func:`shock_position`            first ``x`` where a profile falls below a threshold
:func:`sample_gaussian`           draws from ``N(mean, cov)`` with the full covariance
================================  ===========================================================
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
import torch
from scipy.special import ndtr, ndtri
from torch import Tensor

from sciml.errors import SciMLError

__all__ = [
    "MetricInputError",
    "conservation_error",
    "crps_ensemble",
    "crps_gaussian",
    "empirical_interval_coverage",
    "gaussian_log_likelihood",
    "gaussian_nll",
    "interval_coverage",
    "max_conservation_error",
    "mse",
    "sample_gaussian",
    "shock_position",
]

Reduction = Literal["mean", "none"]


class MetricInputError(SciMLError, ValueError):
    """A metric was given inputs of the wrong shape or with invalid values."""


def _np(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be an array of numbers: {exc}") from exc
    if not np.all(np.isfinite(arr)):
        raise MetricInputError(f"{name} contains NaN or infinite values")
    return arr


def _same_shape(**arrays: np.ndarray) -> None:
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise MetricInputError(f"inputs must have the same shape, got {shapes}")


def _variance(v: Any, name: str = "variance") -> np.ndarray:
    var = _np(v, name)
    if np.any(var < 0):
        raise MetricInputError(f"{name} must be >= 0 (it is a variance, not a standard deviation)")
    return var


def _reduce(values: np.ndarray, reduction: Reduction) -> float | np.ndarray:
    if reduction == "mean":
        return float(values.mean())
    if reduction == "none":
        return values
    raise MetricInputError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _alpha(alpha: float) -> float:
    if not (0.0 < float(alpha) < 1.0):
        raise MetricInputError(f"alpha (the nominal coverage) must lie in (0, 1), got {alpha!r}")
    return float(alpha)


# =========================================================================== accuracy
def mse(pred: Any, true: Any) -> float:
    """Mean squared error ``mean (pred - true)^2`` over all entries (units of ``u^2``).

    Parameters
    ----------
    pred, true : array_like or Tensor, same shape
    """
    p, t = _np(pred, "pred"), _np(true, "true")
    _same_shape(pred=p, true=t)
    return float(np.mean((p - t) ** 2))


# =========================================================================== conservation
def conservation_error(mean: Any, G: Any, b: Any, *, relative: bool = False,
                       tiny: float = float(np.finfo(np.float64).tiny)) -> np.ndarray:
    """Conservation error ``CE(t) = G mu(t) - b(t)`` per time step.

    Parameters
    ----------
    mean : array_like or Tensor, shape ``(..., n_t, n_x)``
        Predicted field (e.g. the mean of a prediction).
    G : array_like, shape ``(n_c, n_x)`` or ``(n_x,)``
        Constraint weights (units of length).
    b : array_like, broadcastable to ``(..., n_t, n_c)``
        Conserved quantities.
    relative : bool
        Return ``|G mu - b| / max(|b|, tiny)`` instead of the signed error.
    tiny : float
        Floor of the denominator of the relative error.

    Returns
    -------
    ndarray, shape ``(..., n_t, n_c)``
    """
    mu = _np(mean, "mean")
    g = np.atleast_2d(_np(G, "G"))
    if g.ndim != 2 or mu.ndim < 1 or g.shape[1] != mu.shape[-1]:
        raise MetricInputError(
            f"G must have shape (n_c, n_x) with n_x = mean.shape[-1] = {mu.shape[-1] if mu.ndim else None}, "
            f"got {g.shape}")
    ce = mu @ g.T
    bb = _np(b, "b")
    try:
        ce = ce - bb
    except ValueError as exc:
        raise MetricInputError(f"b of shape {bb.shape} does not broadcast to G mu of shape {ce.shape}") from exc
    if relative:
        return np.abs(ce) / np.maximum(np.abs(np.broadcast_to(bb, ce.shape)), tiny)
    return ce


def max_conservation_error(mean: Any, G: Any, b: Any, *, relative: bool = False,
                           tiny: float = float(np.finfo(np.float64).tiny)) -> float:
    """``max |CE|`` over all times, samples and conserved quantities (see :func:`conservation_error`)."""
    return float(np.max(np.abs(conservation_error(mean, G, b, relative=relative, tiny=tiny))))


# =========================================================================== likelihood
def gaussian_nll(mean: Any, variance: Any, y: Any, *, reduction: Reduction = "mean") -> float | np.ndarray:
    """Gaussian **negative** log-likelihood of the observations, averaged over points.

    ``nll_i = log(2 pi s_i^2) / 2 + (y_i - mu_i)^2 / (2 s_i^2)`` (nats); lower is better.

    Parameters
    ----------
    mean, variance, y : array_like or Tensor, same shape
        Predictive mean, predictive variance ``s^2 > 0`` and observed values.
    reduction : {"mean", "none"}
        Mean over all points (a float) or the per-point values.

    Returns
    -------
    float or ndarray
    """
    mu, var, obs = _np(mean, "mean"), _variance(variance), _np(y, "y")
    _same_shape(mean=mu, variance=var, y=obs)
    if np.any(var <= 0):
        raise MetricInputError("gaussian_nll needs variance > 0 everywhere (the density is singular at 0)")
    nll = 0.5 * np.log(2.0 * math.pi * var) + 0.5 * (obs - mu) ** 2 / var
    return _reduce(nll, reduction)


def gaussian_log_likelihood(mean: Any, variance: Any, y: Any, *,
                            reduction: Reduction = "mean") -> float | np.ndarray:
    """Gaussian log-likelihood, ``-gaussian_nll`` (mean over points; higher is better)."""
    out = gaussian_nll(mean, variance, y, reduction=reduction)
    return -out


# =========================================================================== CRPS
def crps_gaussian(mean: Any, variance: Any, y: Any, *, reduction: Reduction = "mean") -> float | np.ndarray:
    """Continuous ranked probability score of ``N(mean, variance)`` at ``y`` (closed form).

    ``CRPS = s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]`` with ``s = sqrt(variance)``,
    ``z = (y - mean) / s`` (Gneiting & Raftery 2007); ``|y - mean|`` where the variance is 0.
    Units of ``u``; lower is better.

    Parameters
    ----------
    mean, variance, y : array_like or Tensor, same shape
    reduction : {"mean", "none"}

    Returns
    -------
    float or ndarray
    """
    mu, var, obs = _np(mean, "mean"), _variance(variance), _np(y, "y")
    _same_shape(mean=mu, variance=var, y=obs)
    s = np.sqrt(var)
    pos = s > 0
    safe = np.where(pos, s, 1.0)
    z = (obs - mu) / safe
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    crps = safe * (z * (2.0 * ndtr(z) - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))
    return _reduce(np.where(pos, crps, np.abs(obs - mu)), reduction)


def crps_ensemble(samples: Any, y: Any, *, fair: bool = False,
                  reduction: Reduction = "mean") -> float | np.ndarray:
    """CRPS of the empirical distribution of samples, ``E|X - y| - E|X - X'| / 2``.

    With ``S`` samples ``x_1..x_S``: ``(1/S) sum_i |x_i - y| - (1/(2 S^2)) sum_{i,j} |x_i - x_j|``
    (the CRPS of the empirical distribution); ``fair=True`` divides the second sum by
    ``2 S (S - 1)`` instead (unbiased for the CRPS of the distribution the samples come
    from). The pair sum is computed in ``O(S log S)`` from the sorted samples.

    Parameters
    ----------
    samples : array_like or Tensor, shape ``(S, ...)``
        Samples, leading sample axis.
    y : array_like or Tensor, shape ``(...)``
        Observations.
    fair : bool
        Use the fair (unbiased) estimator; needs ``S >= 2``.
    reduction : {"mean", "none"}

    Returns
    -------
    float or ndarray of shape ``(...)``
    """
    xs, obs = _np(samples, "samples"), _np(y, "y")
    if xs.ndim < 1 or xs.shape[1:] != obs.shape:
        raise MetricInputError(f"samples must have shape (S, *y.shape) = (S, *{obs.shape}), got {xs.shape}")
    n = xs.shape[0]
    if n < (2 if fair else 1):
        raise MetricInputError(f"crps_ensemble needs at least {2 if fair else 1} samples, got {n}")
    term1 = np.mean(np.abs(xs - obs), axis=0)
    srt = np.sort(xs, axis=0)
    coef = (2.0 * np.arange(1, n + 1) - n - 1).reshape((n,) + (1,) * obs.ndim)
    pair_sum = 2.0 * np.sum(coef * srt, axis=0)  # sum_{i,j} |x_i - x_j|
    term2 = pair_sum / (2.0 * n * (n - 1)) if fair else pair_sum / (2.0 * n * n)
    return _reduce(term1 - term2, reduction)


# =========================================================================== coverage
def interval_coverage(mean: Any, variance: Any, y: Any, alpha: float = 0.95) -> float:
    """Fraction of ``y`` inside the central ``alpha`` interval of ``N(mean, variance)``.

    The interval is ``mean +- z s`` with ``z = Phi^{-1}((1 + alpha) / 2)`` (closed interval).
    A calibrated model gives ``alpha``.

    Parameters
    ----------
    mean, variance, y : array_like or Tensor, same shape
    alpha : float
        Nominal coverage in ``(0, 1)``.

    Returns
    -------
    float in ``[0, 1]``
    """
    mu, var, obs = _np(mean, "mean"), _variance(variance), _np(y, "y")
    _same_shape(mean=mu, variance=var, y=obs)
    z = float(ndtri(0.5 * (1.0 + _alpha(alpha))))
    return float(np.mean(np.abs(obs - mu) <= z * np.sqrt(var)))


def empirical_interval_coverage(samples: Any, y: Any, alpha: float = 0.95) -> float:
    """Fraction of ``y`` inside the central ``alpha`` interval of the samples' empirical quantiles.

    Parameters
    ----------
    samples : array_like or Tensor, shape ``(S, ...)``
    y : array_like or Tensor, shape ``(...)``
    alpha : float
        Nominal coverage in ``(0, 1)``; bounds are the ``(1 -+ alpha)/2`` quantiles (linear
        interpolation, numpy's default).

    Returns
    -------
    float in ``[0, 1]``
    """
    xs, obs = _np(samples, "samples"), _np(y, "y")
    if xs.ndim < 1 or xs.shape[1:] != obs.shape:
        raise MetricInputError(f"samples must have shape (S, *y.shape) = (S, *{obs.shape}), got {xs.shape}")
    a = _alpha(alpha)
    lo, hi = np.quantile(xs, [0.5 * (1.0 - a), 0.5 * (1.0 + a)], axis=0)
    return float(np.mean((obs >= lo) & (obs <= hi)))


# =========================================================================== shocks
def shock_position(samples: Any, x: Any, threshold: float) -> np.ndarray:
    """Position of the first point where each profile falls below ``threshold``.

    For a profile ``u`` on the grid ``x``, with ``i`` the first index such that
    ``u_i < threshold``: ``x_0`` if ``i = 0``, otherwise the linear interpolation between
    ``(x_{i-1}, u_{i-1})`` and ``(x_i, u_i)`` of the crossing,
    ``x_{i-1} + (u_{i-1} - threshold) / (u_{i-1} - u_i) (x_i - x_{i-1})``; ``x[-1]`` if the
    profile never falls below. Used for the Stefan front / shock location of sampled solutions.

    Parameters
    ----------
    samples : array_like or Tensor, shape ``(S, n_x)`` (or ``(..., n_x)``)
        Profiles ``u(x)``.
    x : array_like, shape ``(n_x,)``
        Strictly increasing grid.
    threshold : float
        Level (units of ``u``).

    Returns
    -------
    ndarray, shape ``(S,)`` (``samples.shape[:-1]``)
        Positions (units of ``x``).
    """
    u = _np(samples, "samples")
    xs = _np(x, "x")
    if xs.ndim != 1 or xs.size < 1 or u.ndim < 1 or u.shape[-1] != xs.size:
        raise MetricInputError(
            f"x must be 1D with n_x = samples.shape[-1] points, got x {xs.shape} and samples {u.shape}")
    if xs.size > 1 and not np.all(np.diff(xs) > 0):
        raise MetricInputError("x must be strictly increasing")
    thr = float(threshold)
    below = u < thr
    found = below.any(axis=-1)
    i = np.argmax(below, axis=-1)
    im1 = np.maximum(i - 1, 0)
    u_prev = np.take_along_axis(u, im1[..., None], axis=-1)[..., 0]
    u_cur = np.take_along_axis(u, i[..., None], axis=-1)[..., 0]
    denom = np.where(i > 0, u_prev - u_cur, 1.0)  # > 0 where used: u_prev >= thr > u_cur
    frac = np.where(i > 0, (u_prev - thr) / denom, 0.0)
    pos = xs[im1] + frac * (xs[i] - xs[im1])
    return np.where(found, pos, xs[-1])


# =========================================================================== sampling
def sample_gaussian(mean: Any, cov: Any, n: int, generator: torch.Generator | int = 0) -> Any:
    """Draw from ``N(mean, cov)`` with the **full covariance**: ``mean + L eps``, ``L L^T = cov``.

    ``L`` is the Cholesky factor of ``cov``; if ``cov`` is only positive semi-definite
    numerically, jitter ``eps * max(diag(cov)) * I`` is added for ``eps = 1e-10 .. 1e-6``
    (with a ``RuntimeWarning`` saying how much); beyond that a :class:`MetricInputError`.

    Parameters
    ----------
    mean : Tensor or array_like, shape ``(..., d)``
    cov : Tensor or array_like, shape ``(..., d, d)``
        Covariance (not a standard deviation), symmetric positive semi-definite.
    n : int
        Number of draws.
    generator : torch.Generator or int
        Random stream, or a seed for a fresh CPU generator.

    Returns
    -------
    Tensor or ndarray, shape ``(n, ..., d)``
        A tensor (dtype/device of ``mean``) if ``mean`` is a tensor, else a float64 array.
    """
    is_tensor = isinstance(mean, Tensor)
    mu = mean if is_tensor else torch.as_tensor(np.asarray(mean, dtype=np.float64))
    if not mu.is_floating_point():
        mu = mu.to(torch.get_default_dtype())
    sig = torch.as_tensor(cov, dtype=mu.dtype, device=mu.device)
    if mu.ndim < 1 or sig.shape != (*mu.shape, mu.shape[-1]):
        raise MetricInputError(
            f"cov must have shape (*mean.shape, d) = {(*mu.shape, mu.shape[-1]) if mu.ndim else '?'}, "
            f"got {tuple(sig.shape)}")
    if not (bool(torch.isfinite(mu).all()) and bool(torch.isfinite(sig).all())):
        raise MetricInputError("mean and cov must be finite")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MetricInputError(f"n must be a positive integer, got {n!r}")
    diag = torch.diagonal(sig, dim1=-2, dim2=-1)
    if bool((diag < 0).any()):
        raise MetricInputError("cov has negative diagonal entries: it is not a covariance matrix")
    sig = 0.5 * (sig + sig.transpose(-1, -2))
    chol, info = torch.linalg.cholesky_ex(sig)
    if bool((info > 0).any()):
        scale = diag.amax(-1).clamp_min(torch.finfo(sig.dtype).tiny)
        eye = torch.eye(sig.shape[-1], dtype=sig.dtype, device=sig.device)
        for eps in (1e-10, 1e-9, 1e-8, 1e-7, 1e-6):
            chol, info = torch.linalg.cholesky_ex(sig + (eps * scale)[..., None, None] * eye)
            if not bool((info > 0).any()):
                warnings.warn(f"sample_gaussian: cov not numerically positive definite; added jitter "
                              f"{eps:g} x max(diag(cov)) (up to {float(eps * scale.max()):.3g})",
                              RuntimeWarning, stacklevel=2)
                break
        else:
            raise MetricInputError("cov is not positive semi-definite (Cholesky failed with jitter 1e-6)")
    if isinstance(generator, torch.Generator):
        gen = generator
    else:
        gen = torch.Generator(device=mu.device).manual_seed(int(generator))
    eps_draw = torch.randn((n, *mu.shape), generator=gen, dtype=mu.dtype, device=mu.device)
    out = mu + (chol @ eps_draw[..., None]).squeeze(-1)
    return out if is_tensor else out.numpy()
