"""Newmark average acceleration: discrete energy conservation and balance, modal exactness, second order."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.errors import ParameterError  # noqa: E402
from sciml.simulators.fem.backend import import_dolfinx  # noqa: E402
from sciml.simulators.fem.elastodynamics import ElasticForms, ElasticMaterial, TractionPulse  # noqa: E402
from sciml.simulators.fem.newmark import Newmark, NewmarkScheme, RayleighDamping  # noqa: E402
from sciml.simulators.fem.plate_mesh import LEFT, RIGHT, PlateGeometry, create_plate_mesh  # noqa: E402

pytestmark = pytest.mark.fem


@pytest.fixture(scope="module")
def plate():
    """A coarse 2 x 1 plate with a hole, its P1 vector space, elastic forms and the clamped left side."""
    m = import_dolfinx()
    pm = create_plate_mesh(PlateGeometry(half_width=1.0), 4)
    V = m.fem.functionspace(pm.mesh, ("Lagrange", 1, (2,)))
    forms = ElasticForms(V, ElasticMaterial(E=1.0, nu=0.3, rho=1.0))
    left = m.fem.locate_dofs_topological(V, 1, pm.facets(LEFT))
    return m, pm, V, forms, left


def _initial_displacement(m, V):
    u0 = m.fem.Function(V)
    u0.interpolate(lambda x: np.stack([0.01 * (x[0] + 1) ** 2, 0.02 * (x[0] + 1) * np.sin(3 * x[1])]))
    return u0


def _integrator(plate, damping=None, **kwargs):
    m, _, V, forms, left = plate
    bc = m.fem.dirichletbc(np.zeros(2), left, V)
    return Newmark(forms.stiffness, forms.mass, [bc], scheme=NewmarkScheme(dt=kwargs.pop("dt", 0.05)),
                   damping=damping, **kwargs)


def test_undamped_free_vibration_conserves_energy_to_round_off(plate):
    m, _, V, _, _ = plate
    nm = _integrator(plate)
    nm.initialize(_initial_displacement(m, V))
    nm.run(60)
    energy = nm.energy.energy
    per_step = np.abs(np.diff(energy)) / energy[0]
    assert per_step.max() < 1e-10
    assert energy[0] > 0 and nm.energy.kinetic[0] == 0.0 and max(nm.energy.kinetic) > 0.1 * energy[0]
    assert np.abs(nm.energy.residual).max() < 1e-12 * energy[0]


def test_damped_energy_decreases_by_exactly_the_dissipation(plate):
    m, _, V, _, _ = plate
    nm = _integrator(plate, RayleighDamping(alpha_m=0.1, alpha_k=0.01))
    nm.initialize(_initial_displacement(m, V))
    nm.run(60)
    e = nm.energy
    energy, dissipation = e.energy, np.asarray(e.dissipation)
    assert energy[-1] < 0.7 * energy[0]  # damping does work ...
    np.testing.assert_allclose(energy[0] - energy, dissipation, rtol=0, atol=1e-12 * energy[0])  # ... exactly
    assert np.all(np.diff(energy) < 0) and np.all(np.diff(dissipation) > 0)


def test_work_of_the_loads_and_of_moving_dirichlet_data_balance_the_energy(plate):
    """From rest: E_n = W_ext + W_bc - D, with a traction pulse and a moving clamped side."""
    m, pm, V, forms, left = plate
    g = m.fem.Function(V)
    bc = m.fem.dirichletbc(g, left)

    def move(t: float) -> None:
        g.x.array.reshape(-1, 2)[left] = [1e-3 * math.sin(2 * t), 5e-4 * (1 - math.cos(3 * t))]

    pulse = TractionPulse(amplitude=1e-3, duration=0.5, angle=0.3)
    ds = m.ufl.Measure("ds", domain=pm.mesh, subdomain_data=pm.facet_tags)
    load = m.ufl.inner(m.fem.Constant(pm.mesh, pulse.direction), m.ufl.TestFunction(V)) * ds(RIGHT)
    nm = Newmark(forms.stiffness, forms.mass, [bc], scheme=NewmarkScheme(dt=0.05),
                 damping=RayleighDamping(0.05, 0.01), loads=[(load, pulse)], dirichlet=move)
    nm.initialize()
    nm.run(40)
    e = nm.energy
    scale = max(e.energy)
    assert abs(e.external_work[-1]) > 0.01 * scale and abs(e.boundary_work[-1]) > 0.01 * scale
    assert e.dissipation[-1] > 0.01 * scale
    assert np.abs(e.residual).max() < 1e-11 * scale
    t = nm.t
    assert t == pytest.approx(2.0, rel=1e-14)
    np.testing.assert_allclose(g.x.array.reshape(-1, 2)[left], [[1e-3 * math.sin(2 * t), 5e-4 * (1 - math.cos(3 * t))]]
                               * len(left), rtol=1e-12)
    np.testing.assert_allclose(nm.u.x.array.reshape(-1, 2)[left], g.x.array.reshape(-1, 2)[left], rtol=1e-12)


@pytest.fixture(scope="module")
def modes(plate):
    """Generalised eigenpairs ``K phi = omega^2 M phi`` on the free dofs (M-orthonormal), and ``M``."""
    from scipy.linalg import eigh
    from scipy.sparse import csr_matrix

    nm = _integrator(plate, track_energy=False)
    K, M = (csr_matrix(A.getValuesCSR()[::-1], shape=A.getSize()).toarray() for A in (nm.K, nm.M))
    free = np.setdiff1d(np.arange(K.shape[0]), nm.bcs[0].dof_indices()[0])
    w2, phi = eigh(K[np.ix_(free, free)], M[np.ix_(free, free)], subset_by_index=[0, 5])
    nm.destroy()
    return free, np.sqrt(w2), phi, M[np.ix_(free, free)]


def _modal_history(plate, modes, mode: int, dt: float, n_steps: int, damping=None):
    """Coordinate of mode ``mode`` along ``n_steps`` steps starting from that mode at rest."""
    m, _, V, _, _ = plate
    free, omega, phi, M = modes
    nm = _integrator(plate, damping, dt=dt, track_energy=False)
    u0 = m.fem.Function(V)
    u0.x.array[free] = phi[:, mode]
    nm.initialize(u0)
    coords = [1.0]
    for _ in range(n_steps):
        nm.step()
        coords.append(float(phi[:, mode] @ M @ nm.u.x.array[free]))
    nm.destroy()
    return omega[mode], np.asarray(coords)


def test_a_mode_oscillates_at_the_exact_discrete_frequency(plate, modes):
    """Average acceleration = trapezoidal rule: q_n = cos(n theta), theta = 2 arctan(omega dt / 2)."""
    dt = 0.1
    omega, q = _modal_history(plate, modes, mode=2, dt=dt, n_steps=40)
    theta = 2 * math.atan(omega * dt / 2)
    np.testing.assert_allclose(q, np.cos(theta * np.arange(q.size)), rtol=0, atol=1e-10)


@pytest.mark.parametrize("damping", [None, RayleighDamping(alpha_m=0.2, alpha_k=0.02)])
def test_second_order_in_time_on_a_mode(plate, modes, damping):
    """Modal error against the exact (damped) oscillator over t in [0, 4] falls as dt^2."""
    errors = []
    for n in (20, 40, 80):
        omega, q = _modal_history(plate, modes, mode=2, dt=4.0 / n, n_steps=n, damping=damping)
        zeta = 0.0 if damping is None else 0.5 * (damping.alpha_m / omega + damping.alpha_k * omega)
        wd = omega * math.sqrt(1 - zeta**2)
        t = 4.0 * np.arange(n + 1) / n
        exact = np.exp(-zeta * omega * t) * (np.cos(wd * t) + zeta * omega / wd * np.sin(wd * t))
        errors.append(np.abs(q - exact).max())
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert errors[0] > 1e-3
    np.testing.assert_allclose(orders, 2.0, atol=0.05)


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: NewmarkScheme(dt=0.0), r"Newmark dt must be a finite number > 0; got 0.0"),
    (lambda: NewmarkScheme(dt=0.1, beta=-0.25), r"Newmark beta must be a finite number > 0"),
    (lambda: RayleighDamping(alpha_m=-1.0), r"Rayleigh alpha_m must be a finite number >= 0; got -1.0"),
    (lambda: RayleighDamping(alpha_k=float("nan")), r"Rayleigh alpha_k must be a finite number >= 0"),
])
def test_bad_scheme_parameters(make, pattern):
    with pytest.raises(ParameterError, match=pattern):
        make()


def test_scheme_coefficients_of_average_acceleration():
    s = NewmarkScheme(dt=0.1)
    assert (s.a0, s.a1) == pytest.approx((400.0, 20.0))
    assert s.mass_history() == pytest.approx((400.0, 40.0, 1.0))
    assert s.damping_history() == pytest.approx((20.0, 1.0, 0.0))
