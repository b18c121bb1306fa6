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
# # Quickstart: generate, inspect, plot, learn
#
# We run the built-in viscous Burgers solver for a few viscosities, look at the labelled
# dataset it returns, save it to NetCDF, read it back lazily, plot trajectories, and train a
# small neural surrogate on such data.
# `SMOKE = True` (the default when the test suite runs this notebook) keeps it tiny.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import xarray as xr

from sciml.data import open_dataset, open_trajectories, save, validate
from sciml.data.describe import format_summary, summarize
from sciml.simulators.pde import BurgersSimulator, SineSumIC
from sciml.surrogates.neural_pde import RolloutRequest, TrainConfig, Trainer, build_solver
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

# %% [markdown]
# ## A neural surrogate
# For learning, initial states get a random offset (so that no trajectory decays to zero,
# where relative errors are ill-posed). The data layer serves the saved file as torch
# trajectories (in memory here, lazily from disk when a file does not fit). A small CAPE-FNO
# trains on them through the common training loop (checkpoints and `metrics.jsonl` in its run
# folder, exact resume); once trained it is a Surrogate: `predict` rolls it out from the first
# frame and returns a deterministic posterior.

# %%
offset_sim = BurgersSimulator(n_cells=n_cells, n_frames=n_frames, t_final=2.0,
                              initial_condition=SineSumIC(offset_range=(0.2, 0.6)))
train = xr.concat([offset_sim.run({"nu": nu}, seed=10 + i, n_samples=2 * n_samples)
                   for i, nu in enumerate([0.02, 0.05, 0.1])], dim="sample")
train = train.assign_coords(sample=np.arange(train.sizes["sample"]))
train.attrs = parts[0].attrs
data = open_trajectories(save(train, workdir / "burgers_offset.nc"), x_factor=2, t_stride=2)

model = build_solver("cape_fno", n_params=data.n_params, width=16, modes=8, n_layers=2, cape_hidden=8,
                     cape_modes=8, param_scale=1e-3, seed=0)
config = TrainConfig(epochs=4 if SMOKE else 30, warmup_epochs=1 if SMOKE else 5, batch_size=4, lr=3e-3,
                     aux_loss_weight=0.3, relative_floor=0.01, seed=0, progress=False)
result = Trainer(model, config, workdir / "runs" / "cape").fit(data)
print(f"{result.epochs_completed} epochs, last training loss {result.history[-1]['train_loss']:.3g}")

trajectories, params = next(iter(data.batches(len(data))))
posterior = model.predict(RolloutRequest(trajectories[:, :, :1], trajectories.shape[2] - 1, params))
error = (posterior.mean - trajectories[:, :, 1:]).norm() / trajectories[:, :, 1:].norm()
print(f"rollout shape {tuple(posterior.mean.shape)}, relative L2 error {float(error):.3f}")
assert torch.isfinite(posterior.mean).all() and bool((posterior.variance == 0).all())
