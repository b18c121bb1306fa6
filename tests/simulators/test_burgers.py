"""Viscous Burgers: Cole–Hopf convergence, conservation, maximum principle, bad input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.pde._burgers_numpy_reference import burgers_numpy_reference
from sciml.simulators.pde.burgers import BurgersSimulator, cole_hopf_solution
from sciml.simulators.pde.initial_conditions import SineIC, SineSumIC


@dataclass(frozen=True)
class NaNIC:
    """Sine initial states with NaN injected into one sample."""

    bad_sample: int = 2

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        u = np.sin(2 * np.pi * x / length) + np.zeros((n_samples, x.size))
        u[self.bad_sample, 3] = np.nan
        return u

    def config(self) -> dict[str, Any]:
        return {"kind": "nan_test"}


def test_cole_hopf_reference_is_accurate() -> None:
    x = np.linspace(0.0, 1.0, 50, endpoint=False)
    np.testing.assert_allclose(cole_hopf_solution(x, 0.0, 0.05), np.sin(2 * np.pi * x), atol=1e-15)
    # quadrature vs Fourier series where the series has no cancellation problem (|z| ~ 2.5)
    for t in (0.02, 0.1, 0.7):
        np.testing.assert_allclose(cole_hopf_solution(x, t, 0.1),
                                   cole_hopf_solution(x, t, 0.1, method="fourier"), atol=1e-12)
    # PDE residual by finite differences at a small viscosity, before the shock time 1/(2 pi)
    nu, t, h = 0.01, 0.12, 1e-4
    xx = np.linspace(0.3, 0.7, 9)
    u = cole_hopf_solution(xx, t, nu)
    u_t = (cole_hopf_solution(xx, t + h, nu) - cole_hopf_solution(xx, t - h, nu)) / (2 * h)
    u_x = (cole_hopf_solution(xx + h, t, nu) - cole_hopf_solution(xx - h, t, nu)) / (2 * h)
    u_xx = (cole_hopf_solution(xx + h, t, nu) - 2 * u + cole_hopf_solution(xx - h, t, nu)) / h**2
    assert np.max(np.abs(u_t + u * u_x - nu / np.pi * u_xx)) < 1e-5 * np.max(np.abs(u_t))


@pytest.mark.parametrize(("nu", "diffusion"), [(0.05, "trbdf2"), (0.02, "cn"), (0.2, "trbdf2")])
def test_second_order_convergence_to_cole_hopf(nu: float, diffusion: str) -> None:
    # u0 = sin(2 pi x) (point values at cell centres; cell averages differ by O(dx^2)),
    # t = 0.1 < shock time 1/(2 pi); van Leer limiter; L1 error vs point values.
    t_final = 0.1
    errs = []
    for n in (64, 128, 256, 512):
        sim = BurgersSimulator(n_cells=n, t_final=t_final, n_frames=2, diffusion=diffusion,
                               initial_condition=SineIC())
        u = sim.run({"nu": nu}, seed=0).u.values[0, -1]
        errs.append(np.mean(np.abs(u - cole_hopf_solution(sim.x, t_final, nu))))
    errs = np.array(errs)
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all(orders >= 1.8), orders
    assert errs[-1] < 1e-5


@pytest.mark.parametrize("nu", [1e-4, 1e-3, 0.01, 1.0, 4.0, 10.0])
def test_mass_is_conserved_to_round_off(nu: float) -> None:
    sim = BurgersSimulator(n_cells=128, t_final=1.0, n_frames=6,
                           initial_condition=SineSumIC(p_abs=0.5, p_window=0.5))
    u = sim.run({"nu": nu}, seed=4, n_samples=6).u.values
    mass = u.sum(axis=-1) * sim.dx
    scale = np.abs(u[:, 0]).sum(axis=-1) * sim.dx
    assert np.all(np.abs(mass - mass[:, :1]) <= 1e-12 * scale[:, None])


@pytest.mark.parametrize("nu", [1e-3, 4.0])
def test_bounded_by_initial_maximum(nu: float) -> None:
    # shocks form at nu = 1e-3 (limiter keeps them monotone); nu = 4 is very stiff
    sim = BurgersSimulator(n_cells=256, t_final=2.0, n_frames=21,
                           initial_condition=SineSumIC(amplitude=1.0, p_abs=0.3, p_window=0.3))
    u = sim.run({"nu": nu}, seed=5, n_samples=6).u.values
    assert np.all(np.isfinite(u))
    u0max = np.abs(u[:, 0]).max(axis=-1)
    assert np.all(np.abs(u).max(axis=(1, 2)) <= u0max + 1e-6)


def test_kernel_matches_numpy_reference() -> None:
    # smooth regime: near shocks the limiter's switches amplify round-off differences
    sim = BurgersSimulator(n_cells=96, t_final=0.5, n_frames=6)
    for nu in (0.05, 0.3, 4.0):
        u0 = sim.initial_state(np.random.default_rng(11), 1, {})
        u, steps = sim.integrate(u0, {"nu": nu})
        ref, ref_steps = burgers_numpy_reference(u0, nu=nu, dx=sim.dx, frame_dt=sim.frame_dt,
                                                 n_frames=sim.n_frames, cfl=sim.cfl)
        assert steps[0] == ref_steps
        np.testing.assert_allclose(u, ref, atol=1e-11)


def test_time_steps_follow_the_cfl_condition() -> None:
    # amplitude 1, cfl 0.4, dx 1/64, frame_dt 0.05: first interval ceil(0.05*64/0.4) = 8 steps,
    # later ones never more (max principle)
    sim = BurgersSimulator(n_cells=64, t_final=0.5, n_frames=11, initial_condition=SineIC())
    _, steps = sim.integrate(sim.initial_state(np.random.default_rng(0), 1, {}), {"nu": 0.01})
    assert 10 <= steps[0] <= 80
    assert sim.n_steps({"nu": 0.01}) == 80


def test_out_of_range_nu_names_accepted_range() -> None:
    sim = BurgersSimulator(n_cells=16, n_frames=2)
    with pytest.raises(ParameterError, match=r"nu in \[0\.0001, 10\]"):
        sim.run({"nu": 20.0}, seed=0)
    with pytest.raises(ParameterError, match=r"nu in \[0\.0001, 10\]"):
        sim.run({"nu": 0.0}, seed=0)


def test_nan_initial_state_raises_with_sample_and_parameters() -> None:
    sim = BurgersSimulator(n_cells=16, n_frames=3, t_final=0.1, initial_condition=NaNIC())
    with pytest.raises(SimulationError, match=r"sample\(s\) \[2\].*'nu': 0\.5"):
        sim.run({"nu": 0.5}, seed=0, n_samples=4)


def test_huge_initial_state_is_refused() -> None:
    sim = BurgersSimulator(n_cells=64, n_frames=3, initial_condition=SineIC(amplitude=1e12))
    with pytest.raises(SimulationError, match="time steps per frame"):
        sim.run({"nu": 0.5}, seed=0)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ParameterError, match="diffusion"):
        BurgersSimulator(diffusion="explicit")
    with pytest.raises(ParameterError, match="limiter"):
        BurgersSimulator(limiter="superbee")


def test_deterministic_in_seed_and_valid_dataset() -> None:
    sim = BurgersSimulator(n_cells=64, t_final=0.2, n_frames=4)
    a = sim.run({"nu": 0.01}, seed=7, n_samples=3)
    b = sim.run({"nu": 0.01}, seed=7, n_samples=3)
    c = sim.run({"nu": 0.01}, seed=8, n_samples=3)
    np.testing.assert_array_equal(a.u.values, b.u.values)
    assert not np.array_equal(a.u.values, c.u.values)
    assert a.u.dims == ("sample", "t", "x") and a.u.shape == (3, 4, 64)
    assert a.attrs["generator"] == "burgers1d"


def test_float32_close_to_float64() -> None:
    kw = dict(n_cells=128, t_final=0.5, n_frames=3)
    u64 = BurgersSimulator(**kw).run({"nu": 0.05}, seed=2, n_samples=2).u.values
    u32 = BurgersSimulator(dtype="float32", **kw).run({"nu": 0.05}, seed=2, n_samples=2).u.values
    assert u32.dtype == np.float32
    np.testing.assert_allclose(u32, u64, atol=1e-4)
