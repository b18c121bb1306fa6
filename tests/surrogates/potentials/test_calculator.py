"""PotentialCalculator: ASE sees the potential's energies, forces and stress (ASE's sign and
Voigt order, checked against ASE's own LennardJones), drives energy-conserving MD with it, and
refuses overlapping atoms, unknown species and mismatched dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.errors import ParameterError
from sciml.surrogates.potentials import (
    ForceMatchingModel,
    LennardJonesPotential,
    PotentialCalculator,
    RepulsivePrior,
    SchNetPotential,
)
from sciml.surrogates.sgmcmc import GaussianNoise

ase = pytest.importorskip("ase")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
from ase.build import bulk  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402
from ase.md.velocitydistribution import Stationary, thermalize_momenta  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402
from ase.stress import full_3x3_to_voigt_6_stress  # noqa: E402


def _argon(repeat: int = 3, density: float = 0.8442, jitter: float = 0.08, seed: int = 0):
    atoms = bulk("Ar", "fcc", a=(4.0 / density) ** (1.0 / 3.0), cubic=True).repeat(repeat)
    atoms.set_masses(np.ones(len(atoms)))
    rng = np.random.default_rng(seed)
    atoms.positions += jitter * rng.normal(size=atoms.positions.shape)
    return atoms


def _schnet(seed: int = 0, cutoff: float = 2.5) -> SchNetPotential:
    torch.manual_seed(seed)
    return SchNetPotential([18, 29], cutoff, hidden_channels=16, num_filters=16, num_interactions=2,
                           prior=RepulsivePrior(1.0, 1.0, cutoff)).double()


def test_lennard_jones_through_the_calculator_equals_ase_lennard_jones():
    """Same energy, forces and stress (sign convention and Voigt order) as ASE's own calculator."""
    atoms = _argon()
    reference = atoms.copy()
    reference.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5)
    atoms.calc = PotentialCalculator(LennardJonesPotential(1.0, 1.0, 2.5))
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(atoms.get_stress(), reference.get_stress(), rtol=1e-11, atol=1e-12)
    assert np.abs(reference.get_stress()).max() > 0.1  # a jittered dense liquid: a real check


def test_ase_stress_is_the_strain_derivative_over_the_volume_and_schnet_follows_it():
    """ASE's convention (its LennardJones): stress = (1/V) dE/d(strain); the SchNet calculator agrees."""
    for calc in (LennardJones(sigma=1.0, epsilon=1.0, rc=2.5), PotentialCalculator(_schnet())):
        atoms = _argon(jitter=0.05)
        atoms.calc = calc
        stress, volume, cell = atoms.get_stress(voigt=False), atoms.get_volume(), atoms.get_cell().array.copy()
        eps = 1e-6
        for a, b in [(0, 0), (1, 2), (2, 2)]:
            energies = []
            for sign in (1, -1):
                deform = np.eye(3)
                deform[a, b] += sign * eps / 2
                deform[b, a] += sign * eps / 2
                strained = atoms.copy()
                strained.calc = calc
                strained.set_cell(cell @ deform, scale_atoms=True)
                energies.append(strained.get_potential_energy())
            fd = (energies[0] - energies[1]) / (2 * eps) / volume
            assert stress[a, b] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_schnet_calculator_returns_the_models_energy_forces_and_stress():
    model = _schnet()
    atoms = _argon(jitter=0.1)
    atoms.numbers[::7] = 29
    atoms.calc = PotentialCalculator(ForceMatchingModel(model, GaussianNoise(0.1)))  # unwrapped to .potential
    pos = torch.tensor(atoms.positions)
    z, cell = torch.tensor(atoms.numbers), torch.tensor(atoms.cell.array)
    energy, forces, stress = model.energy_forces_stress(pos, z, cell, (True, True, True))
    assert atoms.get_potential_energy() == pytest.approx(float(energy), rel=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), forces.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), full_3x3_to_voigt_6_stress(stress.numpy()), rtol=0, atol=1e-12)
    assert atoms.get_potential_energy() != pytest.approx(float(_schnet(1)(pos, z, cell, (True,) * 3).detach()))


def test_ase_velocity_verlet_with_the_calculator_conserves_energy():
    atoms = _argon(repeat=2, density=0.5, jitter=0.02)
    atoms.calc = PotentialCalculator(_schnet(cutoff=1.9))
    thermalize_momenta(atoms, temperature_K=1.0 / ase.units.kB, rng=np.random.default_rng(1))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, 0.002)
    totals, kinetic = [], []
    for _ in range(100):
        dyn.run(1)
        totals.append(atoms.get_total_energy())
        kinetic.append(atoms.get_kinetic_energy())
    totals, kinetic = np.asarray(totals), np.asarray(kinetic)
    assert np.std(kinetic) > 0.1  # energy moves between kinetic and potential ...
    assert np.ptp(totals) < 1e-3 * np.std(kinetic)  # ... and the total stays put


def test_overlapping_atoms_unknown_species_and_wrong_dtype_are_refused():
    from sciml.simulators.md.driver import MDSettings, run_md

    atoms = _argon(repeat=2, density=0.5, jitter=0.0)
    atoms.positions[1] = atoms.positions[0] + [0.2, 0.0, 0.0]
    atoms.calc = PotentialCalculator(_schnet(cutoff=1.9), min_distance=0.5)
    with pytest.raises(ParameterError, match="overlapping atoms: atoms 0 and 1 are 0.2 apart"):
        atoms.get_potential_energy()
    settings = MDSettings(timestep=0.002, temperature_K=1.0 / ase.units.kB, friction=1.0, n_equilibrate=1,
                          n_frames=1, stride=1)
    with pytest.raises(ParameterError, match="overlapping atoms"):
        run_md(atoms, settings, np.random.default_rng(0), min_distance=0.5)
    bad = _argon(repeat=2, density=0.5)
    bad.numbers[3] = 8
    bad.calc = PotentialCalculator(_schnet(cutoff=1.9))
    with pytest.raises(ParameterError, match=r"species \[8\] .* unknown to this potential"):
        bad.get_forces()
    with pytest.raises(ParameterError, match="dtype"):
        PotentialCalculator(_schnet().float())
    with pytest.raises(ParameterError, match="not a potential"):
        PotentialCalculator(torch.nn.Linear(2, 2).double())


def test_stress_of_a_non_periodic_structure_is_not_implemented():
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = _argon(repeat=2, density=0.5)
    atoms.pbc = False
    atoms.calc = PotentialCalculator(_schnet(cutoff=1.9))
    assert np.isfinite(atoms.get_forces()).all()
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
