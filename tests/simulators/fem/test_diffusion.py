"""The FEniCSx diffusion simulator: closed forms, conservation, the KL field, the contract, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.data import validate  # noqa: E402
from sciml.errors import ConfigError, ParameterError, SimulationError  # noqa: E402
from sciml.simulators.fem.diffusion import DiffusionSimulator, KLField  # noqa: E402
from sciml.simulators.registry import build_simulator  # noqa: E402
from sciml.testing import check_simulator  # noqa: E402

pytestmark = pytest.mark.fem


def test_contract():
    check_simulator(DiffusionSimulator(resolution=8, grid=9, points={"centre": (0.5, 0.5)}))


@pytest.mark.parametrize("degree", [1, 2])
def test_constant_kappa_matches_the_closed_form(degree):
    """xi = 0: u = uL + (uR - uL) x + s x (1 - x) / (2 k), a quadratic (P2 exact; P1 nodally exact)."""
    k, s, ul, ur = 2.0, 3.0, 1.0, 0.5
    sim = DiffusionSimulator(resolution=8, degree=degree, grid=9, kappa_scale=k, u_left=ul, u_right=ur)
    ds = validate(sim.run({"source": s}, seed=0, n_samples=2))
    x = ds.x.values[:, None]
    exact = ul + (ur - ul) * x + s * x * (1 - x) / (2 * k) + 0 * ds.y.values[None, :]
    np.testing.assert_allclose(ds.u.values[:, 0], np.broadcast_to(exact, (2, 9, 9)), atol=1e-12)
    np.testing.assert_allclose(ds.kappa.values, k, rtol=1e-15)
    assert ds.outflow_right.values == pytest.approx([-k * (ur - ul) + s / 2] * 2, abs=1e-11)
    assert ds.outflow_left.values == pytest.approx([k * (ur - ul) + s / 2] * 2, abs=1e-11)
    if degree == 2:  # int u dx is exact for the P2 solution
        assert ds.u_mean.values == pytest.approx([(ul + ur) / 2 + s / (12 * k)] * 2, abs=1e-12)
    assert ds.t.values.tolist() == [0.0] and ds.u_mean.attrs["role"] == "qoi"


@pytest.mark.parametrize("degree", [1, 2])
def test_fluxes_balance_the_source_to_round_off(degree):
    sim = DiffusionSimulator(resolution=10, degree=degree, grid=5, n_modes=6, sigma=1.5)
    params = {"xi_1": 1.2, "xi_2": -2.5, "xi_3": 0.7, "xi_4": 3.0, "xi_5": -1.0, "xi_6": 0.4, "source": 4.0}
    ds = sim.run(params, seed=0)
    assert float(ds.outflow_left[0] + ds.outflow_right[0]) == pytest.approx(4.0, abs=1e-11)
    assert ds.kappa.values.max() / ds.kappa.values.min() > 5  # the coefficient does vary


def test_kl_field_eigenpairs():
    field = KLField(n_modes=6, correlation_length=0.4, sigma=1.3)
    modes = field.modes()
    assert [(j, k) for j, k, _ in modes[:3]] == [(0, 0), (0, 1), (1, 0)]
    lam = np.array([m[2] for m in modes])
    assert np.all(np.diff(lam) <= 0)
    r = math.exp(-0.5 * (math.pi * 0.4) ** 2)
    assert lam[1] / lam[0] == pytest.approx(r, rel=1e-14) and lam[3] / lam[0] == pytest.approx(r**2, rel=1e-14)
    # the untruncated expansion has domain-averaged variance sigma^2
    everything = KLField(n_modes=400, correlation_length=0.4, sigma=1.3).modes()
    assert sum(m[2] for m in everything) == pytest.approx(1.3**2, rel=1e-12)
    # unit coefficient of one mode: g = sqrt(lambda) phi, phi orthonormal in L2 (Gauss-Legendre quadrature)
    q, wq = np.polynomial.legendre.leggauss(40)
    q, wq = (q + 1) / 2, wq / 2
    X, Y = np.meshgrid(q, q, indexing="ij")
    W = np.outer(wq, wq)
    phis = [field.log_kappa(np.eye(6)[i], X, Y) / math.sqrt(lam[i]) for i in range(6)]
    gram = np.array([[np.sum(W * a * b) for b in phis] for a in phis])
    np.testing.assert_allclose(gram, np.eye(6), atol=1e-12)


def test_kappa_on_the_grid_is_the_closed_form():
    sim = DiffusionSimulator(resolution=8, grid=7, n_modes=3, correlation_length=0.5, kappa_scale=0.7)
    ds = sim.run({"xi_1": 0.5, "xi_2": -1.0, "xi_3": 2.0, "source": 0.0}, seed=0)
    lam = [m[2] for m in sim.field.modes()]
    X, Y = np.meshgrid(ds.x.values, ds.y.values, indexing="ij")
    g = (0.5 * math.sqrt(lam[0]) - 1.0 * math.sqrt(lam[1] * 2) * np.cos(np.pi * Y)
         + 2.0 * math.sqrt(lam[2] * 2) * np.cos(np.pi * X))
    np.testing.assert_allclose(ds.kappa.values[0, 0], 0.7 * np.exp(g), rtol=1e-13)
    # without a source, the maximum principle: u between the Dirichlet values 0 and 1
    assert ds.u.values.min() >= -1e-12 and ds.u.values.max() <= 1 + 1e-12


def test_deterministic_and_refinement_converges():
    params = {"xi_1": 1.0, "xi_2": -1.0, "source": 2.0}
    coarse, fine, finest = (DiffusionSimulator(resolution=n, degree=2, grid=5, n_modes=2) for n in (4, 8, 16))
    a = coarse.run(params, seed=0)
    np.testing.assert_array_equal(a.u.values, coarse.run(params, seed=7).u.values)
    q = [s.run(params, seed=0).u_mean.item() for s in (coarse, fine, finest)]
    assert abs(q[2] - q[1]) < abs(q[1] - q[0]) / 4  # u_mean converges at least at second order


def test_cost_grows_with_mesh_and_degree():
    costs = [DiffusionSimulator(resolution=n, degree=p).cost({}) for p in (1, 2) for n in (8, 16, 32)]
    assert costs[0] < costs[1] < costs[2] and costs[3] > costs[0] and costs[5] > costs[2]
    assert costs[2] / costs[1] == pytest.approx((33 / 17) ** 2)


def test_config_round_trip():
    sim = DiffusionSimulator(resolution=6, degree=2, grid=5, n_modes=3, solver={"method": "cg", "rtol": 1e-9},
                             points={"p": (0.2, 0.3)}, kappa_scale=2.0)
    assert build_simulator(sim.config()).config() == sim.config()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("resolution", [0, 0.5, -3, 2.5])
def test_mesh_resolution_below_one_or_not_an_integer(resolution):
    with pytest.raises(ParameterError, match=rf"mesh resolution must be an integer >= 1; got {resolution!r}"):
        DiffusionSimulator(resolution=resolution)
    with pytest.raises(ConfigError, match=r"mesh resolution must be an integer >= 1"):
        build_simulator({"kind": "fem_diffusion2d", "resolution": resolution})


@pytest.mark.parametrize("kappa_scale", [0.0, -1.0, math.inf])
def test_non_positive_material_parameter(kappa_scale):
    with pytest.raises(ParameterError, match=r"kappa_scale must be a finite number > 0"):
        DiffusionSimulator(kappa_scale=kappa_scale)


@pytest.mark.parametrize(("field", "value", "pattern"), [
    ("degree", 3, r"degree must be one of \[1, 2\]; got 3"),
    ("sigma", 0.0, r"sigma must be a finite number > 0"),
    ("n_modes", 0, r"n_modes must be an integer >= 1"),
    ("points", {"p": (0.5,)}, r"point 'p': expected an identifier name and finite \(x, y\)"),
])
def test_bad_constructor_fields(field, value, pattern):
    with pytest.raises(ParameterError, match=pattern):
        DiffusionSimulator(**{field: value})


def test_unknown_constructor_field_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['mesh_size'\] for simulator 'fem_diffusion2d'; "
                                          r"accepted: \[.*'resolution'"):
        build_simulator({"kind": "fem_diffusion2d", "mesh_size": 8})


def test_solver_that_does_not_converge_names_petsc_reason():
    sim = build_simulator({"kind": "fem_diffusion2d", "resolution": 16, "grid": 5,
                           "solver": {"method": "cg", "preconditioner": "jacobi", "rtol": 1e-14, "max_it": 1}})
    with pytest.raises(SimulationError, match=r"DIVERGED_MAX_IT after 1 iteration\(s\) \(method=cg, "
                                              r"preconditioner=jacobi, rtol=1e-14, max_it=1"):
        sim.run({"xi_1": 1.0}, seed=0)


def test_bad_seed():
    with pytest.raises(ParameterError, match=r"seed must be an integer >= 0; got -1"):
        DiffusionSimulator(resolution=2, grid=3).run({}, seed=-1)
