"""Stefan problem (ProbConserv's hard GPME case) against the similarity solution."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import erf

from sciml.data.schema import validate
from sciml.errors import ParameterError
from sciml.simulators.base import Simulator
from sciml.simulators.pde.stefan import StefanSimulator, stefan_alpha, stefan_front, stefan_valid_until


@pytest.mark.parametrize("u_star", [0.55, 0.6, 0.7])
def test_alpha_solves_stefan_condition(u_star):
    a = stefan_alpha(u_star)
    lhs = u_star * a * math.sqrt(math.pi) * math.erf(a) * math.exp(a * a)
    assert lhs == pytest.approx(1.0 - u_star, rel=1e-13)
    assert 0.3 < a < 0.7


@pytest.mark.parametrize("k_max", [1.0, 2.0])
def test_exact_solution_satisfies_pde_bcs_and_rankine_hugoniot(k_max):
    sim = StefanSimulator(k_max=k_max)
    p = {"u_star": 0.62}
    us, t, h = 0.62, 0.2, 1e-5
    xf = float(sim.front_position(t, p))
    u = lambda x, s: sim.exact_solution(x, s, p)  # noqa: E731
    assert u(0.0, t) == pytest.approx(1.0)
    assert u(xf - 1e-12, t) == pytest.approx(us, abs=1e-9)
    assert u(xf + 1e-9, t) == 0.0
    x = np.linspace(0.05, 0.9 * xf, 20)
    ut = (u(x, t + h) - u(x, t - h)) / (2 * h)
    uxx = (u(x + h, t) - 2 * u(x, t) + u(x - h, t)) / h**2
    assert np.abs(ut - k_max * uxx).max() < 1e-4
    # front speed times the jump u* equals the flux arriving from behind
    speed = (sim.front_position(t + h, p) - sim.front_position(t - h, p)) / (2 * h)
    ux_minus = (u(xf - 1e-7, t) - u(xf - 1e-7 - h, t)) / h
    assert speed * us == pytest.approx(-k_max * ux_minus, rel=1e-3)


@pytest.mark.parametrize("u_star", [0.55, 0.7])
def test_conserved_quantity_against_quadrature(u_star):
    sim = StefanSimulator()
    p = {"u_star": u_star}
    for t in (0.05, 0.2, 0.5):
        xf = float(sim.front_position(t, p))
        q, _ = quad(lambda x: float(sim.exact_solution(x, t, p)), 0.0, 1.0, points=[xf], epsabs=1e-13)
        m = float(sim.conserved_quantity(t, p))
        assert m == pytest.approx(q, abs=1e-11)
        flux, _ = quad(lambda s: float(np.subtract(*sim.boundary_flux(s, p))), 0.0, t, epsabs=1e-13)
        assert m == pytest.approx(flux, abs=1e-9)  # M(0) = 0
        assert sim.exact_cell_averages(t, p).sum() * sim.dx == pytest.approx(q, abs=1e-12)
    # closed form of the inflow
    a = stefan_alpha(u_star)
    assert sim.boundary_flux(0.25, p)[0] == pytest.approx(
        (1 - u_star) / (erf(a) * math.sqrt(math.pi * 0.25)), rel=1e-14)


@pytest.mark.parametrize("u_star", [0.55, 0.6, 0.7])
def test_front_and_profile_converge(u_star):
    p = {"u_star": u_star}
    ns = [64, 128, 256, 512]
    prof, front = [], []
    for n in ns:
        sim = StefanSimulator(n_cells=n, n_frames=3)
        u = sim.run(p, seed=0).u.values[0, -1]
        prof.append(np.abs(u - sim.exact_cell_averages(sim.t_final, p)).sum() * sim.dx)
        front.append(abs(float(sim.front_position_numeric(u, p) - sim.front_position(sim.t_final, p))))
        assert u.min() >= 0.0 and u.max() <= 1.0 + 1e-12  # maximum principle
    assert np.all(np.diff(prof) < 0), prof
    assert front[-1] < front[0] / 3 and front[-1] < 1e-4, front
    assert -np.polyfit(np.log(ns), np.log(prof), 1)[0] >= 0.8, prof
    # documented bounds at n=512, dt = dx/2: L1 profile error and front error ~ 1/8 dx
    assert prof[-1] < 0.1 / ns[-1] and front[-1] < 0.05 / ns[-1]


def test_numeric_front_estimate_is_exact_on_exact_averages():
    sim = StefanSimulator(n_cells=200)
    p = {"u_star": 0.6}
    t = np.array([0.05, 0.2, 0.4])
    est = sim.front_position_numeric(sim.exact_cell_averages(t, p), p)
    assert np.abs(est - sim.front_position(t, p)).max() < 2 * sim.dx**2


def test_mass_balance_of_the_scheme():
    sim = StefanSimulator(n_cells=256, n_frames=11)
    p = {"u_star": 0.6}
    ds = sim.run(p, seed=0, n_samples=2)
    validate(ds, required_fields=["u"], required_parameters=["u_star"])
    assert isinstance(sim, Simulator)
    assert ds.attrs["boundary_conditions"] == "x=0: Dirichlet u = 1; x=1: Dirichlet u = 0"
    mass = ds.u.values.sum(-1) * sim.dx
    assert np.abs(mass - sim.conserved_quantity(ds.t.values, p)).max() < 1e-3
    assert np.array_equal(ds.u.values[0], ds.u.values[1])


def test_bad_input():
    sim = StefanSimulator(n_cells=16)
    for bad in ({"u_star": 0.4}, {"u_star": 0.995}, {"u_star": 0.0}, {"u_star": 1.0}, {"u_star": "0.6"}):
        with pytest.raises(ParameterError, match=r"u_star in \[0.42, 0.99\]"):
            sim.run(bad, seed=0)
    with pytest.raises(ParameterError, match="k_max"):
        StefanSimulator(k_max=0.0)
    with pytest.raises(ParameterError, match="u_star"):
        stefan_alpha(1.2)
    with pytest.raises(ParameterError, match="n_cells"):
        sim.front_position_numeric(np.zeros(10), {"u_star": 0.6})


def _front_by_hand(t: float, u_star: float) -> float:
    """``2 alpha sqrt(t)`` with ``alpha`` from the Stefan condition, solved here without the module."""
    def stefan_condition(a: float) -> float:
        return u_star * a * math.sqrt(math.pi) * math.erf(a) * math.exp(a * a) - (1.0 - u_star)
    alpha = brentq(stefan_condition, 1e-12, 5.0, xtol=1e-15)
    return 2.0 * alpha * math.sqrt(t)


def test_accepted_range_is_the_physical_one_where_the_exact_solution_holds():
    space = StefanSimulator.PARAMETERS["u_star"]
    assert 0.0 < space.low <= 0.5 and 0.7 <= space.high < 1.0  # ProbConserv's OOD value and train range
    assert stefan_valid_until(space.low) >= StefanSimulator().t_final  # front inside [0, 1] on every frame
    assert stefan_valid_until(space.low - 0.01) < StefanSimulator().t_final  # and no wider than that


def test_out_of_distribution_u_star_runs_and_its_front_converges_at_first_order():
    """ProbConserv's OOD test value u* = 0.5: the latent-heat front at t = 0.05 -> 0.2773, error ~ dx."""
    p, t = {"u_star": 0.5}, 0.05
    exact = _front_by_hand(t, 0.5)
    assert exact == pytest.approx(0.2773, abs=5e-5)
    assert float(stefan_front(t, 0.5)) == pytest.approx(exact, rel=1e-12)
    StefanSimulator(n_cells=16, n_frames=3).run(p, seed=0)  # the default t_final is accepted too
    ns = np.array([64, 128, 256])
    errors = []
    for n in ns:
        sim = StefanSimulator(n_cells=int(n), t_final=t, n_frames=2)
        u = sim.run(p, seed=0).u.values[0, -1]
        errors.append(abs(float(sim.front_position_numeric(u, p)) - exact))
    errors = np.array(errors)
    orders = np.log2(errors[:-1] / errors[1:])
    assert np.all((orders > 0.9) & (orders < 1.1)), (errors, orders)  # measured 0.99, 0.97
    assert np.all(errors * ns < 0.25), errors  # measured 0.18 dx at each n
