"""Langevin BAOAB splitting for M replicas at once (velocity Verlet when the friction is 0).

One step of length ``h`` with forces ``F`` (Leimkuhler and Matthews)::

    B: v += (h / 2) F / m        A: x += (h / 2) v
    O: v  = c1 v + c2 sqrt(kT / m) xi,   c1 = exp(-gamma h),  c2 = sqrt(1 - c1^2)
    A: x += (h / 2) v            (new forces)     B: v += (h / 2) F / m

followed, after O, by removing each replica's centre-of-mass velocity, so the total momentum
stays zero (``3 n - 3`` degrees of freedom). With ``gamma = 0`` the O step is skipped and BAAB
is velocity Verlet. Noise ``xi`` comes from one ``torch.Generator`` per replica
(:class:`ReplicaNoise`), drawn in blocks of steps, so a replica's trajectory does not depend on
the other replicas. Everything is in internal units (:mod:`~sciml.surrogates.potentials.md_state`).

Reference: B. Leimkuhler and C. Matthews, "Rational construction of stochastic numerical
methods for molecular sampling", Appl. Math. Res. Express 2013, 34 (2013).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sciml.errors import ParameterError

__all__ = ["BAOAB", "ReplicaNoise", "kinetic_temperature", "remove_com_velocity"]


def remove_com_velocity(velocities: Tensor, masses: Tensor) -> Tensor:
    """``velocities (M, n, 3)`` minus each replica's centre-of-mass velocity (``masses (n,)``)."""
    w = masses.reshape(1, -1, 1)
    return velocities - (w * velocities).sum(1, keepdim=True) / masses.sum()


def kinetic_temperature(velocities: Tensor, masses: Tensor, kB: float = 1.0) -> Tensor:
    """Kinetic temperature ``(M,)``: ``sum m v^2 / (kB (3 n - 3))`` (zero total momentum)."""
    n = velocities.shape[-2]
    return (masses.reshape(1, -1, 1) * velocities.square()).sum((1, 2)) / (kB * max(3 * n - 3, 1))


class ReplicaNoise:
    """Standard normal draws ``(M, n, 3)`` with one generator per replica.

    Parameters
    ----------
    seeds : sequence of int
        One seed per replica.
    n_atoms : int
    dtype, device
    block : int
        Steps of noise drawn at once per generator (part of the stream's definition: a
        replica's noise is the same in any batch only for the same ``block``).
    """

    def __init__(self, seeds: Sequence[int], n_atoms: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None, block: int = 32) -> None:
        self.generators = [torch.Generator(device=device or "cpu").manual_seed(int(s)) for s in seeds]
        self.shape, self.dtype, self.device, self.block = (n_atoms, 3), dtype, device, int(block)
        self._buffer: Tensor | None = None
        self._next = 0

    def normal(self, leading: tuple[int, ...] = ()) -> Tensor:
        """One fresh draw ``(M, *leading, n, 3)`` from every generator."""
        return torch.stack([torch.randn(*leading, *self.shape, generator=g, dtype=self.dtype, device=self.device)
                            for g in self.generators])

    def step(self) -> Tensor:
        """The noise of the next step, ``(M, n, 3)`` (a new block every ``block`` steps)."""
        if self._buffer is None or self._next == self.block:
            self._buffer, self._next = self.normal((self.block,)), 0
        out = self._buffer[:, self._next]
        self._next += 1
        return out


class BAOAB:
    """The BAOAB pieces for replicas of ``n`` atoms, internal units.

    Parameters
    ----------
    timestep : float
        ``h > 0``.
    friction : float
        ``gamma >= 0`` (1 / time); 0 gives velocity Verlet.
    kT : float
        Thermal energy ``kB T`` (> 0 when ``gamma > 0``).
    masses : Tensor, shape (n,)

    Raises
    ------
    ParameterError
        Non-finite or out-of-range values.
    """

    def __init__(self, timestep: float, friction: float, kT: float, masses: Tensor) -> None:
        if not (math.isfinite(timestep) and timestep > 0):
            raise ParameterError(f"timestep must be a finite number > 0, got {timestep!r}")
        if not (math.isfinite(friction) and friction >= 0):
            raise ParameterError(f"friction must be a finite number >= 0, got {friction!r}")
        if not (math.isfinite(kT) and kT >= 0) or (friction > 0 and kT <= 0):
            raise ParameterError(f"temperature must be > 0 for Langevin dynamics, got kT = {kT!r}")
        if not bool((masses > 0).all()):
            raise ParameterError("masses must be > 0")
        self.h, self.gamma, self.kT = float(timestep), float(friction), float(kT)
        self.masses = masses
        self.inv_mass = (1.0 / masses).reshape(1, -1, 1)
        self.c1 = math.exp(-self.gamma * self.h)
        self.noise_scale = math.sqrt(max(1.0 - self.c1**2, 0.0)) * (self.kT * self.inv_mass).sqrt()

    def kick(self, velocities: Tensor, forces: Tensor) -> Tensor:
        """B: half a step of the forces."""
        return velocities + (0.5 * self.h) * forces * self.inv_mass

    def drift(self, positions: Tensor, velocities: Tensor) -> Tensor:
        """A: half a step of free flight."""
        return positions + (0.5 * self.h) * velocities

    def thermostat(self, velocities: Tensor, noise: Tensor) -> Tensor:
        """O: exact Ornstein-Uhlenbeck step over ``h``, then zero total momentum."""
        return remove_com_velocity(self.c1 * velocities + self.noise_scale * noise, self.masses)

    def maxwell_boltzmann(self, noise: Tensor) -> Tensor:
        """Velocities ``sqrt(kT / m) xi`` with zero total momentum, from draws ``xi (M, n, 3)``."""
        return remove_com_velocity((self.kT * self.inv_mass).sqrt() * noise, self.masses)
