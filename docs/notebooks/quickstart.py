# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: generate, inspect, plot
#
# We run the built-in viscous Burgers solver for a few viscosities, look at the labelled
# dataset it returns, save it to NetCDF, read it back lazily, and plot trajectories.
# `SMOKE = True` (the default when the test suite runs this notebook) keeps it tiny.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml.data import open_dataset, save, validate
from sciml.data.describe import format_summary, summarize
from sciml.simulators.pde import BurgersSimulator
from sciml.viz.trajectories import plot_trajectories

SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"
n_cells, n_frames, n_samples = (64, 21, 2) if SMOKE else (1024, 201, 16)

# %% [markdown]
# ## Generate
# One `run` call integrates `n_samples` random initial conditions (a PDEBench-style sum of
# sines) for one viscosity; the seed makes it reproducible.

# %%
sim = BurgersSimulator(n_cells=n_cells, n_frames=n_frames, t_final=2.0)
print(sim.parameter_space.describe())
parts = [sim.run({"nu": nu}, seed=i, n_samples=n_samples) for i, nu in enumerate([0.01, 0.1, 1.0])]
ds = xr.concat(parts, dim="sample")
ds = ds.assign_coords(sample=np.arange(ds.sizes["sample"]))
ds.attrs = parts[0].attrs
validate(ds)
ds

# %% [markdown]
# ## Conservation
# The finite-volume scheme conserves the integral of u to round-off.

# %%
mass = ds["u"].sum("x") * float(ds["x"][1] - ds["x"][0])
drift = float(np.abs(mass - mass.isel(t=0)).max() / np.abs(mass.isel(t=0)).max())
print(f"largest relative mass drift: {drift:.2e}")
assert drift < 1e-10

# %% [markdown]
# ## Save, reopen lazily, describe

# %%
workdir = Path(tempfile.mkdtemp())
path = save(ds, workdir / "burgers.nc")
with open_dataset(path) as lazy:
    print(format_summary(summarize(lazy), path=path))

# %% [markdown]
# ## Plot

# %%
png = plot_trajectories(ds, workdir / "trajectories.png", n=3)
fig, ax = plt.subplots(figsize=(5, 3))
for s in range(0, ds.sizes["sample"], n_samples):
    ax.plot(ds["x"], ds["u"].isel(sample=s, t=-1), label=f"nu={float(ds['nu'][s]):g}")
ax.set_xlabel("x")
ax.set_ylabel("u(x, t=2)")
ax.legend()
print(png)
