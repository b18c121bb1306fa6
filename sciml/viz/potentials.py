"""Figures of the potentials study: calibration curves of force uncertainties, and the radial
distribution function with its posterior band against the reference.

Thaler et al. (JCTC 2023) show both: calibration curves of SG-MCMC (one and several chains) and
of the ensemble before and after recalibration, and observables with credible bands.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.viz.figures import pyplot, save_figure

__all__ = ["plot_calibration_curves", "plot_rdf_band"]


def plot_calibration_curves(curves: Mapping[str, tuple[Any, Any]], path: str | Path, *,
                            title: str = "force uncertainty calibration") -> Path:
    """Observed vs expected coverage of central intervals, one line per method, and the diagonal.

    Parameters
    ----------
    curves : mapping of label to ``(expected, observed)``
        From :func:`sciml.uq.calibration.calibration_curve`.
    path : path
        The PNG written (atomically).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for label, (expected, observed) in curves.items():
        ax.plot(np.asarray(expected), np.asarray(observed), lw=1.6, label=label)
    ax.set_xlabel("expected fraction inside the interval")
    ax.set_ylabel("observed fraction")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)


def plot_rdf_band(r: Any, reference: Any, lower: Any, upper: Any, path: str | Path, *,
                  median: Any = None, label: str = "posterior 95 % band") -> Path:
    """The reference ``g(r)`` over the band ``[lower, upper]`` of the posterior samples' ``g(r)``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    ax.fill_between(np.asarray(r), np.asarray(lower), np.asarray(upper), color="C0", alpha=0.3, label=label)
    if median is not None:
        ax.plot(r, median, color="C0", lw=1.2, label="posterior median")
    ax.plot(r, reference, color="k", lw=1.0, ls="--", label="reference MD")
    ax.set_xlabel("r")
    ax.set_ylabel("g(r)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
