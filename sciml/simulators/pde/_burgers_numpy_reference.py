"""A plain vectorised-NumPy implementation of the Burgers scheme (benchmark baseline).

Same scheme as :class:`sciml.simulators.pde.burgers.BurgersSimulator` (van Leer MUSCL,
Rusanov flux, SSP-RK2, Strang-split TR-BDF2 or Crank–Nicolson diffusion on the 3-point
Laplacian with merged half steps), written the straightforward way: whole-batch array
operations with ``np.roll``, and the periodic tridiagonal solves done by FFT (the matrix is
circulant). One time step is shared by the batch (``max|u|`` over all samples), which is the
natural choice for batched array code. For a single sample the result equals the numba
kernel's to round-off.
"""

from __future__ import annotations

import math

import numpy as np

_GAMMA = 2.0 - math.sqrt(2.0)
_C1 = 1.0 / (_GAMMA * (2.0 - _GAMMA))


def _slopes_vanleer(u: np.ndarray) -> np.ndarray:
    a = u - np.roll(u, 1, axis=-1)
    b = np.roll(u, -1, axis=-1) - u
    return (a * np.abs(b) + np.abs(a) * b) / (np.abs(a) + np.abs(b) + 1e-300)


def _convective_rhs(u: np.ndarray, dx: float) -> np.ndarray:
    s = _slopes_vanleer(u)
    ul = u + 0.5 * s                           # left state at face i+1/2
    ur = np.roll(u - 0.5 * s, -1, axis=-1)     # right state at face i+1/2
    flux = 0.25 * (ul * ul + ur * ur) - 0.5 * np.maximum(np.abs(ul), np.abs(ur)) * (ur - ul)
    return -(flux - np.roll(flux, 1, axis=-1)) / dx


def burgers_numpy_reference(
    u0: np.ndarray, *, nu: float, dx: float, frame_dt: float, n_frames: int,
    cfl: float = 0.4, diffusion: str = "trbdf2",
) -> tuple[np.ndarray, int]:
    """Integrate viscous Burgers ``u_t + (u^2/2)_x = (nu/pi) u_xx`` (periodic) with NumPy.

    Parameters
    ----------
    u0 : ndarray, shape (n_samples, n_cells)
        Initial cell averages.
    nu : float
        Viscosity parameter (diffusion ``nu / pi``).
    dx, frame_dt : float
        Cell width and time between frames.
    n_frames : int
        Number of frames including the initial one.
    cfl : float
        Courant number ``max|u| dt / dx``.
    diffusion : {"trbdf2", "cn"}
        Implicit diffusion integrator.

    Returns
    -------
    u : ndarray, shape (n_samples, n_frames, n_cells)
    steps : int
        Time steps taken (shared by the batch).
    """
    u = np.array(u0, dtype=np.float64)
    n = u.shape[-1]
    k = 2.0 * np.pi * np.fft.rfftfreq(n, d=dx)
    minus_lap = (2.0 * np.sin(0.5 * k * dx) / dx) ** 2   # symbol of -L_h
    theta = (_GAMMA if diffusion == "trbdf2" else 1.0) * 0.5 * nu / math.pi

    def diffuse(v: np.ndarray, dt: float) -> np.ndarray:
        inv = 1.0 / (1.0 + theta * dt * minus_lap)      # symbol of M^-1
        t1 = np.fft.irfft(np.fft.rfft(v, axis=-1) * inv, n=n, axis=-1)
        if diffusion == "cn":
            return 2.0 * t1 - v
        r = 2.0 * _C1 * t1 - (2.0 * _C1 - 1.0) * v
        return np.fft.irfft(np.fft.rfft(r, axis=-1) * inv, n=n, axis=-1)

    out = np.empty((u.shape[0], n_frames, n), dtype=np.float64)
    out[:, 0] = u
    steps = 0
    for fr in range(1, n_frames):
        umax = float(np.max(np.abs(u)))
        n_sub = max(1, math.ceil(umax * frame_dt / (cfl * dx)))
        dt = frame_dt / n_sub
        u = diffuse(u, 0.5 * dt)
        for st in range(n_sub):
            u1 = u + dt * _convective_rhs(u, dx)
            u = 0.5 * u + 0.5 * (u1 + dt * _convective_rhs(u1, dx))
            u = diffuse(u, dt if st < n_sub - 1 else 0.5 * dt)
        steps += n_sub
        out[:, fr] = u
    return out, steps
