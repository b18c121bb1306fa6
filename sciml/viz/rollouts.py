"""Plots of neural-solver rollouts against the truth, and error against time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sciml.viz.figures import save_figure


def plot_rollouts(
    true: np.ndarray,
    pred: np.ndarray,
    path: str | Path,
    *,
    x: np.ndarray,
    t: np.ndarray,
    labels: Sequence[str] | None = None,
    dpi: int = 110,
) -> Path:
    """Space-time images of truth, prediction and error for a few samples.

    Parameters
    ----------
    true, pred : ndarray, shape ``(n_samples, n_t, n_x)``
        One variable of each rollout.
    path : path
        Output image, written atomically.
    x, t : ndarray
        Coordinates, shapes ``(n_x,)`` and ``(n_t,)``.
    labels : sequence of str, optional
        Title of each sample's row (e.g. its parameters).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    true, pred = np.asarray(true), np.asarray(pred)
    if true.shape != pred.shape or true.ndim != 3:
        raise ValueError(f"true and pred must share a shape (n_samples, n_t, n_x); got {true.shape}, {pred.shape}")
    n = true.shape[0]
    fig, axes = plt.subplots(n, 3, figsize=(10, 2.6 * n), squeeze=False, constrained_layout=True)
    extent = [x[0], x[-1], t[0], t[-1]]
    for i in range(n):
        lo, hi = float(true[i].min()), float(true[i].max())
        for j, (img, title) in enumerate(((true[i], "truth"), (pred[i], "prediction"),
                                          (pred[i] - true[i], "error"))):
            ax = axes[i, j]
            kw = {"vmin": lo, "vmax": hi, "cmap": "RdBu_r"} if j < 2 else {"cmap": "PuOr_r"}
            im = ax.imshow(img, origin="lower", aspect="auto", extent=extent, **kw)
            fig.colorbar(im, ax=ax, shrink=0.8)
            ax.set_title(f"{title}" + (f" — {labels[i]}" if labels and j == 0 else ""), fontsize=9)
            ax.set_xlabel("x")
            if j == 0:
                ax.set_ylabel("t")
    return save_figure(fig, path, dpi=dpi)


def plot_error_vs_time(t: np.ndarray, errors: dict[str, np.ndarray], path: str | Path, *,
                       ylabel: str = "nRMSE per frame", dpi: int = 110) -> Path:
    """Error curves against time, one line per entry of ``errors`` (name -> ``(n_t,)``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    for name, e in errors.items():
        ax.plot(t[-len(e):], e, label=name)
    ax.set_xlabel("t")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=dpi)
