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
# # ProbConserv on the Stefan problem
#
# ProbConserv (Hansen et al., "Learning Physical Models that Can Respect Conservation Laws",
# ICML 2023) makes a probabilistic prediction respect the integral form of a conservation law,
# `G u(t) = b(t)`, by conditioning its Gaussian on that linear constraint. We reproduce the
# paper's Stefan study: an attentive neural process (ANP) is trained on the generalised Stefan
# problem for melting temperatures `u* in [0.55, 0.7]`, asked for the solution at `u* = 0.6`
# (inside the training range) and `u* = 0.5` (outside) from 100 random observations, and its
# prediction is updated
#
# * **HardC**: the mean projected on `G u = b`, variance unchanged;
# * **ProbConserv**: the exact Gaussian update with `sigma_G = 0` (mean *and* covariance).
#
# Everything below goes through the library: the study recipe `sciml.studies.probconserv`
# (the settings and training of `sciml bench probconserv`) and `sciml.studies.probconserv_evaluation`
# for the test functions, the variants' predictions and the metrics. `SMOKE = True` (the default, used when the test suite executes
# this notebook) trains for a few steps on a coarse grid, so its numbers mean nothing; run with
# `SCIML_SMOKE=0` for the quick benchmark's sizes (2,000 training steps, `101 x 101` grid,
# 20 test functions; a few minutes on one CPU core).

# %%
import os
import tempfile
from pathlib import Path

import torch
from IPython.display import Image, display

from sciml.bench.report import format_rows
from sciml.studies.probconserv import build_model, make_sample_batch_fn, probconserv_settings, train_config
from sciml.studies.probconserv_evaluation import (
    anp_variants,
    evaluate_anps,
    make_test_functions,
    profiles_and_positions,
)
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, ANPTrainer
from sciml.uq.metrics import shock_position
from sciml.viz.uncertainty import plot_position_histograms, plot_profiles_with_bands

SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"
torch.set_num_threads(1)  # small models: one thread is as fast and shares the machine

stefan = CONSERVATION_PROBLEMS["stefan"]
settings = probconserv_settings(True).model_copy(update={"problems": ("stefan",)})  # the quick benchmark's
if SMOKE:
    settings = settings.model_copy(update=dict(steps=20, warmup_steps=2, eval_grid=(51, 51), n_functions=2,
                                               n_latent_samples=4, n_shock_samples=50))
TEST_VALUES = (0.6, 0.5)
N_HIST = 100 if SMOKE else 1000  # posterior draws per histogram
OUT = Path(tempfile.mkdtemp(prefix="probconserv-stefan-"))
print(f"{settings.steps} training steps, evaluation grid {settings.eval_grid}, "
      f"{settings.n_functions} test functions per u*; outputs in {OUT}")

# %% [markdown]
# ## Train the ANP
# One ANP over `(t, x)` (inputs normalised onto `[-1, 1]^2`), trained on a fresh batch of
# exact Stefan solutions per step: 8 random `u*` from the training range, 100 random context
# points and 128-256 random targets each. The cosine learning-rate schedule and the beta-NLL
# weighting are the quick benchmark's (see the ProbConserv section of `docs/benchmarks.md`).
# `ANPTrainer` checkpoints to `last.pt`; rerunning with `resume=True` continues a run.

# %%
model = build_model(settings, seed=settings.seed, problem=stefan)
result = ANPTrainer(model, train_config(settings, steps=settings.steps, seed=settings.seed), OUT / "anp").fit(
    make_sample_batch_fn(stefan, settings), resume=True)
print(f"{result.steps_completed} steps, final loss {result.final_loss:.4g}")

# %% [markdown]
# ## Predict, update, score
# For each `u*`, `n_functions` test functions (each its own 100 random contexts on the
# evaluation grid; the benchmark's seeds), predicted from `S` latent draws. `evaluate_anps`
# scores the ANP mixture and its HardC / ProbConserv updates at `t = 0.05`: MSE, Gaussian
# log-likelihood LL (higher is better), CRPS, the conservation error `CE = G mu - b` (at
# `t = 0.05` and, relative to `max_t b(t)`, over all times) and the shock-position error of
# posterior draws from the **full** covariance at the 10% level (`0.1 u*`, the foot of the
# front) and at the midpoint `u*/2`. Mean and standard error over the test functions.

# %%
problem_id = list(CONSERVATION_PROBLEMS).index("stefan")
rows, tests = [], {}
for v, u_star in enumerate(TEST_VALUES):
    seed = (settings.eval_seed, problem_id, v)
    test = make_test_functions(stefan, u_star, eval_grid=settings.eval_grid, n_functions=settings.n_functions,
                               seed=seed, n_context=settings.n_context)
    acc = evaluate_anps({"ANP": model}, test, n_latent_samples=settings.n_latent_samples,
                        n_shock_samples=settings.n_shock_samples, seed=seed, eval_batch=settings.eval_batch,
                        target_chunk=settings.target_chunk)
    rows += test.rows(acc, acc.models, n_latent_samples=settings.n_latent_samples)
    tests[u_star] = test
print(format_rows(rows, ["test_value", "model", "mse", "mse_se", "ll", "ll_se", "crps", "ce_eval", "ce_rel",
                         "mean_front_mid_error", "mean_front_mid_offset", "shock_error", "shock_error_mid"]))

# %% [markdown]
# ProbConserv and HardC conserve exactly (`ce_rel` at round-off); the ANP alone does not.
#
# ## Profiles at t = 0.05
# The first test function of each `u*`: the exact profile (dashed), each variant's mean and
# its 95% band. The ANP's band is wide at the front and narrow elsewhere; ProbConserv moves the
# mean where the variance is, i.e. mostly at the front, while HardC (an orthogonal projection
# that ignores the variance) shifts the whole profile by nearly the same constant.

# %%
positions_by_value = {}
for u_star, test in tests.items():
    gen = torch.Generator().manual_seed(settings.eval_seed + int(1000 * u_star))
    preds = anp_variants(model, test, slice(0, 1), n_latent_samples=settings.n_latent_samples, generator=gen,
                         target_chunk=settings.target_chunk)
    profiles, positions = profiles_and_positions(preds, test, 0, n_samples=N_HIST, generator=gen)
    positions_by_value[u_star] = (positions, test.thresholds[0])
    path = plot_profiles_with_bands(test.x, test.truth[0, test.i_eval].numpy(), profiles,
                                    OUT / f"profiles_{u_star:g}.png",
                                    title=f"Stefan, u* = {u_star:g}, t = {test.t_eval:.3g}")
    display(Image(filename=str(path)))

# %% [markdown]
# ## Shock position from posterior samples
# Each histogram: where `N_HIST` draws from the variant's Gaussian with its **full**
# covariance at `t = 0.05` first fall below `0.1 u*`; the dashed line is the true front
# `2 alpha(u*) sqrt(t)`. Sampling the full covariance matters: the ANP's independent
# per-point noise would cross the level early by chance, whereas ProbConserv's covariance
# couples the points through the constraint (its draws all carry the right mass).

# %%
for u_star, (positions, (level, x_ref)) in positions_by_value.items():
    path = plot_position_histograms(positions, OUT / f"shock_hist_{u_star:g}.png", true_position=x_ref,
                                    title=f"Stefan, u* = {u_star:g}: front (u = {level:.3g}) of {N_HIST} draws")
    display(Image(filename=str(path)))

# %% [markdown]
# ## Does the ANP read `u*` from its contexts?
# The front of the ANP's mean (first fall below `0.1 u*`, `sciml.uq.metrics.shock_position`)
# against the true front, for each `u*`:

# %%
for u_star, test in tests.items():
    pred = anp_variants(model, test, slice(0, 1), n_latent_samples=settings.n_latent_samples,
                        generator=torch.Generator().manual_seed(0), updates=False, full_cov=False)["ANP"]
    level, x_ref = test.thresholds[0]
    front = float(shock_position(pred.mean[0, test.i_eval], test.x, level))
    print(f"u* = {u_star:g}: ANP mean front {front:.3f}, true front {x_ref:.3f}")

# %% [markdown]
# ## Where the update puts the mass (u* = 0.6)
# ProbConserv adds the mass that the ANP misses at `t = 0.05`, `b - G mu_ANP`, in proportion to
# the ANP's variance, i.e. at the front. The shock-position error at the 10% level can then grow
# while the MSE falls: the ANP's independent noise behind the front makes its draws cross
# `0.1 u*` early, which hides how far ahead its mean crosses; filling the deficit removes those
# dips. Below: the ANP's mass deficit per test function, where the correction
# `mu_ProbConserv - mu_ANP` lies, and where the means cross the 10% and 50% levels.

# %%
import matplotlib.pyplot as plt
import numpy as np

test = tests[0.6]
preds = anp_variants(model, test, n_latent_samples=settings.n_latent_samples, generator=torch.Generator().manual_seed(0),
                     full_cov=False, target_chunk=settings.target_chunk)
i = test.i_eval
anp, pc = preds["ANP"].mean[:, i], preds["ProbConserv-ANP"].mean[:, i]  # (B, n_x)
b_eval = float(test.b[i, 0])
deficit = (b_eval - anp @ test.g[0]).numpy()  # > 0: the ANP is short of mass
correction = (pc - anp).mean(0).numpy()
(level, x_front), (mid_level, _) = test.thresholds
near = np.abs(test.x - x_front) <= 0.05
print(f"ANP mass deficit at t = {test.t_eval:.3g}: mean {deficit.mean():.3g} ({100 * deficit.mean() / b_eval:.2g} % of b),"
      f" short of mass for {int((deficit > 0).sum())} of {deficit.size} functions")
print(f"share of the correction within 0.05 of the true front: {correction[near].sum() / correction.sum():.2f}")
for name, mean in (("ANP", anp), ("ProbConserv-ANP", pc)):
    fronts = [float(np.mean(shock_position(mean, test.x, lv))) - x_front for lv in (level, mid_level)]
    print(f"{name}: mean crossing minus true front, 10% level {fronts[0]:+.4f}, 50% level {fronts[1]:+.4f}")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(test.x, correction, label="mean correction (ProbConserv - ANP)")
ax.plot(test.x, preds["ANP"].variance[:, i].mean(0).sqrt().numpy(), "--", label="ANP standard deviation")
ax.axvline(x_front, color="k", lw=0.8, label="true front")
ax.set_xlabel("x")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "correction_0.6.png", dpi=100)
plt.close(fig)
display(Image(filename=str(OUT / "correction_0.6.png")))

# %% [markdown]
# ## What the benchmark measured
# (From the ProbConserv section of `docs/benchmarks.md`; quick settings, full size, 20 test functions.)
#
# * **The ANP is parameter-blind — and so is the paper's.** With this evaluation, the
#   reference checkpoint of the paper (amazon-science/probconserv) puts the 10%-level front of
#   its mean at `t = 0.05` at 0.244 / 0.243 / 0.241 for `u* = 0.5 / 0.6 / 0.7` while the true
#   front moves 0.277 / 0.235 / 0.194; the quick ANP's front is equally blind
#   (0.251 / 0.249 / 0.247). A blind ANP predicts the training family's smeared front.
# * **The gain comes from `b(t)` and from the variance at the front.** `b(t)` carries `u*`;
#   the update moves the front towards the one with the right mass *if* the predictive
#   variance sits at the front. The reference model's does (standard deviation ~0.04 behind
#   the front, ~0.16 at it, ~0.005 ahead), and with it ProbConserv reproduces the paper's
#   improvement at `u* = 0.6` (MSE 4.45e-3 -> 1.51e-3, ratio 2.95; the paper: 5.38e-3 ->
#   1.87e-3; shock error 0.0102 -> 0.0040).
# * **With the quick ANP** (same variance structure: ~0.01 behind the front, ~0.14 at it),
#   ProbConserv improves the MSE at `u* = 0.6` 1.6-1.8x, the shock error at the `u*/2` level
#   (0.0125 -> 0.0075) and the LL (+0.007), but adding the missing mass at the front pushes
#   its foot past the true jump, so the 10%-level shock error grows (0.0020 -> 0.0096): the
#   quick ANP's blind front happens to be close to the true one at `u* = 0.6`. Out of the
#   training range (`u* = 0.5`), where the blind front is 0.04 off, the update halves the
#   shock error (0.038 -> 0.020).
#
# * **The bar is absolute since issue 15**: the paper's ProbConserv-ANP MSE 1.87e-3 and a
#   shock-position error <= 0.005, where the shock position is the front of the predictive
#   mean at the jump's midpoint `u*/2` (`mean_front_mid_error`). Run at full size
#   (`SCIML_SMOKE=0 python docs/notebooks/probconserv_stefan.py`, 2026-12-06), the section above
#   gave: the ANP is short of mass for all 20 functions (mean deficit 2.5% of `b`), 99% of the
#   correction lies within 0.05 of the true front, and the means cross the 10% level at +0.0141
#   (ANP) and +0.0168 (ProbConserv) from the true front, the 50% level at -0.0076 and +0.0012:
#   the update barely moves the mean's foot but fixes its middle, and the 10%-level error of the
#   draws grows because their early crossings behind the front are gone. The paper's own
#   checkpoint does the same under this evaluation (10% foot of the mean 0.0072 -> 0.0110,
#   midpoint 0.0179 -> 0.0066), which is why the midpoint of the mean is the shock position the
#   benchmark checks (`docs/benchmarks.md`). The quick benchmark of 2026-12-06: MSE 1.95e-3 ->
#   1.22e-3, midpoint front 0.0063 -> 0.0015.
#
# The table above (at full size) shows the same pattern; at smoke size the ANP is untrained.
