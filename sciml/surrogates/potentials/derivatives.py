"""What every potential derives the same way: stresses by a strain derivative, and the species check.

``stress = (1/V) dE/d(strain)`` at zero strain, with positions and cell deformed by
``(I + strain)`` (ASE's sign: positive under tension); forces come out of the same backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from sciml.errors import ParameterError

__all__ = ["check_known_species", "energy_and_forces", "energy_forces_stress"]


def energy_and_forces(energy_fn: Callable[[Tensor, Tensor, Any, Any], Tensor], positions: Tensor, numbers: Tensor,
                      cell: Tensor | None, pbc: Any, *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """Energies and forces ``-dE/dx`` (shape of ``positions``); ``create_graph`` for force matching."""
    x = positions if positions.requires_grad else positions.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = energy_fn(x, numbers, cell, pbc)
        (grad,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
    return energy, -grad


def energy_forces_stress(energy_fn: Callable[[Tensor, Tensor, Tensor, Any], Tensor], positions: Tensor,
                         numbers: Tensor, cell: Tensor, pbc: Any = True) -> tuple[Tensor, Tensor, Tensor]:
    """Energies, forces ``-dE/dx`` and stresses ``(..., 3, 3)`` of periodic structures.

    ``energy_fn(positions (B, n, 3), numbers, cells (B, 3, 3), pbc) -> (B,)``; ``positions`` may be
    one structure ``(n, 3)`` (then the outputs have no leading dim).
    """
    single = positions.ndim == 2
    pos = (positions.unsqueeze(0) if single else positions).detach().requires_grad_(True)
    cells = (cell.unsqueeze(0) if cell.ndim == 2 else cell).detach().expand(pos.shape[0], 3, 3)
    strain = torch.zeros(pos.shape[0], 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
    with torch.enable_grad():
        deform = torch.eye(3, dtype=pos.dtype, device=pos.device) + strain
        energy = energy_fn(pos @ deform, numbers, cells @ deform, pbc)
        grad_x, grad_s = torch.autograd.grad(energy.sum(), (pos, strain))
    stress = grad_s / torch.linalg.det(cells).abs().reshape(-1, 1, 1)
    if single:
        return energy[0].detach(), -grad_x[0], stress[0]
    return energy.detach(), -grad_x, stress


def check_known_species(known: Tensor, numbers: Tensor) -> None:
    """Raise :class:`ParameterError` naming the atomic numbers in ``numbers`` that are not in ``known``."""
    unknown = sorted(set(torch.unique(numbers).tolist()) - set(known.tolist()))
    if unknown:
        raise ParameterError(f"species {unknown} (atomic numbers) are unknown to this potential; it knows "
                             f"{known.tolist()}")
