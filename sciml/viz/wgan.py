"""Figures of the WGAN-driven submodel study: generated against true interface histories, QoI
histograms of the submodel Monte Carlo against the full model's, and the WGAN-GP training curves.

Boukraichi et al. (2022) show generated and true boundary-condition histories side by side and
the QoI distributions of the submodel driven by the generator against the full model's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sciml.viz.figures import pyplot, save_figure

__all__ = ["plot_history_bands", "plot_qoi_histograms", "plot_training_curves"]


def plot_history_bands(times: Any, histories: Mapping[str, Any], path: str | Path, *, n_curves: int = 8,
                       ylabel: str = "displacement", title: str = "") -> Path:
    """Histories of one interface component: a few curves of each set (left) and their median and
    5-95 % band (right).

    Parameters
    ----------
    times : array, shape ``(n_t,)``
    histories : mapping of label to array ``(n, n_t)``
        The first set is drawn in black (the truth), the others in colour.
    path : path
        The PNG written (atomically).
    n_curves : int
        Curves drawn per set on the left.

    Raises
    ------
    ValueError
        A set whose last axis is not ``n_t`` long.
    """
    t = np.asarray(times, dtype=float)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4), sharey=True)
    for k, (label, values) in enumerate(histories.items()):
        h = np.asarray(values, dtype=float)
        if h.ndim != 2 or h.shape[1] != t.size:
            raise ValueError(f"histories {label!r} have shape {h.shape}; expected (n, {t.size})")
        color = "k" if k == 0 else f"C{k - 1}"
        for i in range(min(n_curves, h.shape[0])):
            left.plot(t, h[i], color=color, lw=0.8, alpha=0.7, label=label if i == 0 else None)
        lo, mid, hi = np.percentile(h, [5, 50, 95], axis=0)
        right.fill_between(t, lo, hi, color=color, alpha=0.15 if k == 0 else 0.25)
        right.plot(t, mid, color=color, lw=1.5, ls="--" if k == 0 else "-", label=f"{label} (median, 5-95 %)")
    left.set_title("individual histories", fontsize=9)
    right.set_title("median and 5-95 % band", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("t")
        ax.legend(fontsize=7)
    left.set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_qoi_histograms(samples: Mapping[str, Mapping[str, Any]], path: str | Path, *,
                        quantiles: Sequence[float] = (0.95,)) -> Path:
    """One panel per QoI: a density histogram of each Monte Carlo sample, its quantiles marked.

    Parameters
    ----------
    samples : mapping of label to (mapping of QoI name to array ``(n,)``)
        Every label must have the same QoIs; the first one is drawn as an outline (the reference).
    path : path
        The PNG written (atomically).
    quantiles : sequence of float
        Marked with vertical lines.

    Raises
    ------
    ValueError
        No samples, or labels with different QoIs.
    """
    labels = list(samples)
    if not labels:
        raise ValueError("plot_qoi_histograms needs at least one sample")
    qois = list(samples[labels[0]])
    if any(list(samples[label]) != qois for label in labels):
        raise ValueError(f"every sample needs the QoIs {qois}; got {[list(samples[k]) for k in labels]}")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(qois), figsize=(4.4 * len(qois), 3.4), squeeze=False)
    for ax, q in zip(axes[0], qois):
        values = [np.asarray(samples[label][q], dtype=float) for label in labels]
        bins = np.histogram_bin_edges(np.concatenate(values), bins=30)
        for k, (label, x) in enumerate(zip(labels, values)):
            color = "k" if k == 0 else f"C{k - 1}"
            ax.hist(x, bins=bins, density=True, histtype="step" if k == 0 else "stepfilled",
                    alpha=1.0 if k == 0 else 0.35, color=color, lw=1.5 if k == 0 else 1.0,
                    label=f"{label} (n = {x.size})")
            for qq in quantiles:
                ax.axvline(float(np.quantile(x, qq)), color=color, lw=1.0, ls=":")
        ax.set_xlabel(q)
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle(f"QoI distributions (dotted: {', '.join(f'{100 * q:g} %' for q in quantiles)} quantile)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_training_curves(records: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path, *,
                         key: str = "wasserstein") -> Path:
    """The critic's Wasserstein estimate (or another logged ``key``) against the step, one line per run.

    Raises
    ------
    ValueError
        A run without records of ``key``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for label, recs in records.items():
        pts = [(r["step"], r[key]) for r in recs if key in r]
        if not pts:
            raise ValueError(f"run {label!r} has no records of {key!r}")
        steps, values = zip(*pts)
        ax.plot(steps, values, lw=1.0, label=label)
    ax.set_xlabel("generator step")
    ax.set_ylabel(key)
    ax.set_title(f"WGAN-GP training: the critic's {key} estimate", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
