"""The FE building blocks: lazy imports, solver options, the reused KSP, sampling, the recorder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.fem import backend
from sciml.simulators.fem.solver import SolverOptions


@pytest.fixture
def m():
    """The FEniCSx modules; the test is skipped without them."""
    pytest.importorskip("dolfinx_solver")
    return backend.import_dolfinx()


# ---------------------------------------------------------------- without FEniCSx
def test_package_imports_without_loading_dolfinx():
    code = ("import sys, sciml, sciml.simulators, sciml.simulators.fem as f, sciml.simulators.fem.base, "
            "sciml.simulators.fem.diffusion, sciml.simulators.fem.parallel; "
            "print(sorted(k for k in ('dolfinx', 'petsc4py', 'ufl') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_fenicsx_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dolfinx_solver", None)
    backend.import_dolfinx.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'sciml\[fem\]'"):
            backend.import_dolfinx()
        assert backend.is_available() is False
    finally:
        backend.import_dolfinx.cache_clear()


@pytest.mark.parametrize(("options", "pattern"), [
    ({"method": "qr"}, r"solver method 'qr' is not accepted; accepted: \['lu', 'cg', 'gmres'\]"),
    ({"preconditioner": "amg"}, r"preconditioner 'amg' is not accepted"),
    ({"rtol": 0.0}, r"rtol must be in \(0, 1\)"),
    ({"max_it": 0}, r"max_it must be an integer >= 1"),
    ({"tolerance": 1e-3}, r"unknown solver option\(s\) \['tolerance'\]; accepted: \['method'"),
])
def test_bad_solver_options(options, pattern):
    with pytest.raises(ParameterError, match=pattern):
        SolverOptions.from_config(options)


# ---------------------------------------------------------------- with FEniCSx
def _poisson(m, n=12, degree=1, kappa=1.0):
    """-div(kappa grad u) = f on the unit square, u = g (a Function) on the boundary."""
    mesh = m.mesh.create_unit_square(m.MPI.COMM_SELF, n, n)
    V = m.fem.functionspace(mesh, ("Lagrange", degree))
    ufl = m.ufl
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    k = m.fem.Constant(mesh, kappa)
    g = m.fem.Function(V)
    mesh.topology.create_connectivity(1, 2)
    dofs = m.fem.locate_dofs_topological(V, 1, m.mesh.exterior_facet_indices(mesh.topology))
    bc = m.fem.dirichletbc(g, dofs)
    X = ufl.SpatialCoordinate(mesh)
    sources = [ufl.sin(j * ufl.pi * X[0]) * X[1] + j for j in (1, 2, 3)]
    return mesh, V, k * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, [s * v * ufl.dx for s in sources], g, bc, k


@pytest.mark.fem
@pytest.mark.parametrize("options", [SolverOptions(), SolverOptions(method="cg", preconditioner="gamg", rtol=1e-12)])
def test_one_ksp_solves_many_right_hand_sides_as_fresh_solves(m, options):
    from sciml.simulators.fem.solver import LinearSolver

    mesh, V, a, Ls, g, bc, _ = _poisson(m)
    g.interpolate(lambda x: 1.0 + x[0] * x[1])
    solver = LinearSolver(a, [bc], options=options)
    ksp = solver.ksp
    b = None
    for L in Ls:
        b = solver.rhs(m.fem.form(L), b)  # the same vector, re-assembled
        u = m.fem.Function(V)
        solver.solve(b, u)
        fresh = LinearSolver(a, [bc], options=options)
        u_fresh = m.fem.Function(V)
        fresh.solve(fresh.rhs(L), u_fresh)
        tol = 1e-12 if options.method == "lu" else 1e-9
        np.testing.assert_allclose(u.x.array, u_fresh.x.array, rtol=0, atol=tol * np.abs(u_fresh.x.array).max())
        fresh.destroy()
    assert solver.ksp is ksp and solver.n_solves == 3
    assert solver.last_reason == ("CONVERGED_ITS" if options.method == "lu" else "CONVERGED_RTOL")


@pytest.mark.fem
def test_new_dirichlet_values_and_reassembly_need_no_new_solver(m):
    from sciml.simulators.fem.solver import LinearSolver

    mesh, V, a, Ls, g, bc, k = _poisson(m)
    solver = LinearSolver(a, [bc])
    results = []
    for value, kappa in ((1.0, 1.0), (2.0, 1.0), (2.0, 3.0)):
        g.x.array[:] = value
        if kappa != k.value:
            k.value = kappa
            solver.reassemble()
        u = m.fem.Function(V)
        solver.solve(solver.rhs(Ls[0]), u)
        fresh = LinearSolver(a, [bc])
        u_fresh = m.fem.Function(V)
        fresh.solve(fresh.rhs(Ls[0]), u_fresh)
        np.testing.assert_allclose(u.x.array, u_fresh.x.array, rtol=0, atol=1e-12)
        results.append(u.x.array.copy())
    # boundary values follow g; kappa = 3 divides the source part by 3
    assert not np.allclose(results[0], results[1]) and not np.allclose(results[1], results[2])


@pytest.mark.fem
def test_a_ksp_that_does_not_converge_names_petsc_reason(m):
    from sciml.simulators.fem.solver import LinearSolver, converged_reason_name

    mesh, V, a, Ls, g, bc, _ = _poisson(m, n=16)
    solver = LinearSolver(a, [bc], options=SolverOptions(method="cg", preconditioner="none", rtol=1e-14, max_it=1))
    with pytest.raises(SimulationError, match=r"did not converge: DIVERGED_MAX_IT after 1 iteration"):
        solver.solve(solver.rhs(Ls[0]), m.fem.Function(V))
    assert converged_reason_name(-3) == "DIVERGED_MAX_IT" and converged_reason_name(2) == "CONVERGED_RTOL"


@pytest.mark.fem
def test_grid_and_point_sampling_are_exact_for_polynomials_in_the_space(m):
    from sciml.simulators.fem.base import Recorder
    from sciml.simulators.fem.sampling import GridSampler, PointSampler, regular_grid

    mesh = m.mesh.create_unit_square(m.MPI.COMM_SELF, 7, 5)
    s = m.fem.Function(m.fem.functionspace(mesh, ("Lagrange", 1)))
    s.interpolate(lambda x: 1.0 + 2.0 * x[0] - 3.0 * x[1])
    w = m.fem.Function(m.fem.functionspace(mesh, ("Lagrange", 2, (2,))))
    w.interpolate(lambda x: np.stack([x[0] ** 2, x[0] * x[1] - x[1] ** 2]))
    x, y = regular_grid((0, 1, 0, 1), (11, 13))
    X, Y = np.meshgrid(x, y, indexing="ij")
    grid = GridSampler(mesh, x, y)
    np.testing.assert_allclose(grid(s), 1.0 + 2.0 * X - 3.0 * Y, atol=1e-13)
    np.testing.assert_allclose(grid(w), np.stack([X**2, X * Y - Y**2], axis=-1), atol=1e-13)
    points = PointSampler(mesh, {"a": (0.25, 0.5), "outside": (1.5, 0.5)})
    assert points.found == {"a": True, "outside": False}
    values = points(s)
    assert values["a"] == pytest.approx(1.0 + 0.5 - 1.5, abs=1e-13) and np.isnan(values["outside"])
    rec = Recorder(grid, PointSampler(mesh, {"a": (0.25, 0.5)}))
    rec.record(0.0, {"s": s, "w": w})
    rec.record(0.5, {"s": s, "w": w})
    out = rec.result({"q": 2})
    assert sorted(out.fields) == ["s", "w_x", "w_y"] and out.fields["w_y"].shape == (2, 11, 13)
    assert sorted(out.series) == ["s_at_a", "w_x_at_a", "w_y_at_a"]
    np.testing.assert_allclose(out.series["w_x_at_a"], [0.0625, 0.0625], atol=1e-13)
    np.testing.assert_array_equal(out.times, [0.0, 0.5])
    assert out.qois == {"q": 2.0}


@pytest.mark.fem
def test_resolve_comm(m):
    assert backend.resolve_comm(None) is m.MPI.COMM_SELF
    assert backend.resolve_comm("world") is m.MPI.COMM_WORLD
    with pytest.raises(ValueError, match=r"comm must be None, 'self', 'world'"):
        backend.resolve_comm("everyone")
