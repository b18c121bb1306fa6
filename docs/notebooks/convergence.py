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
# # Convergence of the built-in solvers against exact solutions
#
# Each solver is run at increasing resolution and compared with a closed-form solution:
# linear advection against the exact shift, viscous Burgers against Cole–Hopf (before the
# shock), the heat equation against its separable solution and the porous-medium equation
# against the Barenblatt profile. The observed order is `log2(e_N / e_2N)`.
# `SMOKE = True` (the test suite's setting) uses fewer refinements.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from sciml.simulators.pde import (
    AdvectionSimulator,
    BurgersSimulator,
    HeatSimulator,
    PorousMediumSimulator,
    SineIC,
    cole_hopf_solution,
    exact_shift_cell_averages,
)

SMOKE = os.environ.get("SCIML_SMOKE", "1") == "1"
resolutions = [32, 64, 128] if SMOKE else [64, 128, 256, 512, 1024]


def l1(a, b):
    return float(np.mean(np.abs(a - b)))


# %% [markdown]
# ## Advection, beta = 1, one period, smooth data (van Leer limiter)

# %%
adv_err = []
for n in resolutions:
    sim = AdvectionSimulator(n_cells=n, t_final=1.0, n_frames=2, initial_condition=SineIC(), limiter="vanleer")
    ds = sim.run({"beta": 1.0}, seed=0)
    u0 = ds["u"].values[0, 0]
    adv_err.append(l1(ds["u"].values[0, -1], exact_shift_cell_averages(u0, 1.0, sim.length)))

# %% [markdown]
# ## Burgers, nu = 0.05, t = 0.1 (before the shock at t = 1/(2 pi))

# %%
bur_err = []
for n in resolutions:
    sim = BurgersSimulator(n_cells=n, t_final=0.1, n_frames=2, initial_condition=SineIC())
    u = sim.run({"nu": 0.05}, seed=0)["u"].values[0, -1]
    bur_err.append(l1(u, cole_hopf_solution(sim.x, 0.1, 0.05)))

# %% [markdown]
# ## Heat equation (k = 1) and porous medium (m = 2, Barenblatt)

# %%
heat_err, pme_err = [], []
for n in resolutions:
    heat = HeatSimulator(n_cells=n, t_final=0.1, n_frames=2)
    u = heat.run({"k": 1.0}, seed=0)["u"].values[0, -1]
    heat_err.append(l1(u, heat.exact_cell_averages(0.1, {"k": 1.0})))
    pme = PorousMediumSimulator(problem="barenblatt", n_cells=n, t_final=0.1, n_frames=2)
    ds = pme.run({"m": 2.0}, seed=0)
    pme_err.append(l1(ds["u"].values[0, -1], pme.exact_cell_averages(0.1, {"m": 2.0})))

# %%
table = {"advection": adv_err, "Burgers": bur_err, "heat": heat_err, "PME (Barenblatt)": pme_err}
for name, errs in table.items():
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    print(f"{name:18s} errors {" ".join(f"{e:.2e}" for e in errs)}  orders {np.round(orders, 2)}")
assert np.all(np.log2(np.array(adv_err[:-1]) / np.array(adv_err[1:])) > 1.5)
assert np.all(np.log2(np.array(bur_err[:-1]) / np.array(bur_err[1:])) > 1.5)

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for name, errs in table.items():
    ax.loglog(resolutions, errs, "o-", label=name)
ref = np.array(resolutions, dtype=float)
ax.loglog(ref, adv_err[0] * (ref[0] / ref) ** 2, "k--", lw=0.8, label="order 2")
ax.loglog(ref, pme_err[0] * (ref[0] / ref), "k:", lw=0.8, label="order 1")
ax.set_xlabel("cells")
ax.set_ylabel("L1 error")
ax.legend(fontsize=8)
