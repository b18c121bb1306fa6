"""What the MD tools need of a potential, and how they find it inside a model.

A *potential* is an ``nn.Module`` with (see :class:`~sciml.surrogates.potentials.SchNetPotential`)::

    energy_and_forces(positions, numbers, cell, pbc) -> (energies, forces)
    energy_forces_stress(positions, numbers, cell, pbc) -> (energies, forces, stress)   # for stress
    energy_from_edges(numbers, edge_index, vectors, batch, n_structures, mask)          # for batched MD
    cutoff: float; check_species(numbers) raising ParameterError

A :class:`~sciml.surrogates.potentials.ForceMatchingModel` holds one as ``.potential``.
"""

from __future__ import annotations

from torch import nn

from sciml.errors import ParameterError

__all__ = ["unwrap_potential"]


def unwrap_potential(model: nn.Module) -> nn.Module:
    """The potential of ``model``: its ``.potential`` when it has one (a ForceMatchingModel), else itself.

    Raises
    ------
    ParameterError
        The result has no ``energy_and_forces`` method.
    """
    potential = getattr(model, "potential", model)
    if not callable(getattr(potential, "energy_and_forces", None)):
        raise ParameterError(f"{type(model).__name__} is not a potential: it has no energy_and_forces method")
    return potential
