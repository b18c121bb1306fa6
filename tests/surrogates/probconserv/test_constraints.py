"""Constraint builders: quadrature weights G and conserved quantities b(t)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from sciml.simulators.pde import HeatSimulator, PorousMediumSimulator, StefanSimulator
from sciml.simulators.pde.heat import DirichletSineSeriesIC, heat_mass
from sciml.simulators.pde.porous_medium import pme_mass
from sciml.surrogates.probconserv import (
    ConservationInputError,
    cell_volume_weights,
    cell_volume_weights_2d,
    conservation_update,
    conserved_quantity_for,
    conserved_quantity_numeric,
    constraint_matrix,
    constraint_matrix_for,
    flatten_field,
    stack_constraints,
    trapezoid_weights,
    unflatten_field,
)


# =========================================================================== weights
def test_trapezoid_weights_closed_form_and_exact_for_linear_functions():
    np.testing.assert_allclose(trapezoid_weights([0.0, 1.0, 3.0]), [0.5, 1.5, 1.0], rtol=0, atol=0)
    x = np.sort(np.random.default_rng(0).uniform(-1.0, 2.0, size=13))
    w = trapezoid_weights(x)
    assert w.sum() == pytest.approx(x[-1] - x[0], rel=1e-14)
    # exact for f = 3x + 1: (3/2)(b^2 - a^2) + (b - a)
    assert w @ (3 * x + 1) == pytest.approx(1.5 * (x[-1] ** 2 - x[0] ** 2) + (x[-1] - x[0]), rel=1e-13)
    np.testing.assert_allclose(w, np.trapezoid(np.eye(x.size), x, axis=1), rtol=1e-14)
    # second order on a non-uniform grid: error of int_0^pi sin = 2 drops ~4x when h halves
    errs = []
    for n in (41, 81):
        xg = np.linspace(0, np.pi, n)
        xg[1:-1] += 0.2 * (xg[1] - xg[0]) * np.sin(7 * xg[1:-1])  # still increasing
        errs.append(abs(trapezoid_weights(xg) @ np.sin(xg) - 2.0))
    assert 3.3 < errs[0] / errs[1] < 4.7
    with pytest.raises(ConservationInputError, match="strictly increasing"):
        trapezoid_weights([0.0, 2.0, 1.0])
    with pytest.raises(ConservationInputError, match="at least 2 points"):
        trapezoid_weights([0.0])


def test_cell_weights_1d_and_2d_integrate_cell_averages_exactly():
    np.testing.assert_array_equal(cell_volume_weights(0.25, 4), np.full(4, 0.25))
    np.testing.assert_array_equal(cell_volume_weights([0.1, 0.3]), [0.1, 0.3])
    with pytest.raises(ConservationInputError, match="number of cells"):
        cell_volume_weights(0.25)
    rng = np.random.default_rng(1)
    dx, dy = rng.uniform(0.1, 0.5, size=4), rng.uniform(0.1, 0.5, size=3)
    u = rng.normal(size=(5, 4, 3))  # (n_t, n_x, n_y)
    w = cell_volume_weights_2d(dx, dy, (4, 3))
    assert w.shape == (12,) and w.sum() == pytest.approx(dx.sum() * dy.sum(), rel=1e-14)
    direct = np.array([sum(u[t, i, j] * dx[i] * dy[j] for i in range(4) for j in range(3)) for t in range(5)])
    np.testing.assert_allclose(flatten_field(u, (4, 3)) @ w, direct, rtol=1e-13)
    np.testing.assert_array_equal(cell_volume_weights_2d(0.5, 0.25, (2, 2)), np.full(4, 0.125))
    # flatten / unflatten round trip, numpy and torch, C order
    ut = torch.tensor(u)
    assert flatten_field(ut, (4, 3)).shape == (5, 12)
    torch.testing.assert_close(unflatten_field(flatten_field(ut, (4, 3)), (4, 3)), ut)
    assert flatten_field(u, (4, 3))[2, 1 * 3 + 2] == u[2, 1, 2]
    with pytest.raises(ConservationInputError, match="spatial shape"):
        flatten_field(u, (3, 4))
    with pytest.raises(ConservationInputError, match="length 12"):
        unflatten_field(np.zeros((5, 11)), (4, 3))


def test_constraint_matrix_rules_and_stacking():
    x = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(constraint_matrix(x), [[0.125, 0.25, 0.25, 0.25, 0.125]], atol=1e-16)
    xc = (np.arange(4) + 0.5) / 4
    np.testing.assert_allclose(constraint_matrix(xc, rule="cell"), np.full((1, 4), 0.25), rtol=1e-14)
    with pytest.raises(ConservationInputError, match="uniformly spaced"):
        constraint_matrix([0.0, 0.1, 0.5], rule="cell")
    with pytest.raises(ConservationInputError, match="rule must be"):
        constraint_matrix(x, rule="simpson")
    mass = constraint_matrix(x)[0]
    momentum = mass * x
    g = stack_constraints(mass, momentum)
    assert g.shape == (2, 5)
    np.testing.assert_array_equal(stack_constraints(g, np.ones(5)).shape, (3, 5))
    with pytest.raises(ConservationInputError, match="linearly dependent"):
        stack_constraints(mass, 2 * mass)
    with pytest.raises(ConservationInputError, match="one common n_x"):
        stack_constraints(mass, np.ones(4))


@pytest.mark.parametrize("sim, params", [
    (HeatSimulator(n_cells=32), {"k": 2.0}),
    (PorousMediumSimulator(n_cells=32), {"m": 3.0}),
    (PorousMediumSimulator(problem="barenblatt", n_cells=32), {"m": 2.0}),
    (StefanSimulator(n_cells=32), {"u_star": 0.6}),
])
def test_cell_constraint_on_exact_cell_averages_gives_conserved_quantity(sim, params):
    """G = dx * ones applied to exact cell averages reproduces the simulator's b(t) exactly."""
    ts = np.array([0.05, 0.2, 0.4])
    G = constraint_matrix_for(sim)
    np.testing.assert_allclose(G, constraint_matrix(sim.x, rule="cell"), rtol=1e-14)
    u = sim.exact_cell_averages(ts, params)
    u = u.reshape(-1, ts.size, sim.n_cells)  # heat: leading sample axis
    b = conserved_quantity_for(sim, ts, params)
    assert b.shape[-2:] == (ts.size, 1)
    np.testing.assert_allclose(u @ G.T, b.reshape(-1, ts.size, 1), rtol=1e-12, atol=1e-15)


def test_conserved_quantity_for_shapes_and_errors():
    sim = HeatSimulator(n_cells=16, initial_condition=DirichletSineSeriesIC(n_modes=3, random=True))
    coef = sim.coefficients(seed=0, n_samples=4)
    ts = np.linspace(0, 0.1, 6)
    b = conserved_quantity_for(sim, ts, {"k": 1.0}, coefficients=coef)
    assert b.shape == (4, 6, 1)
    j = np.arange(1, 4)
    direct = (coef * (1 - (-1.0) ** j) / (j * np.pi)) @ np.exp(-np.outer(j**2 * np.pi**2, ts))
    np.testing.assert_allclose(b[..., 0], direct, rtol=1e-14)

    class Wrong:
        def conserved_quantity(self, t, params):
            return np.zeros(t.size + 1)

    with pytest.raises(ConservationInputError, match=r"expected \(n_t,\) = \(6,\)"):
        conserved_quantity_for(Wrong(), ts, {})
    with pytest.raises(ConservationInputError, match="no conserved_quantity"):
        conserved_quantity_for(object(), ts, {})


def test_conserved_quantity_numeric_from_boundary_fluxes():
    # constant fluxes: b is exactly linear in t
    t = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(conserved_quantity_numeric(t, 3.0 * np.ones(3), np.ones(3), 1.0),
                               [1.0, 2.0, 5.0], rtol=1e-15)
    # PME front, m = 1: inflow F(0, t) = t (linear), trapezoid exact
    sim = PorousMediumSimulator(n_cells=16)
    ts = np.linspace(0.0, 1.0, 11)
    f = sim.boundary_flux(ts, {"m": 1.0})
    np.testing.assert_allclose(conserved_quantity_numeric(ts, f[:, 0], f[:, 1], 0.0), pme_mass(ts, 1.0),
                               rtol=1e-13, atol=1e-16)
    # heat: smooth outflow at both ends, second-order convergence to (2/pi) e^{-pi^2 k t}
    heat = HeatSimulator(n_cells=16)
    errs = []
    for n in (101, 201):
        ts = np.linspace(0.0, 0.1, n)
        f = heat.boundary_flux(ts, {"k": 1.0})
        b = conserved_quantity_numeric(ts, f[:, 0], f[:, 1], 2 / np.pi)
        errs.append(np.abs(b - heat_mass(ts, 1.0)).max())
    assert errs[1] < 1e-6 and 3.8 < errs[0] / errs[1] < 4.2
    # batched fluxes with per-sample initial masses
    out = conserved_quantity_numeric(t, np.ones((2, 3)), np.zeros(3), np.array([0.0, 10.0]))
    np.testing.assert_allclose(out, [[0.0, 0.5, 2.0], [10.0, 10.5, 12.0]])
    with pytest.raises(ConservationInputError, match="n_t = 3"):
        conserved_quantity_numeric(t, np.ones(4), np.ones(4), 0.0)


def test_end_to_end_update_with_simulator_constraint():
    """A biased GP-like prediction of the PME front is corrected to the exact mass."""
    sim = PorousMediumSimulator(n_cells=32)
    p = {"m": 2.0}
    ts = np.array([0.2, 0.5, 0.8])
    truth = sim.exact_cell_averages(ts, p)[None]  # (1, n_t, n_x)
    mean = truth * 1.3 + 0.05
    var = np.full_like(mean, 0.01)
    G = constraint_matrix_for(sim)
    b = conserved_quantity_for(sim, ts, p)
    out = conservation_update(torch.tensor(mean), torch.tensor(var), G, b)
    np.testing.assert_allclose(out.mean.numpy() @ G.T, b[None], rtol=1e-12)
    # the mass correction is spread uniformly for equal variances and equal weights
    shift = (out.mean.numpy() - mean)[0]
    np.testing.assert_allclose(shift, (b[:, 0] - (mean[0] @ G.T)[:, 0])[:, None] * np.ones((1, 32)), rtol=1e-12)
