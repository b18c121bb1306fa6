"""Periodic cubic meshes: wavenumbers in the real-FFT layout, CIC painting and read-out.

Conventions shared by the cosmology modules:

* a mesh of ``n`` cells per side covers a periodic box of side ``box_size`` (Mpc/h); node
  ``(i, j, l)`` sits at ``(i, j, l) * box_size / n`` and the cell size is ``H = box_size / n``;
* Fourier arrays are the ``numpy.fft.rfftn`` layout, shape ``(n, n, n // 2 + 1)``; the DFT
  ``F_k = sum_x f(x) exp(-i k.x)`` is unnormalised, ``numpy.fft.irfftn`` divides by ``n^3``;
* wavenumbers are ``k = 2 pi m / box_size`` (h/Mpc), ``m`` the integer frequency.

CIC (cloud in cell) assigns each particle to the 8 nearest nodes with trilinear weights; its
Fourier window is ``W(k) = prod_i sinc^2(k_i H / 2)`` with ``sinc(x) = sin(x) / x``.
Reference: R. W. Hockney and J. W. Eastwood, *Computer Simulation Using Particles* (1988), ch. 5.
"""

from __future__ import annotations

import numpy as np

from sciml.errors import ParameterError

__all__ = [
    "check_box",
    "check_mesh",
    "cic_paint",
    "cic_readout",
    "cic_window",
    "irfft3",
    "k_magnitude",
    "mode_weights",
    "wavenumbers",
]




def check_box(box_size: float) -> float:
    """Return ``box_size`` as a float; :class:`ParameterError` unless it is finite and > 0."""
    if isinstance(box_size, bool) or not isinstance(box_size, (int, float, np.integer, np.floating)):
        raise ParameterError(f"box_size must be a positive number (Mpc/h), got {box_size!r}")
    if not (np.isfinite(box_size) and box_size > 0):
        raise ParameterError(f"box_size must be a positive number (Mpc/h), got {box_size!r}")
    return float(box_size)


def check_mesh(n: int, what: str = "n_mesh", minimum: int = 2) -> int:
    """Return ``n`` as an int; :class:`ParameterError` unless it is an even integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum or n % 2:
        raise ParameterError(f"{what} must be an even integer >= {minimum}, got {n!r}")
    return int(n)


def irfft3(field_k: np.ndarray, n: int) -> np.ndarray:
    """Inverse of ``numpy.fft.rfftn`` for an ``(n, n, n // 2 + 1)`` array (or a stack ``(..., n, n, n//2+1)``)."""
    axes = tuple(range(field_k.ndim - 3, field_k.ndim))
    return np.fft.irfftn(field_k, s=(n, n, n), axes=axes)


def wavenumbers(n: int, box_size: float, *, odd: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavenumbers of the rfft layout, broadcastable to ``(n, n, n // 2 + 1)``.

    Parameters
    ----------
    n : int
        Mesh cells per side (even).
    box_size : float
        Box side (Mpc/h).
    odd : bool
        Zero the Nyquist frequency ``m = n / 2`` (for odd-order derivative kernels, whose
        Nyquist mode has no real-valued derivative).

    Returns
    -------
    kx, ky, kz : ndarray
        Shapes ``(n, 1, 1)``, ``(1, n, 1)``, ``(1, 1, n // 2 + 1)``, in h/Mpc.
    """
    kf = 2.0 * np.pi / box_size
    full = np.fft.fftfreq(n, d=1.0 / n) * kf
    half = np.fft.rfftfreq(n, d=1.0 / n) * kf
    if odd:
        full = full.copy()
        half = half.copy()
        full[n // 2] = 0.0
        half[-1] = 0.0
    return full[:, None, None], full[None, :, None], half[None, None, :]


def k_magnitude(n: int, box_size: float) -> np.ndarray:
    """``|k|`` on the rfft layout, shape ``(n, n, n // 2 + 1)`` (h/Mpc)."""
    kx, ky, kz = wavenumbers(n, box_size)
    return np.sqrt(kx**2 + ky**2 + kz**2)


def mode_weights(n: int) -> np.ndarray:
    """How many modes of the full FFT each rfft entry stands for: 1 on the ``kz = 0`` and
    Nyquist planes, 2 elsewhere (the entry and its complex conjugate). Shape ``(1, 1, n//2+1)``."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    w[-1] = 1.0
    return w[None, None, :]


def cic_window(n: int, box_size: float) -> np.ndarray:
    """The CIC window ``prod_i sinc^2(k_i H / 2)`` on the rfft layout, shape ``(n, n, n // 2 + 1)``."""
    cell = box_size / n
    out = np.ones((n, n, n // 2 + 1))
    for k in wavenumbers(n, box_size):
        out = out * np.sinc(k * cell / (2.0 * np.pi)) ** 2  # np.sinc(x) = sin(pi x) / (pi x)
    return out


def _cic_corners(positions: np.ndarray, n: int, box_size: float, shift: float):
    """Lower node index (int64, wrapped) and fractional offsets of each particle, shape (N, 3)."""
    s = np.asarray(positions, dtype=np.float64) * (n / box_size) + shift
    i0 = np.floor(s)
    frac = s - i0
    return np.mod(i0.astype(np.int64), n), frac


def _cic_corner_weights(idx0: np.ndarray, frac: np.ndarray, n: int):
    """The 8 CIC corners of each particle: ``(flat mesh index (N,), weight (N,))`` per corner."""
    for cx in (0, 1):
        wx = frac[:, 0] if cx else 1.0 - frac[:, 0]
        ix = (idx0[:, 0] + cx) % n
        for cy in (0, 1):
            wxy = wx * (frac[:, 1] if cy else 1.0 - frac[:, 1])
            ixy = ix * n + (idx0[:, 1] + cy) % n
            for cz in (0, 1):
                yield ixy * n + (idx0[:, 2] + cz) % n, wxy * (frac[:, 2] if cz else 1.0 - frac[:, 2])


def cic_paint(positions: np.ndarray, n: int, box_size: float, *, weights: np.ndarray | None = None,
              shift: float = 0.0) -> np.ndarray:
    """Mass assignment of particles to a periodic mesh by CIC.

    Parameters
    ----------
    positions : ndarray
        ``(N, 3)`` positions in Mpc/h (any real values; wrapped periodically).
    n : int
        Mesh cells per side.
    box_size : float
        Box side (Mpc/h).
    weights : ndarray, optional
        ``(N,)`` particle masses; default 1.
    shift : float
        Shift of the particles in units of the cell size along every axis (``0.5`` for the
        second, interlaced mesh).

    Returns
    -------
    ndarray
        ``(n, n, n)`` mesh of assigned mass; its sum equals the total mass.
    """
    idx0, frac = _cic_corners(positions, n, box_size, shift)
    w = np.ones(len(idx0)) if weights is None else np.asarray(weights, dtype=np.float64)
    corners = list(_cic_corner_weights(idx0, frac, n))
    mesh = np.bincount(np.concatenate([i for i, _ in corners]),
                       weights=np.concatenate([w * c for _, c in corners]), minlength=n**3)
    return mesh.reshape(n, n, n)


def cic_readout(mesh: np.ndarray, positions: np.ndarray, box_size: float) -> np.ndarray:
    """Interpolate mesh values to particles with the CIC weights (the adjoint of :func:`cic_paint`).

    Parameters
    ----------
    mesh : ndarray
        ``(n, n, n)`` or ``(c, n, n, n)`` (``c`` components, e.g. the three force components).
    positions : ndarray
        ``(N, 3)`` positions in Mpc/h.
    box_size : float
        Box side (Mpc/h).

    Returns
    -------
    ndarray
        ``(N,)`` or ``(N, c)``.
    """
    stacked = mesh.reshape((-1,) + mesh.shape[-3:])
    n = stacked.shape[-1]
    flat = stacked.reshape(stacked.shape[0], -1)
    idx0, frac = _cic_corners(positions, n, box_size, 0.0)
    out = np.zeros((len(idx0), flat.shape[0]))
    for index, weight in _cic_corner_weights(idx0, frac, n):
        out += weight[:, None] * flat[:, index].T
    return out[:, 0] if mesh.ndim == 3 else out
