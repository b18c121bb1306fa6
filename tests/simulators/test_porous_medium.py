"""Heat equation and porous medium equation (GPME family) against closed-form solutions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import quad

from sciml.data.schema import validate
from sciml.errors import ParameterError
from sciml.simulators.base import Simulator
from sciml.simulators.pde._implicit_diffusion import Boundary, Diffusivity, integrate
from sciml.simulators.pde.heat import DirichletSineSeriesIC, HeatSimulator
from sciml.simulators.pde.porous_medium import (
    PorousMediumSimulator,
    barenblatt_front,
    barenblatt_mass,
    barenblatt_solution,
)


def l1_error_final(sim, params, u, **kw) -> float:
    """Max over samples of the L1 error of the last frame against exact cell averages."""
    exact = sim.exact_cell_averages(sim.t_final, params, **kw)
    return float(np.abs(u[:, -1] - exact).sum(axis=-1).max() * sim.dx)


def observed_orders(errors) -> np.ndarray:
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


def fitted_order(ns, errors) -> float:
    return float(-np.polyfit(np.log(ns), np.log(errors), 1)[0])


# --------------------------------------------------------------------------- heat
@pytest.mark.parametrize("k", [1.0, 5.0])
def test_heat_second_order_against_exact(k):
    ns = [64, 128, 256, 512]
    errors = []
    for n in ns:
        sim = HeatSimulator(n_cells=n, t_final=0.1, n_frames=3)
        u = sim.run({"k": k}, seed=0).u.values
        errors.append(l1_error_final(sim, {"k": k}, u))
    orders = observed_orders(errors)
    assert np.all(orders >= 1.8), (errors, orders)
    assert errors[-1] < 2e-6 * k


def test_heat_unit_interval_exact_formula_and_identical_samples():
    sim = HeatSimulator(n_cells=128, t_final=0.05, n_frames=6)
    ds = sim.run({"k": 3.0}, seed=7, n_samples=3)
    u = ds.u.values
    assert np.array_equal(u[0], u[2])  # deterministic sin(pi x) initial state
    x, t = sim.x, sim.t[:, None]
    np.testing.assert_allclose(sim.exact_solution(x, t, {"k": 3.0}),
                               np.exp(-np.pi**2 * 3.0 * t) * np.sin(np.pi * x), rtol=0, atol=1e-15)
    assert np.abs(u - sim.exact_solution(x, t, {"k": 3.0})[None]).max() < 5e-4


# ProbConserv's heat problem (reference deep_pdes/datasets/pme.py HeatEquation): u0 = sin x on
# [0, 2 pi], u = e^{-k t} sin x, zero mass; the truth below is written out, not taken from the code.
@pytest.mark.parametrize("k", [1.0, 5.0])
def test_heat_probconserv_problem_converges_to_exp_minus_kt_sin_x_with_zero_mass(k):
    ns = [64, 128, 256, 512]
    errors = []
    for n in ns:
        sim = HeatSimulator.probconserv(n_cells=n, n_frames=3)  # frames t = 0, 0.5, 1
        assert sim.length == 2 * np.pi and sim.x_max == 2 * np.pi and sim.t_final == 1.0
        np.testing.assert_array_equal(sim.t, [0.0, 0.5, 1.0])
        u = sim.run({"k": k}, seed=0).u.values[0]  # (3, n)
        truth = np.exp(-k * sim.t)[:, None] * np.sin(sim.x)[None, :]  # point values at cell centres
        errors.append(np.abs(u[1:] - truth[1:]).max())  # t = 0.5 and 1: max-norm error
        # zero mass to round-off at every frame (the discrete flux form, and G u = 0 for sin x)
        assert np.abs(u.sum(-1) * sim.dx).max() < 1e-14
        # the solution at t = 0.5 is not degenerate: peak e^{-k/2}
        assert np.abs(u[1]).max() == pytest.approx(np.exp(-k / 2), rel=3e-3)
    orders = observed_orders(errors)  # Crank-Nicolson, dt = dx / 4: second order (1.85 pre-asymptotic at k = 5)
    assert np.all(orders >= 1.8) and np.all(orders[1:] >= 1.95), (errors, orders)
    assert errors[-1] < 2.5e-6, errors


def test_heat_probconserv_options_are_the_public_api():
    sim = HeatSimulator(length=2 * np.pi, initial_condition=DirichletSineSeriesIC(mode=2), t_final=1.0,
                        n_cells=64, n_frames=5)
    same = HeatSimulator.probconserv(n_cells=64, n_frames=5)
    assert sim.config() == same.config()
    assert sim.config()["length"] == 2 * np.pi
    assert sim.config()["initial_condition"] == {"kind": "dirichlet_sine_series", "n_modes": 2, "random": False,
                                                 "decay": 1.0, "mode": 2}
    x, t = np.linspace(0.0, 2 * np.pi, 17), np.array([[0.0], [0.5], [1.0]])
    for k in (1.0, 5.0):
        np.testing.assert_allclose(sim.exact_solution(x, t, {"k": k}), np.exp(-k * t) * np.sin(x), rtol=0, atol=1e-15)
        np.testing.assert_array_equal(sim.conserved_quantity(t[:, 0], {"k": k}), 0.0)
        # equal outflow at both ends: F(0) = F(2 pi) = -k e^{-k t}
        f = sim.boundary_flux(t[:, 0], {"k": k})
        np.testing.assert_allclose(f, np.repeat(-k * np.exp(-k * t), 2, axis=1), rtol=1e-14)
        # exact cell averages of sin x: sin(x_i) sin(dx/2) / (dx/2)
        h = sim.dx / 2
        np.testing.assert_allclose(sim.exact_cell_averages(0.5, {"k": k}),
                                   np.exp(-k / 2) * np.sin(sim.x) * np.sin(h) / h, rtol=0, atol=1e-14)
    ds = sim.run({"k": 1.0}, seed=0)
    np.testing.assert_allclose(ds.u.values[0, 0], np.sin(sim.x) * np.sin(sim.dx / 2) / (sim.dx / 2), atol=1e-14)
    assert "x=6.28319" in ds.attrs["boundary_conditions"] and "[0, 6.28319]" in ds.attrs["pde"]
    from sciml.simulators.registry import build_simulator
    from sciml.testing import check_simulator
    assert build_simulator(sim.config()).config() == sim.config()
    check_simulator(HeatSimulator.probconserv(n_cells=32, n_frames=4), {"k": 5.0})
    with pytest.raises(ParameterError, match="length"):
        HeatSimulator(length=0.0)
    with pytest.raises(ParameterError, match="mode"):
        DirichletSineSeriesIC(mode=0)
    with pytest.raises(ParameterError, match="mode"):
        DirichletSineSeriesIC(n_modes=3, random=True, mode=2)


def test_heat_random_sine_series_matches_exact():
    ic = DirichletSineSeriesIC(n_modes=4, random=True)
    sim = HeatSimulator(n_cells=128, t_final=0.05, n_frames=6, initial_condition=ic)
    ds = sim.run({"k": 2.0}, seed=11, n_samples=5)
    a = sim.coefficients(11, 5)
    assert a.shape == (5, 4)
    exact = sim.exact_cell_averages(sim.t, {"k": 2.0}, coefficients=a)
    assert exact.shape == ds.u.shape
    np.testing.assert_allclose(ds.u.values[:, 0], exact[:, 0], atol=1e-14)
    # worst at early times: Crank-Nicolson on the fastest mode (k (4 pi)^2 dt ~ 0.5)
    assert np.abs(ds.u.values - exact).sum(-1).max() * sim.dx < 1e-3
    fine = HeatSimulator(n_cells=128, t_final=0.05, n_frames=6, initial_condition=ic, dt=sim.dt / 4)
    err_fine = np.abs(fine.run({"k": 2.0}, seed=11, n_samples=5).u.values - exact).sum(-1).max() * sim.dx
    assert err_fine < np.abs(ds.u.values - exact).sum(-1).max() * sim.dx / 8
    # samples differ, and determinism in the seed
    assert not np.allclose(ds.u.values[0], ds.u.values[1])
    again = sim.run({"k": 2.0}, seed=11, n_samples=5)
    assert np.array_equal(again.u.values, ds.u.values)
    other = sim.run({"k": 2.0}, seed=12, n_samples=5)
    assert not np.allclose(other.u.values, ds.u.values)


def test_heat_conserved_quantity_against_quadrature():
    sim = HeatSimulator(initial_condition=DirichletSineSeriesIC(n_modes=3, random=True))
    a = sim.coefficients(3, 2)
    p = {"k": 1.5}
    for t in (0.0, 0.01, 0.07):
        m = sim.conserved_quantity(t, p, coefficients=a)
        for s in range(2):
            q, _ = quad(lambda x: sim.exact_solution(x, t, p, coefficients=a[s]), 0.0, 1.0, epsabs=1e-13)
            assert abs(m[s] - q) < 1e-12
            # M(t) = M(0) + int_0^t F(0) - F(1)
            flux, _ = quad(lambda s_: float(np.subtract(*sim.boundary_flux(s_, p, coefficients=a[s]))),
                           0.0, t, epsabs=1e-13)
            assert abs(m[s] - (sim.conserved_quantity(0.0, p, coefficients=a[s]) + flux)) < 1e-11
    # the unit-interval closed form (sin(pi x) on [0, 1]) 2/pi exp(-pi^2 k t)
    det = HeatSimulator()
    np.testing.assert_allclose(det.conserved_quantity(np.array([0.0, 0.1]), p),
                               2 / np.pi * np.exp(-np.pi**2 * 1.5 * np.array([0.0, 0.1])), rtol=1e-14)


# --------------------------------------------------------------------------- Barenblatt
@pytest.mark.parametrize("m", [1.0, 2.5, 4.0])
def test_barenblatt_solves_pme(m):
    """Finite-difference residual of u_t - (u^m u_x)_x inside the support is small."""
    C, x0 = 0.3, 0.1
    t = 0.7
    r = float(barenblatt_front(t, m, C))
    x = x0 + np.linspace(-0.8 * r, 0.8 * r, 41)
    h = 1e-4
    ut = (barenblatt_solution(x, t + h, m, C=C, x0=x0) - barenblatt_solution(x, t - h, m, C=C, x0=x0)) / (2 * h)
    phi = lambda y: barenblatt_solution(y, t, m, C=C, x0=x0) ** (m + 1) / (m + 1)  # noqa: E731
    phi_xx = (phi(x + h) - 2 * phi(x) + phi(x - h)) / h**2
    assert np.abs(ut - phi_xx).max() < 1e-5 * np.abs(ut).max() + 1e-6
    # compact support, mass formula
    assert barenblatt_solution(x0 + 1.01 * r, t, m, C=C, x0=x0) == 0.0
    q, _ = quad(lambda y: barenblatt_solution(y, t, m, C=C, x0=x0), x0 - r, x0 + r, epsabs=1e-13, limit=200)
    assert abs(q - barenblatt_mass(m, C)) < 1e-9


@pytest.mark.parametrize("m", [1.0, 2.0, 4.0])
def test_pme_converges_to_barenblatt(m):
    ns = [64, 128, 256, 512]
    errors, mass_drift = [], []
    for n in ns:
        sim = PorousMediumSimulator(problem="barenblatt", n_cells=n, n_frames=6)
        u = sim.run({"m": m}, seed=0).u.values
        errors.append(l1_error_final(sim, {"m": m}, u))
        mass = u.sum(axis=-1) * sim.dx
        mass_drift.append(np.abs(mass / mass[:, :1] - 1.0).max())
        # the initial discrete mass is the exact Barenblatt mass (exact cell averages)
        assert abs(mass[0, 0] - sim.conserved_quantity(0.0, {"m": m})) < 1e-12 * mass[0, 0]
    assert np.all(np.diff(errors) < 0), errors
    assert fitted_order(ns, errors) >= 0.8, errors
    assert errors[-1] < 1e-4
    assert max(mass_drift) < 1e-12, mass_drift


def test_barenblatt_support_stays_inside():
    sim = PorousMediumSimulator(problem="barenblatt", n_cells=128, n_frames=5)
    p = {"m": 3.0}
    ds = sim.run(p, seed=0)
    c = sim.barenblatt_constant(p)
    r_end = barenblatt_front(sim.t0 + sim.t_final, 3.0, c)
    assert r_end == pytest.approx(0.4, rel=1e-12)
    assert np.all(ds.u.values[..., :5] == 0.0) and np.all(ds.u.values[..., -5:] == 0.0)
    np.testing.assert_allclose(sim.boundary_flux(sim.t, p), 0.0)
    assert "Neumann" in ds.attrs["boundary_conditions"]


# --------------------------------------------------------------------------- travelling front
def test_pme_front_exact_solution_solves_pde():
    sim = PorousMediumSimulator()
    m, h = 3.0, 1e-5
    x = np.linspace(0.05, 0.45, 21)
    t = 0.6
    u = lambda y, s: sim.exact_solution(y, s, {"m": m})  # noqa: E731
    ut = (u(x, t + h) - u(x, t - h)) / (2 * h)
    phi = lambda y: u(y, t) ** (m + 1) / (m + 1)  # noqa: E731
    assert np.abs(ut - (phi(x + h) - 2 * phi(x) + phi(x - h)) / h**2).max() < 1e-4
    assert sim.exact_solution(0.0, t, {"m": m}) == pytest.approx((m * t) ** (1 / m))
    assert sim.exact_solution(t + 1e-9, t, {"m": m}) == 0.0


@pytest.mark.parametrize("m", [2.0, 5.0])
def test_pme_front_converges_to_probconserv_solution(m):
    ns = [64, 128, 256, 512]
    errors = []
    for n in ns:
        sim = PorousMediumSimulator(n_cells=n, t_final=0.8, n_frames=3)
        errors.append(l1_error_final(sim, {"m": m}, sim.run({"m": m}, seed=0).u.values))
    assert np.all(np.diff(errors) < 0), errors
    assert fitted_order(ns, errors) >= 0.9, errors
    assert errors[-1] < 6e-4


@pytest.mark.parametrize("m", [1.0, 3.5, 6.0])
def test_pme_front_conserved_quantity(m):
    sim = PorousMediumSimulator()
    p = {"m": m}
    for t in (0.0, 0.3, 0.9):
        q, _ = quad(lambda x: float(sim.exact_solution(x, t, p)), 0.0, 1.0, points=[t], epsabs=1e-13)
        assert abs(sim.conserved_quantity(t, p) - q) < 1e-10
        flux, _ = quad(lambda s: float(np.subtract(*sim.boundary_flux(s, p))), 0.0, t, epsabs=1e-13)
        assert abs(sim.conserved_quantity(t, p) - flux) < 1e-10
        assert abs(sim.exact_cell_averages(t, p).sum() * sim.dx - q) < 1e-12
    # the discrete mass follows the exact one (half-cell Dirichlet flux): O(dx) gap
    ds = PorousMediumSimulator(n_cells=256, t_final=0.8, n_frames=5).run(p, seed=0)
    mass = ds.u.values[0].sum(-1) / 256
    assert np.abs(mass - sim.conserved_quantity(ds.t.values, p)).max() < 2e-3


# --------------------------------------------------------------------------- solver
def test_solver_conserves_mass_with_neumann_and_large_steps():
    """Damped Newton steps and step halving keep the discrete mass exact to round-off."""
    rng = np.random.default_rng(0)
    u0 = rng.uniform(0.0, 2.0, size=(3, 50)) * (rng.uniform(size=(3, 50)) > 0.5)
    out = integrate(u0, np.array([0.0, 0.5, 1.0]), dx=0.02, diffusivity=Diffusivity.power(4.0),
                    left=Boundary("neumann"), right=Boundary("neumann"), dt_max=0.5)
    mass = out.sum(-1)
    assert np.abs(mass / mass[:, :1] - 1).max() < 1e-12
    assert out.min() >= -1e-12  # backward Euler is positivity preserving


def test_kirchhoff_potential_is_integral_of_k():
    for d in (Diffusivity.constant(2.0), Diffusivity.power(2.5), Diffusivity.step(0.6, 1.0, 0.1)):
        for u in (0.3, 0.9, 1.7):
            q, _ = quad(lambda s: float(d.k(s)), 0.0, u, points=[0.6], epsabs=1e-13)
            assert d.potential(u) == pytest.approx(q, abs=1e-10)


# --------------------------------------------------------------------------- protocol & input
@pytest.mark.parametrize("factory,params", [
    (lambda: HeatSimulator(n_cells=32, n_frames=4), {"k": 2.0}),
    (lambda: PorousMediumSimulator(n_cells=32, n_frames=4), {"m": 2.0}),
    (lambda: PorousMediumSimulator(problem="barenblatt", n_cells=32, n_frames=4), {"m": 2.0}),
])
def test_dataset_layout_and_provenance(factory, params):
    sim = factory()
    assert isinstance(sim, Simulator)
    ds = sim.run(params, seed=3, n_samples=2)
    validate(ds, required_fields=["u"], required_parameters=list(params))
    assert ds.u.shape == (2, 4, 32)
    assert ds.attrs["generator"] == sim.name
    assert "Dirichlet" in ds.attrs["boundary_conditions"] or "Neumann" in ds.attrs["boundary_conditions"]
    cfg = json.loads(ds.attrs["parameters"])
    assert cfg["params"] == params and cfg["config"]["dt"] == sim.dt
    assert sim.cost(params) > 0
    assert np.array_equal(sim.run(params, seed=3, n_samples=2).u.values, ds.u.values)


def test_float32_output():
    ds = PorousMediumSimulator(n_cells=32, n_frames=3, dtype="float32").run({"m": 2.0}, seed=0)
    assert ds.u.dtype == np.float32


@pytest.mark.parametrize("sim,params,accepted", [
    (HeatSimulator(n_cells=16), {"k": 0.5}, "k in [1, 5]"),
    (HeatSimulator(n_cells=16), {"k": float("nan")}, "k in [1, 5]"),
    (PorousMediumSimulator(n_cells=16), {"m": 7.0}, "m in [1, 6]"),
    (PorousMediumSimulator(n_cells=16), {"nu": 1.0}, "m in [1, 6]"),
    (PorousMediumSimulator(n_cells=16), {}, "m in [1, 6]"),
])
def test_out_of_range_parameters(sim, params, accepted):
    with pytest.raises(ParameterError, match=accepted.replace("[", r"\[").replace("]", r"\]")):
        sim.run(params, seed=0)
    with pytest.raises(ParameterError):
        sim.exact_cell_averages(0.1, params)


def test_bad_constructor_arguments():
    with pytest.raises(ParameterError, match="problem"):
        PorousMediumSimulator(problem="waves")
    with pytest.raises(ParameterError, match="theta"):
        HeatSimulator(theta=0.2)
    with pytest.raises(ParameterError, match="dt"):
        PorousMediumSimulator(dt=-1.0)
    with pytest.raises(ParameterError, match="support_fraction"):
        PorousMediumSimulator(problem="barenblatt", support_fraction=1.5)
    with pytest.raises(ParameterError, match="n_modes"):
        DirichletSineSeriesIC(n_modes=0)
    with pytest.raises(ParameterError, match="coefficients"):
        HeatSimulator(initial_condition=DirichletSineSeriesIC(3, random=True)).exact_solution(0.5, 0.1, {"k": 1.0})
    with pytest.raises(ParameterError):
        barenblatt_solution(0.0, 0.0, 2.0)
