"""Lagrangian perturbation theory: closed-form displacements of plane waves, momenta that are the
time derivative of the positions, and Zel'dovich growth at early times following linear theory."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.cosmology.initial_conditions import gaussian_field_k, white_noise
from sciml.simulators.cosmology.linear import Cosmology, growth_factor, linear_power
from sciml.simulators.cosmology.lpt import lattice, lpt_displacements, lpt_state
from sciml.simulators.cosmology.power import power_from_grid, power_from_particles

L, N = 100.0, 16


def _grid():
    g = np.arange(N) * (L / N)
    return np.meshgrid(g, g, g, indexing="ij")


def test_plane_wave_zeldovich_displacement_is_exact_and_has_no_second_order():
    """delta0 = A cos(k x): Psi1 = -A sin(k x) / k along x; the 2LPT source vanishes (1-D motion)."""
    x, _, _ = _grid()
    k = 3 * 2 * np.pi / L
    delta0 = 0.7 * np.cos(k * x)
    psi1, psi2 = lpt_displacements(np.fft.rfftn(delta0), L)
    np.testing.assert_allclose(psi1[0], -0.7 * np.sin(k * x) / k, atol=1e-12)
    np.testing.assert_allclose(psi1[1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(psi2, 0.0, atol=1e-12)


def test_two_crossed_plane_waves_give_the_closed_form_second_order_displacement():
    """delta0 = A cos(k1 x) + B cos(k2 y): phi2 = -A B cos(k1 x) cos(k2 y) / (k1^2 + k2^2), Psi2 = grad phi2."""
    x, y, _ = _grid()
    k1, k2, a, b = 2 * 2 * np.pi / L, 3 * 2 * np.pi / L, 0.5, 0.8
    psi1, psi2 = lpt_displacements(np.fft.rfftn(a * np.cos(k1 * x) + b * np.cos(k2 * y)), L)
    c = a * b / (k1**2 + k2**2)
    np.testing.assert_allclose(psi2[0], c * k1 * np.sin(k1 * x) * np.cos(k2 * y), atol=1e-12)
    np.testing.assert_allclose(psi2[1], c * k2 * np.cos(k1 * x) * np.sin(k2 * y), atol=1e-12)
    np.testing.assert_allclose(psi2[2], 0.0, atol=1e-12)
    # the first order is linear in delta0 and divergence gives -delta0
    np.testing.assert_allclose(psi1[1], -b * np.sin(k2 * y) / k2, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_momenta_are_the_time_derivative_of_the_positions(order):
    """p = a^3 E dx/da, by central differences of the LPT positions."""
    cosmo = Cosmology()
    psi1, psi2 = lpt_displacements(gaussian_field_k(white_noise(N, 0), L, linear_power(cosmo)), L, order=order)
    a, da = 0.3, 1e-5
    _, p = lpt_state(psi1, psi2, a, cosmo, L)
    xp, _ = lpt_state(psi1, psi2, a + da, cosmo, L)
    xm, _ = lpt_state(psi1, psi2, a - da, cosmo, L)
    dxda = ((xp - xm + L / 2) % L - L / 2) / (2 * da)
    scale = np.abs(p).max()
    # Zel'dovich exact; 2LPT's f2 is a fit of dln D2/dln a, good to ~1 %
    tol = 1e-7 if order == 1 else 2e-3
    np.testing.assert_allclose(p, a**3 * cosmo.E(a) * dxda, atol=tol * scale)


def test_zeldovich_growth_at_early_times_follows_linear_theory():
    """P of ZA particles at a = 0.02, 0.04 is D(a)^2 P_lin of the same realisation, and P(0.04) / P(0.02) is
    (D(0.04) / D(0.02))^2: within 2 % and 0.3 % below half the particle Nyquist frequency (the 2 % is the
    CIC response of particles still on their lattice, which cancels in the ratio)."""
    cosmo = Cosmology()
    n, box = 32, 256.0
    dk = gaussian_field_k(white_noise(n, 5), box, linear_power(cosmo))
    lin = power_from_grid(np.fft.irfftn(dk, s=(n, n, n), axes=(0, 1, 2)), box)
    psi1, _ = lpt_displacements(dk, box, order=1)
    measured = {}
    for a in (0.02, 0.04):
        pos, _ = lpt_state(psi1, None, a, cosmo, box)
        measured[a] = power_from_particles(pos, 2 * n, box).power[: len(lin.k) // 2]
        ratio = measured[a] / (float(growth_factor(a, cosmo)) ** 2 * lin.power[: len(lin.k) // 2])
        np.testing.assert_allclose(ratio, 1.0, atol=0.02)
    growth = (float(growth_factor(0.04, cosmo) / growth_factor(0.02, cosmo))) ** 2
    np.testing.assert_allclose(measured[0.04] / measured[0.02], growth, rtol=3e-3)


def test_lattice_and_bad_inputs():
    q = lattice(4, 8.0)
    assert q.shape == (64, 3) and q[1].tolist() == [0.0, 0.0, 2.0] and q.max() == 6.0
    with pytest.raises(ParameterError, match="order must be 1"):
        lpt_displacements(np.zeros((8, 8, 5), complex), 10.0, order=3)
    with pytest.raises(ParameterError, match="rfft shape"):
        lpt_displacements(np.zeros((8, 8, 8), complex), 10.0)
