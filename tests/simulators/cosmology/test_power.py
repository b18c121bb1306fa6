"""Summary statistics on known fields: a plane wave, Poisson catalogues (flat shot noise removed to
zero; interlacing needed near Nyquist), exact mode counts, and the bispectrum of a three-wave field,
of Poisson cells (B = 1/nbar^2) and of Gaussian fields (B = 0)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.cosmology.power import bispectrum, default_k_edges, power_from_grid, power_from_particles

L, N = 100.0, 32
KF = 2 * np.pi / L


def _grid(n=N):
    g = np.arange(n) * (L / n)
    return np.meshgrid(g, g, g, indexing="ij")


def test_plane_wave_power_is_in_its_bin_only():
    """delta = A cos(k0.x): the bin of |k0| holds sum(P n_modes) = V A^2 / 2, every other bin 0."""
    x, y, _ = _grid()
    amp = 0.3
    delta = amp * np.cos(3 * KF * x + 4 * KF * y)  # |k0| = 5 k_f
    pk = power_from_grid(delta, L)
    i = int(np.argmin(np.abs(pk.k_edges[:-1] - 4.5 * KF)))
    assert pk.power[i] * pk.n_modes[i] == pytest.approx(L**3 * amp**2 / 2, rel=1e-12)
    others = np.delete(pk.power, i)
    np.testing.assert_allclose(others, 0.0, atol=1e-12 * pk.power[i])


def test_mode_counts_are_exact():
    """Counts per bin against a brute-force loop over the full FFT grid; all modes accounted for."""
    n = 8
    pk = power_from_grid(np.random.default_rng(0).normal(size=(n, n, n)), L, k_edges=np.array([0.5, 1.5, 2.5, 3.5,
                                                                                              10.0]) * KF)
    counts = np.zeros(4, int)
    for m in itertools.product(range(-n // 2, n // 2), repeat=3):
        k = np.sqrt(sum(v * v for v in m))
        for b in range(4):
            if pk.k_edges[b] / KF <= k < pk.k_edges[b + 1] / KF:
                counts[b] += 1
    np.testing.assert_array_equal(pk.n_modes, counts)
    assert counts.sum() == n**3 - 1


def test_cross_power_of_a_field_with_itself_is_its_power():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(N, N, N)), rng.normal(size=(N, N, N))
    np.testing.assert_allclose(power_from_grid(a, L, other=a).power, power_from_grid(a, L).power, rtol=1e-12)
    cross = power_from_grid(a, L, other=b)
    assert np.all(np.abs(cross.power) < 5 * (L**3 / N**3) * np.sqrt(1.0 / cross.n_modes))


def test_poisson_catalogue_has_flat_shot_noise_that_subtraction_removes():
    """Random points: P = 1/nbar at every k; after subtraction every bin below k_Nyq is 0 within 4 sigma with CIC
    deconvolution and interlacing; without interlacing the aliased images exceed 4 sigma above 0.8 k_Nyq."""
    n_points = 40000
    pos = np.random.default_rng(3).uniform(0, L, (n_points, 3))
    shot = L**3 / n_points
    k_nyq = np.pi * N / L
    pk = power_from_particles(pos, N, L, subtract_shot_noise=True)
    assert pk.shot_noise == pytest.approx(shot) and pk.k_edges[-1] < k_nyq
    z = pk.power / (shot * np.sqrt(2.0 / pk.n_modes))
    assert np.all(np.abs(z) < 4), z
    assert np.mean(z**2) < 1 + 3.5 * np.sqrt(2.0 / z.size)
    plain = power_from_particles(pos, N, L, interlacing=False, subtract_shot_noise=True)
    high = plain.k > 0.8 * k_nyq
    assert np.all(plain.power[high] / (shot * np.sqrt(2.0 / plain.n_modes[high])) > 4)


def test_bispectrum_of_three_closed_plane_waves_is_exact():
    """delta = sum_i 2A cos(k_i.x + phi_i), k1 + k2 + k3 = 0: the shells hold one closed pair of triangles,
    so B * N_triangles = 2 V^2 A^3 cos(phi1 + phi2 + phi3)."""
    x, y, z = _grid()
    ks = [np.array([2, 0, 0]), np.array([0, 3, 1]), np.array([-2, -3, -1])]
    phases, amp = [0.3, -1.1, 0.5], 0.05
    delta = sum(2 * amp * np.cos(KF * (k[0] * x + k[1] * y + k[2] * z) + ph) for k, ph in zip(ks, phases))
    tri = np.array([[np.linalg.norm(k) * KF for k in ks]])
    b, n_tri = bispectrum(delta, L, tri, dk=0.5 * KF)
    assert b[0] * n_tri[0] == pytest.approx(2 * L**6 * amp**3 * np.cos(sum(phases)), rel=1e-10)


def test_triangle_counts_match_a_brute_force_count():
    n = 8
    tri = np.array([[1, 1, 1], [1, 2, 2], [2, 2, 3]]) * KF
    _, counts = bispectrum(np.zeros((n, n, n)), L, tri)
    modes = [np.array(m) for m in itertools.product(range(-n // 2, n // 2), repeat=3)]

    def shell(v, k):  # mesh modes are periodic: wrap the sum back into the grid
        return k - 0.5 <= np.linalg.norm((v + n // 2) % n - n // 2) < k + 0.5

    for (k1, k2, k3), expected in zip(tri / KF, counts):
        brute = sum(1 for a in modes if shell(a, k1) for b in modes if shell(b, k2) and shell(-(a + b), k3))
        assert expected == brute


def test_bispectrum_of_poisson_cells_is_one_over_nbar_squared():
    """Independent Poisson counts per cell: B = kappa_3 (V / n^3)^2 = 1 / nbar^2 for every triangle; the mean
    of 30 realisations is within 4 standard errors; Gaussian fields give 0 within 4 standard errors."""
    lam, reps = 0.02, 30
    tri = np.array([[4, 4, 4], [4, 5, 6], [6, 6, 6], [5, 6, 9]]) * KF
    poisson, gauss = [], []
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        poisson.append(bispectrum(rng.poisson(lam, (N, N, N)) / lam - 1.0, L, tri, dk=2 * KF)[0])
        gauss.append(bispectrum(rng.normal(size=(N, N, N)), L, tri, dk=2 * KF)[0])
    expected = (L**3 / N**3) ** 2 / lam**2
    poisson, gauss = np.array(poisson), np.array(gauss)
    se = poisson.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(poisson.mean(axis=0) - expected) < 4 * se) and np.all(se < 0.1 * expected)
    assert np.all(np.abs(gauss.mean(axis=0)) < 4 * gauss.std(axis=0, ddof=1) / np.sqrt(reps))


def test_bad_inputs_are_clear_errors():
    field = np.zeros((8, 8, 8))
    with pytest.raises(ParameterError, match="k_edges must be a strictly increasing"):
        power_from_grid(field, L, k_edges=np.array([0.3, 0.2]))
    with pytest.raises(ParameterError, match=r"cubic \(n, n, n\)"):
        power_from_grid(np.zeros((8, 8)), L)
    with pytest.raises(ParameterError, match="box_size must be a positive number"):
        power_from_grid(field, 0.0)
    with pytest.raises(ParameterError, match=r"positions must have shape \(N, 3\)"):
        power_from_particles(np.zeros((5, 2)), 8, L)
    with pytest.raises(ParameterError, match="non-finite"):
        power_from_particles(np.full((5, 3), np.nan), 8, L)
    with pytest.raises(ParameterError, match="has no mode; use wider bins"):
        power_from_grid(field, L, k_edges=np.array([0.5, 0.6, 0.7, 5.0]) * KF)
    with pytest.raises(ParameterError, match="no closed triangle"):
        bispectrum(field, L, np.array([[1.0, 1.0, 5.0]]) * KF)
    with pytest.raises(ParameterError, match=r"triangles must be an \(n_tri, 3\) array"):
        bispectrum(field, L, np.array([1.0, 2.0]))
    assert default_k_edges(8, L)[0] == pytest.approx(0.5 * KF) and len(default_k_edges(8, L)) == 4
