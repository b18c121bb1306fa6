"""Plots of probabilistic predictions: profiles with credible bands, and histograms of a
derived quantity (e.g. a shock position) drawn from the posterior.

These are the two figures of ProbConserv's Stefan study (Hansen et al., 2023): the solution
profile at one time with each model's band, and the distribution of the front position over
posterior samples against the true front.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.viz.figures import pyplot, save_figure

__all__ = ["credible_band", "plot_profiles_with_bands", "plot_position_histograms"]


def credible_band(mean: Any, variance: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian band ``mean -/+ z * sqrt(variance)``.

    Parameters
    ----------
    mean, variance : array_like, same shape
        Predictive mean and **variance** (not the standard deviation), units of ``u`` and
        ``u**2``. Negative variances are clipped to 0 when they are round-off (above
        ``-1e-12 * max(|variance|, mean**2)``) and an error otherwise.
    z : float
        Half-width in standard deviations (1.96: the central 95% of a Gaussian).

    Returns
    -------
    (lower, upper) : ndarrays of the shape of ``mean``
    """
    mu = np.asarray(mean, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    if mu.shape != var.shape:
        raise ValueError(f"mean and variance must have the same shape; got {mu.shape} and {var.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(var))):
        raise ValueError("mean and variance must be finite")
    if not z > 0:
        raise ValueError(f"z must be positive; got {z}")
    scale = max(float(np.max(np.abs(var))), float(np.max(mu**2))) if var.size else 0.0
    if var.size and float(var.min()) < -1e-12 * max(scale, 1e-300):
        raise ValueError(f"variance must be non-negative; smallest value {float(var.min()):.3g}")
    half = z * np.sqrt(np.clip(var, 0.0, None))
    return mu - half, mu + half


def plot_profiles_with_bands(
    x: Any,
    truth: Any,
    predictions: Mapping[str, tuple[Any, Any]],
    path: str | Path,
    *,
    z: float = 1.96,
    title: str | None = None,
    xlabel: str = "x",
    ylabel: str = "u",
    dpi: int = 110,
) -> Path:
    """One panel per model: the true profile, the predictive mean and its ``z``-sigma band.

    Parameters
    ----------
    x : array_like, shape ``(n_x,)``
        Grid.
    truth : array_like, shape ``(n_x,)``
        Exact profile.
    predictions : mapping name -> (mean, variance)
        Each of shape ``(n_x,)``; variance in units of ``u**2``.
    path : path
        Output image, written atomically.
    z : float
        Band half-width in standard deviations (see :func:`credible_band`).

    Returns
    -------
    Path
        ``path``.
    """
    xs = np.asarray(x, dtype=np.float64)
    u = np.asarray(truth, dtype=np.float64)
    if xs.ndim != 1 or u.shape != xs.shape:
        raise ValueError(f"x and truth must be 1D of the same length; got {xs.shape} and {u.shape}")
    if not predictions:
        raise ValueError("predictions is empty: give at least one name -> (mean, variance)")
    bands = {}
    for name, (mean, var) in predictions.items():
        if np.shape(mean) != xs.shape:
            raise ValueError(f"prediction {name!r}: mean must have shape {xs.shape}; got {np.shape(mean)}")
        bands[name] = (np.asarray(mean, dtype=np.float64), *credible_band(mean, var, z))
    plt = pyplot()
    n = len(bands)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.0), squeeze=False, sharey=True, constrained_layout=True)
    for ax, (name, (mu, lo, hi)) in zip(axes[0], bands.items()):
        ax.fill_between(xs, lo, hi, color="tab:blue", alpha=0.25, lw=0, label=f"±{z:g}σ")
        ax.plot(xs, mu, color="tab:blue", lw=1.4, label="mean")
        ax.plot(xs, u, color="k", lw=1.0, ls="--", label="exact")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel(ylabel)
    axes[0, 0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=dpi)


def plot_position_histograms(
    positions: Mapping[str, Any],
    path: str | Path,
    *,
    true_position: float | None = None,
    bins: int | Any = 30,
    title: str | None = None,
    xlabel: str = "front position x",
    dpi: int = 110,
) -> Path:
    """One histogram per model of a position computed from posterior samples.

    Parameters
    ----------
    positions : mapping name -> array_like, shape ``(S,)``
        E.g. :func:`sciml.uq.metrics.shock_position` of ``S`` posterior draws.
    path : path
        Output image, written atomically.
    true_position : float, optional
        Drawn as a vertical line.
    bins : int or array_like
        Shared bins (an int: that many equal bins over the range of all positions).

    Returns
    -------
    Path
        ``path``.
    """
    if not positions:
        raise ValueError("positions is empty: give at least one name -> samples")
    data = {}
    for name, p in positions.items():
        a = np.asarray(p, dtype=np.float64).reshape(-1)
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"positions {name!r} must be a non-empty array of finite numbers")
        data[name] = a
    if np.ndim(bins) == 0:
        everything = np.concatenate(list(data.values()) + ([np.array([true_position])] if true_position is not None else []))
        lo, hi = float(everything.min()), float(everything.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, int(bins) + 1)
    plt = pyplot()
    n = len(data)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 2.8), squeeze=False, sharex=True, constrained_layout=True)
    for ax, (name, a) in zip(axes[0], data.items()):
        ax.hist(a, bins=bins, color="tab:orange", alpha=0.8)
        if true_position is not None:
            ax.axvline(true_position, color="k", ls="--", lw=1.0, label="exact")
            ax.legend(fontsize=7)
        ax.set_title(f"{name}: mean {a.mean():.4g}", fontsize=9)
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel("samples")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=dpi)
