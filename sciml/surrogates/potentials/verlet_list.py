"""Neighbour lists of M replicas with a Verlet skin, padded to one edge count for ``torch.func.vmap``.

:class:`VerletLists` builds, for every replica, the pairs closer than ``cutoff + skin``
(:func:`~sciml.simulators.md.neighbors.batched_neighbor_pairs`) and keeps them until some atom
of some replica has moved more than ``skin / 2`` since the build; pairs within the cutoff are
then still in the list, so results do not depend on the skin. Each replica's edges are padded
to the largest count ``P``; a padding edge joins atom 0 to itself shifted by ``2 * cutoff``
along x, so its distance is beyond the cutoff and it drops out with the other far edges.
At every step :meth:`VerletLists.edges` moves the edges within the cutoff to the front (in
their order) and cuts the rest, so the potential sees no more edges than without a skin.
Lists are full (each pair in both directions, as ``energy_from_edges`` wants) or half (each
pair once: ``i < j``, or ``i == j`` with a lexicographically positive shift).

Reference: L. Verlet, Phys. Rev. 159 (1967) 98; Allen & Tildesley, *Computer Simulation of
Liquids*, 2nd ed., section 5.2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sciml.errors import ParameterError
from sciml.simulators.md.neighbors import NeighborPairs, batched_neighbor_pairs

__all__ = ["VerletLists"]


class VerletLists:
    """Skin neighbour lists of ``M`` replicas of ``n`` atoms in one fixed cell.

    Parameters
    ----------
    cutoff : float
        Interaction cutoff of the potential.
    skin : float
        Extra radius of the lists (``>= 0``; 0 rebuilds at every step).
    cell : Tensor, shape (3, 3)
    pbc : tuple of 3 bool
    half : bool
        Each pair once instead of in both directions.
    backend : {"auto", "vesin", "torch"}

    Attributes
    ----------
    edge_index : LongTensor, shape (M, 2, P)
        Rows ``(source j, target i)`` of each replica's edges (PyG's order), local atom indices.
    shift_vectors : Tensor, shape (M, P, 3)
        ``S @ cell`` of each edge (``(2 cutoff, 0, 0)`` for padding).
    n_builds : int
        Lists built so far.
    """

    def __init__(self, cutoff: float, skin: float, cell: Tensor, pbc: Sequence[bool], *, half: bool = False,
                 backend: str = "auto") -> None:
        if not (math.isfinite(skin) and skin >= 0):
            raise ParameterError(f"skin must be a finite number >= 0, got {skin!r}")
        self.cutoff, self.skin, self.backend, self.half = float(cutoff), float(skin), backend, bool(half)
        self.cell, self.pbc = cell, tuple(bool(p) for p in pbc)
        self.reference: Tensor | None = None
        self.edge_index = torch.empty(0, 2, 0, dtype=torch.long)
        self.shift_vectors = torch.empty(0, 0, 3, dtype=cell.dtype)
        self.n_builds = 0

    def build(self, positions: Tensor) -> None:
        """Build the lists of ``positions (M, n, 3)`` (pairs closer than ``cutoff + skin``)."""
        pos = positions.detach()
        n_rep, n_atoms = pos.shape[:2]
        periodic = any(self.pbc)
        pairs = batched_neighbor_pairs(pos, self.cell if periodic else None, self.pbc, self.cutoff + self.skin,
                                       backend=self.backend)  # type: ignore[arg-type]
        assert pairs.batch is not None
        if self.half:
            pairs = _half(pairs)
        counts = torch.bincount(pairs.batch, minlength=n_rep)
        width = max(int(counts.max()) if counts.numel() else 0, 1)
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(pairs.n_pairs, device=pos.device) - start[pairs.batch]
        edges = torch.zeros(n_rep, 2, width, dtype=torch.long, device=pos.device)
        edges[pairs.batch, 0, slot] = pairs.j - pairs.batch * n_atoms
        edges[pairs.batch, 1, slot] = pairs.i - pairs.batch * n_atoms
        shifts = torch.zeros(n_rep, width, 3, dtype=pos.dtype, device=pos.device)
        shifts[..., 0] = 2.0 * self.cutoff
        if pairs.n_pairs:
            shifts[pairs.batch, slot] = pairs.shifts @ self.cell if periodic else 0.0
        self.edge_index, self.shift_vectors = edges, shifts
        self.reference = pos.clone()
        self.n_builds += 1

    def max_displacement(self, positions: Tensor) -> Tensor:
        """Largest distance ``()`` an atom of any replica moved since the last build (``inf`` before one)."""
        if self.reference is None or self.reference.shape != positions.shape:
            return torch.tensor(math.inf, dtype=positions.dtype)
        return (positions.detach() - self.reference).norm(dim=-1).max()

    def update(self, positions: Tensor, displacement: float | None = None) -> bool:
        """Rebuild when an atom moved more than ``skin / 2`` (``displacement`` if already known); True if rebuilt."""
        moved = float(self.max_displacement(positions)) if displacement is None else displacement
        if moved > 0.5 * self.skin or self.reference is None:
            self.build(positions)
            return True
        return False

    def edges(self, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The edges within the cutoff at ``positions (M, n, 3)``, padded to the largest count ``P'``.

        Returns
        -------
        edge_index : LongTensor, shape (M, 2, P')
            ``(source j, target i)``.
        vectors : Tensor, shape (M, P', 3)
            ``x_j - x_i + S @ cell``, differentiable in ``positions``.
        mask : BoolTensor, shape (M, P')
            Real edges within the cutoff (False for padding).
        """
        rows = torch.arange(positions.shape[0], device=positions.device).unsqueeze(1)
        with torch.no_grad():
            near = self._vectors(positions.detach(), rows, self.edge_index, self.shift_vectors).norm(dim=-1) \
                < self.cutoff
            width = max(int(near.sum(1).max()) if near.numel() else 0, 1)
            order = torch.argsort((~near).to(torch.int8), dim=1, stable=True)[:, :width]
        edge_index = self.edge_index.gather(2, order.unsqueeze(1).expand(-1, 2, -1))
        shifts = self.shift_vectors.gather(1, order.unsqueeze(-1).expand(-1, -1, 3))
        return edge_index, self._vectors(positions, rows, edge_index, shifts), near.gather(1, order)

    @staticmethod
    def _vectors(positions: Tensor, rows: Tensor, edge_index: Tensor, shifts: Tensor) -> Tensor:
        n_rep, n_atoms = positions.shape[:2]
        flat = positions.reshape(n_rep * n_atoms, 3)
        index = edge_index + (rows * n_atoms).unsqueeze(1)  # (M, 2, P) rows of ``flat``
        ends = flat.index_select(0, index.reshape(-1)).reshape(n_rep, 2, -1, 3)
        return ends[:, 0] - ends[:, 1] + shifts


def _half(pairs: NeighborPairs) -> NeighborPairs:
    """Each pair of a full list once: ``i < j``, or ``i == j`` with a lexicographically positive shift."""
    s = pairs.shifts.round().long()
    base = 2 * int(s.abs().max()) + 1 if s.numel() else 1
    key = (s[:, 0] * base + s[:, 1]) * base + s[:, 2]
    keep = (pairs.i < pairs.j) | ((pairs.i == pairs.j) & (key > 0))
    return NeighborPairs(pairs.i[keep], pairs.j[keep], pairs.shifts[keep],
                         None if pairs.batch is None else pairs.batch[keep])
