"""Distances between two sample sets: 1-D Wasserstein and the sliced Wasserstein distance.

For empirical measures ``mu = (1/n) sum_i delta_{x_i}`` and ``nu = (1/m) sum_j delta_{y_j}`` in
``R^d``, the sliced Wasserstein distance of order ``p`` is

    SW_p(mu, nu) = ( E_theta[ W_p^p(theta . mu, theta . nu) ] )^(1/p),  theta ~ U(S^{d-1}),

estimated with ``n_projections`` directions (normalised standard-normal draws from an explicit
seed) and the exact 1-D distance of each projection: by sorting when ``n == m``, by the
quantile functions ``W_p^p = int_0^1 |F^{-1}(u) - G^{-1}(u)|^p du`` otherwise (exact for step
quantile functions: integrated piece by piece between the breakpoints ``i/n`` and ``j/m``).
The estimator is POT's ``ot.sliced_wasserstein_distance`` (mean of ``W_p^p`` over directions,
then the ``1/p`` power).

References
----------
N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein barycenters of
measures", J. Math. Imaging Vision 51 (2015) 22-45.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sciml.uq.metrics import MetricInputError

__all__ = ["random_directions", "sliced_wasserstein_distance", "wasserstein_1d"]


def _samples(x: Any, name: str) -> np.ndarray:
    """``x`` as a finite float64 array ``(n, d)`` (trailing axes flattened; 1-D: ``d = 1``)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[0] < 1:
        raise MetricInputError(f"{name} must have shape (n, ...) with n >= 1 samples; got shape {arr.shape}")
    arr = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr[:, None]
    if arr.shape[1] < 1:
        raise MetricInputError(f"{name} has no coordinates: shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise MetricInputError(f"{name} has {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return arr


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p < 1:
        raise MetricInputError(f"p must be a finite number >= 1; got {p!r}")
    return float(p)


def _wasserstein_pp(u: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    """``W_p^p`` between the columns of ``u`` ``(n, k)`` and ``v`` ``(m, k)``: shape ``(k,)``."""
    us, vs = np.sort(u, axis=0), np.sort(v, axis=0)
    n, m = us.shape[0], vs.shape[0]
    if n == m:
        return np.mean(np.abs(us - vs) ** p, axis=0)
    breaks = np.unique(np.concatenate([np.arange(1, n + 1) / n, np.arange(1, m + 1) / m, [0.0]]))
    widths = np.diff(breaks)
    mid = 0.5 * (breaks[1:] + breaks[:-1])
    iu = np.minimum((mid * n).astype(np.int64), n - 1)
    iv = np.minimum((mid * m).astype(np.int64), m - 1)
    return widths @ (np.abs(us[iu] - vs[iv]) ** p)


def wasserstein_1d(u: Any, v: Any, *, p: float = 2.0) -> float:
    """Exact ``W_p`` between two 1-D empirical measures (equal weights, sizes may differ).

    Parameters
    ----------
    u, v : array-like or Tensor, shape ``(n,)`` and ``(m,)``
        Finite samples.
    p : float
        Order, ``>= 1``.

    Raises
    ------
    MetricInputError
        Empty or non-finite samples, samples that are not 1-D, ``p < 1``.
    """
    p = _check_p(p)
    a, b = _samples(u, "u"), _samples(v, "v")
    if a.shape[1] != 1 or b.shape[1] != 1:
        raise MetricInputError(f"u and v must be 1-D samples; got shapes {np.shape(u)} and {np.shape(v)}")
    return float(_wasserstein_pp(a, b, p)[0] ** (1.0 / p))


def random_directions(d: int, n_projections: int, *, seed: int = 0) -> np.ndarray:
    """``n_projections`` directions uniform on the unit sphere of ``R^d``, shape ``(n_projections, d)``.

    Normalised standard-normal draws of ``np.random.default_rng(seed)``.

    Raises
    ------
    MetricInputError
        ``d`` or ``n_projections`` not an integer >= 1.
    """
    for name, value in (("d", d), ("n_projections", n_projections)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MetricInputError(f"{name} must be an integer >= 1; got {value!r}")
    g = np.random.default_rng(seed).standard_normal((int(n_projections), int(d)))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def sliced_wasserstein_distance(x: Any, y: Any, *, n_projections: int = 256, p: float = 2.0, seed: int = 0,
                                directions: Any = None) -> float:
    """Sliced Wasserstein distance ``SW_p`` between two sample sets in ``R^d``.

    Parameters
    ----------
    x, y : array-like or Tensor, shapes ``(n, ...)`` and ``(m, ...)``
        Finite samples, one per row; trailing axes are flattened to ``d`` coordinates (a
        history ``(n, n_channels, n_time)`` is a point of ``R^{n_channels * n_time}``) and
        must agree.
    n_projections : int
        Number of random directions (ignored when ``directions`` is given).
    p : float
        Order, ``>= 1``.
    seed : int
        Seed of the directions (:func:`random_directions`).
    directions : array-like, shape ``(L, d)``, optional
        Directions to use instead (normalised to unit length here).

    Returns
    -------
    float
        ``( mean_l W_p^p(x . theta_l, y . theta_l) )^(1/p)``, in the units of the samples.

    Raises
    ------
    MetricInputError
        Empty or non-finite samples, coordinates that differ, ``p < 1``, bad ``n_projections``
        or ``directions`` (wrong shape, a zero row).
    """
    p = _check_p(p)
    a, b = _samples(x, "x"), _samples(y, "y")
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(f"x and y must have the same coordinates per sample: {np.shape(x)[1:]} vs "
                               f"{np.shape(y)[1:]}")
    d = a.shape[1]
    if directions is None:
        theta = random_directions(d, n_projections, seed=seed)
    else:
        theta = _samples(directions, "directions")
        norms = np.linalg.norm(theta, axis=1, keepdims=True)
        if theta.shape[1] != d or not (norms > 0).all():
            raise MetricInputError(f"directions must have shape (L, {d}) with non-zero rows; "
                                   f"got {np.shape(directions)}")
        theta = theta / norms
    return float(np.mean(_wasserstein_pp(a @ theta.T, b @ theta.T, p)) ** (1.0 / p))
