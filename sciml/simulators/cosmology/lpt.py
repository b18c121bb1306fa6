"""Lagrangian perturbation theory: Zel'dovich (1LPT) and second-order (2LPT) displacements.

From the linear density ``delta_0`` at ``a = 1`` on the particle lattice ``q``::

    x(q, a) = q + D(a) Psi_1(q) + D2(a) Psi_2(q)
    p(q, a) = a^2 E(a) [f(a) D(a) Psi_1 + f2(a) D2(a) Psi_2]           (p = a^2 dx/dt / H0)

with ``Psi_1 = -grad phi_1``, ``lap phi_1 = delta_0`` (so ``div Psi_1 = -delta_0``) and
``Psi_2 = grad phi_2``, ``lap phi_2 = sum_{i<j} [phi_1,ii phi_1,jj - phi_1,ij^2]``; ``D2`` and
``f2`` from :func:`.linear.second_order_growth` (``D2 ≈ -3/7 D^2``). Peculiar velocities are
``v = 100 p / a`` km/s. Derivatives are spectral; odd-order kernels drop the Nyquist frequency.
References: Ya. B. Zel'dovich, A&A 5 (1970) 84; R. Scoccimarro, MNRAS 299 (1998) 1097;
M. Crocce, S. Pueblas & R. Scoccimarro, MNRAS 373 (2006) 369.
"""

from __future__ import annotations

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.cosmology.linear import Cosmology, growth_factor, growth_rate, second_order_growth
from sciml.simulators.cosmology.mesh import check_box, irfft3, wavenumbers

__all__ = ["lattice", "lpt_displacements", "lpt_state"]


def lattice(n: int, box_size: float) -> np.ndarray:
    """Particle lattice ``q``: ``(n^3, 3)`` positions ``(i, j, l) * box_size / n`` (C order, Mpc/h)."""
    g = np.arange(n) * (box_size / n)
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)


def _delta_shape(delta_k: np.ndarray) -> int:
    n = delta_k.shape[0]
    if delta_k.ndim != 3 or delta_k.shape != (n, n, n // 2 + 1) or n % 2:
        raise ParameterError(f"delta_k must have the rfft shape (n, n, n//2+1) with n even, got {delta_k.shape}")
    return n


def lpt_displacements(delta_k: np.ndarray, box_size: float, *, order: int = 2) -> tuple[np.ndarray, np.ndarray | None]:
    """First- and second-order displacement fields on the lattice, for ``D = 1``.

    Parameters
    ----------
    delta_k : ndarray
        ``(n, n, n // 2 + 1)`` rfft of the linear density at ``a = 1``
        (:func:`.initial_conditions.gaussian_field_k`).
    box_size : float
        Box side (Mpc/h).
    order : {1, 2}
        1: Zel'dovich only (``Psi_2`` is ``None``).

    Returns
    -------
    psi1, psi2 : ndarray
        ``(3, n, n, n)`` in Mpc/h (``psi2`` ``None`` for ``order=1``).
    """
    if order not in (1, 2):
        raise ParameterError(f"order must be 1 (Zel'dovich) or 2 (2LPT), got {order!r}")
    n = _delta_shape(delta_k)
    box = check_box(box_size)
    k_full = wavenumbers(n, box)
    k_odd = wavenumbers(n, box, odd=True)
    k2 = k_full[0] ** 2 + k_full[1] ** 2 + k_full[2] ** 2
    k2[0, 0, 0] = 1.0
    phi1 = -delta_k / k2  # lap phi1 = delta0
    phi1[0, 0, 0] = 0.0
    psi1 = np.stack([irfft3(-1j * k_odd[i] * phi1, n) for i in range(3)])
    if order == 1:
        return psi1, None
    hess = {}
    for i in range(3):
        for j in range(i, 3):
            kk = k_full[i] ** 2 if i == j else k_odd[i] * k_odd[j]
            hess[i, j] = irfft3(-kk * phi1, n)
    source = (hess[0, 0] * hess[1, 1] + hess[0, 0] * hess[2, 2] + hess[1, 1] * hess[2, 2]
              - hess[0, 1] ** 2 - hess[0, 2] ** 2 - hess[1, 2] ** 2)
    phi2 = -np.fft.rfftn(source) / k2
    phi2[0, 0, 0] = 0.0
    psi2 = np.stack([irfft3(1j * k_odd[i] * phi2, n) for i in range(3)])
    return psi1, psi2


def lpt_state(psi1: np.ndarray, psi2: np.ndarray | None, a: float, cosmo: Cosmology,
              box_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Particle positions and momenta at scale factor ``a`` from the LPT displacements.

    Parameters
    ----------
    psi1, psi2 : ndarray
        ``(3, n, n, n)`` from :func:`lpt_displacements` (``psi2`` ``None``: Zel'dovich).
    a : float
        Scale factor (> 0).
    cosmo : Cosmology
    box_size : float
        Box side (Mpc/h).

    Returns
    -------
    positions : ndarray
        ``(n^3, 3)`` in ``[0, box_size)`` (Mpc/h), lattice order of :func:`lattice`.
    momenta : ndarray
        ``(n^3, 3)``, ``p = a^2 dx/dt / H0`` (Mpc/h).
    """
    n = psi1.shape[-1]
    a_arr = np.asarray(a, dtype=np.float64)
    d1 = float(growth_factor(a_arr, cosmo))
    f1 = float(growth_rate(a_arr, cosmo))
    scale = float(a_arr**2 * cosmo.E(a_arr))
    disp = d1 * psi1.reshape(3, -1).T
    mom = scale * f1 * d1 * psi1.reshape(3, -1).T
    if psi2 is not None:
        d2, f2 = (float(v) for v in second_order_growth(a_arr, cosmo))
        disp = disp + d2 * psi2.reshape(3, -1).T
        mom = mom + scale * f2 * d2 * psi2.reshape(3, -1).T
    positions = np.mod(lattice(n, box_size) + disp, box_size)
    return positions, mom
