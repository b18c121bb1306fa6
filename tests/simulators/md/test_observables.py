"""MD observables against closed forms: ideal gas and fcc g(r), fcc bond angles, a random walk's
diffusion, an Ornstein-Uhlenbeck VACF, ideal-gas and LJ virial pressure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sciml.errors import ParameterError
from sciml.simulators.md.neighbors import neighbor_arrays
from sciml.simulators.md.observables import (
    angular_distribution,
    diffusion_coefficient,
    green_kubo_diffusion,
    kinetic_energy,
    kinetic_temperature,
    mean_squared_displacement,
    pair_virial,
    radial_distribution,
    unwrap_positions,
    velocity_autocorrelation,
    virial_pressure,
)

FCC_BASIS = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])

pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")  # inside ASE


def fcc(a: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``4 k^3`` atoms of a perfect fcc lattice of constant ``a`` and the cubic cell."""
    cells = np.array(list(itertools.product(range(k), repeat=3)), dtype=float)
    return ((cells[:, None, :] + FCC_BASIS[None]).reshape(-1, 3) * a), np.eye(3) * a * k


def test_ideal_gas_g_of_r_is_one():
    rng = np.random.default_rng(0)
    n, box, frames = 200, 6.0, 20
    pos = rng.uniform(0, box, size=(frames, n, 3))
    rdf = radial_distribution(pos, np.eye(3) * box, r_max=5.0, n_bins=25)  # beyond L/2: images enumerated
    expected = n * (n - 1) / box**3 * 4 / 3 * np.pi * np.diff(rdf.edges**3) * frames
    sigma = np.sqrt(2.0 / expected)  # every pair is counted twice (i -> j and j -> i)
    assert np.all(np.abs(rdf.g - 1.0) < 5 * sigma)
    total = (rdf.g * expected).sum() / expected.sum()  # N(N-1) normalisation: no 1/N bias (0.5 % here)
    assert abs(total - 1.0) < 4 * np.sqrt(2.0 / expected.sum()) < 0.005


def test_fcc_g_of_r_has_its_shells_and_coordination_numbers():
    a = 1.5
    pos, cell = fcc(a, 3)
    rdf = radial_distribution(pos, cell, r_max=2.3, n_bins=230)
    shells = {a / np.sqrt(2): 12, a: 6, a * np.sqrt(1.5): 24, a * np.sqrt(2): 12}
    found = rdf.coordination > 0
    assert np.count_nonzero(found) == len(shells)
    for r, n in shells.items():
        k = np.searchsorted(rdf.edges, r) - 1
        assert rdf.coordination[k] == pytest.approx(n, abs=1e-12)
        rho = (len(pos) - 1) / np.linalg.det(cell)
        assert rdf.g[k] == pytest.approx(n / (rho * 4 / 3 * np.pi * (rdf.edges[k + 1] ** 3 - rdf.edges[k] ** 3)))
    assert rdf.coordination.sum() == pytest.approx(54)


def test_species_resolved_g_of_r_of_cu3au():
    a = 1.5
    pos, cell = fcc(a, 2)
    z = np.tile([79, 29, 29, 29], 8)  # L1_2: Au on the cube corners, Cu on the face centres
    first = slice(None)  # r_max = 1.1 holds the first shell (a / sqrt 2) only; the second is at a
    rdf = {p: radial_distribution(pos, cell, r_max=1.1, n_bins=110, species=z, pair=p)
           for p in [(79, 29), (79, 79), (29, 79), (29, 29)]}
    assert rdf[(79, 29)].coordination[first].sum() == pytest.approx(12)
    assert rdf[(79, 79)].coordination[first].sum() == 0
    assert rdf[(29, 79)].coordination[first].sum() == pytest.approx(4)
    assert rdf[(29, 29)].coordination[first].sum() == pytest.approx(8)
    with pytest.raises(ParameterError, match=r"species pair \(79, 1\) not present"):
        radial_distribution(pos, cell, r_max=1.0, species=z, pair=(79, 1))
    with pytest.raises(ParameterError, match="needs a periodic system"):
        radial_distribution(pos, cell, (True, False, True), r_max=1.0)


def test_fcc_bond_angles():
    a = 1.0
    pos, cell = fcc(a, 3)
    adf = angular_distribution(pos, cell, cutoff=0.85 * a, n_bins=180)  # the 12 nearest neighbours
    # per centre, 12 * 11 / 2 = 66 angles: 24 at 60, 12 at 90, 24 at 120 and 6 at 180 degrees
    for angle, share in {60: 24 / 66, 90: 12 / 66, 120: 24 / 66, 180: 6 / 66}.items():
        window = np.abs(adf.theta - angle) < 3
        assert adf.counts[window].sum() == pytest.approx(share * 66 * len(pos))
    assert adf.counts.sum() == 66 * len(pos)
    assert (adf.density * np.diff(adf.edges)).sum() == pytest.approx(1.0)


def random_walk(rng, n_atoms, n_frames, diffusion, dt):
    steps = rng.normal(scale=np.sqrt(2 * diffusion * dt), size=(n_frames - 1, n_atoms, 3))
    start = rng.uniform(0, 5, size=(1, n_atoms, 3))
    return np.concatenate([start, start + np.cumsum(steps, axis=0)])


def test_msd_of_a_random_walk_gives_its_diffusion_coefficient():
    rng = np.random.default_rng(3)
    true = random_walk(rng, 400, 2000, diffusion=0.5, dt=0.01)
    cell = np.array([[5.0, 0, 0], [1.0, 5.0, 0], [0.5, 0.5, 5.0]])
    frac = true @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    unwrapped = unwrap_positions(wrapped, cell)
    np.testing.assert_allclose(unwrapped, true - true[:1] + wrapped[:1], atol=1e-9)
    msd = mean_squared_displacement(unwrapped, max_lag=100)
    time = 0.01 * np.arange(101)
    assert msd[0] == 0.0
    assert diffusion_coefficient(time, msd, fit_range=(0.0, 1.0)) == pytest.approx(0.5, rel=0.03)


def test_fft_msd_equals_the_direct_average():
    x = np.random.default_rng(1).normal(size=(50, 7, 3)).cumsum(axis=0) + 100.0
    direct = [np.mean(((x[m:] - x[: len(x) - m]) ** 2).sum(-1)) for m in range(20)]
    np.testing.assert_allclose(mean_squared_displacement(x, max_lag=19), direct, rtol=1e-10, atol=1e-10)
    with pytest.raises(ParameterError, match=r"max_lag must be an integer in \[0, 49\]"):
        mean_squared_displacement(x, max_lag=50)


def test_vacf_of_an_ornstein_uhlenbeck_process():
    rng = np.random.default_rng(7)
    gamma, kt_over_m, dt, n_frames, n_atoms = 2.0, 1.0, 0.01, 4000, 200
    decay = np.exp(-gamma * dt)
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = rng.normal(scale=np.sqrt(kt_over_m), size=(n_atoms, 3))
    noise = rng.normal(scale=np.sqrt(kt_over_m * (1 - decay**2)), size=(n_frames - 1, n_atoms, 3))
    for t in range(1, n_frames):
        v[t] = decay * v[t - 1] + noise[t - 1]
    time = dt * np.arange(301)
    c = velocity_autocorrelation(v, max_lag=300)
    np.testing.assert_allclose(c / c[0], np.exp(-gamma * time), atol=0.02)
    np.testing.assert_allclose(velocity_autocorrelation(v, max_lag=300, normalize=True), c / c[0])
    assert c[0] == pytest.approx(3 * kt_over_m, rel=0.02)
    assert green_kubo_diffusion(time, c) == pytest.approx(kt_over_m / gamma, rel=0.05)


def test_ideal_gas_pressure_is_n_k_t_over_v():
    rng = np.random.default_rng(11)
    n, kt, volume = 2000, 1.3, 500.0
    masses = rng.uniform(1.0, 3.0, size=n)
    v = rng.normal(size=(n, 3)) * np.sqrt(kt / masses)[:, None]
    ke = kinetic_energy(v, masses)
    assert float(virial_pressure(volume, ke)) == pytest.approx(n * kt / volume, rel=4 * np.sqrt(2 / (3 * n)))
    assert float(kinetic_temperature(v, masses, dof=3 * n)) == pytest.approx(kt, rel=4 * np.sqrt(2 / (3 * n)))
    assert float(virial_pressure(2.0, 3.0, virial=1.5)) == pytest.approx((6.0 + 1.5) / 6.0)
    with pytest.raises(ParameterError, match="not both"):
        virial_pressure(1.0, 1.0, virial=1.0, stress=np.zeros(6))


def test_pair_virial_pressure_equals_ase_stress_for_lennard_jones():
    ase = pytest.importorskip("ase")
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(2)
    pos, cell = fcc((4 / 0.8442) ** (1 / 3), 3)
    pos = pos + 0.05 * rng.standard_normal(pos.shape)
    atoms = ase.Atoms("Ar108", positions=pos, cell=cell, pbc=True)
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5)
    pairs = neighbor_arrays(pos, cell, True, 2.5)
    r = pairs.distances[:, None]
    force_on_j = 24.0 * (2.0 / r**12 - 1.0 / r**6) / r**2 * pairs.vectors  # -dU/dr along d
    p_pairs = virial_pressure(atoms.get_volume(), 0.0, virial=pair_virial(pairs.vectors, force_on_j))
    p_stress = virial_pressure(atoms.get_volume(), 0.0, stress=atoms.get_stress())
    assert float(p_pairs) == pytest.approx(float(p_stress), rel=1e-10)
