"""Cosmology particles in the trajectory layout (unit system "cosmology"): the same realisation as
the density output, Zel'dovich velocities in closed form, momentum conservation, the layout's
rules for particles without atomic numbers."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.data import open_dataset, save, validate
from sciml.data.h5md import write_h5md
from sciml.data.particles import to_ase_atoms, trajectory_dataset, validate_trajectory
from sciml.errors import SchemaError
from sciml.simulators.cosmology.linear import growth_rate
from sciml.simulators.cosmology.lpt import lattice
from sciml.simulators.cosmology.mesh import cic_paint
from sciml.simulators.cosmology.simulators import RHO_CRIT, PMSimulator, ZeldovichSimulator

PARAMS = {"Omega_m": 0.3, "sigma_8": 0.8, "n_s": 0.96, "h": 0.7}


@pytest.fixture(scope="module")
def pm():
    sim = PMSimulator(n_particles=8, box_size=100.0, n_steps=3, a_output=[0.5, 1.0], dtype="float64")
    return sim, sim.run_particles(PARAMS, seed=3, n_samples=2)


def test_particles_are_a_valid_trajectory_of_the_cosmology_unit_system(pm):
    sim, ds = pm
    assert validate(ds) is ds and ds.attrs["unit_system"] == "cosmology" and "atomic_numbers" not in ds
    assert ds.positions.shape == (2, 2, 512, 3) and ds.positions.attrs["units"] == "Mpc/h"
    assert ds.velocities.attrs["units"] == "km/s" and ds.time.attrs["long_name"] == "scale factor a"
    np.testing.assert_array_equal(ds.time.values, [0.5, 1.0])
    np.testing.assert_array_equal(ds.cell.values[1, 0], 100.0 * np.eye(3))
    assert float(ds.positions.min()) >= 0.0 and float(ds.positions.max()) < 100.0
    # the box holds Omega_m rho_crit V of matter
    np.testing.assert_allclose(ds.masses.values[0].sum(), 0.3 * RHO_CRIT * 100.0**3, rtol=1e-12)


def test_painting_the_particles_gives_the_density_output(pm):
    sim, ds = pm
    density = sim.run(PARAMS, seed=3, n_samples=2).delta.values
    for i in range(2):
        for j in range(2):
            pos = ds.positions.values[i, j]
            delta = cic_paint(pos, sim.n_mesh, sim.box_size) * (sim.n_mesh**3 / len(pos)) - 1.0
            np.testing.assert_allclose(delta, density[i, j], rtol=0, atol=1e-12)


def test_pm_particles_conserve_total_momentum_to_round_off(pm):
    _, ds = pm
    momentum = (ds.velocities * ds.masses).sum("atom").values
    scale = (np.abs(ds.velocities) * ds.masses).sum("atom").values
    assert np.all(np.abs(momentum) <= 1e-12 * scale)


def test_zeldovich_velocity_is_a_h_f_times_the_displacement():
    sim = ZeldovichSimulator(n_particles=8, box_size=64.0, a_output=[0.25, 1.0], dtype="float64")
    ds = sim.run_particles(PARAMS, seed=5)
    cosmo = sim.cosmology(PARAMS)
    q = lattice(8, 64.0)
    for j, a in enumerate([0.25, 1.0]):
        disp = ds.positions.values[0, j] - q
        disp -= 64.0 * np.round(disp / 64.0)  # periodic wrap
        expected = 100.0 * a * float(cosmo.E(a)) * float(growth_rate(np.asarray(a), cosmo)) * disp
        np.testing.assert_allclose(ds.velocities.values[0, j], expected, rtol=1e-10, atol=1e-9)


def test_particles_round_trip_through_netcdf(pm, tmp_path):
    _, ds = pm
    save(ds, tmp_path / "particles.nc")
    with open_dataset(tmp_path / "particles.nc") as back:
        validate_trajectory(back)
        np.testing.assert_array_equal(back.positions.values, ds.positions.values)
        assert back.attrs["unit_system"] == "cosmology"


def test_atomic_numbers_are_required_outside_cosmology_and_refused_where_needed(pm, tmp_path):
    _, ds = pm
    with pytest.raises(SchemaError, match="atomic_numbers are required in the 'lj' unit system"):
        trajectory_dataset(np.zeros((1, 2, 3)), cell=np.eye(3), pbc=[1, 1, 1], time=[0.0])
    lj = ds.assign_attrs(unit_system="lj")
    with pytest.raises(SchemaError, match="required variable 'atomic_numbers' is missing"):
        validate_trajectory(lj)
    with pytest.raises(SchemaError, match="H5MD needs the particles' species"):
        write_h5md(ds, tmp_path / "p.h5")
    with pytest.raises(SchemaError, match="an ase.Atoms needs atomic numbers"):
        to_ase_atoms(ds, 0, 0)
