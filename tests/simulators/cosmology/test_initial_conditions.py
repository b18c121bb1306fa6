"""Gaussian initial conditions: seed-determined real-space white noise, the input spectrum within
cosmic variance, Hermitian symmetry, and the same noise for every method with the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.cosmology.initial_conditions import gaussian_field, gaussian_field_k, white_noise
from sciml.simulators.cosmology.linear import Cosmology, linear_power
from sciml.simulators.cosmology.power import power_from_grid

L, N = 200.0, 32


def _expected_bin_power(power, n, box, edges):
    """Mode average of P over each bin, counted on the full (not real) FFT grid."""
    m = np.fft.fftfreq(n, 1.0 / n)
    kx, ky, kz = np.meshgrid(m, m, m, indexing="ij")
    k = 2 * np.pi / box * np.sqrt(kx**2 + ky**2 + kz**2).ravel()
    idx = np.digitize(k, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    counts = np.bincount(idx[ok], minlength=len(edges) - 1)
    return np.bincount(idx[ok], weights=power(k[ok]), minlength=len(edges) - 1) / counts, counts


def test_white_noise_is_determined_by_seed_and_sample():
    a = white_noise(N, 7, 0)
    np.testing.assert_array_equal(a, white_noise(N, 7, 0))
    assert not np.allclose(a, white_noise(N, 7, 1)) and not np.allclose(a, white_noise(N, 8, 0))
    assert abs(a.mean()) < 4 / np.sqrt(a.size) and a.std() == pytest.approx(1.0, abs=4 * np.sqrt(2 / a.size))


def test_measured_spectrum_matches_the_input_within_cosmic_variance():
    """Per bin within 4 sigma (sigma = P sqrt(2 / N_modes)); chi^2 per dof within 3.5 sqrt(2 / dof) of 1 over 20 seeds."""
    power = linear_power(Cosmology())
    chi2, dof = 0.0, 0
    for seed in range(20):
        delta = gaussian_field(white_noise(N, seed), L, power)
        measured = power_from_grid(delta, L)
        expected, counts = _expected_bin_power(power, N, L, measured.k_edges)
        np.testing.assert_array_equal(measured.n_modes, counts)
        z = (measured.power - expected) / (expected * np.sqrt(2.0 / measured.n_modes))
        assert np.all(np.abs(z) < 4), (seed, z)
        chi2, dof = chi2 + float(np.sum(z**2)), dof + z.size
    assert abs(chi2 / dof - 1.0) < 3.5 * np.sqrt(2.0 / dof), chi2 / dof


def test_field_is_real_hermitian_and_has_zero_mean():
    power = linear_power(Cosmology())
    delta = gaussian_field(white_noise(N, 1), L, power)
    assert delta.dtype == np.float64 and abs(delta.mean()) < 1e-15 * N**3
    full = np.fft.fftn(delta)
    neg = full[(-np.arange(N)) % N][:, (-np.arange(N)) % N][:, :, (-np.arange(N)) % N]
    np.testing.assert_allclose(neg, np.conj(full), atol=1e-10 * np.abs(full).max())
    dk = gaussian_field_k(white_noise(N, 1), L, power)
    assert dk.shape == (N, N, N // 2 + 1) and dk[0, 0, 0] == 0
    np.testing.assert_allclose(np.fft.rfftn(delta), dk, atol=1e-9 * np.abs(dk).max())


def test_same_noise_gives_the_same_phases_whatever_the_box_or_spectrum():
    """The paired design: the noise, hence the phases, depend on (seed, sample) only."""
    noise = white_noise(N, 3)
    a = gaussian_field_k(noise, 200.0, linear_power(Cosmology()))
    b = gaussian_field_k(noise, 500.0, linear_power(Cosmology(Omega_m=0.2, sigma_8=0.7), "eisenstein_hu_nowiggle"))
    nonzero = np.abs(a) > 0
    np.testing.assert_allclose(np.angle(a[nonzero]), np.angle(b[nonzero]), atol=1e-12)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ParameterError, match="seed must be a non-negative integer"):
        white_noise(8, -1)
    with pytest.raises(ParameterError, match="n must be an even integer"):
        white_noise(7, 0)
    with pytest.raises(ParameterError, match=r"cubic \(n, n, n\)"):
        gaussian_field_k(np.zeros((8, 8, 4)), 100.0, linear_power(Cosmology()))
    with pytest.raises(ParameterError, match="box_size must be a positive number"):
        gaussian_field_k(np.zeros((8, 8, 8)), 0.0, linear_power(Cosmology()))
