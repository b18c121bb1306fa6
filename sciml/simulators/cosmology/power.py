"""Summary statistics of periodic density fields: binned power spectrum and FFT bispectrum.

Estimators (``V`` the box volume, ``n`` the mesh size, ``delta_k`` the unnormalised DFT of
the density contrast, so that the continuous Fourier amplitude is ``(V / n^3) delta_k``):

* power: ``P(k_bin) = < |delta_k|^2 > V / n^6`` averaged over the modes of a spherical shell,
  with ``n_modes`` counting ``k`` and ``-k`` separately (the Gaussian error of a bin is
  ``P sqrt(2 / n_modes)``);
* particles are painted by CIC and the window is divided out; with ``interlacing`` a second
  mesh with the particles shifted by half a cell is averaged in after the phase factor
  ``exp(i k.(H/2)(1,1,1))``, which cancels the odd aliasing images (Sefusatti et al. 2016,
  MNRAS 460, 3624); the Poisson shot noise ``1/nbar = V / N`` is subtracted on request;
* bispectrum: FFT shell products (Scoccimarro 2015, PRD 92, 083532):
  ``B(k1,k2,k3) = V^2 / n^9 sum_x d1 d2 d3 / sum_x I1 I2 I3`` with ``d_i`` (``I_i``) the
  inverse FFT of ``delta_k`` (of 1) restricted to the shell ``|k| in [k_i - dk/2, k_i + dk/2)``;
  the number of closed triangles is ``n^6 sum_x I1 I2 I3``.

Units: k in h/Mpc, P in (Mpc/h)^3, B in (Mpc/h)^6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.cosmology.mesh import (
    check_box,
    check_mesh,
    cic_paint,
    cic_window,
    irfft3,
    k_magnitude,
    mode_weights,
    wavenumbers,
)

__all__ = ["BinnedPower", "bispectrum", "default_k_edges", "density_k", "power_from_grid", "power_from_particles"]


@dataclass(frozen=True)
class BinnedPower:
    """A binned power spectrum.

    Attributes
    ----------
    k : ndarray
        ``(n_bins,)`` mean ``|k|`` of the modes in each bin (h/Mpc).
    power : ndarray
        ``(n_bins,)`` P(k) ((Mpc/h)^3), shot noise already subtracted when ``shot_noise > 0``.
    n_modes : ndarray
        ``(n_bins,)`` int, modes per bin (``k`` and ``-k`` counted separately).
    k_edges : ndarray
        ``(n_bins + 1,)`` bin edges (h/Mpc); bins are ``[low, high)``.
    shot_noise : float
        The value subtracted (0 when none).
    """

    k: np.ndarray
    power: np.ndarray
    n_modes: np.ndarray
    k_edges: np.ndarray
    shot_noise: float = 0.0

    def error(self) -> np.ndarray:
        """Gaussian (cosmic-variance) error ``(P + shot noise) sqrt(2 / n_modes)`` per bin."""
        return (self.power + self.shot_noise) * np.sqrt(2.0 / self.n_modes)


def default_k_edges(n: int, box_size: float) -> np.ndarray:
    """Bins of width ``k_f = 2 pi / box_size`` centred on ``k_f, 2 k_f, ...``, below the Nyquist ``n k_f / 2``."""
    kf = 2.0 * np.pi / box_size
    return (np.arange(n // 2) + 0.5) * kf


def _check_field(delta: np.ndarray, name: str = "delta") -> int:
    delta = np.asarray(delta)
    if delta.ndim != 3 or len(set(delta.shape)) != 1:
        raise ParameterError(f"{name} must be a cubic (n, n, n) array, got shape {delta.shape}")
    return check_mesh(delta.shape[0], f"{name} size")


def _check_edges(edges: np.ndarray | None, n: int, box: float) -> np.ndarray:
    if edges is None:
        return default_k_edges(n, box)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0) or e[0] < 0:
        raise ParameterError(f"k_edges must be a strictly increasing 1-D array of >= 2 non-negative values, got {edges!r}")
    return e


def _bin_power(power_k: np.ndarray, n: int, box: float, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mode-weighted bin averages of a real rfft-layout array; bins without modes are dropped."""
    kmag = k_magnitude(n, box)
    weights = np.broadcast_to(mode_weights(n), kmag.shape)
    idx = np.digitize(kmag.ravel(), edges) - 1
    inside = (idx >= 0) & (idx < edges.size - 1)
    idx, w = idx[inside], weights.ravel()[inside]
    nb = edges.size - 1
    counts = np.bincount(idx, weights=w, minlength=nb)
    ksum = np.bincount(idx, weights=w * kmag.ravel()[inside], minlength=nb)
    psum = np.bincount(idx, weights=w * power_k.ravel()[inside], minlength=nb)
    keep = counts > 0
    return ksum[keep] / counts[keep], psum[keep] / counts[keep], counts[keep].astype(np.int64), keep


def _binned(cross_k: np.ndarray, n: int, box: float, edges: np.ndarray | None, shot_noise: float) -> BinnedPower:
    e = _check_edges(edges, n, box)
    k, p, counts, keep = _bin_power(cross_k * (box**3 / n**6), n, box, e)
    if np.any(~keep):
        first = int(np.flatnonzero(~keep)[0])
        if keep[first:].any():  # an empty bin between non-empty ones would break the edges
            raise ParameterError(f"k bin [{e[first]:g}, {e[first + 1]:g}) has no mode; use wider bins "
                                 f"(the fundamental is {2 * np.pi / box:g} h/Mpc)")
        e = e[: int(keep.sum()) + 1]
    return BinnedPower(k=k, power=p - shot_noise, n_modes=counts, k_edges=e, shot_noise=float(shot_noise))


def power_from_grid(delta: np.ndarray, box_size: float, *, other: np.ndarray | None = None,
                    k_edges: np.ndarray | None = None, deconvolve_cic: bool = False) -> BinnedPower:
    """Power spectrum (or cross spectrum with ``other``) of a density-contrast mesh.

    Parameters
    ----------
    delta : ndarray
        ``(n, n, n)`` real density contrast.
    box_size : float
        Box side (Mpc/h).
    other : ndarray, optional
        A second ``(n, n, n)`` field: the cross spectrum ``Re <delta_k conj(other_k)>``.
    k_edges : ndarray, optional
        Bin edges (h/Mpc); default :func:`default_k_edges`.
    deconvolve_cic : bool
        Divide each field by the CIC window (for meshes painted with :func:`.mesh.cic_paint`).

    Returns
    -------
    BinnedPower
    """
    n = _check_field(delta)
    box = check_box(box_size)
    dk = np.fft.rfftn(np.asarray(delta, dtype=np.float64))
    if deconvolve_cic:
        dk = dk / cic_window(n, box)
    if other is None:
        ok = dk
    else:
        if np.shape(other) != np.shape(delta):
            raise ParameterError(f"other has shape {np.shape(other)}; expected {np.shape(delta)}")
        ok = np.fft.rfftn(np.asarray(other, dtype=np.float64))
        if deconvolve_cic:
            ok = ok / cic_window(n, box)
    return _binned((dk * np.conj(ok)).real, n, box, k_edges, 0.0)


def density_k(positions: np.ndarray, n_mesh: int, box_size: float, *, interlacing: bool = True,
              deconvolve: bool = True) -> np.ndarray:
    """Fourier modes (rfft layout) of the CIC density contrast of equal-mass particles.

    Parameters
    ----------
    positions : ndarray
        ``(N, 3)`` in Mpc/h.
    n_mesh : int
        Mesh size (even).
    box_size : float
    interlacing : bool
        Average with the half-cell-shifted mesh (module docstring).
    deconvolve : bool
        Divide by the CIC window.

    Returns
    -------
    ndarray
        ``(n, n, n // 2 + 1)`` complex, ``k = 0`` mode zero.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 1:
        raise ParameterError(f"positions must have shape (N, 3) with N >= 1, got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ParameterError("positions have non-finite values")
    n = check_mesh(n_mesh, "n_mesh")
    box = check_box(box_size)
    norm = n**3 / pos.shape[0]
    dk = np.fft.rfftn(cic_paint(pos, n, box) * norm)
    if interlacing:
        kx, ky, kz = wavenumbers(n, box)
        phase = np.exp(0.5j * (box / n) * (kx + ky + kz))
        dk = 0.5 * (dk + np.fft.rfftn(cic_paint(pos, n, box, shift=0.5) * norm) * phase)
    if deconvolve:
        dk = dk / cic_window(n, box)
    dk[0, 0, 0] = 0.0
    return dk


def power_from_particles(positions: np.ndarray, n_mesh: int, box_size: float, *, interlacing: bool = True,
                         deconvolve: bool = True, subtract_shot_noise: bool = False,
                         k_edges: np.ndarray | None = None) -> BinnedPower:
    """Power spectrum of equal-mass particles (CIC, optional interlacing and shot-noise subtraction).

    ``subtract_shot_noise`` removes the Poisson value ``V / N``, right for a random sample of
    a continuous field; not for particles still close to their initial lattice.

    Returns
    -------
    BinnedPower
    """
    dk = density_k(positions, n_mesh, box_size, interlacing=interlacing, deconvolve=deconvolve)
    shot = box_size**3 / len(positions) if subtract_shot_noise else 0.0
    return _binned(np.abs(dk) ** 2, int(n_mesh), float(box_size), k_edges, shot)


def bispectrum(delta: np.ndarray | None, box_size: float, triangles: np.ndarray, dk: float | None = None, *,
               delta_k: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bispectrum of a density-contrast mesh for chosen triangles, by FFT shell products.

    Parameters
    ----------
    delta : ndarray or None
        ``(n, n, n)`` real density contrast (or ``None`` with ``delta_k``).
    box_size : float
        Box side (Mpc/h).
    triangles : array_like
        ``(n_tri, 3)`` side lengths ``(k1, k2, k3)`` in h/Mpc.
    dk : float, optional
        Shell width (h/Mpc); default the fundamental ``2 pi / box_size``.
    delta_k : ndarray, optional
        The rfft of the field instead of ``delta`` (e.g. :func:`density_k` of particles).

    Returns
    -------
    B : ndarray
        ``(n_tri,)`` in (Mpc/h)^6.
    n_triangles : ndarray
        ``(n_tri,)`` number of closed triangles ``k1 + k2 + k3 = 0`` in the shells.

    Raises
    ------
    ParameterError
        Bad shapes, or a configuration whose shells hold no closed triangle (e.g. one that
        violates the triangle inequality by more than the shell width).
    """
    if delta_k is None:
        n = _check_field(delta)
        delta_k = np.fft.rfftn(np.asarray(delta, dtype=np.float64))
    else:
        n = delta_k.shape[0]
        if delta_k.shape != (n, n, n // 2 + 1):
            raise ParameterError(f"delta_k must have the rfft shape (n, n, n//2+1), got {delta_k.shape}")
    box = check_box(box_size)
    tri = np.asarray(triangles, dtype=np.float64)
    if tri.ndim != 2 or tri.shape[1] != 3 or not np.all(np.isfinite(tri)) or np.any(tri <= 0):
        raise ParameterError(f"triangles must be an (n_tri, 3) array of positive k values, got {triangles!r}")
    width = 2.0 * np.pi / box if dk is None else float(dk)
    kmag = k_magnitude(n, box)
    cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def shell(k: float) -> tuple[np.ndarray, np.ndarray]:
        if k not in cache:
            mask = (kmag >= k - 0.5 * width) & (kmag < k + 0.5 * width)
            cache[k] = (irfft3(delta_k * mask, n), irfft3(mask.astype(np.float64), n))
        return cache[k]

    values, counts = [], []
    for k1, k2, k3 in tri:
        (d1, i1), (d2, i2), (d3, i3) = shell(k1), shell(k2), shell(k3)
        n_tri = np.sum(i1 * i2 * i3) * float(n) ** 6
        if n_tri < 0.5:
            raise ParameterError(f"no closed triangle in the shells ({k1:g}, {k2:g}, {k3:g}) of width {width:g} h/Mpc")
        values.append(box**6 / float(n) ** 9 * np.sum(d1 * d2 * d3) / np.sum(i1 * i2 * i3))
        counts.append(round(n_tri))
    return np.asarray(values), np.asarray(counts, dtype=np.int64)
