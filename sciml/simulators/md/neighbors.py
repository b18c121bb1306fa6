"""Neighbour lists with periodic boundaries: torch pairs for potentials, NumPy pairs for observables.

:func:`neighbor_pairs` returns the full list of pairs ``(i, j, S)`` with
``|x_j - x_i + S @ cell| < cutoff`` (both orders, no self pair with a zero shift), sorted by
``(i, j, S)``; :func:`pair_vectors` turns it into differentiable pair vectors (autograd flows
through positions and cell). Backends: ``vesin`` (``vesin-torch``, the maintained library;
``pip install 'sciml[md]'``) and ``torch`` (a plain-torch O(N) cell list, any triclinic cell,
boxes thinner than the cutoff, mixed pbc). :func:`batched_neighbor_pairs` stacks B replicas
into one graph. :func:`neighbor_arrays` is the NumPy face used by observables.
:func:`check_cell` and :func:`check_min_distance` refuse boxes thinner than twice the cutoff
and overlapping atoms.

Conventions: cell vectors are the *rows* of ``cell`` (as ASE); positions and cutoff share one
length unit (sigma in reduced LJ units, Angstrom for ASE data).

Reference: G. Fraux, "vesin: computing neighbor lists for atomistic system",
https://github.com/Luthaf/vesin; Allen & Tildesley, *Computer Simulation of Liquids*, 2nd ed.,
section 5.3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from sciml.errors import ParameterError
from sciml.simulators.md._cell_list import cell_list_pairs, complete_basis, perpendicular_widths

__all__ = [
    "NeighborPairs",
    "PairArrays",
    "batched_neighbor_pairs",
    "check_cell",
    "check_min_distance",
    "neighbor_arrays",
    "neighbor_pairs",
    "pair_vectors",
    "vesin_available",
]

Backend = Literal["auto", "vesin", "torch"]
_HINT = "pip install 'sciml[md]'"


@dataclass(frozen=True)
class NeighborPairs:
    """A full neighbour list.

    Attributes
    ----------
    i, j : LongTensor, shape (P,)
        Pair indices (``j`` is a neighbour of ``i``); every pair appears in both orders.
    shifts : Tensor, shape (P, 3)
        Integer cell shifts ``S`` in the dtype of the positions: the pair vector is
        ``x_j - x_i + S @ cell``.
    batch : LongTensor, shape (P,), or None
        Replica of each pair for :func:`batched_neighbor_pairs` (``None`` for one system).
    """

    i: torch.Tensor
    j: torch.Tensor
    shifts: torch.Tensor
    batch: torch.Tensor | None = None

    @property
    def n_pairs(self) -> int:
        """Number of (directed) pairs ``P``."""
        return int(self.i.shape[0])

    def to(self, device: torch.device | str) -> NeighborPairs:
        """The same pairs on ``device``."""
        batch = None if self.batch is None else self.batch.to(device)
        return NeighborPairs(self.i.to(device), self.j.to(device), self.shifts.to(device), batch)


class PairArrays(NamedTuple):
    """NumPy neighbour list: ``i``, ``j`` (P,) int64, ``shifts`` (P, 3) int64, ``vectors`` (P, 3) and
    ``distances`` (P,) float64."""

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray


def vesin_available() -> bool:
    """Whether ``vesin-torch`` imports (the ``"auto"`` backend then uses it)."""
    return _vesin_torch() is not None


def _vesin_torch() -> Any:
    try:
        import vesin_torch
    except ImportError:
        try:
            from vesin import torch as vesin_torch  # older vesin releases
        except ImportError:
            return None
    return vesin_torch


def _as_pbc(pbc: Sequence[bool] | torch.Tensor | np.ndarray | bool) -> torch.Tensor:
    """``pbc`` as a bool tensor of shape (3,); raises ParameterError otherwise."""
    if isinstance(pbc, (bool, np.bool_)):
        return torch.full((3,), bool(pbc))
    arr = torch.as_tensor(np.asarray(pbc.cpu() if isinstance(pbc, torch.Tensor) else pbc)).reshape(-1)
    if arr.shape != (3,):
        raise ParameterError(f"pbc must be a bool or 3 bools, got {pbc!r}")
    return arr.to(torch.bool)


def _check_inputs(positions: torch.Tensor, cell: torch.Tensor | None, pbc: Any,
                  cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate; return ``(cell (3, 3) float64 cpu, pbc (3,) bool)``."""
    if not isinstance(positions, torch.Tensor) or positions.ndim != 2 or positions.shape[1] != 3:
        raise ParameterError(f"positions must be a tensor of shape (n, 3), got "
                             f"{getattr(positions, 'shape', type(positions).__name__)}")
    if not positions.is_floating_point():
        raise ParameterError(f"positions must be floating point, got {positions.dtype}")
    if not (isinstance(cutoff, (int, float)) and math.isfinite(cutoff) and cutoff > 0):
        raise ParameterError(f"cutoff must be a finite number > 0, got {cutoff!r}")
    flags = _as_pbc(pbc)
    if cell is None:
        if bool(flags.any()):
            raise ParameterError(f"a periodic system (pbc={flags.tolist()}) needs a cell")
        cell64 = torch.zeros(3, 3, dtype=torch.float64)
    else:
        cell64 = torch.as_tensor(cell).detach().to(torch.float64).cpu()
        if cell64.shape != (3, 3):
            raise ParameterError(f"cell must have shape (3, 3), got {tuple(cell64.shape)}")
    if not bool(torch.isfinite(positions.detach()).all()) or not bool(torch.isfinite(cell64).all()):
        raise ParameterError("positions and cell must be finite")
    return cell64, flags


def _vesin_pairs(positions: torch.Tensor, basis: torch.Tensor, pbc: torch.Tensor, cutoff: float):
    module = _vesin_torch()
    if module is None:
        raise ImportError(f"backend 'vesin' needs vesin-torch: {_HINT}")
    pos = positions.detach().contiguous()
    box = basis.to(dtype=pos.dtype, device=pos.device)
    nl = module.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s = nl.compute(pos, box, pbc.to(pos.device), "ijS")
    return i.long(), j.long(), s.long()


def _sort_pairs(i: torch.Tensor, j: torch.Tensor, s: torch.Tensor):
    """Sort pairs lexicographically by ``(i, j, s_x, s_y, s_z)``: one argsort of a mixed-radix key."""
    if i.numel() == 0:
        return i, j, s
    n = int(torch.maximum(i.max(), j.max())) + 1
    low = s.min(dim=0).values
    radix = (s.max(dim=0).values - low + 1).tolist()
    if n * n * math.prod(radix) < 2**62:
        u = s - low
        key = ((i * n + j) * radix[0] + u[:, 0]) * radix[1] + u[:, 1]
        order = torch.argsort(key * radix[2] + u[:, 2])
    else:  # pragma: no cover - only for astronomically large lists
        order = torch.arange(i.shape[0], device=i.device)
        for col in (s[:, 2], s[:, 1], s[:, 0], j, i):
            order = order[torch.argsort(col[order], stable=True)]
    return i[order], j[order], s[order]


def neighbor_pairs(positions: torch.Tensor, cell: torch.Tensor | None,
                   pbc: Sequence[bool] | torch.Tensor | bool, cutoff: float, *,
                   backend: Backend = "auto") -> NeighborPairs:
    """All pairs closer than ``cutoff``, periodic images included.

    Parameters
    ----------
    positions : Tensor, shape (n, 3)
        Cartesian positions (any float dtype and device; not differentiated here).
    cell : Tensor, shape (3, 3), or None
        Cell vectors as rows; ``None`` for a fully non-periodic system. Rows along
        non-periodic directions are ignored (may be zero).
    pbc : bool, sequence of 3 bool or Tensor (3,)
        Periodic directions.
    cutoff : float
        Cutoff radius ``> 0`` (same length unit as positions).
    backend : {"auto", "vesin", "torch"}
        ``"auto"``: vesin-torch when importable, else the plain-torch cell list.

    Returns
    -------
    NeighborPairs
        Full list sorted by ``(i, j, S)``; ``shifts`` in the positions' dtype and device.

    Raises
    ------
    ParameterError
        Bad shapes, non-finite input, ``cutoff <= 0``, periodic system without a cell, or
        linearly dependent periodic cell vectors.
    ImportError
        ``backend="vesin"`` without vesin-torch.
    """
    cell64, flags = _check_inputs(positions, cell, pbc, cutoff)
    if backend not in ("auto", "vesin", "torch"):
        raise ParameterError(f"backend must be 'auto', 'vesin' or 'torch', got {backend!r}")
    basis = complete_basis(cell64, flags)
    use_vesin = backend == "vesin" or (backend == "auto" and _vesin_torch() is not None)
    if use_vesin:
        i, j, s = _vesin_pairs(positions, basis, flags, cutoff)
    else:
        i, j, s = cell_list_pairs(positions, basis.to(positions.device), flags, float(cutoff))
    i, j, s = _sort_pairs(i.to(positions.device), j.to(positions.device), s.to(positions.device))
    return NeighborPairs(i, j, s.to(positions.dtype))


def pair_vectors(positions: torch.Tensor, cell: torch.Tensor | None, pairs: NeighborPairs) -> torch.Tensor:
    """Pair vectors ``x_j - x_i + S @ cell``, differentiable in positions and cell.

    Parameters
    ----------
    positions : Tensor, shape (n, 3) or (B, n, 3)
        Positions; a batch is flattened to ``(B * n, 3)`` (the indexing of
        :func:`batched_neighbor_pairs`).
    cell : Tensor, shape (3, 3) or (B, 3, 3), or None
        Cell rows; per replica when ``pairs.batch`` is set. ``None``: no shifts (non-periodic).
    pairs : NeighborPairs

    Returns
    -------
    Tensor, shape (P, 3)
    """
    flat = positions.reshape(-1, 3)
    vectors = flat[pairs.j] - flat[pairs.i]
    if cell is None:
        return vectors
    shifts = pairs.shifts.to(dtype=flat.dtype)
    if cell.ndim == 3:
        if pairs.batch is None:
            raise ParameterError("a batch of cells (B, 3, 3) needs pairs from batched_neighbor_pairs")
        return vectors + torch.einsum("pk,pkd->pd", shifts, cell[pairs.batch])
    return vectors + shifts @ cell


def batched_neighbor_pairs(positions: torch.Tensor, cells: torch.Tensor | None,
                           pbc: Sequence[bool] | torch.Tensor | bool, cutoff: float, *,
                           backend: Backend = "auto") -> NeighborPairs:
    """Neighbour pairs of ``B`` replicas of ``n`` atoms as one stacked graph.

    Parameters
    ----------
    positions : Tensor, shape (B, n, 3)
    cells : Tensor, shape (B, 3, 3) or (3, 3) (shared), or None (non-periodic)
    pbc, cutoff, backend
        As :func:`neighbor_pairs` (the same for every replica).

    Returns
    -------
    NeighborPairs
        Atom indices offset by ``b * n`` (index the flattened ``(B * n, 3)`` positions),
        ``batch`` the replica of each pair.
    """
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ParameterError(f"positions must have shape (B, n, 3), got {tuple(positions.shape)}")
    n_rep, n_atoms = positions.shape[:2]
    if cells is not None and cells.ndim == 2:
        cells = cells.expand(n_rep, 3, 3)
    parts = [neighbor_pairs(positions[b], None if cells is None else cells[b], pbc, cutoff, backend=backend)
             for b in range(n_rep)]
    device = positions.device
    batch = torch.cat([torch.full((p.n_pairs,), b, dtype=torch.long, device=device) for b, p in enumerate(parts)])
    return NeighborPairs(
        i=torch.cat([p.i + b * n_atoms for b, p in enumerate(parts)]),
        j=torch.cat([p.j + b * n_atoms for b, p in enumerate(parts)]),
        shifts=torch.cat([p.shifts for p in parts]),
        batch=batch,
    )


def _vesin_numpy() -> Any:
    try:
        from vesin import NeighborList
    except ImportError:
        return None
    return NeighborList


def neighbor_arrays(positions: Any, cell: Any, pbc: Any, cutoff: float, *,
                    backend: Backend = "auto") -> PairArrays:
    """NumPy face of :func:`neighbor_pairs`, with vectors and distances (float64).

    ``"auto"`` and ``"vesin"`` use vesin's NumPy ``NeighborList`` (no torch round trip);
    ``"torch"`` (or ``"auto"`` without vesin) the plain-torch cell list.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
    cell : array_like, shape (3, 3), or None
    pbc : bool or 3 bools
    cutoff : float
    backend : {"auto", "vesin", "torch"}

    Returns
    -------
    PairArrays
        Sorted by ``(i, j, S)``.
    """
    pos = torch.tensor(np.asarray(positions, dtype=np.float64))
    cell_t = None if cell is None else torch.tensor(np.asarray(cell, dtype=np.float64))
    vesin_nl = _vesin_numpy() if backend in ("auto", "vesin") else None
    if vesin_nl is None:
        if backend == "vesin":
            raise ImportError(f"backend 'vesin' needs vesin: {_HINT}")
        pairs = neighbor_pairs(pos, cell_t, pbc, cutoff, backend="torch")
        vectors = pair_vectors(pos, cell_t, pairs).numpy()
        return PairArrays(pairs.i.numpy(), pairs.j.numpy(), pairs.shifts.long().numpy(), vectors,
                          np.linalg.norm(vectors, axis=1))
    cell64, flags = _check_inputs(pos, cell_t, pbc, cutoff)
    basis = complete_basis(cell64, flags).numpy()
    i, j, shifts, vectors = vesin_nl(cutoff=float(cutoff), full_list=True).compute(
        pos.numpy(), basis, flags.numpy(), "ijSD")
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i))
    vectors = np.asarray(vectors[order], dtype=np.float64)
    return PairArrays(i[order].astype(np.int64), j[order].astype(np.int64), shifts[order].astype(np.int64),
                      vectors, np.linalg.norm(vectors, axis=1))


def check_cell(cell: Any, pbc: Any, cutoff: float) -> np.ndarray:
    """Refuse a periodic box thinner than twice the cutoff (minimum image would break).

    Parameters
    ----------
    cell : array_like, shape (3, 3)
        Cell vectors as rows.
    pbc : bool or 3 bools
    cutoff : float
        Interaction cutoff, same length unit as ``cell``.

    Returns
    -------
    ndarray, shape (3,)
        Perpendicular widths of the cell (``inf`` along non-periodic directions).

    Raises
    ------
    ParameterError
        A periodic width ``< 2 * cutoff``; the message names every width and the bound.
    """
    flags = _as_pbc(pbc)
    cell64 = torch.as_tensor(np.asarray(cell, dtype=np.float64))
    if cell64.shape != (3, 3):
        raise ParameterError(f"cell must have shape (3, 3), got {tuple(cell64.shape)}")
    widths = perpendicular_widths(complete_basis(cell64, flags)).numpy()
    widths = np.where(flags.numpy(), widths, np.inf)
    if np.any(widths < 2.0 * cutoff):
        named = ", ".join(f"{axis}: {w:.4g}" for axis, w, f in zip("abc", widths, flags.tolist(), strict=True) if f)
        raise ParameterError(
            f"periodic box too small for cutoff {cutoff:g}: perpendicular widths ({named}) must each be "
            f">= 2 * cutoff = {2 * cutoff:g}; use more atoms, a lower density or a smaller cutoff"
        )
    return widths


def check_min_distance(positions: Any, cell: Any = None, pbc: Any = None, min_distance: float = 0.5) -> None:
    """Refuse overlapping atoms: any two atoms (images included) closer than ``min_distance``.

    Parameters
    ----------
    positions : array_like, shape (n, 3) or (frames, n, 3), or a trajectory Dataset
        A Dataset (``positions``, ``cell``, ``pbc`` of the trajectory layout) is checked at
        every sample and frame; ``cell`` and ``pbc`` are then taken from it.
    cell : array_like, shape (3, 3) or (frames, 3, 3), or None
    pbc : bool or 3 bools (default: periodic when a cell is given)
    min_distance : float
        Smallest accepted distance (e.g. ``0.5`` sigma in reduced LJ units).

    Raises
    ------
    ParameterError
        Naming the closest pair, its distance, its shift (and sample/frame).
    """
    if hasattr(positions, "data_vars"):
        _check_dataset_min_distance(positions, min_distance)
        return
    pos = np.asarray(positions, dtype=np.float64)
    frames = pos[None] if pos.ndim == 2 else pos
    cells = None if cell is None else np.broadcast_to(np.asarray(cell, np.float64), (len(frames), 3, 3))
    flags = (cell is not None) if pbc is None else pbc
    for f in range(len(frames)):
        _check_frame_distance(frames[f], None if cells is None else cells[f], flags, min_distance,
                              where=f" (frame {f})" if pos.ndim == 3 else "")


def _check_frame_distance(pos: np.ndarray, cell: Any, pbc: Any, min_distance: float, *, where: str) -> None:
    pairs = neighbor_arrays(pos, cell, pbc, min_distance)
    if pairs.i.size == 0:
        return
    k = int(np.argmin(pairs.distances))
    shift = pairs.shifts[k].tolist()
    raise ParameterError(
        f"overlapping atoms{where}: atoms {int(pairs.i[k])} and {int(pairs.j[k])} are "
        f"{pairs.distances[k]:.4g} apart (cell shift {shift}), closer than min_distance {min_distance:g}"
    )


def _check_dataset_min_distance(ds: Any, min_distance: float) -> None:
    """:func:`check_min_distance` over every sample and frame of a trajectory dataset."""
    positions = ds["positions"].transpose("sample", "frame", "atom", "xyz").values
    cell = ds["cell"].transpose("sample", "frame", "cell_vector", "xyz").values if "cell" in ds else None
    pbc = ds["pbc"].transpose("sample", "xyz").values.astype(bool) if "pbc" in ds else None
    for s in range(positions.shape[0]):
        for f in range(positions.shape[1]):
            flags = pbc[s] if pbc is not None else cell is not None
            _check_frame_distance(positions[s, f], None if cell is None else cell[s, f], flags, min_distance,
                                  where=f" (sample {s}, frame {f})")
