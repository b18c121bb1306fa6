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


# ---------------------------------------------------------------- package exports
def test_every_export_resolves_to_its_module_without_loading_dolfinx():
    code = ("import sys, sciml.simulators.fem as f; names = [getattr(f, k) for k in f.__all__]; "
            "print(sorted(k for k in ('dolfinx', 'petsc4py', 'ufl') if k in sys.modules), len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import sciml.simulators.fem as fem

    assert out.stdout.split() == ["[]", str(len(fem.__all__))]
    for name, module in fem._EXPORTS.items():
        mod = __import__(f"sciml.simulators.fem.{module}", fromlist=[name])
        assert name in mod.__all__ and getattr(fem, name) is getattr(mod, name), name
    for name in ("PlateDynamicsSimulator", "PlateSubmodel", "Newmark", "EnergyBalance", "interface_histories",
                 "create_plate_mesh", "PlateGeometry", "check_histories"):
        assert name in fem.__all__
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        fem.Nope  # noqa: B018


# ---------------------------------------------------------------- the run of the base
class _Constant:
    """Factory of a tiny FESimulator: ``u = c * scale`` per sample, ``scales`` an extra input of ``run``."""

    @staticmethod
    def make(check: bool = True, **kwargs):
        from sciml.simulators.base import Parameter, ParameterSpace
        from sciml.simulators.fem.base import FESimulator

        class Constant(FESimulator):
            name, version = "test_constant", "0"
            PARAMETERS = ParameterSpace((Parameter("c", 0.0, 2.0, default=1.0),))
            QOI_ATTRS = {"u_max": {"long_name": "largest u"}}

            def create_mesh(self, comm):
                m = backend.import_dolfinx()
                return m.mesh.create_unit_square(comm, self.resolution, self.resolution)

            def check_inputs(self, params, n_samples, comm, *, scales=None):
                s = np.ones(1) if scales is None else np.asarray(scales, dtype=float)
                if check and s.shape not in ((1,), (n_samples,)):
                    raise ParameterError(f"scales has shape {s.shape}; expected (1,) or ({n_samples},)")
                return {"scales": s}, {"scales": repr(s.tolist())}

            def solve(self, mesh, params, rngs, *, scales):
                u = backend.import_dolfinx().fem.Function(self.function_space(mesh))
                out = []
                for s in scales:
                    u.x.array[:] = params["c"] * s
                    rec = self.recorder(mesh)
                    rec.record(0.0, {"u": u})
                    out.append(rec.result({"u_max": u.x.array.max()}))
                return out

        return Constant(**{"resolution": 2, "grid": 3, "points": {"p": (0.5, 0.5)}, **kwargs})


@pytest.mark.fem
def test_run_forwards_extra_inputs_to_solve_and_records_them(m):
    from sciml.data import validate

    sim = _Constant.make()
    plain = validate(sim.run({"c": 1.5}, seed=0, n_samples=2))  # the protocol's call: no extra input
    np.testing.assert_allclose(plain.u.values, 1.5, rtol=1e-15)
    np.testing.assert_allclose(plain.u_at_p.values, 1.5, rtol=1e-15)
    assert plain.attrs["scales"] == "[1.0]"
    ds = validate(sim.run({"c": 1.5}, seed=0, n_samples=3, scales=[1.0, 2.0, 4.0]))
    np.testing.assert_allclose(ds.u_max.values, [1.5, 3.0, 6.0], rtol=1e-15)
    np.testing.assert_allclose(ds.u.values[:, 0, 1, 1], [1.5, 3.0, 6.0], rtol=1e-15)
    assert ds.attrs["scales"] == "[1.0, 2.0, 4.0]" and ds.u_max.attrs["role"] == "qoi"
    with pytest.raises(ParameterError, match=r"scales has shape \(2,\); expected \(1,\) or \(3,\)"):
        sim.run({"c": 1.5}, seed=0, n_samples=3, scales=[1.0, 2.0])
    with pytest.raises(SimulationError, match=r"test_constant: solve returned 2 result\(s\) for n_samples=3"):
        _Constant.make(check=False).run({"c": 1.5}, seed=0, n_samples=3, scales=[1.0, 2.0])


@pytest.mark.fem
def test_a_simulator_without_extra_inputs_rejects_them_by_name(m):
    from sciml.simulators.fem.diffusion import DiffusionSimulator

    with pytest.raises(ParameterError, match=r"fem_diffusion2d: unexpected input\(s\) \['bogus', 'interface'\]"):
        DiffusionSimulator(resolution=2, grid=3).run({}, seed=0, interface=1, bogus=2)


def _dataset_one_variable_at_a_time(sim, results, params, seed):
    """The dataset as the base assembled it before: the field dataset, then one variable at a time."""
    import xarray as xr

    from sciml.data.schema import field_dataset, provenance_attrs

    first, n = results[0], len(results)
    x, y = sim.grid_coordinates()
    ds = field_dataset(
        {k: np.stack([r.fields[k] for r in results]) for k in first.fields}, coords={"t": first.times, "x": x, "y": y},
        parameters={k: np.full(n, v) for k, v in params.items()}, field_attrs=sim.FIELD_ATTRS,
        coord_attrs=sim._coord_attrs(first.times),
        parameter_attrs={p.name: {"units": p.units, "long_name": p.description or p.name} for p in sim.parameter_space},
        attrs=provenance_attrs(generator=sim.name, generator_version=sim.version,
                               parameters={"config": sim.config(), "params": params}, seed=seed))
    for k in first.series:
        attrs = {"units": "1", "long_name": k, **sim.FIELD_ATTRS.get(k.split("_at_")[0], {}), "role": "series"}
        ds[k] = xr.Variable(("sample", "t"), np.stack([r.series[k] for r in results]), attrs=attrs)
    for k in first.qois:
        ds[k] = xr.Variable(("sample",), np.array([r.qois[k] for r in results]),
                            attrs={"units": "1", "long_name": k, **sim.QOI_ATTRS.get(k, {}), "role": "qoi"})
    return ds


@pytest.mark.fem
def test_the_dataset_built_in_one_call_equals_the_one_built_variable_by_variable(m):
    import xarray as xr

    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    sim = PlateDynamicsSimulator(resolution=2, n_steps=4, t_final=1.0, grid=4, interface_points=8,
                                 points={"hole_top": (0.0, 0.25)})
    params = sim.parameter_space.validate({"angle": 0.3}, source=sim.name)
    results = sim.solve(sim.create_mesh(backend.resolve_comm(None)), params, [None])
    results = [results[0], results[0]]
    new, old = sim._dataset(results, params, 3), _dataset_one_variable_at_a_time(sim, results, params, 3)
    for ds in (new, old):
        ds.attrs.pop("created")
    xr.testing.assert_identical(new, old)
    assert list(new.data_vars) == list(old.data_vars) and len(new.data_vars) == 2 + 6 + 2 * 9 + 2 + 2
    assert all(new[k].attrs == old[k].attrs for k in new.variables)


@pytest.mark.fem
def test_converged_reason_names_are_cached_and_match_petsc(m):
    from sciml.simulators.fem.solver import converged_reason_name, converged_reason_names

    reasons = m.PETSc.KSP.ConvergedReason
    table = converged_reason_names()
    assert converged_reason_names() is table  # built once
    for name in (n for n in dir(reasons) if n.isupper()):
        value = getattr(reasons, name)
        shortest = min((n for n in dir(reasons) if n.isupper() and getattr(reasons, n) == value), key=len)
        assert table[value] == shortest == converged_reason_name(value)
    assert converged_reason_name(-9) == "DIVERGED_NANORINF" and converged_reason_name(-99) == "UNKNOWN_REASON_-99"
