"""Plots of 1D trajectories: space-time diagrams and profiles at a few times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sciml.viz.figures import save_figure
from sciml.data.schema import field_variables, parameter_variables


def plot_trajectories(
    ds: xr.Dataset,
    path: str | Path,
    *,
    n: int = 4,
    variable: str | None = None,
    samples: list[int] | None = None,
    dpi: int = 110,
) -> Path:
    """Plot ``n`` trajectories of a 1D field dataset to an image file.

    Each sample gets a column: on top a space-time diagram ``u(t, x)``, below the profiles at
    five evenly spaced times. Titles show the sample's parameters.

    Parameters
    ----------
    ds : xarray.Dataset
        A sciml field dataset with dims ``(sample, t, x)``.
    path : path
        Output image (``.png``, ``.pdf``, ``.svg``); written atomically.
    n : int
        Number of samples when ``samples`` is not given: the first sample of each distinct
        parameter combination first (up to ``n``), then samples spread over the dataset.
    variable : str, optional
        Field to plot (default: the first field variable).
    samples : list of int, optional
        Explicit sample indices.

    Returns
    -------
    Path
        The image path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    variable = variable or field_variables(ds)[0]
    field = ds[variable]
    if field.dims != ("sample", "t", "x"):
        raise ValueError(f"plot_trajectories needs dims ('sample', 't', 'x'); {variable!r} has {field.dims}")
    params = parameter_variables(ds)
    if samples is None:
        samples = _spread_samples(ds, params, n)
    t = ds["t"].values
    x = ds["x"].values
    fig, axes = plt.subplots(2, len(samples), figsize=(3.2 * len(samples), 5.6), squeeze=False,
                             constrained_layout=True)
    for j, s in enumerate(samples):
        u = np.asarray(field.isel(sample=s).values)
        ax = axes[0, j]
        im = ax.imshow(u, origin="lower", aspect="auto", cmap="RdBu_r",
                       extent=[x[0], x[-1], t[0], t[-1]])
        label = ", ".join(f"{p}={float(ds[p].values[s]):.3g}" for p in params)
        ax.set_title(f"sample {s}" + (f"\n{label}" if label else ""), fontsize=9)
        ax.set_xlabel(f"x [{ds['x'].attrs.get('units', '')}]")
        if j == 0:
            ax.set_ylabel(f"t [{ds['t'].attrs.get('units', '')}]")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax = axes[1, j]
        for k in np.linspace(0, len(t) - 1, 5).round().astype(int):
            ax.plot(x, u[k], lw=1.2, label=f"t={t[k]:.2g}")
        ax.set_xlabel("x")
        if j == 0:
            ax.set_ylabel(variable)
            ax.legend(fontsize=7)
    fig.suptitle(ds.attrs.get("title", ds.attrs.get("generator", "")), fontsize=10)
    return save_figure(fig, path, dpi=dpi)


def _spread_samples(ds: xr.Dataset, params: list[str], n: int) -> list[int]:
    """Up to ``n`` sample indices covering as many distinct parameter values as possible."""
    n_total = ds.sizes["sample"]
    chosen: list[int] = []
    if params:
        table = np.stack([np.asarray(ds[p].values) for p in params], axis=1)
        _, first = np.unique(table, axis=0, return_index=True)
        chosen = sorted(first.tolist())
        if len(chosen) > n:
            chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, n).round().astype(int)]
    for i in np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int):
        if len(chosen) >= min(n, n_total):
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return sorted(chosen)
