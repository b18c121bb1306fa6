"""The plate with a hole: mesh, the elastodynamics simulator's contract, outputs, bad input, operator reuse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.fem.plate_mesh import PlateGeometry, interface_arc_length, interface_points, plate_mesh_arrays


def _areas(points, cells):
    a, b, c = (points[cells[:, i]] for i in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _hole_polygon_area(n_sides: int, r: float) -> float:
    return 0.5 * n_sides * r**2 * math.sin(2 * math.pi / n_sides)


# ---------------------------------------------------------------- the mesh (NumPy only)
@pytest.mark.parametrize("resolution", [1, 3, 8])
def test_mesh_area_is_the_plate_minus_the_hole_polygon(resolution):
    g = PlateGeometry()
    n_hole = 4 * 2 * math.ceil(g.window_half_width * resolution)  # 4 sides x n_s segments
    for region, box in (("full", 4 * g.half_width * g.half_height), ("window", 4 * g.window_half_width**2)):
        points, cells = plate_mesh_arrays(g, resolution, region)
        areas = _areas(points, cells)
        assert areas.min() > 0  # counter-clockwise, no degenerate cell
        assert areas.sum() == pytest.approx(box - _hole_polygon_area(n_hole, g.hole_radius), rel=1e-14)
        assert np.unique(cells).size == points.shape[0]  # no unused vertex


def test_mesh_is_conforming_and_the_window_mesh_is_the_window_of_the_full_mesh():
    g = PlateGeometry()
    full_p, full_c = plate_mesh_arrays(g, 8, "full")
    win_p, win_c = plate_mesh_arrays(g, 8, "window")
    edges = np.sort(np.concatenate([full_c[:, [0, 1]], full_c[:, [1, 2]], full_c[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() == 2  # every edge in one or two triangles: no hanging node
    boundary = np.unique(edges, axis=0)[counts == 1]
    n_s = 2 * math.ceil(g.window_half_width * 8)
    length = np.linalg.norm(full_p[boundary[:, 0]] - full_p[boundary[:, 1]], axis=1).sum()
    hole = 4 * n_s * 2 * g.hole_radius * math.sin(math.pi / (4 * n_s))
    assert length == pytest.approx(4 * (g.half_width + g.half_height) + hole, rel=1e-13)
    # the window's vertices and triangles are those of the full mesh's window, bit for bit
    np.testing.assert_array_equal(full_p[: win_p.shape[0]], win_p)
    inside = np.all(np.max(np.abs(full_p[full_c]), axis=2) <= g.window_half_width * (1 + 1e-12), axis=1)
    np.testing.assert_array_equal(np.sort(np.sort(full_c[inside], axis=1), axis=0), np.sort(np.sort(win_c, axis=1),
                                                                                              axis=0))


def test_interface_points_and_arc_length_round_trip():
    g = PlateGeometry()
    s, xy = interface_points(g, 16)
    assert xy[0].tolist() == [g.window_half_width, 0.0]
    np.testing.assert_allclose(np.max(np.abs(xy), axis=1), g.window_half_width, rtol=1e-15)
    np.testing.assert_allclose(interface_arc_length(xy, g.window_half_width), s, atol=1e-15)
    np.testing.assert_allclose(np.diff(s), g.interface_length / 16, rtol=1e-13)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"resolution": 0}, r"mesh resolution must be an integer >= 1; got 0"),
    ({"resolution": 2.5}, r"mesh resolution must be an integer >= 1; got 2.5"),
    ({"resolution": True}, r"mesh resolution must be an integer >= 1; got True"),
    ({"region": "notch"}, r"region 'notch' is not accepted; accepted: \['full', 'window'\]"),
])
def test_bad_mesh_input(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        plate_mesh_arrays(PlateGeometry(), **{"resolution": 4, **kwargs})


@pytest.mark.parametrize(("fields", "pattern"), [
    ({"hole_radius": 0.0}, r"hole_radius must be a finite number > 0; got 0.0"),
    ({"hole_radius": 0.4}, r"need hole_radius < window_half_width < min\(half_width, half_height\)"),
    ({"window_half_width": 0.6}, r"need hole_radius < window_half_width"),
])
def test_bad_geometry(fields, pattern):
    with pytest.raises(ParameterError, match=pattern):
        PlateGeometry(**fields)


# ---------------------------------------------------------------- with FEniCSx
fem = pytest.mark.fem
SMALL = {"resolution": 4, "n_steps": 12, "t_final": 2.4, "grid": 5, "interface_points": 8}


def _simulators():
    pytest.importorskip("dolfinx_solver")
    from sciml.simulators.fem import elastodynamics

    return elastodynamics


@fem
def test_mesh_tags_measure_the_sides_the_hole_and_the_interface():
    pytest.importorskip("dolfinx_solver")
    from sciml.simulators.fem.backend import import_dolfinx
    from sciml.simulators.fem.plate_mesh import (BOTTOM, HOLE, INTERFACE, LEFT, RIGHT, TOP, WINDOW,
                                                 create_plate_mesh)

    m = import_dolfinx()
    g = PlateGeometry()
    pm = create_plate_mesh(g, 8)
    one = m.fem.Constant(pm.mesh, 1.0)
    ds = m.ufl.Measure("ds", domain=pm.mesh, subdomain_data=pm.facet_tags)
    dS = m.ufl.Measure("dS", domain=pm.mesh, subdomain_data=pm.facet_tags)
    dx = m.ufl.Measure("dx", domain=pm.mesh, subdomain_data=pm.cell_tags)
    n_hole = 4 * 2 * math.ceil(g.window_half_width * 8)
    value = {tag: m.fem.assemble_scalar(m.fem.form(one * ds(tag))) for tag in (LEFT, RIGHT, BOTTOM, TOP, HOLE)}
    assert value[LEFT] == pytest.approx(2 * g.half_height, rel=1e-14) == value[RIGHT]
    assert value[TOP] == pytest.approx(2 * g.half_width, rel=1e-14) == value[BOTTOM]
    assert value[HOLE] == pytest.approx(n_hole * 2 * g.hole_radius * math.sin(math.pi / n_hole), rel=1e-14)
    interface = m.fem.assemble_scalar(m.fem.form(m.ufl.avg(one) * dS(INTERFACE)))
    assert interface == pytest.approx(g.interface_length, rel=1e-14)
    window = m.fem.assemble_scalar(m.fem.form(one * dx(WINDOW)))
    assert window == pytest.approx(4 * g.window_half_width**2 - _hole_polygon_area(n_hole, g.hole_radius), rel=1e-14)
    sub = create_plate_mesh(g, 8, region="window")
    ds_sub = m.ufl.Measure("ds", domain=sub.mesh, subdomain_data=sub.facet_tags)
    one_sub = m.fem.Constant(sub.mesh, 1.0)
    assert m.fem.assemble_scalar(m.fem.form(one_sub * ds_sub(INTERFACE))) == pytest.approx(interface, rel=1e-14)


@fem
def test_contract():
    from sciml.testing import check_simulator

    ed = _simulators()
    check_simulator(ed.PlateDynamicsSimulator(**SMALL, points={"tip": (0.9, 0.0)}))


@fem
def test_outputs_layout_and_linearity_in_the_amplitude():
    ed = _simulators()
    from sciml.data import validate

    sim = ed.PlateDynamicsSimulator(**SMALL)
    ds = validate(sim.run({"amplitude": 1e-3, "angle": 0.3}, seed=0, n_samples=2))
    h = ed.interface_histories(ds)
    assert h.shape == (2, 13, 8, 2) == (2, *sim.history_shape)
    np.testing.assert_array_equal(h[:, :, 3, 1], ds["u_y_at_interface_003"].values)
    assert h[:, 0].max() == 0.0 and np.abs(h).max() > 1e-6  # at rest at t = 0, moving later
    s, xy = sim.interface_coordinates()
    attrs = ds["u_x_at_interface_002"].attrs
    assert (attrs["arc_length"], attrs["point_x"], attrs["point_y"]) == (s[2], xy[2, 0], xy[2, 1])
    assert ds.peak_von_mises.attrs["role"] == "qoi" and ds.von_mises_max.dims == ("sample", "t")
    assert ds.peak_von_mises.values[0] >= ds.von_mises_max.values[0].max() > 0
    assert ds.t.values[-1] == pytest.approx(2.4, rel=1e-14)
    # linear elasticity: twice the load, twice every output (exactly up to round-off)
    ds2 = sim.run({"amplitude": 2e-3, "angle": 0.3}, seed=0)
    np.testing.assert_allclose(ed.interface_histories(ds2)[0], 2 * h[0], rtol=1e-11, atol=1e-13 * np.abs(h).max())
    for q in ("peak_von_mises", "max_displacement"):
        assert ds2[q].values[0] == pytest.approx(2 * ds[q].values[0], rel=1e-11)


@fem
def test_reusing_the_operator_equals_reassembling_every_step():
    ed = _simulators()
    params = {"E": 1.3, "nu": 0.25, "duration": 0.4, "angle": -0.2}
    reuse = ed.PlateDynamicsSimulator(**SMALL).run(params, seed=0)
    again = ed.PlateDynamicsSimulator(**SMALL, reassemble=True).run(params, seed=0)
    for name in ("u_x", "u_y", "von_mises_max", "peak_von_mises"):
        scale = np.abs(reuse[name].values).max()
        assert scale > 0
        np.testing.assert_allclose(again[name].values, reuse[name].values, rtol=0, atol=1e-12 * scale)


@fem
@pytest.mark.parametrize(("params", "pattern"), [
    ({"E": -1.0}, r"E=-1 is out of range; accepted: E in \[0.5, 2\]"),
    ({"E": 0.0}, r"E=0 is out of range"),
    ({"nu": 0.5}, r"nu=0.5 is out of range; accepted: nu in \[0.05, 0.45\]"),
    ({"rho": 0.0}, r"rho=0 is out of range"),
])
def test_non_positive_material_parameters_are_rejected(params, pattern):
    ed = _simulators()
    with pytest.raises(ParameterError, match=pattern):
        ed.PlateDynamicsSimulator(**SMALL).run(params, seed=0)


@pytest.mark.parametrize(("fields", "pattern"), [
    ({"E": 0.0, "nu": 0.3, "rho": 1.0}, r"Young's modulus E must be a finite number > 0; got 0.0"),
    ({"E": 1.0, "nu": 0.5, "rho": 1.0}, r"Poisson ratio nu must be in \(0, 0.5\); got 0.5"),
    ({"E": 1.0, "nu": 0.3, "rho": -2.0}, r"density rho must be a finite number > 0; got -2.0"),
    ({"E": 1.0, "nu": 0.3, "rho": 1.0, "plane": "shell"}, r"plane 'shell' is not accepted"),
])
def test_bad_material(fields, pattern):
    from sciml.simulators.fem.elastodynamics import ElasticMaterial

    with pytest.raises(ParameterError, match=pattern):
        ElasticMaterial(**fields)


def test_plane_stress_and_plane_strain_lame_parameters():
    from sciml.simulators.fem.elastodynamics import ElasticMaterial

    E, nu = 2.0, 0.25
    assert ElasticMaterial(E, nu, 1.0).lam == pytest.approx(E * nu / (1 - nu**2), rel=1e-15)
    strain = ElasticMaterial(E, nu, 1.0, plane="strain")
    assert strain.lam == pytest.approx(E * nu / ((1 + nu) * (1 - 2 * nu)), rel=1e-15)
    assert strain.mu == pytest.approx(E / (2 * (1 + nu)), rel=1e-15)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"resolution": 0}, r"mesh resolution must be an integer >= 1; got 0"),
    ({"n_steps": 10, "record_every": 3}, r"record_every=3 must divide n_steps=10"),
    ({"t_final": -1.0}, r"t_final must be a finite number > 0"),
    ({"interface_points": 2}, r"interface_points must be an integer >= 4; got 2"),
    ({"plane": "shell"}, r"plane 'shell' is not accepted; accepted: \['stress', 'strain'\]"),
    ({"alpha_k": -0.1}, r"Rayleigh alpha_k must be a finite number >= 0"),
    ({"geometry": {"radius": 0.1}}, r"unknown geometry field\(s\) \['radius'\]; accepted: \['half_width'"),
    ({"points": {"interface_001": (0.5, 0.0)}}, r"point names \['interface_001'\] are reserved"),
])
def test_bad_options(kwargs, pattern):
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    with pytest.raises(ParameterError, match=pattern):
        PlateDynamicsSimulator(**kwargs)


def test_modules_import_without_loading_fenicsx():
    import subprocess
    import sys

    code = ("import sys, sciml.simulators.fem.plate_mesh, sciml.simulators.fem.newmark, "
            "sciml.simulators.fem.elastodynamics, sciml.simulators.fem.submodel; "
            "print(sorted(k for k in ('dolfinx', 'petsc4py', 'ufl', 'basix') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_round_trip_without_fenicsx_imports():
    from sciml.errors import ConfigError
    from sciml.simulators.registry import build_simulator

    sim = build_simulator({"kind": "fem_plate_dynamics", **SMALL, "alpha_m": 0.1})
    assert build_simulator(sim.config()).config() == sim.config()
    sub = build_simulator({"kind": "fem_plate_submodel", **SMALL})
    assert sub.history_shape == sim.history_shape == (13, 8, 2)
    assert sim.cost({}) > sub.cost({}) > 0
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['mesh_size'\]"):
        build_simulator({"kind": "fem_plate_dynamics", "mesh_size": 0.1})
