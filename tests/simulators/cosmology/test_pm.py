"""Particle mesh: forces that sum to zero and momentum conserved to round-off, the exact 1-D
Zel'dovich pancake, linear D(a)^2 growth at large scales, and FastPM's step-count independence."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.cosmology.initial_conditions import gaussian_field_k, white_noise
from sciml.simulators.cosmology.linear import Cosmology, growth_factor, linear_power
from sciml.simulators.cosmology.lpt import lpt_displacements, lpt_state
from sciml.simulators.cosmology.mesh import cic_paint, cic_readout
from sciml.simulators.cosmology.pm import PMForce, pm_evolve, step_schedule
from sciml.simulators.cosmology.power import power_from_particles


def _start(cosmo, n=32, box=256.0, seed=1, a_start=0.1):
    psi1, psi2 = lpt_displacements(gaussian_field_k(white_noise(n, seed), box, linear_power(cosmo)), box)
    return lpt_state(psi1, psi2, a_start, cosmo, box)


@pytest.mark.parametrize("gradient, deconvolve", [("fd4", False), ("spectral", False), ("fd4", True)])
def test_cic_forces_sum_to_zero_to_round_off(gradient, deconvolve):
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 100.0, (5000, 3))
    forces = PMForce(32, 100.0, gradient=gradient, deconvolve=deconvolve)(positions, 0.3)
    assert np.abs(forces).sum() > 0
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-13 * np.abs(forces).sum())


def test_cic_readout_is_the_adjoint_of_painting():
    rng = np.random.default_rng(1)
    positions, weights, mesh = rng.uniform(-5, 15.0, (300, 3)), rng.normal(size=300), rng.normal(size=(8, 8, 8))
    assert cic_paint(positions, 8, 10.0, weights=weights).sum() == pytest.approx(weights.sum(), rel=1e-12)
    lhs = np.sum(cic_paint(positions, 8, 10.0, weights=weights) * mesh)
    assert lhs == pytest.approx(np.sum(weights * cic_readout(mesh, positions, 10.0)), rel=1e-12)


def test_total_momentum_is_conserved_to_round_off():
    cosmo = Cosmology()
    x, p = _start(cosmo, n=16, box=128.0)
    assert np.abs(p.sum(axis=0)).max() < 1e-12 * np.abs(p).sum()
    final = pm_evolve(x, p, cosmo, PMForce(32, 128.0), a_start=0.1, a_final=1.0, n_steps=8)[-1]
    assert np.abs(final.momenta.sum(axis=0)).max() < 1e-12 * np.abs(final.momenta).sum()


def test_zeldovich_pancake_is_followed_and_converges_with_the_mesh():
    """A plane wave: Zel'dovich is exact in 1-D before shell crossing (here D A = 0.6, delta_max = 1.5)."""
    box, n = 100.0, 16
    cosmo = Cosmology()
    dk = np.zeros((n, n, n // 2 + 1), complex)
    dk[1, 0, 0] = dk[-1, 0, 0] = 0.6 * n**3 / 2
    psi1, _ = lpt_displacements(dk, box, order=1)
    x, p = lpt_state(psi1, None, 0.05, cosmo, box)
    errors = []
    for n_mesh in (32, 64):
        final = pm_evolve(x, p, cosmo, PMForce(n_mesh, box), a_start=0.05, a_final=1.0, n_steps=10)[-1]
        exact, _ = lpt_state(psi1, None, 1.0, cosmo, box)
        errors.append(np.abs((final.positions - exact + box / 2) % box - box / 2).max() / np.abs(psi1).max())
    assert errors[1] < 0.03 and errors[1] < 0.5 * errors[0], errors


def test_large_scale_power_grows_as_d_squared():
    """Linear amplitude (sigma_8 = 0.01): P(a) / P(a_start) = (D(a) / D(a_start))^2 within 3 % for k < 0.06 h/Mpc
    (k < k_Nyq / 6 of the particles); realistic amplitude in a 1 Gpc/h box: within 2 % on the two largest scales."""
    for sigma_8, box, n_bins, tol in ((0.01, 256.0, 2, 0.03), (0.834, 1000.0, 2, 0.02)):
        cosmo = Cosmology(sigma_8=sigma_8)
        x, p = _start(cosmo, box=box, seed=3)
        p0 = power_from_particles(x, 64, box).power[:n_bins]
        for snap in pm_evolve(x, p, cosmo, PMForce(64, box), a_start=0.1, a_final=1.0, n_steps=10,
                              a_output=[0.5, 1.0]):
            growth = float(growth_factor(snap.a, cosmo) / growth_factor(0.1, cosmo)) ** 2
            ratio = power_from_particles(snap.positions, 64, box).power[:n_bins] / (growth * p0)
            np.testing.assert_allclose(ratio, 1.0, atol=tol, err_msg=f"sigma_8={sigma_8}, a={snap.a}")


def test_force_corrected_steps_make_linear_growth_independent_of_the_step_count():
    cosmo = Cosmology(sigma_8=0.01)
    x, p = _start(cosmo, seed=2)
    spectra = {steps: power_from_particles(pm_evolve(x, p, cosmo, PMForce(64, 256.0), a_start=0.1, a_final=1.0,
                                                     n_steps=steps)[-1].positions, 64, 256.0).power[:8]
               for steps in (5, 20)}
    np.testing.assert_allclose(spectra[5], spectra[20], rtol=3e-3)


def test_step_schedule_lands_on_outputs_and_rejects_bad_input():
    edges = step_schedule(0.1, 1.0, 3, [0.5, 1.0])
    np.testing.assert_allclose(edges, [0.1, 0.4, 0.5, 0.7, 1.0])
    with pytest.raises(ParameterError, match="0 < a_start < a_final"):
        step_schedule(1.0, 0.5, 3)
    with pytest.raises(ParameterError, match="n_steps must be a positive integer"):
        step_schedule(0.1, 1.0, 0)
    with pytest.raises(ParameterError, match=r"output scale factors must lie in \(a_start=0.1, a_final=1\]"):
        step_schedule(0.1, 1.0, 3, [0.05])
    with pytest.raises(ParameterError, match="gradient must be one of"):
        PMForce(16, 10.0, gradient="fft")
    with pytest.raises(ParameterError, match="n_mesh must be an even integer >= 4"):
        PMForce(15, 10.0)
    with pytest.raises(ParameterError, match="box_size must be a positive number"):
        PMForce(16, -1.0)
