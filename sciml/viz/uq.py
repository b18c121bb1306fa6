"""Figures of the UQ toolkit: empirical coverage against nominal coverage, and CARPool's variance
reduction per bin.

Calibration curves of Gaussian predictive variances (:func:`sciml.uq.calibration_curve`) are
drawn by :func:`sciml.viz.potentials.plot_calibration_curves`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.viz.figures import pyplot, save_figure

__all__ = ["plot_coverage_vs_nominal", "plot_variance_reduction"]


def _finite(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1D array of finite numbers; got shape {arr.shape}")
    return arr


def plot_coverage_vs_nominal(results: Mapping[str, tuple[Any, Any] | tuple[Any, Any, Any]], path: str | Path, *,
                             title: str = "interval coverage") -> Path:
    """Empirical coverage against nominal coverage ``1 - alpha``, one marked line per method.

    Parameters
    ----------
    results : mapping of label to ``(nominal, observed)`` or ``(nominal, observed, std_error)``
        1D arrays of one length (e.g. conformal intervals at several ``alpha``, the standard
        error over repeated splits as error bars).
    path : path
        The figure written (atomically).

    Raises
    ------
    ValueError
        Empty results, arrays of different lengths or not finite.
    """
    if not results:
        raise ValueError("results is empty: nothing to plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="nominal")
    for label, row in results.items():
        nominal, observed = _finite(row[0], "nominal"), _finite(row[1], "observed")
        err = _finite(row[2], "std_error") if len(row) > 2 else None
        if observed.size != nominal.size or (err is not None and err.size != nominal.size):
            plt.close(fig)
            raise ValueError(f"{label!r}: nominal, observed (and std_error) must have one length")
        ax.errorbar(nominal, observed, yerr=err, marker="o", ms=4, lw=1.4, capsize=2, label=label)
    ax.set_xlabel("nominal coverage 1 - alpha")
    ax.set_ylabel("empirical coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)


def plot_variance_reduction(x: Any, reductions: Mapping[str, Any], path: str | Path, *, gain: Any = None,
                            xlabel: str = "k [h/Mpc]", title: str = "CARPool variance reduction") -> Path:
    """Variance reduction ``Var(plain mean) / Var(CARPool)`` per bin on log axes.

    Parameters
    ----------
    x : array_like, shape ``(B,)``
        Bin centres (e.g. wavenumbers), positive.
    reductions : mapping of label to array ``(B,)``
        Measured reductions (e.g. ``CARPoolEstimate.variance_reduction`` for several ``N``), > 0.
    gain : array_like ``(B,)``, optional
        The predicted ``1 / (1 - rho^2)``, drawn dashed.
    path : path
        The figure written (atomically).

    Raises
    ------
    ValueError
        Empty reductions, lengths that differ from ``x``, non-positive or non-finite values.
    """
    xs = _finite(x, "x")
    if not reductions:
        raise ValueError("reductions is empty: nothing to plot")
    series = {label: _finite(r, f"reductions[{label!r}]") for label, r in reductions.items()}
    if gain is not None:
        series["1 / (1 - rho^2)"] = _finite(gain, "gain")
    for label, r in series.items():
        if r.size != xs.size or np.any(r <= 0):
            raise ValueError(f"{label!r}: needs {xs.size} positive values, got {r.size} (min {r.min():.3g})")
    if np.any(xs <= 0):
        raise ValueError("x must be positive (log axis)")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for label, r in series.items():
        dashed = gain is not None and label == "1 / (1 - rho^2)"
        ax.plot(xs, r, ls="--" if dashed else "-", color="0.3" if dashed else None, marker=None if dashed else "o",
                ms=3, lw=1.4, label=label)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("variance reduction")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
