"""The Lennard-Jones fluid in reduced units, driven by ASE (``"lj_fluid"``).

ASE's ``LennardJones`` calculator with ``sigma = epsilon = 1`` and masses 1 makes ASE's units
the reduced LJ units: length sigma, energy epsilon, and ASE's time unit
``sigma sqrt(m / epsilon) = tau``. The thermostat temperature is ``T* / ase.units.kB`` in
ASE's Kelvin. The starting structure is an fcc lattice at the requested density, melted by
the Langevin equilibration.

Reference: L. Verlet, Phys. Rev. 159 (1967) 98 (rho* = 0.8442 near the triple point);
J. K. Johnson, J. A. Zollweg and K. E. Gubbins, Mol. Phys. 78 (1993) 591 (LJ equation of state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.md.ase_simulator import ASEMDSimulator, fcc_repeat
from sciml.simulators.md.driver import import_ase

__all__ = ["LJFluidSimulator", "lj_fcc_atoms"]


def lj_fcc_atoms(n_atoms: int, density: float) -> Any:
    """``n_atoms = 4 k^3`` LJ particles on an fcc lattice of reduced density ``density``.

    Returns
    -------
    ase.Atoms
        Periodic cubic cell of edge ``(n_atoms / density)^(1/3)`` sigma; symbol Ar (atomic
        number 18, a label) with mass 1.
    """
    from ase.build import bulk

    k = fcc_repeat(n_atoms)
    atoms = bulk("Ar", "fcc", a=(4.0 / density) ** (1.0 / 3.0), cubic=True).repeat(k)
    atoms.set_masses(np.ones(len(atoms)))
    return atoms


class LJFluidSimulator(ASEMDSimulator):
    """Lennard-Jones particles in reduced units (NVT), from an fcc lattice melted by Langevin.

    Physical parameters: ``temperature`` ``T* = k_B T / epsilon`` in ``[0.6, 2.0]`` and
    ``density`` ``rho* = N sigma^3 / V`` in ``[0.5, 0.85]`` (the upper bound keeps a 108-atom
    box at least ``2 * 2.5`` sigma wide; larger ``n_atoms`` allow no more, the range is fixed).

    Parameters
    ----------
    n_atoms : int
        ``4 k^3`` particles (108, 256, 500, ...).
    timestep : float
        In tau (default 0.005).
    n_equilibrate, n_frames, stride : int
        Langevin steps before the first frame; frames; steps between frames.
    friction : float
        Langevin friction in 1 / tau.
    cutoff : float
        Interaction cutoff in sigma; the box must be at least ``2 * cutoff`` wide.
    smooth_onset : float or None
        Radius where ASE's smooth cutoff function starts (forces go continuously to zero at
        ``cutoff``); ``None`` for the truncated and shifted potential.
    production : {"langevin", "verlet"}
    max_energy_per_atom : float
        Divergence threshold in epsilon per particle.
    premelt_temperature, n_premelt : float or None, int
        Optional Langevin steps at ``premelt_temperature`` (T*) before the equilibration.
    """

    name: ClassVar[str] = "lj_fluid"
    version: ClassVar[str] = "1"
    UNIT_SYSTEM: ClassVar[str] = "lj"
    MIN_DISTANCE: ClassVar[float] = 0.5
    PARAMETERS: ClassVar[ParameterSpace] = ParameterSpace((
        Parameter("temperature", 0.6, 2.0, units="1", default=1.0,
                  description="reduced temperature T* = k_B T / epsilon"),
        Parameter("density", 0.5, 0.85, units="1", default=0.8442,
                  description="reduced number density rho* = N sigma^3 / V"),
    ))

    def __init__(self, *, n_atoms: int = 108, timestep: float = 0.005, n_equilibrate: int = 2000,
                 n_frames: int = 100, stride: int = 10, friction: float = 1.0, cutoff: float = 2.5,
                 smooth_onset: float | None = 2.0, production: str = "langevin",
                 max_energy_per_atom: float = 50.0, premelt_temperature: float | None = None,
                 n_premelt: int = 0) -> None:
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not math.isfinite(cutoff) \
                or cutoff <= 0:
            raise ParameterError(f"cutoff must be a finite number > 0 (sigma), got {cutoff!r}")
        if smooth_onset is not None and not (isinstance(smooth_onset, (int, float)) and 0 < smooth_onset < cutoff):
            raise ParameterError(f"smooth_onset must be None or in (0, cutoff = {cutoff:g}), got {smooth_onset!r}")
        self._cutoff = float(cutoff)
        self.smooth_onset = None if smooth_onset is None else float(smooth_onset)
        super().__init__(n_atoms=n_atoms, timestep=timestep, n_equilibrate=n_equilibrate, n_frames=n_frames,
                         stride=stride, friction=friction, production=production,
                         max_energy_per_atom=max_energy_per_atom, premelt_temperature=premelt_temperature,
                         n_premelt=n_premelt)

    @property
    def parameter_space(self) -> ParameterSpace:
        return self.PARAMETERS

    @property
    def time_unit(self) -> float:
        return 1.0  # ASE's time unit is tau when sigma = epsilon = m = 1

    def extra_config(self) -> dict[str, Any]:
        return {"cutoff": self._cutoff, "smooth_onset": self.smooth_onset}

    def cutoff(self, params: Mapping[str, float] | None = None) -> float:
        return self._cutoff

    def kelvin(self, temperature: float) -> float:
        from ase import units

        return float(temperature) / units.kB

    def calculator(self) -> Any:
        """ASE's ``LennardJones`` with sigma = epsilon = 1 and this cutoff."""
        import_ase()
        from ase.calculators.lj import LennardJones

        if self.smooth_onset is None:
            return LennardJones(sigma=1.0, epsilon=1.0, rc=self._cutoff)
        return LennardJones(sigma=1.0, epsilon=1.0, rc=self._cutoff, ro=self.smooth_onset, smooth=True)

    def build_atoms(self, params: Mapping[str, float]) -> Any:
        import_ase()
        atoms = lj_fcc_atoms(self.n_atoms, float(params["density"]))
        atoms.calc = self.calculator()
        return atoms
