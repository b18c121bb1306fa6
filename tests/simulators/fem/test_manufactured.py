"""Manufactured solutions: P1 and P2 converge in L2 at orders 2 and 3 (H1 at 1 and 2).

``u = sin(pi x) cos(pi y) + x^2 y`` with a variable coefficient ``kappa`` (smooth, or the
exponential of a KL field), ``f = -div(kappa grad u)`` derived symbolically by UFL, ``u``
prescribed on the whole boundary; the errors are integrated against the exact expression with
a quadrature of degree ``2 p + 4``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.simulators.fem.backend import import_dolfinx  # noqa: E402
from sciml.simulators.fem.diffusion import KLField, solve_diffusion  # noqa: E402
from sciml.simulators.fem.solver import SolverOptions  # noqa: E402

pytestmark = pytest.mark.fem

SIZES = (8, 16, 32)


def _errors(n: int, degree: int, kappa_kind: str, options: SolverOptions | None = None) -> tuple[float, float]:
    """L2 and H1-seminorm errors on an n x n mesh."""
    m = import_dolfinx()
    ufl, fem = m.ufl, m.fem
    mesh = m.mesh.create_unit_square(m.MPI.COMM_SELF, n, n)
    V = fem.functionspace(mesh, ("Lagrange", degree))
    X = ufl.SpatialCoordinate(mesh)
    exact = ufl.sin(ufl.pi * X[0]) * ufl.cos(ufl.pi * X[1]) + X[0] ** 2 * X[1]
    if kappa_kind == "smooth":
        kappa = 1.0 + 0.5 * ufl.sin(2 * ufl.pi * X[0]) * X[1] + X[0] * X[1]
    else:
        kappa = ufl.exp(KLField(n_modes=4, correlation_length=0.3).log_kappa_ufl([1.0, -1.5, 0.8, 2.0], X))
    f = -ufl.div(kappa * ufl.grad(exact))
    g = fem.Function(V)
    g.interpolate(fem.Expression(exact, V.element.interpolation_points))
    mesh.topology.create_connectivity(1, 2)
    dofs = fem.locate_dofs_topological(V, 1, m.mesh.exterior_facet_indices(mesh.topology))
    uh, _ = solve_diffusion(V, kappa, f, [fem.dirichletbc(g, dofs)], options=options)
    dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": 2 * degree + 4})
    e = uh - exact
    l2 = fem.assemble_scalar(fem.form(e**2 * dx))
    h1 = fem.assemble_scalar(fem.form(ufl.inner(ufl.grad(e), ufl.grad(e)) * dx))
    return math.sqrt(l2), math.sqrt(h1)


def _orders(errors: list[float]) -> np.ndarray:
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


@pytest.mark.parametrize("kappa_kind", ["smooth", "kl"])
@pytest.mark.parametrize(("degree", "l2_order", "h1_order"), [(1, 1.9, 0.95), (2, 2.85, 1.9)])
def test_lagrange_orders(degree, l2_order, h1_order, kappa_kind):
    errs = [_errors(n, degree, kappa_kind) for n in SIZES]
    l2, h1 = _orders([e[0] for e in errs]), _orders([e[1] for e in errs])
    assert np.all(l2 > l2_order), f"P{degree} L2 orders {l2} (errors {[e[0] for e in errs]})"
    assert np.all(h1 > h1_order), f"P{degree} H1 orders {h1}"
    assert np.all(l2 < degree + 1.3)  # not suspiciously fast either


def test_iterative_solver_gives_the_same_discrete_solution():
    direct = _errors(16, 2, "smooth")
    cg = _errors(16, 2, "smooth", SolverOptions(method="cg", preconditioner="gamg", rtol=1e-12))
    assert cg[0] == pytest.approx(direct[0], rel=1e-6)
