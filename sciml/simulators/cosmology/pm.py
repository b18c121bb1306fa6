"""Particle-mesh N-body integration with FastPM's force-corrected kick-drift-kick steps in ``a``.

Units: comoving positions ``x`` (Mpc/h), momenta ``p = a^2 dx/dt / H0`` (Mpc/h). The equations
of motion are ``dx/da = p / (a^3 E)``, ``dp/da = F / (a^2 E)``, with the force ``F = -grad phi``
and ``lap phi = 3/2 Omega_m delta`` (``delta`` the CIC density contrast of the particles).

Force: CIC painting on an ``n_mesh^3`` mesh, the Green's function ``-1/k^2`` and a gradient
kernel — ``"fd4"`` (default: the 4-point finite difference ``i (8 sin(kH) - sin(2kH)) / (6H)``
per axis) or ``"spectral"`` (``i k``, Nyquist frequency dropped) — then CIC read-out. Both
kernels are odd in ``k`` and the read-out is the adjoint of the painting, so the CIC forces of
all particles sum to zero to round-off (total momentum is conserved). ``deconvolve=True``
divides the force by the CIC window twice (painting and read-out) to sharpen it.

Time stepping (Feng, Chu, Seljak & McDonald 2016, MNRAS 463, 2273): kick, drift, kick with
factors chosen so that the linear growing mode is integrated exactly whatever the step:

* drift ``Delta x = p(a_h) [D(a_1) - D(a_0)] / G_p(a_h)``,
* kick  ``Delta p = F(a_c) [G_p(a_1) - G_p(a_0)] / (3/2 Omega_m D(a_c))``,

with ``G_p = a^3 E dD/da`` (:func:`.linear.momentum_growth`). The particles start from 2LPT at
``a_start``; the steps are uniform in ``a`` and always land on the requested output times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.cosmology.linear import Cosmology, growth_factor, momentum_growth
from sciml.simulators.cosmology.mesh import (
    check_box,
    check_mesh,
    cic_paint,
    cic_readout,
    cic_window,
    irfft3,
    wavenumbers,
)

__all__ = ["GRADIENTS", "PMForce", "Snapshot", "pm_evolve", "step_schedule"]

#: Accepted gradient kernels.
GRADIENTS: tuple[str, ...] = ("fd4", "spectral")


@dataclass(frozen=True)
class Snapshot:
    """Particles at scale factor ``a``: ``positions`` and ``momenta`` ``(N, 3)`` (Mpc/h)."""

    a: float
    positions: np.ndarray
    momenta: np.ndarray


class PMForce:
    """The particle-mesh force ``F = -grad phi``, ``lap phi = 3/2 Omega_m delta``, on a periodic mesh.

    Parameters
    ----------
    n_mesh : int
        Mesh cells per side (even).
    box_size : float
        Box side (Mpc/h).
    gradient : {"fd4", "spectral"}
        Gradient kernel (module docstring).
    deconvolve : bool
        Divide by the squared CIC window.
    """

    def __init__(self, n_mesh: int, box_size: float, *, gradient: str = "fd4", deconvolve: bool = False) -> None:
        self.n = check_mesh(n_mesh, "n_mesh", minimum=4)
        self.box = check_box(box_size)
        if gradient not in GRADIENTS:
            raise ParameterError(f"gradient must be one of {list(GRADIENTS)}, got {gradient!r}")
        self.gradient, self.deconvolve = gradient, bool(deconvolve)
        k = wavenumbers(self.n, self.box)
        k2 = k[0] ** 2 + k[1] ** 2 + k[2] ** 2
        k2[0, 0, 0] = 1.0
        green = -1.0 / k2
        green[0, 0, 0] = 0.0
        if self.deconvolve:
            green = green / cic_window(self.n, self.box) ** 2
        self._green = green
        cell = self.box / self.n
        if gradient == "spectral":
            self._grad = wavenumbers(self.n, self.box, odd=True)
        else:
            self._grad = tuple((8.0 * np.sin(ki * cell) - np.sin(2.0 * ki * cell)) / (6.0 * cell) for ki in k)

    def density(self, positions: np.ndarray) -> np.ndarray:
        """CIC density contrast ``rho / rho_mean - 1`` of equal-mass particles, ``(n, n, n)``."""
        mesh = cic_paint(positions, self.n, self.box)
        return mesh * (self.n**3 / len(positions)) - 1.0

    def mesh_force(self, positions: np.ndarray, Omega_m: float) -> np.ndarray:
        """The force on the mesh, ``(3, n, n, n)``."""
        phi_k = 1.5 * Omega_m * np.fft.rfftn(self.density(positions)) * self._green
        return np.stack([irfft3(-1j * g * phi_k, self.n) for g in self._grad])

    def __call__(self, positions: np.ndarray, Omega_m: float) -> np.ndarray:
        """The force on each particle, ``(N, 3)``."""
        return cic_readout(self.mesh_force(positions, Omega_m), positions, self.box)


def step_schedule(a_start: float, a_final: float, n_steps: int, a_output: Sequence[float] = ()) -> np.ndarray:
    """Step boundaries: ``n_steps`` uniform steps in ``a`` from ``a_start`` to ``a_final``, plus the output times.

    Raises
    ------
    ParameterError
        ``not 0 < a_start < a_final``, ``n_steps < 1``, or an output outside ``(a_start, a_final]``.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ParameterError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not (np.isfinite(a_start) and np.isfinite(a_final) and 0 < a_start < a_final):
        raise ParameterError(f"need 0 < a_start < a_final, got a_start={a_start!r}, a_final={a_final!r}")
    outs = np.asarray(a_output, dtype=np.float64)
    if np.any(~np.isfinite(outs)) or np.any(outs <= a_start) or np.any(outs > a_final):
        raise ParameterError(f"output scale factors must lie in (a_start={a_start:g}, a_final={a_final:g}], "
                             f"got {list(a_output)}")
    edges = np.union1d(np.linspace(a_start, a_final, int(n_steps) + 1), outs)
    keep = np.concatenate([[True], np.diff(edges) > 1e-12 * a_final])
    return edges[keep]


def pm_evolve(positions: np.ndarray, momenta: np.ndarray, cosmo: Cosmology, force: PMForce, *,
              a_start: float, a_final: float, n_steps: int,
              a_output: Sequence[float] | None = None) -> list[Snapshot]:
    """Integrate particles from ``a_start`` to ``a_final`` with FastPM KDK steps.

    Parameters
    ----------
    positions, momenta : ndarray
        ``(N, 3)`` at ``a_start`` (e.g. :func:`.lpt.lpt_state`); not modified.
    cosmo : Cosmology
    force : PMForce
    a_start, a_final : float
        ``0 < a_start < a_final``.
    n_steps : int
        Uniform steps in ``a`` (the output times are added as further step boundaries).
    a_output : sequence of float, optional
        Scale factors in ``(a_start, a_final]`` at which to return snapshots; default ``[a_final]``.

    Returns
    -------
    list of Snapshot
        One per output time, in increasing ``a``.
    """
    outputs = np.unique(np.asarray([a_final] if a_output is None else list(a_output), dtype=np.float64))
    edges = step_schedule(a_start, a_final, n_steps, outputs)
    x = np.mod(np.array(positions, dtype=np.float64), force.box)
    p = np.array(momenta, dtype=np.float64)
    om = cosmo.Omega_m
    f = force(x, om)
    snapshots = []
    for a0, a1 in pairwise(edges):
        ah = 0.5 * (a0 + a1)
        g0, gh, g1 = momentum_growth(np.array([a0, ah, a1]), cosmo)
        d0, d1 = growth_factor(np.array([a0, a1]), cosmo)
        p += f * (gh - g0) / (1.5 * om * d0)
        x += p * (d1 - d0) / gh
        np.mod(x, force.box, out=x)
        f = force(x, om)
        p += f * (g1 - gh) / (1.5 * om * d1)
        if np.any(np.isclose(a1, outputs, rtol=0, atol=1e-12 * a_final)):
            snapshots.append(Snapshot(float(a1), x.copy(), p.copy()))
    return snapshots
