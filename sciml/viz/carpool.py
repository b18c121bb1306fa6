"""Figures of the CARPool benchmark: variance reduction against k, and P(k) over the truth with error bands.

Chartier et al. (2021) show the CARPool estimate of P(k) and the mean of the same few N-body runs
divided by the large-N truth, with their error bands, and the variance reduction per k-bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.viz.figures import pyplot, save_figure

__all__ = ["plot_power_ratio", "plot_variance_reduction"]


def _log_k_axis(ax: Any, k: np.ndarray) -> None:
    """A log k axis labelled with plain numbers at 1, 2, 5 times powers of ten."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ticks = [m * 10.0**e for e in range(-4, 3) for m in (1, 2, 5)]
    ax.set_xticks([t for t in ticks if 0.9 * k.min() <= t <= 1.1 * k.max()])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("k [h/Mpc]")


def _k(k: Any) -> np.ndarray:
    arr = np.asarray(k, dtype=float)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"k must be a 1-D array of wavenumbers; got shape {arr.shape}")
    return arr


def plot_variance_reduction(k: Any, curves: Mapping[str, Any], path: str | Path, *,
                            marks: Mapping[str, float] | None = None, title: str = "") -> Path:
    """Variance reduction per k-bin, one line per estimator, on log axes.

    Parameters
    ----------
    k : array, shape ``(B,)``
        Bin wavenumbers (h/Mpc).
    curves : mapping of label to array ``(B,)``
        Variance reduction of each estimator against the plain mean.
    path : path
        The PNG written (atomically).
    marks : mapping of label to float, optional
        Wavenumbers drawn as vertical dotted lines.

    Raises
    ------
    ValueError
        A curve whose length is not ``B``.
    """
    kk = _k(k)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for i, (label, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        if v.shape != kk.shape:
            raise ValueError(f"curve {label!r} has shape {v.shape}; expected {kk.shape}")
        ax.plot(kk, v, marker="o", ms=3, lw=1.2, color=f"C{i}", label=label)
    ax.axhline(1.0, color="k", lw=0.8)
    for j, (label, kv) in enumerate((marks or {}).items()):
        ax.axvline(kv, color="0.4", ls=":" if j == 0 else "--", lw=1.0, label=f"{label} = {kv:.3g} h/Mpc")
    _log_k_axis(ax, kk)
    ax.set_yscale("log")
    ax.set_ylabel("Var(plain mean) / Var(CARPool)")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_power_ratio(k: Any, ratios: Mapping[str, tuple[Any, Any]], path: str | Path, *, k_max: float | None = None,
                     title: str = "") -> Path:
    """Estimates of P(k) divided by the truth, each with its one-sigma band.

    Parameters
    ----------
    k : array, shape ``(B,)``
    ratios : mapping of label to ``(ratio, error)``, arrays ``(B,)``
        The first set is drawn in grey (the plain mean), the others in colour.
    path : path
        The PNG written (atomically).
    k_max : float, optional
        Upper limit of the k axis.

    Raises
    ------
    ValueError
        A ratio or error whose length is not ``B``.
    """
    kk = _k(k)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for i, (label, (ratio, error)) in enumerate(ratios.items()):
        r, e = np.asarray(ratio, dtype=float), np.asarray(error, dtype=float)
        if r.shape != kk.shape or e.shape != kk.shape:
            raise ValueError(f"ratio {label!r} has shapes {r.shape}, {e.shape}; expected {kk.shape}")
        color = "0.5" if i == 0 else f"C{i - 1}"
        ax.fill_between(kk, r - e, r + e, color=color, alpha=0.25 if i == 0 else 0.35)
        ax.plot(kk, r, color=color, lw=1.2, label=f"{label} (1 sigma)")
    ax.axhline(1.0, color="k", lw=0.8)
    _log_k_axis(ax, kk)
    if k_max is not None:
        ax.set_xlim(kk.min() * 0.9, k_max)
    ax.set_ylabel("P(k) / P_truth(k)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
