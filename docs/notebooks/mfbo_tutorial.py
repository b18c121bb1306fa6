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
# # Multi-fidelity BO: BoTorch's MF-KG tutorial through sciml
#
# BoTorch's tutorial "Multi-fidelity Bayesian optimization with discrete fidelities using KG"
# has a continuous-fidelity sibling: augmented Hartmann-6 with a fidelity `s` in [0, 1]
# (`s = 1` is the target), cost `5 + s`, 16 random initial points with random fidelities, then
# 6 rounds of `q = 4` points chosen by the cost-aware multi-fidelity knowledge gradient
# (MF-KG). It reports a recommendation worth 2.82 (Hartmann-6 maximised; the optimum is
# 3.32) after a cumulative cost of about 126 for the 24 points of its rounds.
#
# Here the same experiment runs through `sciml.bo.BOLoop`. sciml minimises the Hartmann
# function in its own sign (optimum -3.32237), so the tutorial's value is `-f`.
# `SMOKE = True` (the default when the test suite runs this notebook) shrinks it to one
# small round with cheap acquisition settings.

# %%
import os

import matplotlib.pyplot as plt
import torch

from sciml.bo import FAST, TUTORIAL, BOLoop, augmented_hartmann

torch.set_num_threads(1)
SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"
N_INIT, ROUNDS, Q = (16, 1, 2) if SMOKE else (16, 6, 4)
SEEDS = (0,) if SMOKE else (0, 1, 2)

# %% [markdown]
# ## The problem
# `augmented_hartmann()` declares the tutorial's cost model `5 + s`; the loop fits BoTorch's
# `SingleTaskMultiFidelityGP` and maximises `sign * y` (so it minimises Hartmann-6).

# %%
problem = augmented_hartmann()
print(problem)
print("declared cost at s = 0, 0.5, 1:", problem.cost(torch.tensor([0.0, 0.5, 1.0])).tolist())
print("optimum", problem.optimum_value, "at", problem.optimizer.tolist())

# %% [markdown]
# ## Settings
# `TUTORIAL` holds the tutorial's acquisition settings (128 fantasies, 10 restarts, 512 raw
# samples); sciml's default `FAST` uses 32 fantasies, 4 restarts and 128 raw samples, which
# is about 4x cheaper per iteration (see `sciml bench mfbo` for the measured times and
# regrets of both). The initial fidelities are drawn uniformly in [0, 1], as the tutorial's
# `torch.rand`.

# %%
settings = FAST.replace(q=Q)
if SMOKE:
    settings = settings.replace(num_fantasies=4, num_restarts=2, raw_samples=32, maxiter=20)
print("sciml run:", settings)
print("tutorial: ", TUTORIAL)


def tutorial_loop(seed: int) -> BOLoop:
    g = torch.Generator().manual_seed(10_000 + seed)
    init_s = torch.rand(N_INIT, generator=g, dtype=torch.float64).tolist()
    return BOLoop(problem, method="mfkg", settings=settings, n_init=N_INIT, init_fidelities=init_s, seed=seed)


# %% [markdown]
# ## Run
# `max_iterations` stops after the tutorial's rounds (there is no cost budget). Each
# recommendation (argmax of the target-fidelity posterior mean) is evaluated at the target
# for the plot; those evaluations are not counted in the cost.

# %%
results = [tutorial_loop(seed).run(1e12, max_iterations=ROUNDS) for seed in SEEDS]
for r in results:
    init_cost = float(r.costs[r.iteration == 0].sum())
    rec = r.recommendation
    print(f"seed {r.seed}: recommendation value (tutorial sign) {-rec['true_value']:.3f}, "
          f"BO-phase cost {r.total_cost - init_cost:.1f}, fidelities of the last batch "
          f"{[round(s, 2) for s in r.fidelities[-Q:].tolist()]}")
    # the recorded true value is the Hartmann function at the recommended design, s = 1
    assert abs(rec["true_value"] - float(problem.evaluate([rec["x"]])[0])) < 1e-12
    assert rec["regret"] >= 0 and r.iteration.max() == ROUNDS

# %% [markdown]
# ## Best value against cumulative cost
# The value of each iteration's recommendation (tutorial sign, higher is better) against the
# cost spent after the initial design, with the tutorial's reported point.

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
for r in results:
    init_cost = float(r.costs[r.iteration == 0].sum())
    cost, true, _ = r.recommendation_curve()
    ax.step((cost - init_cost).numpy(), (-true).numpy(), where="post", marker="o", label=f"sciml MF-KG, seed {r.seed}")
ax.scatter([126.0], [2.82], marker="*", s=120, color="k", label="BoTorch tutorial (reported)")
ax.axhline(3.32237, color="grey", lw=0.8, ls="--", label="optimum")
ax.set_xlabel("cumulative cost after the initial design")
ax.set_ylabel("value of the recommendation")
ax.legend(fontsize=8)
plt.show()
