"""An analytic Lennard-Jones pair potential with the interface of the neural potentials.

:class:`LennardJonesPotential` has the methods of
:class:`~sciml.surrogates.potentials.SchNetPotential` that MD and the ASE calculator use
(``forward``, ``energy_from_edges``, ``energy_and_forces``, ``energy_forces_stress``,
``check_species``, ``cutoff``), with ``sigma`` and ``epsilon`` as parameters: a cheap,
exactly known potential for testing integrators, batched MD over weight samples (each sample
a ``(sigma, epsilon)``) and the calculator against ASE's own ``LennardJones``.

The pair energy is truncated and shifted, as ASE's ``LennardJones(smooth=False)``::

    u(r) = 4 epsilon [(sigma / r)^12 - (sigma / r)^6] - u_0(r_c)   for r < r_c, else 0

Reference: M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017),
section 1.4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciml.errors import ParameterError
from sciml.surrogates.potentials.derivatives import check_known_species, energy_and_forces, energy_forces_stress
from sciml.simulators.md.neighbors import batched_neighbor_pairs, check_cell, pair_vectors

__all__ = ["LennardJonesPotential"]


class LennardJonesPotential(nn.Module):
    """Truncated and shifted Lennard-Jones pairs, in the length and energy units of ``sigma``, ``epsilon``.

    Parameters
    ----------
    sigma, epsilon : float
        Pair parameters (``nn.Parameter`` of shape ``()``, float64).
    cutoff : float
        Truncation radius ``r_c``.
    species : sequence of int
        Atomic numbers the potential accepts (all interact alike).
    neighbor_backend : {"auto", "vesin", "torch"}

    Shapes
    ------
    As :class:`~sciml.surrogates.potentials.SchNetPotential`: ``forward(positions (B, n, 3) or
    (n, 3), numbers, cell, pbc)`` -> energies ``(B,)`` or ``()``.
    """

    def __init__(self, sigma: float = 1.0, epsilon: float = 1.0, cutoff: float = 2.5, *,
                 species: Sequence[int] = (18,), neighbor_backend: str = "auto") -> None:
        super().__init__()
        if not (sigma > 0 and epsilon > 0 and cutoff > 0):
            raise ParameterError(f"LennardJonesPotential needs sigma, epsilon, cutoff > 0; got {sigma}, {epsilon}, "
                                 f"{cutoff}")
        self.sigma = nn.Parameter(torch.tensor(float(sigma), dtype=torch.float64))
        self.epsilon = nn.Parameter(torch.tensor(float(epsilon), dtype=torch.float64))
        self.cutoff, self.neighbor_backend = float(cutoff), neighbor_backend
        self.register_buffer("species", torch.tensor(sorted({int(z) for z in species}), dtype=torch.long))
        self.config = {"sigma": float(sigma), "epsilon": float(epsilon), "cutoff": self.cutoff,
                       "species": self.species.tolist()}

    def energy_from_edges(self, numbers: Tensor, edge_index: Tensor, vectors: Tensor, batch: Tensor,
                          n_structures: int, mask: Tensor | None = None) -> Tensor:
        """Energies ``(B,)`` from directed edges ``edge_index (2, P)`` (source, target) with vectors
        ``(P, 3)``; each pair appears in both directions. ``mask (P,)`` marks the edges that count."""
        distances = vectors.norm(dim=-1)
        if mask is not None:
            distances = torch.where(mask, distances, torch.full_like(distances, self.cutoff))
        s6 = (self.sigma / distances) ** 6
        c6 = (self.sigma / self.cutoff) ** 6
        e = 4.0 * self.epsilon * ((s6 * s6 - s6) - (c6 * c6 - c6))
        e = torch.where(distances < self.cutoff, e, torch.zeros_like(e))
        pair_batch = batch[edge_index[1]]
        return 0.5 * torch.zeros(n_structures, dtype=e.dtype, device=e.device).index_add(0, pair_batch, e)

    def forward(self, positions: Tensor, numbers: Tensor, cell: Tensor | None = None, pbc: Any = None) -> Tensor:
        single = positions.ndim == 2
        pos = positions.unsqueeze(0) if single else positions
        n_struct, n_atoms = pos.shape[:2]
        z = numbers.expand(n_struct, n_atoms) if numbers.ndim == 1 else numbers
        self.check_species(z)
        flags = _pbc_flags(cell, pbc)
        cells = None if cell is None else (cell.unsqueeze(0) if cell.ndim == 2 else cell).to(pos.dtype).expand(
            n_struct, 3, 3)
        if cells is not None and any(flags):
            check_cell(cells[0].detach().cpu().numpy(), flags, self.cutoff)
        pairs = batched_neighbor_pairs(pos.detach(), None if cells is None else cells.detach(), flags, self.cutoff,
                                       backend=self.neighbor_backend)  # type: ignore[arg-type]
        vectors = pair_vectors(pos, cells, pairs)
        batch = torch.arange(n_struct, device=pos.device).repeat_interleave(n_atoms)
        energy = self.energy_from_edges(z.reshape(-1), torch.stack([pairs.j, pairs.i]), vectors, batch, n_struct)
        return energy[0] if single else energy

    def energy_and_forces(self, positions: Tensor, numbers: Tensor, cell: Tensor | None = None, pbc: Any = None,
                          *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """Energies and forces ``-dE/dx`` (shape of ``positions``)."""
        return energy_and_forces(self, positions, numbers, cell, pbc, create_graph=create_graph)

    def energy_forces_stress(self, positions: Tensor, numbers: Tensor, cell: Tensor,
                             pbc: Any = True) -> tuple[Tensor, Tensor, Tensor]:
        """Energies, forces and the stress ``(1/V) dE/d(strain)`` (shape ``(..., 3, 3)``) of periodic structures."""
        return energy_forces_stress(self, positions, numbers, cell, pbc)

    def check_species(self, numbers: Tensor) -> None:
        """Raise :class:`ParameterError` naming atomic numbers the potential does not know."""
        check_known_species(self.species, numbers)


def _pbc_flags(cell: Tensor | None, pbc: Any) -> tuple[bool, bool, bool]:
    """Periodic directions: ``pbc`` (one row for every structure), or periodic iff a cell is given."""
    if pbc is None:
        return (cell is not None,) * 3  # type: ignore[return-value]
    rows = torch.as_tensor(pbc, dtype=torch.bool).reshape(-1, 3)
    if not bool((rows == rows[0]).all()):
        raise ParameterError("every structure of a batch must have the same pbc")
    if cell is None and bool(rows.any()):
        raise ParameterError("a periodic structure needs a cell")
    return tuple(bool(v) for v in rows[0].tolist())  # type: ignore[return-value]
