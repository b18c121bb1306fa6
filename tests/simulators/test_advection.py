"""Linear advection: convergence to the exact shift, conservation, bounds, bad input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.pde.advection import (
    AdvectionSimulator,
    exact_shift_cell_averages,
    exact_solution,
    gauss_cell_averages,
)
from sciml.simulators.pde.initial_conditions import SineIC, SineSumIC


@dataclass(frozen=True)
class NaNIC:
    """Sine initial states with NaN injected into one sample."""

    bad_sample: int = 1

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        u = np.sin(2 * np.pi * x / length) + np.zeros((n_samples, x.size))
        u[self.bad_sample, x.size // 2] = np.nan
        return u

    def config(self) -> dict[str, Any]:
        return {"kind": "nan_test"}


def _l1_errors(limiter: str, beta: float, t_final: float, sizes: list[int]) -> np.ndarray:
    errs = []
    for n in sizes:
        sim = AdvectionSimulator(n_cells=n, t_final=t_final, n_frames=2, limiter=limiter,
                                 initial_condition=SineIC(k=1, amplitude=1.0, offset=0.3))
        u = sim.run({"beta": beta}, seed=0).u.values[0]
        exact = exact_shift_cell_averages(u[0], beta * t_final, sim.length)
        errs.append(np.mean(np.abs(u[-1] - exact)))
    return np.array(errs)


@pytest.mark.parametrize("limiter", ["none", "vanleer"])
def test_second_order_convergence_on_smooth_data(limiter: str) -> None:
    # 64..512 cells, one sine advected 1.3 domain lengths; L1 error vs the exact shift.
    # Smooth limiters (van Leer) clip extrema only at coarse resolution; unlimited Fromm
    # slopes are second order everywhere.
    errs = _l1_errors(limiter, beta=1.3, t_final=1.0, sizes=[64, 128, 256, 512])
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all(orders >= 1.8), orders
    assert errs[-1] < 5e-4


def test_negative_velocity_matches_exact_shift() -> None:
    errs = _l1_errors("mc", beta=-2.5, t_final=0.4, sizes=[128, 256])
    assert np.log2(errs[0] / errs[1]) >= 1.8
    assert errs[1] < 2e-3


def test_exact_solution_helpers_agree() -> None:
    fn = lambda x: np.sin(2 * np.pi * x) + 0.5 * np.cos(6 * np.pi * x)  # noqa: E731
    n = 64
    avg0 = gauss_cell_averages(fn, 0.0, 1.0, n)
    shifted = exact_shift_cell_averages(avg0, 0.37, 1.0)
    direct = gauss_cell_averages(lambda x: exact_solution(fn, x.ravel(), 0.37 / 1.7, 1.7).reshape(x.shape),
                                 0.0, 1.0, n)
    np.testing.assert_allclose(shifted, direct, atol=1e-13)
    # cell average of sin(2 pi x) over a cell = sinc factor times the centre value
    x = (np.arange(n) + 0.5) / n
    sinc = np.sin(np.pi / n) / (np.pi / n)
    np.testing.assert_allclose(gauss_cell_averages(lambda y: np.sin(2 * np.pi * y), 0, 1, n),
                               sinc * np.sin(2 * np.pi * x), atol=1e-14)


@pytest.mark.parametrize("limiter", ["minmod", "vanleer", "mc", "none"])
def test_mass_is_conserved_to_round_off(limiter: str) -> None:
    sim = AdvectionSimulator(n_cells=128, t_final=0.5, n_frames=11, limiter=limiter,
                             initial_condition=SineSumIC(p_abs=1.0, p_window=0.5))
    u = sim.run({"beta": -3.7}, seed=3, n_samples=4).u.values
    mass = u.sum(axis=-1) * sim.dx
    scale = np.abs(u[:, 0]).sum(axis=-1) * sim.dx
    assert np.all(np.abs(mass - mass[:, :1]) <= 1e-12 * scale[:, None])


@pytest.mark.parametrize("limiter", ["minmod", "vanleer", "mc"])
def test_limited_scheme_creates_no_new_extrema(limiter: str) -> None:
    sim = AdvectionSimulator(n_cells=100, t_final=1.0, n_frames=5, limiter=limiter,
                             initial_condition=SineSumIC(p_window=1.0, window_width=0.002))
    u = sim.run({"beta": 1.0}, seed=1, n_samples=3).u.values
    u0 = u[:, :1]
    assert np.all(u.max(axis=-1) <= u0.max(axis=-1) + 1e-12)
    assert np.all(u.min(axis=-1) >= u0.min(axis=-1) - 1e-12)


def test_zero_velocity_is_identity_and_steps() -> None:
    sim = AdvectionSimulator(n_cells=32, t_final=1.0, n_frames=3)
    ds = sim.run({"beta": 0.0}, seed=0, n_samples=2)
    np.testing.assert_array_equal(ds.u.values[:, -1], ds.u.values[:, 0])
    # cfl 0.4, beta 10, dx 1/32, frame_dt 0.5: ceil(10 * 0.5 * 32 / 0.4) = 400 steps per frame
    assert sim.n_steps({"beta": 10.0}) == 800


def test_out_of_range_beta_names_accepted_range() -> None:
    sim = AdvectionSimulator(n_cells=16, n_frames=2)
    with pytest.raises(ParameterError, match=r"beta in \[-10, 10\]"):
        sim.run({"beta": 11.0}, seed=0)


def test_nan_initial_state_raises_with_sample_and_parameters() -> None:
    sim = AdvectionSimulator(n_cells=16, n_frames=3, t_final=0.1, initial_condition=NaNIC())
    with pytest.raises(SimulationError, match=r"sample\(s\) \[1\].*'beta': 2\.0"):
        sim.run({"beta": 2.0}, seed=0, n_samples=3)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ParameterError, match="limiter"):
        AdvectionSimulator(limiter="superbee")
    with pytest.raises(ParameterError, match="cfl"):
        AdvectionSimulator(cfl=1.5)


def test_deterministic_in_seed_and_valid_dataset() -> None:
    sim = AdvectionSimulator(n_cells=64, t_final=0.2, n_frames=4)
    a = sim.run({"beta": 1.5}, seed=7, n_samples=3)
    b = sim.run({"beta": 1.5}, seed=7, n_samples=3)
    c = sim.run({"beta": 1.5}, seed=8, n_samples=3)
    np.testing.assert_array_equal(a.u.values, b.u.values)
    assert not np.array_equal(a.u.values, c.u.values)
    assert a.u.dims == ("sample", "t", "x") and a.u.shape == (3, 4, 64)
    assert a.attrs["generator"] == "advection1d"
    np.testing.assert_array_equal(a.beta.values, [1.5, 1.5, 1.5])


def test_float32_matches_float64() -> None:
    kw = dict(n_cells=64, t_final=0.3, n_frames=3)
    u64 = AdvectionSimulator(**kw).run({"beta": 1.0}, seed=2, n_samples=2).u.values
    u32 = AdvectionSimulator(dtype="float32", **kw).run({"beta": 1.0}, seed=2, n_samples=2).u.values
    assert u32.dtype == np.float32
    np.testing.assert_allclose(u32, u64, atol=1e-5)
