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
# # From a finite-element campaign to the UQ of a submodel driven by a Wasserstein GAN
#
# H. Boukraichi, N. Akkari, F. Casenave and D. Ryckelynck ("Uncertainty quantification in a
# mechanical submodel driven by a Wasserstein-GAN", IFAC-PapersOnLine 2022) cut the cost of an
# uncertainty study on a large structure by solving only a small *submodel* around the critical
# detail. The submodel needs boundary conditions on its interface with the rest of the structure:
# they train a conditional Wasserstein GAN (with gradient penalty, WGAN-GP) on interface
# displacement histories taken from a campaign of full-model runs, then drive a Monte Carlo of
# the submodel with generated histories. The question is whether the QoI distribution of the
# submodel so driven is the full model's.
#
# Here the structure is a 2-D plate with a hole, loaded on its right edge by a traction pulse
# (random amplitude, duration and angle) with a random material (Young's modulus `E`, Poisson
# ratio `nu`, density `rho`); linear elastodynamics, P1 finite elements (FEniCSx), Newmark in time.
# The submodel is the square window around the hole; its QoIs are the peak von Mises stress and
# the largest displacement in the window. The stages:
#
# 1. **campaign**: full-model runs, a training set (Latin hypercube) and a held-out set
#    (independent draws), each an `xarray` Dataset;
# 2. **transfer check**: the submodel driven by the *true* histories reproduces the full model;
# 3. **generators**: WGAN-GPs (one per seed) and a Gaussian-PCA baseline, both conditioned on
#    the material (the loads act outside the window: their randomness is the generators' noise);
# 4. **history distance**: sliced Wasserstein distance of generated to held-out histories;
# 5. **submodel Monte Carlo**: materials drawn from their distribution, one generated history
#    each, the submodel's QoIs, estimated with 95 % intervals against the full model's.
#
# The functions are those of `sciml.studies.wgan_submodel`, the ones `sciml bench wgan` and the
# workflow `workflows/wgan_submodel.yaml` (step `wgan_submodel`) string together. `SMOKE = True`
# (the default, used when the test suite executes this notebook) runs tiny sizes in seconds, so
# its numbers mean nothing; `SCIML_SMOKE=0` runs the workflow's sizes (several minutes on 2 CPU
# cores, not timed here).

# %%
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import Image, display

from sciml.executors import make_executor
from sciml.studies.wgan_submodel import (
    QOIS,
    as_settings,
    campaign_arrays,
    fit_gaussian_pca,
    generate_histories,
    history_distance,
    material_draws,
    qoi_estimates,
    run_campaign,
    submodel_qois,
    train_wgan,
)
from sciml.viz.wgan import plot_history_bands, plot_qoi_histograms, plot_training_curves

SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"
torch.set_num_threads(1)  # small networks: one thread is as fast and shares the machine

if SMOKE:
    settings = as_settings({
        "resolution": 4, "geometry": {"half_width": 1.0, "half_height": 0.5, "hole_radius": 0.15,
                                      "window_half_width": 0.3},
        "t_final": 1.0, "n_steps": 8, "grid": 2, "n_train": 8, "n_test": 6, "n_mc": 6, "chunk_size": 4,
        "executor": {"kind": "inprocess"}, "wgan_seeds": [0, 1], "swd_projections": 16,
        "wgan": {"n_steps": 5, "batch_size": 4, "noise_dim": 2, "hidden": 8, "n_layers": 1, "critic_hidden": 8,
                 "critic_layers": 1, "checkpoint_every": 5, "log_every": 1, "progress": False}})
else:  # the sizes of workflows/wgan_submodel.yaml
    settings = as_settings({"n_train": 200, "n_test": 100, "n_mc": 300, "wgan_seeds": [0, 1],
                            "wgan": {"n_steps": 1500, "checkpoint_every": 250, "progress": False},
                            "executor": {"kind": "process", "n_workers": 2, "threads_per_worker": 1}})
WORK = Path(tempfile.mkdtemp(prefix="wgan-submodel-"))
print(f"resolution {settings.resolution}, {settings.n_steps} time steps, {settings.interface_points} interface "
      f"nodes; {settings.n_train} training and {settings.n_test} held-out full-model runs; "
      f"{len(settings.wgan_seeds)} WGAN-GP seed(s) x {settings.wgan.n_steps} steps; {settings.n_mc} submodel runs "
      f"per generator; work dir {WORK}")
pd.DataFrame(settings.distribution, index=["low", "high"])

# %% [markdown]
# ## 1. The finite-element campaign
#
# `run_campaign` runs the full model at the points of a split in chunks of `chunk_size` through
# the executor and merges them into one Dataset (kept in the work dir: a rerun loads it, an
# interrupted one runs only the missing chunks). `campaign_arrays` takes out what the study uses:
# the interface histories `(N, n_t, n_points, 2)` (x and y displacement at every interface node
# and time step), the material `(N, 3)` and the two QoIs `(N,)`.

# %%
executor = make_executor(dict(settings.executor))
data = {}
for split in ("train", "test"):
    t0 = time.perf_counter()
    ds = run_campaign(settings, split, executor=executor, work_dir=WORK, log=print)
    data[split] = campaign_arrays(ds)
    print(f"  {split}: histories {data[split]['histories'].shape}, {time.perf_counter() - t0:.1f} s")
train, test = data["train"], data["test"]
shape = test["histories"].shape[1:]
times = np.linspace(0.0, settings.t_final, shape[0])
# the interface value (node, component) that varies most over the held-out runs
point, comp = divmod(int(np.argmax(test["histories"].reshape(len(test["histories"]), shape[0], -1)
                                   .std(axis=(0, 1)))), 2)
pd.DataFrame({q: {f"{split} mean": data[split][q].mean() for split in data} for q in QOIS})

# %% [markdown]
# ## 2. The submodel on the true histories
#
# The interface points are the mesh nodes of the window's boundary and every time step is
# recorded, so the submodel driven by the full model's own histories must give back the full
# model's QoIs to round-off: any error of the submodel Monte Carlo below is then the generator's.

# %%
true_qois = submodel_qois(settings, test["histories"], test["material"], executor=executor)
for q in QOIS:
    rel = np.abs(true_qois[q] - test[q]) / np.abs(test[q])
    print(f"{q}: largest relative difference submodel vs full model {rel.max():.1e}")

# %% [markdown]
# ## 3. Generators of interface histories
#
# The WGAN-GP's generator maps noise and the material to the coefficients of the histories on
# their leading principal components (a PCA-MLP generator with a bounded latent); the critic sees
# the same components and the material, and the gradient penalty keeps it 1-Lipschitz (Gulrajani
# et al. 2017). One WGAN-GP per seed shows how much training varies. The baseline is a
# Gaussian-PCA: the PCA coefficients and the material jointly Gaussian, a history drawn from the
# conditional Gaussian given the material. `train_wgan` checkpoints in its `run_dir`: a finished
# run is reloaded, an interrupted one continues.

# %%
t0 = time.perf_counter()
gans = {seed: train_wgan(settings, train["histories"], train["material"], seed=seed,
                         run_dir=WORK / "wgan" / f"seed_{seed}") for seed in settings.wgan_seeds}
gpca = fit_gaussian_pca(settings, train["histories"], train["material"])
print(f"{len(gans)} WGAN-GP(s) trained in {time.perf_counter() - t0:.1f} s; Gaussian-PCA with "
      f"{gpca.basis.n_components} component(s)")
display(Image(str(plot_training_curves({f"seed {s}": g.history for s, g in gans.items()},
                                       WORK / "training.png"))))

# %% [markdown]
# The critic's Wasserstein estimate should fall and level off; on its own it is no measure of
# quality (each critic is a different function), hence the distances below.
#
# ## 4. Generated against held-out histories
#
# Given the held-out materials, each generator draws one history per run; the sliced Wasserstein
# distance (`p = 2`, random directions of seed `k`) compares the set with the held-out histories.
# The training set's own distance to the held-out set is the floor a perfect generator would
# reach at this sample size.

# %%
ref = test["histories"]
swd = {"WGAN-GP": [], "Gaussian-PCA": [], "training set (floor)": []}
draws = {}
for seed, gan in gans.items():
    for name, gen in (("WGAN-GP", gan), ("Gaussian-PCA", gpca)):
        h = generate_histories(gen, test["material"], shape, seed=seed)
        draws.setdefault(name, h)
        swd[name].append(history_distance(settings, h, ref, seed=seed))
    swd["training set (floor)"].append(history_distance(settings, train["histories"], ref, seed=seed))
display(pd.DataFrame({k: {"mean": np.mean(v), "std": np.std(v, ddof=1) if len(v) > 1 else 0.0,
                          **{f"seed {s}": x for s, x in zip(gans, v)}} for k, v in swd.items()}).T)
sets = {"full model (held-out)": ref[:, :, point, comp], **{k: v[:, :, point, comp] for k, v in draws.items()}}
display(Image(str(plot_history_bands(times, sets, WORK / "histories.png",
                                     ylabel=f"u_{'xy'[comp]} at interface point {point}",
                                     title="interface histories given the held-out materials"))))

# %% [markdown]
# ## 5. Submodel Monte Carlo
#
# `n_mc` materials drawn from their distribution, one history from the generator for each, one
# submodel run per pair. The QoI estimates (mean, 95 % quantile and the probability of exceeding
# the training set's 90 % quantile, each with a 95 % interval) are compared with those of the full
# model on the held-out runs, the reference that the submodel should reproduce.

# %%
material = material_draws(settings)
mc = {}
for name, gen in (("submodel + WGAN-GP", gans[settings.wgan_seeds[0]]), ("submodel + Gaussian-PCA", gpca)):
    histories = generate_histories(gen, material, shape, seed=settings.seed)
    mc[name] = submodel_qois(settings, histories, material, executor=executor)
executor.close()
rows = []
for q in QOIS:
    threshold = float(np.quantile(train[q], settings.exceedance_quantile))
    for source, values in {"full model (held-out)": test, **mc}.items():
        est = qoi_estimates(values[q], threshold)
        rows.append({"qoi": q, "source": source, **{k: est[k] for k in (
            "n", "mean", "mean_lower", "mean_upper", "q95", "q95_lower", "q95_upper", "exceedance")}})
table = pd.DataFrame(rows).set_index(["qoi", "source"])
for q in QOIS:
    ref_row = table.loc[(q, "full model (held-out)")]
    for source in mc:
        row = table.loc[(q, source)]
        print(f"{q}, {source}: mean {abs(row['mean'] / ref_row['mean'] - 1):.1%} and 95 % quantile "
              f"{abs(row['q95'] / ref_row['q95'] - 1):.1%} off the full model's")
table

# %%
samples = {"full model (held-out)": {q: test[q] for q in QOIS}, **mc}
display(Image(str(plot_qoi_histograms(samples, WORK / "qoi_histograms.png"))))

# %% [markdown]
# ## What to take away
#
# * The submodel costs a fraction of the full model per sample (`sciml bench wgan` times both),
#   and on true interface histories it is exact; its Monte Carlo error is the generator's and the
#   sampling error, the latter shown by the intervals.
# * The WGAN-GP is judged on the histories (sliced Wasserstein distance, against the training
#   set's floor and the Gaussian-PCA) and on what matters downstream, the QoI distribution. With
#   the tiny `SMOKE` sizes neither comparison means anything; run with `SCIML_SMOKE=0`, or
#   `sciml run workflows/wgan_submodel.yaml`, which writes the same rows and figures and resumes
#   where an interrupted run stopped.
