"""Plain-torch O(N) cell list with periodic images, for any triclinic cell and mixed pbc.

The private engine behind ``neighbor_pairs(..., backend="torch")``. Atoms are binned in
fractional coordinates of a basis whose periodic rows are the cell vectors (non-periodic rows
are completed orthonormally, so a degenerate or zero non-periodic cell vector is fine). A bin
is at least ``cutoff`` wide perpendicular to each cell face, so a neighbour lies within
``m_k = ceil(cutoff * n_k / w_k)`` bins along direction ``k`` (``w_k`` the perpendicular
width, ``n_k`` the number of bins); boxes thinner than the cutoff get one bin and as many
images as needed.

Reference: M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.
(OUP, 2017), section 5.3.2 (cell structures and linked lists).
"""

from __future__ import annotations

import itertools
import math

import torch

from sciml.errors import ParameterError

__all__ = ["cell_list_pairs", "complete_basis", "perpendicular_widths"]


def complete_basis(cell: torch.Tensor, pbc: torch.Tensor) -> torch.Tensor:
    """A non-singular basis whose periodic rows are those of ``cell``.

    Parameters
    ----------
    cell : Tensor, shape (3, 3)
        Cell vectors as rows (float64); rows of non-periodic directions are ignored.
    pbc : Tensor of bool, shape (3,)
        Periodic directions.

    Returns
    -------
    Tensor, shape (3, 3)
        Periodic rows copied; non-periodic rows an orthonormal completion.

    Raises
    ------
    ParameterError
        The periodic cell vectors are linearly dependent (zero volume).
    """
    periodic = [k for k in range(3) if bool(pbc[k])]
    rows = [cell[k] for k in periodic]
    basis = torch.zeros(3, 3, dtype=cell.dtype, device=cell.device)
    for k in periodic:
        basis[k] = cell[k]
    if periodic:
        gram = torch.stack(rows) @ torch.stack(rows).T
        norms = torch.stack([r.norm() for r in rows])
        if norms.min() <= 0 or torch.linalg.det(gram) <= 1e-12 * float(norms.prod() ** 2):
            raise ParameterError(
                f"the periodic cell vectors {[r.tolist() for r in rows]} are linearly dependent (zero volume)"
            )
    for k, vec in zip([k for k in range(3) if not bool(pbc[k])], _orthonormal_complement(rows), strict=True):
        basis[k] = vec
    return basis


def _orthonormal_complement(rows: list[torch.Tensor]) -> list[torch.Tensor]:
    """``3 - len(rows)`` orthonormal vectors perpendicular to the given independent ``rows``."""
    eye = torch.eye(3, dtype=torch.float64)
    if not rows:
        return [eye[0], eye[1], eye[2]]
    a = rows[0].to(torch.float64)
    if len(rows) == 3:
        return []
    if len(rows) == 2:
        n = torch.linalg.cross(a, rows[1].to(torch.float64))
        return [n / n.norm()]
    e = eye[int(torch.argmin(a.abs()))]
    u = torch.linalg.cross(a, e)
    u = u / u.norm()
    v = torch.linalg.cross(a, u)
    return [u, v / v.norm()]


def perpendicular_widths(basis: torch.Tensor) -> torch.Tensor:
    """Widths ``w_k = |det B| / |b_{k+1} x b_{k+2}|`` of a cell perpendicular to its faces, shape (3,)."""
    volume = torch.linalg.det(basis).abs()
    areas = torch.stack([torch.linalg.cross(basis[(k + 1) % 3], basis[(k + 2) % 3]).norm() for k in range(3)])
    return volume / areas


def _bin_layout(frac: torch.Tensor, pbc: torch.Tensor, widths: torch.Tensor, cutoff: float, n_atoms: int):
    """Per direction: lower edge, span (fractional), number of bins and search range in bins."""
    lo, span, n_bins, reach = [], [], [], []
    for k in range(3):
        if bool(pbc[k]):
            lo_k, span_k = 0.0, 1.0
        else:
            lo_k = float(frac[:, k].min()) if n_atoms else 0.0
            span_k = float(frac[:, k].max()) - lo_k if n_atoms else 0.0
        extent = span_k * float(widths[k])
        lo.append(lo_k)
        span.append(span_k)
        n_bins.append(max(1, int(math.floor(extent / cutoff))) if extent > 0 else 1)
    while math.prod(n_bins) > 4 * n_atoms + 8:  # keep the bin grid O(N); larger bins stay correct
        k = max(range(3), key=lambda d: n_bins[d])
        n_bins[k] = max(1, n_bins[k] // 2)
    for k in range(3):
        extent = span[k] * float(widths[k])
        m = math.ceil(cutoff * n_bins[k] / extent * (1 + 1e-9)) if extent > 0 else 0
        reach.append(m if bool(pbc[k]) else min(m, n_bins[k] - 1))
    return lo, span, n_bins, reach


def _assign_bins(frac: torch.Tensor, lo: list[float], span: list[float], n_bins: list[int]) -> torch.Tensor:
    """Integer bin coordinates of every atom, shape (n, 3)."""
    cols = []
    for k in range(3):
        scaled = (frac[:, k] - lo[k]) / span[k] * n_bins[k] if span[k] > 0 else torch.zeros_like(frac[:, k])
        cols.append(torch.clamp(torch.floor(scaled).long(), 0, n_bins[k] - 1))
    return torch.stack(cols, dim=1)


def _candidates(bins: torch.Tensor, pbc: torch.Tensor, n_bins: list[int], reach: list[int]):
    """All (i, j, shift) candidates from the neighbouring bins of each atom's bin."""
    device = bins.device
    n_atoms = bins.shape[0]
    dims = torch.tensor(n_bins, device=device)
    lin = (bins[:, 0] * n_bins[1] + bins[:, 1]) * n_bins[2] + bins[:, 2]
    order = torch.argsort(lin, stable=True)
    counts = torch.bincount(lin, minlength=math.prod(n_bins))
    starts = torch.cumsum(counts, 0) - counts
    offsets = torch.tensor(list(itertools.product(*[range(-m, m + 1) for m in reach])), device=device)
    target = bins[:, None, :] + offsets[None, :, :]  # (n, K, 3)
    periodic = pbc.to(device)[None, None, :]
    shift = torch.where(periodic, torch.div(target, dims, rounding_mode="floor"), torch.zeros_like(target))
    target = torch.where(periodic, torch.remainder(target, dims), target)
    valid = ((target >= 0) & (target < dims)).all(dim=-1)
    target = torch.where(valid[..., None], target, torch.zeros_like(target))
    t_lin = (target[..., 0] * n_bins[1] + target[..., 1]) * n_bins[2] + target[..., 2]
    cnt = torch.where(valid, counts[t_lin], torch.zeros_like(t_lin)).reshape(-1)
    total = int(cnt.sum())
    ii = torch.repeat_interleave(torch.arange(n_atoms, device=device).repeat_interleave(offsets.shape[0]), cnt)
    block = torch.repeat_interleave(torch.cumsum(cnt, 0) - cnt, cnt)
    within = torch.arange(total, device=device) - block
    jj = order[torch.repeat_interleave(starts[t_lin].reshape(-1), cnt) + within]
    ss = torch.repeat_interleave(shift.reshape(-1, 3), cnt, dim=0)
    return ii, jj, ss


def cell_list_pairs(positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor,
                    cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full neighbour list ``|x_j - x_i + S @ cell| < cutoff`` by a cell list.

    Parameters
    ----------
    positions : Tensor, shape (n, 3)
        Cartesian positions (any float dtype; the search runs in float64, detached).
    cell : Tensor, shape (3, 3)
        Cell vectors as rows; only the periodic rows are used.
    pbc : Tensor of bool, shape (3,)
        Periodic directions.
    cutoff : float
        Cutoff radius ``> 0``, in the units of ``positions``.

    Returns
    -------
    i, j : LongTensor, shape (P,)
        Pair indices, both orders of every pair, no self pair with a zero shift.
    shifts : LongTensor, shape (P, 3)
        Integer cell shifts ``S`` (zero along non-periodic directions).
    """
    pos = positions.detach().to(torch.float64)
    pbc = pbc.to(torch.bool).cpu()
    basis = complete_basis(cell.detach().to(torch.float64).cpu(), pbc).to(pos.device)
    frac = pos @ torch.linalg.inv(basis)
    image = torch.where(pbc.to(pos.device)[None, :], torch.floor(frac), torch.zeros_like(frac))
    frac = frac - image
    wrapped = frac @ basis
    lo, span, n_bins, reach = _bin_layout(frac, pbc, perpendicular_widths(basis).cpu(), cutoff, pos.shape[0])
    ii, jj, ss = _candidates(_assign_bins(frac, lo, span, n_bins), pbc, n_bins, reach)
    vec = wrapped[jj] - wrapped[ii] + ss.to(torch.float64) @ basis
    keep = (vec.square().sum(-1) < cutoff * cutoff) & ~((ii == jj) & (ss == 0).all(-1))
    ii, jj, ss = ii[keep], jj[keep], ss[keep]
    image = image.long()
    return ii, jj, ss + image[ii] - image[jj]
