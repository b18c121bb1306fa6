"""Diffusion–reaction: analytic diffusion, logistic closed form, splitting order, bad input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.pde.diffusion_reaction import DiffusionReactionSimulator, logistic_solution
from sciml.simulators.pde.initial_conditions import SineIC, SineSumIC


@dataclass(frozen=True)
class NaNIC:
    """Positive initial states with NaN injected into one sample."""

    bad_sample: int = 0

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        u = 0.5 + 0.1 * np.sin(2 * np.pi * x / length) + np.zeros((n_samples, x.size))
        u[self.bad_sample, 0] = np.nan
        return u

    def config(self) -> dict[str, Any]:
        return {"kind": "nan_test"}


@pytest.mark.parametrize("symbol", ["spectral", "fd2"])
def test_pure_diffusion_of_a_sine_decays_analytically(symbol: str) -> None:
    nu, k, n = 0.02, 3, 128
    sim = DiffusionReactionSimulator(n_cells=n, t_final=1.0, n_frames=11, diffusion_symbol=symbol,
                                     initial_condition=SineIC(k=k, amplitude=0.7, offset=0.4))
    ds = sim.run({"nu": nu, "rho": 0.0}, seed=0)
    u = ds.u.values[0]
    t = ds.t.values
    kk = 2 * np.pi * k
    if symbol == "fd2":  # exact solution of the semi-discrete 3-point Laplacian system
        kk = 2 * np.sin(kk * sim.dx / 2) / sim.dx
    exact = 0.4 + 0.7 * np.exp(-nu * kk**2 * t)[:, None] * np.sin(2 * np.pi * k * sim.x)[None, :]
    np.testing.assert_allclose(u, exact, atol=1e-13)


def test_constant_state_follows_logistic_closed_form() -> None:
    rho = 7.0
    sim = DiffusionReactionSimulator(n_cells=32, t_final=1.0, n_frames=11,
                                     initial_condition=SineIC(amplitude=0.0, offset=0.05))
    ds = sim.run({"nu": 1e-4, "rho": rho}, seed=0)
    exact = logistic_solution(0.05, ds.t.values, rho)
    np.testing.assert_allclose(ds.u.values[0], np.broadcast_to(exact[:, None], (11, 32)), rtol=1e-12)


def test_strang_splitting_is_second_order_in_time() -> None:
    kw = dict(n_cells=64, t_final=0.5, n_frames=2, initial_condition=SineIC(amplitude=0.3, offset=0.5))
    params = {"nu": 0.01, "rho": 8.0}
    ref = DiffusionReactionSimulator(max_rho_dt=0.4 / 64, **kw).run(params, seed=0).u.values[0, -1]
    errs = np.array([
        np.max(np.abs(DiffusionReactionSimulator(max_rho_dt=h, **kw).run(params, seed=0).u.values[0, -1] - ref))
        for h in (0.4, 0.2, 0.1)
    ])
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all(orders >= 1.8), orders


def test_mass_is_conserved_without_reaction() -> None:
    sim = DiffusionReactionSimulator(n_cells=128, t_final=1.0, n_frames=6)
    for nu in (1e-4, 0.1, 10.0):
        u = sim.run({"nu": nu, "rho": 0.0}, seed=1, n_samples=4).u.values
        mass = u.sum(axis=-1) * sim.dx
        assert np.all(np.abs(mass - mass[:, :1]) <= 1e-12 * np.abs(mass[:, :1]))


def test_default_state_is_non_negative_and_approaches_one() -> None:
    sim = DiffusionReactionSimulator(n_cells=128, t_final=2.0, n_frames=5, diffusion_symbol="fd2")
    u = sim.run({"nu": 0.05, "rho": 10.0}, seed=2, n_samples=4).u.values
    assert np.all(u >= 0.0)
    assert np.all(np.abs(u[:, -1] - 1.0) < 1e-3)


def test_out_of_range_parameters_name_accepted_range() -> None:
    sim = DiffusionReactionSimulator(n_cells=16, n_frames=2)
    with pytest.raises(ParameterError, match=r"rho in \[0, 20\]"):
        sim.run({"nu": 1.0, "rho": 25.0}, seed=0)
    with pytest.raises(ParameterError, match=r"nu in \[0\.0001, 10\]"):
        sim.run({"nu": 11.0, "rho": 1.0}, seed=0)


def test_nan_initial_state_raises_with_sample_and_parameters() -> None:
    sim = DiffusionReactionSimulator(n_cells=16, n_frames=3, t_final=0.1, initial_condition=NaNIC())
    with pytest.raises(SimulationError, match=r"sample\(s\) \[0\].*'rho': 3\.0"):
        sim.run({"nu": 0.1, "rho": 3.0}, seed=0, n_samples=2)


def test_deterministic_in_seed_and_valid_dataset() -> None:
    sim = DiffusionReactionSimulator(n_cells=64, t_final=0.2, n_frames=4,
                                     initial_condition=SineSumIC(p_abs=1.0))
    a = sim.run({"nu": 0.01, "rho": 5.0}, seed=7, n_samples=3)
    b = sim.run({"nu": 0.01, "rho": 5.0}, seed=7, n_samples=3)
    c = sim.run({"nu": 0.01, "rho": 5.0}, seed=8, n_samples=3)
    np.testing.assert_array_equal(a.u.values, b.u.values)
    assert not np.array_equal(a.u.values, c.u.values)
    assert a.attrs["generator"] == "diffusion_reaction1d"
    assert set(a.data_vars) >= {"u", "nu", "rho"}
