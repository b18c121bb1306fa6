"""MD observables on arrays of frames: structure (g(r), bond angles), transport (MSD, diffusion,
VACF) and thermodynamics (kinetic temperature, virial pressure).

Inputs are NumPy arrays (or CPU torch tensors): positions ``(frames, n, 3)`` (one frame
``(n, 3)`` is accepted where it makes sense), cells ``(3, 3)`` or ``(frames, 3, 3)`` with the cell
vectors as rows (as ASE), velocities ``(frames, n, 3)``. Every quantity is in the units of its
inputs (reduced LJ units, or Angstrom/eV/amu with time in the unit of the ``time`` given);
no unit is converted here (:mod:`sciml.simulators.md.trajectory_observables` does that for
datasets).

References: M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (OUP,
2017): g(r) section 8.2, MSD and Einstein/Green-Kubo diffusion sections 8.7 and 2.7, virial
pressure section 2.4; V. Calandrini et al., nMoldyn, JDN 12 (2011) 201 (FFT MSD).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sciml.errors import ParameterError
from sciml.simulators.md._cell_list import complete_basis
from sciml.simulators.md.neighbors import neighbor_arrays

__all__ = [
    "AngularDistribution",
    "RadialDistribution",
    "angular_distribution",
    "diffusion_coefficient",
    "green_kubo_diffusion",
    "kinetic_energy",
    "kinetic_temperature",
    "mean_squared_displacement",
    "pair_virial",
    "radial_distribution",
    "unwrap_positions",
    "velocity_autocorrelation",
    "virial_pressure",
]


def _array(x: Any, name: str, ndim: Sequence[int]) -> np.ndarray:
    """``x`` as a float64 array whose ndim is in ``ndim`` (torch tensors detached)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in ndim or arr.shape[-1] != 3 and name != "masses":
        raise ParameterError(f"{name} must have {' or '.join(f'{d} dims' for d in ndim)} ending in 3; "
                             f"got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ParameterError(f"{name} has non-finite values")
    return arr


def _frames(positions: Any, cell: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(F, n, 3)`` and cells ``(F, 3, 3)`` (broadcast)."""
    pos = _array(positions, "positions", (2, 3))
    pos = pos[None] if pos.ndim == 2 else pos
    cells = np.broadcast_to(_array(cell, "cell", (2, 3)), (pos.shape[0], 3, 3))
    return pos, cells


def _check_bins(r_max: float, n_bins: int, what: str = "r_max") -> None:
    if not (isinstance(r_max, (int, float)) and math.isfinite(r_max) and r_max > 0):
        raise ParameterError(f"{what} must be a finite number > 0, got {r_max!r}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ParameterError(f"n_bins must be a positive integer, got {n_bins!r}")


@dataclass(frozen=True)
class RadialDistribution:
    """A radial distribution function.

    Attributes
    ----------
    r : ndarray, shape (n_bins,)
        Bin centres.
    edges : ndarray, shape (n_bins + 1,)
    g : ndarray, shape (n_bins,)
        ``g(r)``: pair count per shell over the ideal-gas count at the same density.
    coordination : ndarray, shape (n_bins,)
        Mean number of neighbours (of the second species) of a centre atom in each shell;
        ``coordination.cumsum()`` is the running coordination number.
    """

    r: np.ndarray
    edges: np.ndarray
    g: np.ndarray
    coordination: np.ndarray


def _species_masks(species: Any, pair: tuple[int, int] | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if pair is None:
        return np.ones(n, bool), np.ones(n, bool)
    if species is None:
        raise ParameterError("a species pair needs species (atomic numbers, shape (n,))")
    z = np.asarray(species).reshape(-1)
    if z.shape != (n,):
        raise ParameterError(f"species must have shape ({n},), got {z.shape}")
    a, b = (z == pair[0]), (z == pair[1])
    if not a.any() or not b.any():
        raise ParameterError(f"species pair {tuple(pair)} not present; species are {sorted(set(z.tolist()))}")
    return a, b


def radial_distribution(positions: Any, cell: Any, pbc: Any = True, *, r_max: float, n_bins: int = 100,
                        species: Any = None, pair: tuple[int, int] | None = None) -> RadialDistribution:
    """Radial distribution function ``g(r)`` averaged over frames, all periodic images included.

    ``g(r) = <n_ab(r)> / (N_a rho_b' 4/3 pi (r_hi^3 - r_lo^3))`` with ``rho_b' = N_b / V``
    (``(N_a - 1) / V`` when ``a == b``), so an ideal gas has ``g = 1`` exactly in expectation
    at any ``r`` (``r_max`` may exceed half the box: images are enumerated).

    Parameters
    ----------
    positions : array_like, shape (frames, n, 3) or (n, 3)
    cell : array_like, shape (3, 3) or (frames, 3, 3)
        Cell rows; the volume is ``|det cell|`` per frame.
    pbc : bool or 3 bools
        Must be periodic in all directions (the volume normalisation needs it).
    r_max : float
        Largest distance.
    n_bins : int
        Number of equal bins on ``[0, r_max]``.
    species : array_like, shape (n,), optional
        Atomic numbers (or any integer labels) for a species-resolved ``g_ab``.
    pair : (int, int), optional
        Centre species ``a`` and neighbour species ``b``.

    Returns
    -------
    RadialDistribution

    Raises
    ------
    ParameterError
        Bad shapes, non-periodic input, absent species.
    """
    _check_bins(r_max, n_bins)
    if not bool(np.all(np.asarray(pbc))):
        raise ParameterError(f"radial_distribution needs a periodic system in x, y and z, got pbc={pbc!r}")
    pos, cells = _frames(positions, cell)
    centre, other = _species_masks(species, pair, pos.shape[1])
    edges = np.linspace(0.0, r_max, n_bins + 1)
    counts = np.zeros(n_bins)
    ideal = np.zeros(n_bins)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    n_b = other.sum() - (1 if pair is None or pair[0] == pair[1] else 0)
    for f in range(pos.shape[0]):
        pairs = neighbor_arrays(pos[f], cells[f], True, r_max)
        keep = centre[pairs.i] & other[pairs.j]
        counts += np.histogram(pairs.distances[keep], bins=edges)[0]
        ideal += centre.sum() * n_b / abs(np.linalg.det(cells[f])) * shell
    coordination = counts / (pos.shape[0] * centre.sum())
    return RadialDistribution(0.5 * (edges[1:] + edges[:-1]), edges, counts / ideal, coordination)


@dataclass(frozen=True)
class AngularDistribution:
    """A bond-angle distribution.

    Attributes
    ----------
    theta : ndarray, shape (n_bins,)
        Bin centres in degrees on ``[0, 180]``.
    edges : ndarray, shape (n_bins + 1,)
    density : ndarray, shape (n_bins,)
        Probability density per degree (``(density * diff(edges)).sum() == 1``).
    counts : ndarray, shape (n_bins,)
        Angles per bin, summed over frames (each unordered neighbour pair of a centre once).
    """

    theta: np.ndarray
    edges: np.ndarray
    density: np.ndarray
    counts: np.ndarray


def _bond_angles(pairs: Any) -> np.ndarray:
    """Angles (degrees) ``j-i-k`` for every centre ``i`` and unordered pair of its neighbours."""
    n_pairs = pairs.i.size
    starts = np.searchsorted(pairs.i, pairs.i, side="left")  # pairs are sorted by i
    sizes = np.searchsorted(pairs.i, pairs.i, side="right") - starts
    p = np.repeat(np.arange(n_pairs), sizes)
    q = np.repeat(starts, sizes) + (np.arange(p.size) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    keep = p < q
    u = pairs.vectors[p[keep]] / pairs.distances[p[keep], None]
    v = pairs.vectors[q[keep]] / pairs.distances[q[keep], None]
    return np.degrees(np.arccos(np.clip((u * v).sum(-1), -1.0, 1.0)))


def angular_distribution(positions: Any, cell: Any, pbc: Any = True, *, cutoff: float,
                         n_bins: int = 180) -> AngularDistribution:
    """Distribution of bond angles ``j-i-k`` between neighbours within ``cutoff`` of a centre ``i``.

    Parameters
    ----------
    positions : array_like, shape (frames, n, 3) or (n, 3)
    cell : array_like, shape (3, 3) or (frames, 3, 3), or None (non-periodic)
    pbc : bool or 3 bools
    cutoff : float
        Neighbour shell radius (e.g. the first minimum of g(r)).
    n_bins : int
        Equal bins on ``[0, 180]`` degrees.

    Returns
    -------
    AngularDistribution
    """
    _check_bins(cutoff, n_bins, "cutoff")
    pos = _array(positions, "positions", (2, 3))
    pos = pos[None] if pos.ndim == 2 else pos
    cells = None if cell is None else np.broadcast_to(_array(cell, "cell", (2, 3)), (pos.shape[0], 3, 3))
    edges = np.linspace(0.0, 180.0, n_bins + 1)
    counts = np.zeros(n_bins)
    for f in range(pos.shape[0]):
        pairs = neighbor_arrays(pos[f], None if cells is None else cells[f], pbc, cutoff)
        counts += np.histogram(_bond_angles(pairs), bins=edges)[0]
    total = counts.sum()
    density = counts / (total * np.diff(edges)) if total else np.zeros(n_bins)
    return AngularDistribution(0.5 * (edges[1:] + edges[:-1]), edges, density, counts)


def unwrap_positions(positions: Any, cell: Any, pbc: Any = True) -> np.ndarray:
    """Undo periodic wrapping: each frame-to-frame displacement is taken as its minimum image.

    Valid when no atom moves more than half a cell width between consecutive frames.

    Parameters
    ----------
    positions : array_like, shape (frames, n, 3)
    cell : array_like, shape (3, 3), or (frames, 3, 3) with all frames equal
    pbc : bool or 3 bools

    Returns
    -------
    ndarray, shape (frames, n, 3)
        Continuous trajectories starting at ``positions[0]``.

    Raises
    ------
    ParameterError
        A cell that changes between frames.
    """
    pos = _array(positions, "positions", (3,))
    cells = _array(cell, "cell", (2, 3))
    if cells.ndim == 3:
        if not np.allclose(cells, cells[:1]):
            raise ParameterError("unwrap_positions needs a fixed cell; the cell changes between frames")
        cells = cells[0]
    flags = torch.as_tensor(np.broadcast_to(np.asarray(pbc, bool), (3,)).copy())
    basis = complete_basis(torch.tensor(cells), flags).numpy()
    step = np.diff(pos, axis=0) @ np.linalg.inv(basis)
    step = np.where(flags.numpy(), step - np.round(step), step)
    return np.concatenate([pos[:1], pos[:1] + np.cumsum(step @ basis, axis=0)], axis=0)


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """``sum_t x(t) x(t + m)`` along axis 0 for ``m = 0..max_lag``, summed over the other axes (FFT)."""
    n = x.shape[0]
    size = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(x, n=size, axis=0)
    acf = np.fft.irfft(spec * spec.conj(), n=size, axis=0)[: max_lag + 1]
    return acf.reshape(max_lag + 1, -1).sum(axis=1)


def _max_lag(n_frames: int, max_lag: int | None) -> int:
    if max_lag is None:
        return n_frames - 1
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or not 0 <= max_lag < n_frames:
        raise ParameterError(f"max_lag must be an integer in [0, {n_frames - 1}], got {max_lag!r}")
    return int(max_lag)


def mean_squared_displacement(positions: Any, *, max_lag: int | None = None) -> np.ndarray:
    """MSD ``<|x(t + m) - x(t)|^2>`` averaged over atoms and all time origins (FFT, O(F log F)).

    Parameters
    ----------
    positions : array_like, shape (frames, n, 3)
        *Unwrapped* positions (see :func:`unwrap_positions`) at equally spaced times.
    max_lag : int, optional
        Largest lag in frames (default ``frames - 1``).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        MSD at lags ``0..max_lag`` frames (squared length units).
    """
    x = _array(positions, "positions", (3,))
    x = x - x[:1]  # translation invariant; keeps the S1 - 2 S2 cancellation accurate
    n_frames, n_atoms = x.shape[:2]
    lag = _max_lag(n_frames, max_lag)
    sq = (x**2).sum(axis=(1, 2))  # (F,)
    total = 2.0 * sq.sum()
    s1 = np.empty(lag + 1)
    for m in range(lag + 1):  # running sum of x(t)^2 + x(t + m)^2 over the F - m origins
        if m:
            total -= sq[m - 1] + sq[n_frames - m]
        s1[m] = total
    counts = n_frames - np.arange(lag + 1)
    return (s1 - 2.0 * _autocorrelation(x, lag)) / (counts * n_atoms)


def _fit_slope(time: Any, values: Any, fit_range: tuple[float, float] | None, what: str) -> float:
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1:
        raise ParameterError(f"time and {what} must be 1-D of the same length, got {t.shape} and {y.shape}")
    lo, hi = fit_range if fit_range is not None else (t[0], t[-1])
    sel = (t >= lo) & (t <= hi)
    if sel.sum() < 2:
        raise ParameterError(f"fit_range {fit_range} holds {int(sel.sum())} point(s); at least 2 needed "
                             f"(time spans [{t[0]:g}, {t[-1]:g}])")
    return float(np.polyfit(t[sel], y[sel], 1)[0])


def diffusion_coefficient(time: Any, msd: Any, *, fit_range: tuple[float, float] | None = None,
                          dim: int = 3) -> float:
    """Einstein diffusion coefficient ``D = slope(MSD(t)) / (2 dim)`` by least squares.

    Parameters
    ----------
    time : array_like, shape (L,)
        Lag times of ``msd``.
    msd : array_like, shape (L,)
    fit_range : (float, float), optional
        Times ``[t_lo, t_hi]`` of the linear (diffusive) regime; default all.
    dim : int
        Dimensionality of the motion.

    Returns
    -------
    float
        ``D`` in length^2 / time.
    """
    return _fit_slope(time, msd, fit_range, "msd") / (2.0 * dim)


def velocity_autocorrelation(velocities: Any, *, max_lag: int | None = None,
                             normalize: bool = False) -> np.ndarray:
    """VACF ``C(m) = <v(t) . v(t + m)>`` averaged over atoms and all time origins (FFT).

    Parameters
    ----------
    velocities : array_like, shape (frames, n, 3)
    max_lag : int, optional
        Largest lag in frames (default ``frames - 1``).
    normalize : bool
        Divide by ``C(0)``.

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        In velocity units squared (or dimensionless when normalised).
    """
    v = _array(velocities, "velocities", (3,))
    lag = _max_lag(v.shape[0], max_lag)
    c = _autocorrelation(v, lag) / ((v.shape[0] - np.arange(lag + 1)) * v.shape[1])
    return c / c[0] if normalize else c


def green_kubo_diffusion(time: Any, vacf: Any, *, dim: int = 3) -> float:
    """Green-Kubo diffusion coefficient ``D = (1/dim) int_0^t_max C(t) dt`` (trapezoidal rule).

    Parameters
    ----------
    time : array_like, shape (L,)
        Lag times, starting at 0.
    vacf : array_like, shape (L,)
        Unnormalised VACF (:func:`velocity_autocorrelation`).
    dim : int

    Returns
    -------
    float
        ``D`` in length^2 / time.
    """
    t = np.asarray(time, dtype=np.float64)
    c = np.asarray(vacf, dtype=np.float64)
    if t.shape != c.shape or t.ndim != 1 or t.size < 2:
        raise ParameterError(f"time and vacf must be 1-D of the same length >= 2, got {t.shape} and {c.shape}")
    return float(np.trapezoid(c, t)) / dim


def kinetic_energy(velocities: Any, masses: Any) -> np.ndarray:
    """Kinetic energy ``sum_i m_i |v_i|^2 / 2`` per frame.

    Parameters
    ----------
    velocities : array_like, shape (..., n, 3)
    masses : array_like, shape (n,) (or broadcastable to ``(..., n)``)

    Returns
    -------
    ndarray, shape (...)
        In mass * (length / time)^2.
    """
    v = _array(velocities, "velocities", (2, 3, 4))
    m = np.broadcast_to(np.asarray(masses, dtype=np.float64), v.shape[:-1])
    return 0.5 * (m * (v**2).sum(-1)).sum(-1)


def kinetic_temperature(velocities: Any, masses: Any, *, k_B: float = 1.0, dof: int | None = None) -> np.ndarray:
    """Kinetic temperature ``T = 2 K / (dof k_B)`` per frame (equipartition).

    Parameters
    ----------
    velocities : array_like, shape (..., n, 3)
    masses : array_like, shape (n,)
    k_B : float
        Boltzmann constant in energy / temperature (1 in reduced LJ units).
    dof : int, optional
        Degrees of freedom; default ``3 n - 3`` (centre-of-mass momentum fixed, as the
        sciml MD simulators run).

    Returns
    -------
    ndarray, shape (...)
    """
    ke = kinetic_energy(velocities, masses)
    n = np.asarray(velocities).shape[-2]
    dof = 3 * n - 3 if dof is None else dof
    return 2.0 * ke / (dof * k_B)


def pair_virial(pair_vectors: Any, pair_forces: Any) -> float | np.ndarray:
    """Virial ``W = 1/2 sum_p d_p . f_p`` of a *full* pair list (each pair in both orders).

    Parameters
    ----------
    pair_vectors : array_like, shape (..., P, 3)
        ``d_p = x_j - x_i (+ S @ cell)`` (:func:`~sciml.simulators.md.neighbors.pair_vectors`).
    pair_forces : array_like, shape (..., P, 3)
        Force on ``j`` exerted by ``i`` (repulsion points along ``d_p``).

    Returns
    -------
    float or ndarray
        ``W`` in energy units; positive for repulsion.
    """
    d = np.asarray(pair_vectors, dtype=np.float64)
    f = np.asarray(pair_forces, dtype=np.float64)
    return 0.5 * (d * f).sum(axis=(-2, -1))


def virial_pressure(volume: Any, kinetic_energy: Any, *, virial: Any = None, stress: Any = None) -> np.ndarray:
    """Pressure ``P = (2 K + W) / (3 V)``: kinetic part plus virial part.

    Give the virial either as ``W`` (:func:`pair_virial`) or through the potential part of a
    calculator's stress (ASE sign: positive is tensile, ``W = -V tr(sigma)``); neither gives
    the ideal-gas pressure ``2 K / (3 V)``.

    Parameters
    ----------
    volume : float or array_like, shape (...)
    kinetic_energy : float or array_like, shape (...)
    virial : float or array_like, shape (...), optional
    stress : array_like, shape (..., 6) (Voigt ``xx yy zz yz xz xy``) or (..., 3, 3), optional

    Returns
    -------
    ndarray, shape (...)
        Pressure in energy / length^3 (eV/Angstrom^3 times ``1 / ase.units.GPa`` is GPa).
    """
    if virial is not None and stress is not None:
        raise ParameterError("give the virial or the stress, not both")
    vol = np.asarray(volume, dtype=np.float64)
    out = 2.0 * np.asarray(kinetic_energy, dtype=np.float64) / (3.0 * vol)
    if virial is not None:
        out = out + np.asarray(virial, dtype=np.float64) / (3.0 * vol)
    if stress is not None:
        s = np.asarray(stress, dtype=np.float64)
        trace = s[..., :3].sum(-1) if s.shape[-1] == 6 else np.trace(s, axis1=-2, axis2=-1)
        out = out - trace / 3.0
    return out
