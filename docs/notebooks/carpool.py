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
# # CARPool: the matter power spectrum from a few N-body runs and many cheap ones
#
# N. Chartier, B. Wandelt, Y. Akrami and F. Villaescusa-Navarro ("CARPool: fast, accurate
# computation of large-scale structure statistics by pairing costly and cheap cosmological
# simulations", MNRAS 503 (2021) 1897) estimate the mean of a statistic `y` of an expensive
# simulation (here the matter power spectrum `P(k)` of a particle-mesh N-body run) from a few runs
# `y_i`, each *paired* with a cheap run `c_i` started from the same initial white noise (2LPT or
# Zel'dovich: no force computation, a displacement of the initial particles). Paired runs see the
# same large-scale modes, so `y_i` and `c_i` are strongly correlated. The CARPool estimate of the
# mean, per k-bin, is the control-variate one
#
# $$x = \bar y - \beta\,(\bar c - \mu_c), \qquad \beta = \mathrm{Cov}(y, c) / \mathrm{Var}(c),$$
#
# with `mu_c` the mean of the cheap statistic, itself estimated from `M` more cheap runs (cheap,
# so `M` can be large). It is unbiased for any `beta`; with the best `beta` (fitted per bin on the
# pairs, the *univariate* CARPool) its variance is
#
# $$\mathrm{Var}(x) = (1 - \rho^2)\,\frac{\mathrm{Var}(y)}{N} + \beta^2\,\mathrm{Var}(\mu_c),$$
#
# `rho` the correlation of `y` and `c` in the bin: against the plain mean of the same `N`
# expensive runs, the variance falls by the gain `1 / (1 - rho^2)` (less the `mu_c` term, and
# a little for a `beta` fitted on only `N` pairs). The correlation is near 1 on large scales,
# where 2LPT is nearly exact, and falls towards the particle Nyquist wavenumber, where the
# N-body's nonlinear evolution departs from the cheap runs.
#
# The functions are those of `sciml.studies.carpool` and `sciml.studies.carpool_stages`, the ones
# `sciml bench carpool` and the workflow `workflows/carpool_pk.yaml` (step `carpool_study`) string
# together. `SMOKE = True` (the default, used when the test suite executes this notebook) runs
# 16^3 particles, 40 pairs and 200 cheap runs in seconds, so its numbers mean little; `SCIML_SMOKE=0` runs
# the workflow's sizes (32^3 particles, 160 pairs, 120 truth runs, 200 cheap runs: minutes on 2
# CPU cores).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Image, display
from matplotlib.ticker import NullFormatter, ScalarFormatter

from sciml.executors import make_executor
from sciml.simulators.registry import build_simulator
from sciml.studies.carpool import EXPENSIVE, as_settings, simulator_configs
from sciml.studies.carpool_stages import SHORT, carpool_rows, figures, run_rows, run_sets
from sciml.uq.control_variates import carpool
from sciml.viz.figures import pyplot, save_figure

SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"

if SMOKE:
    settings = as_settings({"n_particles": 16, "n_mesh": 32, "n_steps": 5, "n_pool": 40, "n_truth": 20,
                            "n_cheap": 200, "n_pairs": [5, 10], "chunk_size": 10, "run_burgers": False,
                            "executor": {"kind": "inprocess"}})
else:  # the sizes of workflows/carpool_pk.yaml
    settings = as_settings({"n_particles": 32, "n_mesh": 64, "n_pool": 160, "n_truth": 120, "n_cheap": 200,
                            "n_pairs": [5, 10], "run_burgers": False,
                            "executor": {"kind": "process", "n_workers": 2, "threads_per_worker": 1}})
WORK = Path(tempfile.mkdtemp(prefix="carpool-"))
print(f"{settings.n_particles}^3 particles in a {settings.box_size:g} Mpc/h box, P(k) on a {settings.n_mesh}^3 "
      f"mesh at a = {settings.a_final:g}; PM with {settings.n_steps} steps from a = {settings.a_start:g}; "
      f"half the particle Nyquist wavenumber {settings.k_half_nyquist:.3f} h/Mpc; work dir {WORK}")

# %% [markdown]
# ## 1. One pair: PM and 2LPT from the same white noise
#
# The three simulators share the box, particles and mesh; a seed fixes the initial white noise.
# Their spectra at one seed differ little on large scales (both follow the same realisation of
# the modes, cosmic variance included) and part towards small scales, where the PM run's
# nonlinear growth adds power that 2LPT and Zel'dovich lack.

# %%
sims = {kind: build_simulator(config) for kind, config in simulator_configs(settings).items()}
one = {kind: sim.run_power(dict(settings.params), seed=7) for kind, sim in sims.items()}
k = one[EXPENSIVE]["k"].values
pk = {kind: ds["power"].values[0, -1] for kind, ds in one.items()}
plt = pyplot()


def k_axis(axis):
    """A log k axis with plain tick labels at 0.02, 0.05, 0.1, 0.2, 0.5 h/Mpc."""
    axis.set_xscale("log")
    axis.set_xticks([t for t in (0.02, 0.05, 0.1, 0.2, 0.5) if 0.9 * k.min() <= t <= 1.1 * k.max()])
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.xaxis.set_minor_formatter(NullFormatter())


fig, (ax, bx) = plt.subplots(2, 1, figsize=(6.0, 5.5), sharex=True, height_ratios=(2, 1))
for i, (kind, p) in enumerate(pk.items()):
    ax.loglog(k, p, marker="o", ms=3, color=f"C{i}", label={EXPENSIVE: "PM"}.get(kind, SHORT.get(kind, kind)))
    bx.semilogx(k, p / pk[EXPENSIVE], color=f"C{i}")
for a in (ax, bx):
    a.axvline(settings.k_half_nyquist, color="0.4", ls="--", lw=1.0)
ax.set_ylabel("P(k) [(Mpc/h)^3]")
ax.legend(fontsize=8)
ax.set_title("one seed, paired runs", fontsize=9)
bx.set_ylabel("P / P_PM")
bx.set_xlabel("k [h/Mpc]")
k_axis(bx)
fig.tight_layout()
display(Image(str(save_figure(fig, WORK / "paired_pk.png"))))

# %% [markdown]
# ## 2. The sets of runs and the correlation per k-bin
#
# Three sets with disjoint seeds run through the executor in chunks (kept in the work dir:
# a rerun reloads them): `n_pool` seeds each run by PM and the cheap simulators (the pairs),
# `n_truth` more PM runs (their mean is the large-N truth) and `n_cheap` (`M`) independent cheap
# runs for `mu_c`. Over the pairs, the correlation `rho` of PM and cheap P(k) per bin, and the
# gain `1 / (1 - rho^2)` it allows.

# %%
with make_executor(dict(settings.executor)) as executor:
    runs, seconds = run_sets(settings, executor, WORK, print)
display(pd.DataFrame(run_rows(runs, seconds)).set_index("set").drop(columns="stage"))
y = runs["pairs"]["power"][EXPENSIVE]
corr = {}
for kind in settings.cheap:
    c = runs["pairs"]["power"][kind]
    rho = np.array([np.corrcoef(y[:, b], c[:, b])[0, 1] for b in range(len(k))])
    corr[f"rho {SHORT[kind]}"], corr[f"gain {SHORT[kind]}"] = rho, 1.0 / (1.0 - rho**2)
pd.DataFrame(corr, index=pd.Index(np.round(k, 4), name="k [h/Mpc]")).round(4)

# %% [markdown]
# ## 3. The CARPool figure: variance reduction against k
#
# `carpool(y, c, cheap=...)` is the estimator above on a set of pairs; its `variance_reduction`
# is `Var(plain mean) / Var(CARPool)` at equal PM runs. How it behaves at `N` pairs is measured
# twice per bin (`carpool_rows`): the *pooled* figure, from moments over all `n_pool` pairs with
# the inflation `(N - 2) / (N - 3)` of a `beta` fitted on `N` pairs and the `mu_c` term, and the
# *empirical* one, the ratio of the scatters of both estimators over the `n_pool / N` disjoint
# groups of `N` pairs. The figure draws the pooled one, per cheap simulator and `N`, with the
# factor-1 line, `k_max` and half the particle Nyquist wavenumber.
#
# The `mu_c` term caps the reduction: even at `rho = 1` it is at most about
# `(Var(y) / N) / (beta^2 Var(c) / M)`, near `M / N` where `beta ~ 1` and `Var(c) ~ Var(y)`: the
# cheap runs for `mu_c` must outnumber the pairs by more than the hoped-for reduction (a `mu_c`
# computed once is reused by every later CARPool estimate).

# %%
est = carpool(y[:10], runs["pairs"]["power"]["cosmo_2lpt"][:10], cheap=runs["cheap"]["power"]["cosmo_2lpt"])
print(f"one group of 10 pairs with 2LPT: beta {np.round(est.beta[:4], 3)} ..., variance reduction "
      f"{np.round(est.variance_reduction[:4], 1)} ... on the first bins")
rows = carpool_rows(settings, runs)
table = pd.DataFrame([r for r in rows if r["stage"] == "carpool"])
display(table[["cheap", "n_pairs", "n_groups", "vr_min_k_lt_kmax", "vr_min_half_nyquist", "vr_groups_min_k_lt_kmax",
               "variance_calibration", "bias_band_sigma", "cpu_speedup"]].round(3))
plots = figures(WORK, settings, rows)
display(Image(str(plots["variance_reduction"])))

# %% [markdown]
# ## 4. The estimate against the truth
#
# For one group of `N = 10` pairs, the CARPool estimates of P(k) and the plain mean of the same
# 10 PM runs, divided by the truth, with their one-sigma bands: the CARPool bands are the
# narrower ones, and both should straddle 1. Below, the mean over the groups with its error, per
# bin, and the deviation from the truth in sigma.

# %%
display(Image(str(plots["power_ratio"])))
best = next(r for r in rows if r["stage"] == "carpool" and r["cheap"] == "cosmo_2lpt" and r["n_pairs"] == 10.0)
fig, ax = plt.subplots(figsize=(6.0, 3.5))
ax.errorbar(k, best["ratio_to_truth_per_bin"], yerr=best["ratio_error_per_bin"], fmt="o", ms=3, capsize=2,
            label=f"CARPool 2LPT, N=10: mean of {int(best['n_groups'])} groups / truth")
ax.axhline(1.0, color="k", lw=0.8)
k_axis(ax)
ax.set_xlabel("k [h/Mpc]")
ax.set_ylabel("estimate / truth")
ax.legend(fontsize=8)
fig.tight_layout()
display(Image(str(save_figure(fig, WORK / "estimate_vs_truth.png"))))
pd.DataFrame({"ratio": best["ratio_to_truth_per_bin"], "error": best["ratio_error_per_bin"],
              "bias [sigma]": best["bias_sigma_per_bin"]}, index=pd.Index(np.round(k, 4), name="k [h/Mpc]")).round(4)
