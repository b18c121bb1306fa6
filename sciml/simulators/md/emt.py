"""An fcc metal with ASE's effective-medium-theory potential, driven by ASE (``"emt_metal"``).

Units are ASE's (Angstrom, eV, amu) with time in fs (the dataset's ``"ase"`` unit system). The
starting structure is a perfect fcc supercell at the given lattice constant; the run is NVT
(fixed cell), so the pressure is whatever the lattice constant and temperature make it.

Phases of Cu (108 atoms): at the reference lattice constant (3.61 Angstrom, close to EMT's
0 K value of 3.59) the crystal is solid at 300 K and, as a defect-free periodic crystal at
fixed volume (under GPa of pressure), stays solid far above Cu's melting point (1358 K). A
liquid needs the liquid's density, ``lattice_constant`` about 3.77-3.80 Angstrom, and a high
enough temperature (at 1800 K and 3.80 Angstrom the crystal melts within a few ps);
``premelt_temperature`` with ``n_premelt`` melts first and then cools to the target.

Reference: K. W. Jacobsen, P. Stoltze and J. K. Norskov, Surf. Sci. 366 (1996) 394 (the EMT
potential of ASE's ``EMT`` calculator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.md.ase_simulator import ASEMDSimulator, fcc_repeat
from sciml.simulators.md.driver import import_ase

__all__ = ["EMT_FCC_LATTICE_CONSTANTS", "EMTMetalSimulator"]

#: fcc metals of ASE's EMT and their reference lattice constants (Angstrom, ``ase.data.reference_states``)
EMT_FCC_LATTICE_CONSTANTS: dict[str, float] = {
    "Al": 4.05, "Cu": 3.61, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92,
}


class EMTMetalSimulator(ASEMDSimulator):
    """An fcc metal (default Cu) with ASE's EMT, NVT Langevin from a perfect crystal.

    Physical parameters: ``temperature`` in ``[100, 2500]`` K and ``lattice_constant`` in
    ``[0.995, 1.06]`` times the element's reference value (default the reference value).

    Parameters
    ----------
    element : str
        One of :data:`EMT_FCC_LATTICE_CONSTANTS`.
    n_atoms : int
        ``4 k^3`` atoms (108, 256, 500, ...); the box must be at least twice EMT's cutoff.
    timestep : float
        In fs (default 2).
    n_equilibrate, n_frames, stride : int
    friction : float
        Langevin friction in 1 / fs (default 0.01).
    production : {"langevin", "verlet"}
    max_energy_per_atom : float
        Divergence threshold in eV per atom.
    premelt_temperature, n_premelt : float or None, int
        Optional Langevin steps at ``premelt_temperature`` (K) before the equilibration; a
        liquid needs them (see the module docstring).
    """

    name: ClassVar[str] = "emt_metal"
    version: ClassVar[str] = "1"
    UNIT_SYSTEM: ClassVar[str] = "ase"
    MIN_DISTANCE: ClassVar[float] = 1.0  # Angstrom; fcc metals have nearest neighbours at 2.5-2.9

    def __init__(self, *, element: str = "Cu", n_atoms: int = 108, timestep: float = 2.0,
                 n_equilibrate: int = 1000, n_frames: int = 100, stride: int = 10, friction: float = 0.01,
                 production: str = "langevin", max_energy_per_atom: float = 10.0,
                 premelt_temperature: float | None = None, n_premelt: int = 0) -> None:
        if element not in EMT_FCC_LATTICE_CONSTANTS:
            raise ParameterError(f"element {element!r} is not an fcc metal of ASE's EMT; accepted: "
                                 f"{sorted(EMT_FCC_LATTICE_CONSTANTS)}")
        self.element = element
        a = EMT_FCC_LATTICE_CONSTANTS[element]
        self._space = ParameterSpace((
            Parameter("temperature", 100.0, 2500.0, units="K", default=300.0, description="temperature"),
            Parameter("lattice_constant", round(0.995 * a, 4), round(1.06 * a, 4), units="angstrom", default=a,
                      description="cubic fcc lattice constant (fixed cell)"),
        ))
        self._rc: float | None = None
        super().__init__(n_atoms=n_atoms, timestep=timestep, n_equilibrate=n_equilibrate, n_frames=n_frames,
                         stride=stride, friction=friction, production=production,
                         max_energy_per_atom=max_energy_per_atom, premelt_temperature=premelt_temperature,
                         n_premelt=n_premelt)

    @property
    def parameter_space(self) -> ParameterSpace:
        return self._space

    @property
    def time_unit(self) -> float:
        from ase import units

        return units.fs

    def extra_config(self) -> dict[str, Any]:
        return {"element": self.element}

    def cutoff(self, params: Mapping[str, float] | None = None) -> float:
        """EMT's cutoff radius ``rc`` for the element (mean of the 3rd and 4th neighbour distances)."""
        if self._rc is None:
            import_ase()
            from ase import Atoms
            from ase.calculators.emt import EMT

            calc = EMT()
            calc.initialize(Atoms(self.element))
            self._rc = float(calc.rc)
        return self._rc

    def kelvin(self, temperature: float) -> float:
        return float(temperature)

    def build_atoms(self, params: Mapping[str, float]) -> Any:
        import_ase()
        from ase.build import bulk
        from ase.calculators.emt import EMT

        atoms = bulk(self.element, "fcc", a=float(params["lattice_constant"]), cubic=True).repeat(
            fcc_repeat(self.n_atoms))
        atoms.calc = EMT()
        return atoms
