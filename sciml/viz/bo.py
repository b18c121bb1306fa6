"""Plots of Bayesian-optimisation runs: a run's recommendation against its cumulative cost, and
the benchmark's mean regret curves (matplotlib, Agg, written atomically)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml.bo.analysis import curve_of
from sciml.bo.result import BOResult
from sciml.errors import ParameterError
from sciml.viz.figures import save_figure

__all__ = ["plot_best_vs_cost", "plot_regret_curves"]


def plot_best_vs_cost(result: BOResult | Sequence[BOResult], path: str | Path, *, dpi: int = 110,
                      title: str | None = None) -> Path:
    """Plot the recommendation's quality against the cumulative cost (matplotlib, Agg).

    The inference regret (log scale) when the optimum is known and the recommendations were
    evaluated; else the recommendation's true value; else its posterior mean.

    Parameters
    ----------
    result : BOResult or sequence of BOResult
        One curve per result (labelled by method).
    path : path
        Output image (format from the suffix, default PNG), written atomically.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    results = [result] if isinstance(result, BOResult) else list(result)
    if not results or not all(isinstance(r, BOResult) for r in results):
        raise ParameterError("plot_best_vs_cost needs one or more BOResult")
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    ylabel = "recommended value"
    log = False
    for r in results:
        cost, true, regret = r.recommendation_curve()
        if cost.numel() == 0:
            continue
        if bool(torch.isfinite(regret).any()):
            y, ylabel, log = regret.clamp_min(1e-12), "inference regret", True
        elif bool(torch.isfinite(true).any()):
            y, ylabel = true, "true value of the recommendation"
        else:
            y = torch.tensor([float(x["posterior_mean"]) for x in r.recommendations], dtype=torch.float64)
            ylabel = "posterior mean of the recommendation"
        ax.step(cost.numpy(), y.numpy(), where="post", marker="o", markersize=3, label=f"{r.method} ({r.model_kind})")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("cumulative cost")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{results[0].problem}")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=dpi)


def plot_regret_curves(rows: Sequence[Mapping[str, Any]], out_dir: str | Path, *, prefix: str = "mfbo") -> list[Path]:
    """One PNG per problem: mean inference regret (log scale, +- 1 standard error) against cumulative cost.

    Parameters
    ----------
    rows : sequence of dict
        Benchmark rows; those of ``kind == "regret"`` are drawn (``problem``, ``method``,
        ``settings``, ``n_seeds`` and ``curve`` = ``{"cost", "mean", "se"}``).
    out_dir : path
        Folder of the images.
    prefix : str
        Images are ``<out_dir>/<prefix>_<problem>.png``.

    Returns
    -------
    list of Path
        The written images, each written atomically.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    regret = [r for r in rows if r.get("kind") == "regret"]
    paths = []
    for problem in dict.fromkeys(r["problem"] for r in regret):
        fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
        for r in (x for x in regret if x["problem"] == problem):
            cost, mean = curve_of(r["curve"])
            se = curve_of(r["curve"], "se")[1]
            floor = 1e-12
            label = f"{r['method']}" + ("" if r["settings"] == "FAST" else f" ({r['settings']})")
            line = ax.step(cost, np.maximum(mean, floor), where="post", label=f"{label}, n={r['n_seeds']}")[0]
            ax.fill_between(cost, np.maximum(mean - se, floor), np.maximum(mean + se, floor), step="post",
                            alpha=0.2, color=line.get_color())
        ax.set_yscale("log")
        ax.set_xlabel("cumulative cost (declared)")
        ax.set_ylabel("inference regret (mean +- s.e.)")
        ax.set_title(problem)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, Path(out_dir) / f"{prefix}_{problem}.png"))
    return paths
