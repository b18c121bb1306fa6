"""SchNet potential: forces and stresses are derivatives of the energy, the energy is invariant
under rotation, translation, permutation and the choice of periodic image, batches equal single
structures, and bad structures get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.errors import ParameterError, SchemaError
from sciml.surrogates.potentials import FrameDataset, RepulsivePrior, SchNetPotential

F64 = torch.float64
PBC = (True, True, True)


def _model(seed: int = 0, prior: bool = True) -> SchNetPotential:
    torch.manual_seed(seed)
    p = RepulsivePrior(1.0, 1.0, 2.5) if prior else None
    return SchNetPotential([18, 29], 2.5, hidden_channels=16, num_filters=16, num_interactions=2, prior=p).double()


def _structure(seed: int = 1, n_side: int = 4, spacing: float = 1.5):
    g = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.arange(float(n_side))] * 3, indexing="ij"), -1).reshape(-1, 3)
    length = n_side * spacing
    pos = (grid.double() * spacing + 0.15 * torch.randn(grid.shape[0], 3, generator=g, dtype=F64)) % length
    z = torch.full((grid.shape[0],), 18)
    z[::5] = 29
    return pos, z, torch.eye(3, dtype=F64) * length


def test_forces_equal_central_differences_of_the_energy():
    model = _model()
    pos, z, cell = _structure()
    energy, forces = model.energy_and_forces(pos, z, cell, PBC)
    h = 1e-5
    for atom, axis in [(0, 0), (7, 1), (33, 2), (63, 0)]:
        up, down = pos.clone(), pos.clone()
        up[atom, axis] += h
        down[atom, axis] -= h
        fd = -(model(up, z, cell, PBC) - model(down, z, cell, PBC)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)
    assert float(forces.sum(0).abs().max()) < 1e-10  # Newton's third law: no net force


def test_stress_equals_the_strain_derivative_over_the_volume():
    model = _model()
    pos, z, cell = _structure()
    _, _, stress = model.energy_forces_stress(pos, z, cell, PBC)
    eps, volume = 1e-6, float(torch.linalg.det(cell))
    for a, b in [(0, 0), (1, 2), (2, 2)]:
        d = torch.zeros(3, 3, dtype=F64)
        d[a, b] = eps
        up, down = torch.eye(3, dtype=F64) + d, torch.eye(3, dtype=F64) - d
        fd = (model(pos @ up, z, cell @ up, PBC) - model(pos @ down, z, cell @ down, PBC)) / (2 * eps) / volume
        assert float(stress[a, b]) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)


def test_energy_is_invariant_under_rotation_translation_permutation_and_wrapping():
    model = _model()
    pos, z, cell = _structure()
    energy, forces = model.energy_and_forces(pos, z, cell, PBC)
    g = torch.Generator().manual_seed(5)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=F64))
    e_rot, f_rot = model.energy_and_forces(pos @ q.T, z, cell @ q.T, PBC)
    assert float(e_rot) == pytest.approx(float(energy), rel=1e-12)
    assert torch.allclose(f_rot, forces @ q.T, atol=1e-10)
    assert float(model(pos + torch.tensor([0.3, -1.2, 7.0], dtype=F64), z, cell, PBC)) == pytest.approx(float(energy), rel=1e-12)
    perm = torch.randperm(pos.shape[0], generator=g)
    e_perm, f_perm = model.energy_and_forces(pos[perm], z[perm], cell, PBC)
    assert float(e_perm) == pytest.approx(float(energy), rel=1e-12)
    assert torch.allclose(f_perm, forces[perm], atol=1e-12)
    shifted = pos + cell[1] * torch.randint(-2, 3, (pos.shape[0], 1), generator=g)  # other periodic images
    assert float(model(shifted, z, cell, PBC)) == pytest.approx(float(energy), rel=1e-12)


def test_a_batch_equals_its_structures_one_by_one():
    model = _model()
    pos, z, cell = _structure()
    other, _, _ = _structure(seed=2)
    batch = model(torch.stack([pos, other]), torch.stack([z, z]), torch.stack([cell, cell]), PBC)
    assert batch.tolist() == pytest.approx([float(model(pos, z, cell, PBC)), float(model(other, z, cell, PBC))],
                                           rel=1e-12)


def test_the_prior_is_a_repulsive_wall_that_vanishes_at_the_cutoff():
    prior = RepulsivePrior(1.0, 2.0, 2.5)
    d = torch.tensor([0.9, 0.9, 2.5, 3.0], dtype=F64)  # one pair, both directions, then cut-off ones
    e = prior(d, torch.zeros(4, dtype=torch.long), 1)
    assert float(e) == pytest.approx(2.0 * (0.9 ** -12 - 2.5 ** -12), rel=1e-12)
    # padding pairs (mask False) add nothing, whatever their distance
    masked = prior(torch.tensor([0.9, 0.9, 1.0], dtype=F64), torch.zeros(3, dtype=torch.long), 1,
                   torch.tensor([True, True, False]))
    assert float(masked) == pytest.approx(float(e), rel=1e-12)


def test_unknown_species_overlaps_and_small_boxes_are_refused():
    model = _model()
    pos, z, cell = _structure()
    with pytest.raises(ParameterError, match=r"species \[8\] \(atomic numbers\) are unknown to this potential; it knows \[18, 29\]"):
        model(pos, torch.where(z == 29, 8, z), cell, PBC)
    with pytest.raises(ParameterError, match="2 \\* cutoff|twice the cutoff|thinner"):
        model(pos[:8] * 0.5, z[:8], torch.eye(3, dtype=F64) * 3.0, PBC)
    with pytest.raises(ParameterError, match="needs a cell"):
        model(pos, z, None, PBC)
    with pytest.raises(ParameterError, match="species must be atomic numbers"):
        SchNetPotential([0, 18], 2.5)


def test_a_frame_dataset_needs_forces():
    from sciml.data.particles import trajectory_dataset

    pos, z, cell = _structure()
    ds = trajectory_dataset(pos.numpy()[None, None], atomic_numbers=z.numpy(), cell=cell.numpy(),
                            pbc=np.array(PBC), time=np.array([0.0]), unit_system="lj")
    with pytest.raises(SchemaError, match="has no forces"):
        FrameDataset(ds)
    ok = trajectory_dataset(pos.numpy()[None, None], atomic_numbers=z.numpy(), cell=cell.numpy(), pbc=np.array(PBC),
                            time=np.array([0.0]), forces=np.zeros((1, 1, 64, 3)), energy=np.ones((1, 1)),
                            unit_system="lj")
    frames = FrameDataset(ok)
    assert len(frames) == 1 and frames.n_atoms == 64 and torch.equal(frames[0]["positions"], pos)
