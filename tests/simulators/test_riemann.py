"""Riemann step solutions (advection, Burgers shock): front position, mass balance, shape."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.simulators.pde.riemann import (
    advection_step_mass,
    burgers_shock_mass,
    burgers_shock_speed,
    riemann_step_mass0,
    riemann_step_solution,
)


def _integral(u_left, u_right, x0, speed, t):
    """Exact integral over [0, 1] of the step (piecewise constant)."""
    xf = x0 + speed * t
    return xf * u_left + (1.0 - xf) * u_right


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_advection_step_moves_at_beta_and_its_mass_balances_the_fluxes(beta):
    x = np.linspace(0.0, 1.0, 401)
    t = np.array([0.0, 0.05, 0.1])
    u = riemann_step_solution(x[None, :], t[:, None], x0=0.25, speed=beta, u_left=1.0, u_right=0.2)
    assert u.shape == (3, 401)
    for i, ti in enumerate(t):
        xf = 0.25 + beta * ti
        assert np.all(u[i, x < xf] == 1.0) and np.all(u[i, x > xf] == 0.2)
    m0 = riemann_step_mass0((0.0, 1.0), 0.25, 1.0, 0.2)
    assert m0 == pytest.approx(0.25 + 0.75 * 0.2, rel=1e-15)
    np.testing.assert_allclose(advection_step_mass(t, beta, m0, 1.0, 0.2),
                               [_integral(1.0, 0.2, 0.25, beta, ti) for ti in t], rtol=1e-14)


def test_value_on_the_discontinuity_is_the_mean_and_the_trapezoid_rule_is_exact_there():
    x = np.linspace(0.0, 1.0, 5)  # the front at t = 0 sits on x = 0.25
    u = riemann_step_solution(x, 0.0, x0=0.25, speed=2.0, u_left=2.0, u_right=0.0)
    np.testing.assert_array_equal(u, [2.0, 1.0, 0.0, 0.0, 0.0])
    assert np.trapezoid(u, x) == pytest.approx(riemann_step_mass0((0.0, 1.0), 0.25, 2.0, 0.0), rel=1e-15)


@pytest.mark.parametrize("u_left", [1.0, 1.5, 2.0])
def test_burgers_shock_speed_and_mass(u_left):
    s = burgers_shock_speed(u_left, 0.0)
    assert s == 0.5 * u_left
    m0 = riemann_step_mass0((0.0, 1.0), 0.25, u_left, 0.0)
    t = np.array([0.0, 0.1, 0.25])
    np.testing.assert_allclose(burgers_shock_mass(t, m0, u_left, 0.0),
                               [_integral(u_left, 0.0, 0.25, s, ti) for ti in t], rtol=1e-14)
