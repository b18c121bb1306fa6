"""Closed-form conserved quantities of the GPME problems (heat, PME front, Stefan) against quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from sciml.errors import ParameterError
from sciml.simulators.pde import HeatSimulator, PorousMediumSimulator, StefanSimulator
from sciml.simulators.pde.heat import heat_mass, heat_series_mass, heat_series_solution
from sciml.simulators.pde.porous_medium import pme_mass
from sciml.simulators.pde.stefan import stefan_alpha, stefan_mass


def _quad_mass(f, t, breakpoint=None):
    pts = [breakpoint] if breakpoint is not None and 0 < breakpoint < 1 else None
    val, err = quad(lambda x: float(f(x, t)), 0.0, 1.0, points=pts, epsabs=1e-14, epsrel=1e-13, limit=200)
    return val


@pytest.mark.parametrize("m", [1.0, 2.0, 3.5, 6.0])
def test_pme_mass_matches_quadrature_of_the_exact_solution_and_the_simulator(m):
    sim = PorousMediumSimulator(problem="front", n_cells=16)
    p = {"m": m}
    ts = np.array([0.05, 0.3, 0.7, 1.0])
    quads = np.array([_quad_mass(lambda x, t: sim.exact_solution(x, t, p), t, breakpoint=t) for t in ts])
    np.testing.assert_allclose(pme_mass(ts, m), quads, rtol=1e-8)
    np.testing.assert_allclose(pme_mass(ts, m), sim.conserved_quantity(ts, p), rtol=1e-14)
    # the paper's form m^(1+1/m) t^(1+1/m) / (m+1) at t = 1
    assert pme_mass(1.0, m) == pytest.approx(m ** (1 + 1 / m) / (m + 1), rel=1e-15)
    with pytest.raises(ParameterError, match="t <= 1"):
        pme_mass(1.5, m)


@pytest.mark.parametrize("u_star", [0.55, 0.6, 0.7])
def test_stefan_mass_matches_quadrature_of_the_exact_solution_and_the_simulator(u_star):
    sim = StefanSimulator(n_cells=16)
    p = {"u_star": u_star}
    ts = np.array([0.01, 0.1, 0.3, 0.5])
    front = sim.front_position(ts, p)
    assert np.all(front < 1.0)
    quads = np.array([_quad_mass(lambda x, t: sim.exact_solution(x, t, p), t, breakpoint=xf)
                      for t, xf in zip(ts, front)])
    np.testing.assert_allclose(stefan_mass(ts, u_star), quads, rtol=1e-8)
    np.testing.assert_allclose(stefan_mass(ts, u_star), sim.conserved_quantity(ts, p), rtol=1e-12)
    # flux form: b(t) = int_0^t F(0, s) ds with F(0, s) = c1 sqrt(k/(pi s))
    c1 = (1 - u_star) / math.erf(stefan_alpha(u_star))
    assert stefan_mass(0.25, u_star) == pytest.approx(2 * c1 * math.sqrt(0.25 / math.pi), rel=1e-15)
    with pytest.raises(ParameterError, match="front is inside"):
        stefan_mass(2.0, u_star)


def test_stefan_mass_with_other_k_max():
    sim = StefanSimulator(n_cells=16, k_max=0.3)
    p = {"u_star": 0.6}
    ts = np.array([0.2, 0.9])
    front = sim.front_position(ts, p)
    quads = np.array([_quad_mass(lambda x, t: sim.exact_solution(x, t, p), t, breakpoint=xf)
                      for t, xf in zip(ts, front)])
    np.testing.assert_allclose(stefan_mass(ts, 0.6, k_max=0.3), quads, rtol=1e-8)


@pytest.mark.parametrize("k", [1.0, 4.0])
def test_heat_mass_matches_quadrature_and_the_simulator(k):
    sim = HeatSimulator(n_cells=16)
    p = {"k": k}
    ts = np.array([0.0, 0.01, 0.05, 0.1])
    quads = np.array([_quad_mass(lambda x, t: sim.exact_solution(x, t, p), t) for t in ts])
    np.testing.assert_allclose(heat_mass(ts, k), quads, rtol=1e-8)
    np.testing.assert_allclose(heat_mass(ts, k), sim.conserved_quantity(ts, p), rtol=1e-14)


def test_heat_series_reduces_to_the_single_mode_closed_form_and_validates():
    x = np.linspace(0.0, 1.0, 11)[None, :]
    t = np.array([0.0, 0.05, 0.2])[:, None]
    np.testing.assert_allclose(heat_series_solution(x, t, 2.0, [1.0]),
                               np.exp(-np.pi**2 * 2.0 * t) * np.sin(np.pi * x), rtol=0, atol=1e-15)
    # two samples of two modes: the shapes and the second mode's mass (1 - (-1)^2) = 0
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert heat_series_solution(x, t, 2.0, a).shape == (2, 3, 11)
    np.testing.assert_allclose(heat_series_mass(t[:, 0], 2.0, a)[1], 0.0, atol=1e-16)
    with pytest.raises(ParameterError, match="k must be > 0"):
        heat_mass([0.1], -1.0)
    with pytest.raises(ParameterError, match="finite and >= 0"):
        heat_mass([-0.1], 1.0)
    with pytest.raises(ParameterError, match="u_star must lie in"):
        stefan_mass([0.1], 1.2)
    with pytest.raises(ParameterError, match="m must be > 0"):
        pme_mass([0.1], 0.0)
