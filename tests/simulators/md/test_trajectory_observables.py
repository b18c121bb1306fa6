"""Observables of trajectory datasets equal those of the arrays, with the unit system's conversions."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.data.particles import trajectory_dataset
from sciml.errors import ParameterError
from sciml.simulators.md.observables import mean_squared_displacement, radial_distribution
from sciml.simulators.md.trajectory_observables import (
    trajectory_adf,
    trajectory_msd,
    trajectory_pressure,
    trajectory_rdf,
    trajectory_temperature,
    trajectory_vacf,
)

pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")  # inside ASE


def walk_dataset(unit_system: str = "lj", n_samples: int = 2, kt: float = 1.0, masses: float = 1.0):
    """Random walks wrapped into a periodic box, with Maxwell-Boltzmann velocities in the dataset's units."""
    rng = np.random.default_rng(0)
    n_frames, n_atoms, box = 40, 64, 6.0
    true = rng.uniform(0, box, (n_samples, 1, n_atoms, 3)) + np.cumsum(
        rng.normal(scale=0.05, size=(n_samples, n_frames, n_atoms, 3)), axis=1)
    velocity_scale = np.sqrt(kt / masses)  # ASE units: Angstrom / ASE time
    if unit_system == "ase":
        from ase import units

        velocity_scale *= units.fs  # -> Angstrom / fs
    v = rng.normal(scale=velocity_scale, size=(n_samples, n_frames, n_atoms, 3))
    ds = trajectory_dataset(true % box, atomic_numbers=np.full(n_atoms, 18), cell=np.eye(3) * box, pbc=[1, 1, 1],
                            time=0.1 * np.arange(n_frames), velocities=v, masses=np.full(n_atoms, masses),
                            stress=np.zeros((n_samples, n_frames, 6)), unit_system=unit_system)
    return ds, true


def test_msd_and_vacf_of_a_dataset_average_its_samples():
    ds, true = walk_dataset()
    msd = trajectory_msd(ds, max_lag=10)
    expected = np.mean([mean_squared_displacement(t, max_lag=10) for t in true], axis=0)
    np.testing.assert_allclose(msd.values, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(msd["lag"].values, 0.1 * np.arange(11))
    assert msd.attrs["units"] == "sigma2" and msd["lag"].attrs["units"] == "tau"
    vacf = trajectory_vacf(ds, sample=1, max_lag=5, normalize=True)
    assert vacf.values[0] == 1.0 and abs(vacf.values[1:]).max() < 0.1  # white-noise velocities
    with pytest.raises(ParameterError, match=r"sample 5 out of range; the dataset has 2 sample\(s\)"):
        trajectory_msd(ds, sample=5)


def test_rdf_and_adf_of_a_dataset_pool_frames():
    ds, _ = walk_dataset()
    rdf = trajectory_rdf(ds, r_max=2.0, n_bins=10, sample=0, frames=slice(0, 5))
    direct = radial_distribution(ds["positions"].values[0, :5], np.eye(3) * 6.0, r_max=2.0, n_bins=10)
    np.testing.assert_allclose(rdf.g, direct.g)
    adf = trajectory_adf(ds, cutoff=1.5, n_bins=18, frames=slice(0, 3))
    assert adf.counts.sum() > 0 and (adf.density * np.diff(adf.edges)).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("unit_system", ["lj", "ase"])
def test_temperature_and_ideal_gas_pressure_in_the_dataset_units(unit_system):
    ase = pytest.importorskip("ase") if unit_system == "ase" else None
    kt, masses = 0.05, 2.0  # energy units: epsilon or eV
    ds, _ = walk_dataset(unit_system, kt=kt, masses=masses)
    k_b = 1.0 if ase is None else ase.units.kB
    temps = trajectory_temperature(ds, dof=3 * 64).values
    tol = 4 * np.sqrt(2 / (3 * 64 * temps.size))
    assert temps.mean() == pytest.approx(kt / k_b, rel=tol)
    assert trajectory_temperature(ds).attrs["units"] == ("K" if ase else "epsilon k_B-1")
    pressure = trajectory_pressure(ds).values  # zero stress: N k T / V
    assert pressure.mean() == pytest.approx(64 * kt / 6.0**3, rel=tol)
