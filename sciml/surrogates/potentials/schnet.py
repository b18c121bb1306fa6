"""SchNet interatomic potential (torch_geometric's SchNet on sciml's periodic neighbour lists).

``E = sum_i [scale * h_i + shift] + E_prior``: PyG's :class:`~torch_geometric.nn.models.SchNet`
gives the atomic contributions ``h_i`` from the edges that :mod:`sciml.simulators.md.neighbors`
finds (periodic images included; PyG's own ``radius_graph`` needs packages that do not install
here), ``scale`` and ``shift`` put them in the data's energy units, and an optional pair prior
(:class:`RepulsivePrior`) keeps atoms apart where the data never go. Forces are ``-dE/dx`` by
autograd, stresses ``(1/V) dE/d(strain)``.

Reference: K. T. Schütt et al., "SchNet – A deep learning architecture for molecules and
materials", J. Chem. Phys. 148, 241722 (2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciml.errors import ParameterError
from sciml.surrogates.potentials.derivatives import check_known_species, energy_and_forces, energy_forces_stress
from sciml.simulators.md.neighbors import batched_neighbor_pairs, check_cell, pair_vectors

__all__ = ["RepulsivePrior", "SchNetPotential"]


class _GivenEdges(nn.Module):
    """SchNet's ``interaction_graph`` hook: hands over the edges computed before the call."""

    def __init__(self) -> None:
        super().__init__()
        self.edges: tuple[Tensor, Tensor] | None = None

    def forward(self, pos: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        if self.edges is None:
            raise RuntimeError("SchNetPotential sets the edges before calling SchNet")
        return self.edges


class RepulsivePrior(nn.Module):
    """Pair prior ``sum_{i<j} epsilon [(sigma / r)^12 - (sigma / r_c)^12]`` for ``r < r_c``.

    A purely repulsive wall (no parameters) that keeps atoms apart in regions the training data
    never visit; it vanishes at the cutoff ``r_c``.
    """

    def __init__(self, sigma: float, epsilon: float, cutoff: float) -> None:
        super().__init__()
        if not (sigma > 0 and epsilon >= 0 and cutoff > 0):
            raise ParameterError(f"RepulsivePrior needs sigma > 0, epsilon >= 0, cutoff > 0; got {sigma}, {epsilon}, "
                                 f"{cutoff}")
        self.sigma, self.epsilon, self.cutoff = float(sigma), float(epsilon), float(cutoff)

    def forward(self, distances: Tensor, pair_batch: Tensor, n_structures: int, mask: Tensor | None = None) -> Tensor:
        """Energy per structure ``(B,)`` from directed-pair distances ``(P,)`` (each pair twice);
        ``mask (P,)``: False for padding pairs, which contribute nothing."""
        e = self.epsilon * ((self.sigma / distances) ** 12 - (self.sigma / self.cutoff) ** 12)
        keep = distances < self.cutoff if mask is None else (distances < self.cutoff) & mask
        e = torch.where(keep, e, torch.zeros_like(e))
        return 0.5 * torch.zeros(n_structures, dtype=e.dtype, device=e.device).index_add(0, pair_batch, e)


class SchNetPotential(nn.Module):
    """A SchNet energy model of structures of known species.

    Parameters
    ----------
    species : sequence of int
        Atomic numbers the model knows (< 100); others are refused.
    cutoff : float
        Interaction cutoff, in the positions' length unit.
    hidden_channels, num_filters, num_interactions, num_gaussians : int
        SchNet's sizes (Schütt et al.).
    energy_scale, energy_shift : float
        Per-atom output ``scale * h_i + shift``, in energy units (see :meth:`fit_scales`).
    prior : RepulsivePrior, optional
    neighbor_backend : {"auto", "vesin", "torch"}

    Shapes
    ------
    ``forward(positions (B, n, 3) or (n, 3), numbers (B, n) or (n,), cell (B, 3, 3) or (3, 3) or
    None, pbc (3,) or (B, 3) or None)`` -> energies ``(B,)`` (``()`` for one structure).
    """

    def __init__(self, species: Sequence[int], cutoff: float, *, hidden_channels: int = 64, num_filters: int = 64,
                 num_interactions: int = 3, num_gaussians: int = 25, energy_scale: float = 1.0,
                 energy_shift: float = 0.0, prior: RepulsivePrior | None = None,
                 neighbor_backend: str = "auto") -> None:
        super().__init__()
        from torch_geometric.nn.models import SchNet

        known = sorted({int(z) for z in species})
        if not known or known[0] < 1 or known[-1] >= 100:
            raise ParameterError(f"species must be atomic numbers in 1..99; got {list(species)}")
        if not cutoff > 0:
            raise ParameterError(f"cutoff must be > 0; got {cutoff}")
        self.cutoff, self.neighbor_backend = float(cutoff), neighbor_backend
        self.register_buffer("species", torch.tensor(known, dtype=torch.long))
        self.register_buffer("energy_scale", torch.tensor(float(energy_scale)))
        self.register_buffer("energy_shift", torch.tensor(float(energy_shift)))
        self.graph = _GivenEdges()
        self.schnet = SchNet(hidden_channels=hidden_channels, num_filters=num_filters,
                             num_interactions=num_interactions, num_gaussians=num_gaussians, cutoff=self.cutoff,
                             interaction_graph=self.graph)
        self.prior = prior
        self.config = {"species": known, "cutoff": self.cutoff, "hidden_channels": hidden_channels,
                       "num_filters": num_filters, "num_interactions": num_interactions,
                       "num_gaussians": num_gaussians}

    # ------------------------------------------------------------------ energy
    def forward(self, positions: Tensor, numbers: Tensor, cell: Tensor | None = None,
                pbc: Any = None) -> Tensor:
        single = positions.ndim == 2
        pos = positions.unsqueeze(0) if single else positions
        n_struct, n_atoms = pos.shape[:2]
        z = numbers.expand(n_struct, n_atoms) if numbers.ndim == 1 else numbers
        self.check_species(z)
        cells, flags = self._cells_and_pbc(cell, pbc, n_struct, pos)
        pairs = batched_neighbor_pairs(pos.detach(), None if cells is None else cells.detach(), flags, self.cutoff,
                                       backend=self.neighbor_backend)
        vectors = pair_vectors(pos, cells, pairs)
        batch = torch.arange(n_struct, device=pos.device).repeat_interleave(n_atoms)
        edge_index = torch.stack([pairs.j, pairs.i])  # PyG: messages flow source j -> target i
        energy = self.energy_from_edges(z.reshape(-1), edge_index, vectors, batch, n_struct)
        return energy[0] if single else energy

    def energy_from_edges(self, numbers: Tensor, edge_index: Tensor, vectors: Tensor, batch: Tensor,
                          n_structures: int, mask: Tensor | None = None) -> Tensor:
        """Energies ``(B,)`` of atoms ``numbers (N,)`` in structures ``batch (N,)`` from directed edges
        ``edge_index (2, P)`` (source, target) with vectors ``(P, 3)``; ``mask (P,)`` marks real edges
        (padding edges get the cutoff distance, where SchNet's filter and the prior vanish)."""
        distances = vectors.norm(dim=-1)
        if mask is not None:
            distances = torch.where(mask, distances, torch.full_like(distances, self.cutoff))
        self.graph.edges = (edge_index, distances)
        try:
            h = self.schnet(numbers, vectors.new_zeros(numbers.shape[0], 3), batch)  # (B, 1); pos unused
        finally:
            self.graph.edges = None
        h = h.reshape(-1)
        counts = torch.zeros(n_structures, dtype=vectors.dtype, device=vectors.device).index_add(
            0, batch, torch.ones_like(batch, dtype=vectors.dtype))
        energy = self.energy_scale * h + self.energy_shift * counts
        if self.prior is not None:
            energy = energy + self.prior(distances, batch[edge_index[1]], n_structures, mask)
        return energy

    # ------------------------------------------------------------------ derivatives
    def energy_and_forces(self, positions: Tensor, numbers: Tensor, cell: Tensor | None = None, pbc: Any = None,
                          *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """Energies and forces ``-dE/dx`` (shape of ``positions``); ``create_graph`` for force matching."""
        return energy_and_forces(self, positions, numbers, cell, pbc, create_graph=create_graph)

    def energy_forces_stress(self, positions: Tensor, numbers: Tensor, cell: Tensor,
                             pbc: Any = True) -> tuple[Tensor, Tensor, Tensor]:
        """Energies, forces and the stress ``(1/V) dE/d(strain)`` (shape ``(..., 3, 3)``) of periodic structures."""
        return energy_forces_stress(self, positions, numbers, cell, pbc)

    # ------------------------------------------------------------------ checks and scales
    def check_species(self, numbers: Tensor) -> None:
        """Raise :class:`ParameterError` naming atomic numbers the potential does not know."""
        check_known_species(self.species, numbers)

    def _cells_and_pbc(self, cell: Tensor | None, pbc: Any, n_struct: int,
                       pos: Tensor) -> tuple[Tensor | None, tuple[bool, bool, bool]]:
        if pbc is None:
            flags = (cell is not None,) * 3
        else:
            p = torch.as_tensor(pbc, dtype=torch.bool).reshape(-1, 3)
            if not bool((p == p[0]).all()):
                raise ParameterError("every structure of a batch must have the same pbc")
            flags = tuple(bool(v) for v in p[0].tolist())
        if cell is None:
            if any(flags):
                raise ParameterError("a periodic structure needs a cell")
            return None, flags
        cells = (cell.unsqueeze(0) if cell.ndim == 2 else cell).to(pos.dtype).expand(n_struct, 3, 3)
        if any(flags):
            for c in cells.detach().cpu().unique(dim=0):
                check_cell(c.numpy(), flags, self.cutoff)
        return cells, flags  # type: ignore[return-value]

    @torch.no_grad()
    def fit_scales(self, energies: Tensor, forces: Tensor, n_atoms: int) -> SchNetPotential:
        """Set ``shift`` to the mean energy per atom and ``scale`` to the RMS force component."""
        self.energy_shift.fill_(float(energies.mean()) / n_atoms if energies.numel() else 0.0)
        self.energy_scale.fill_(float(forces.square().mean().sqrt()) or 1.0)
        return self
