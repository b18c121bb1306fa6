"""The common Simulator of ASE-driven MD: fcc start, Langevin equilibration, recorded production.

:class:`ASEMDSimulator` turns a subclass's structure and calculator (:meth:`build_atoms`) into
a :class:`~sciml.simulators.base.Simulator`: ``run(params, seed=, n_samples=)`` runs
``n_samples`` independent trajectories (sample ``k`` uses the ``k``-th child of
``numpy.random.SeedSequence(seed)`` for its velocities and Langevin noise, so it does not
depend on ``n_samples``) and returns a trajectory dataset (:mod:`sciml.data.particles`) with
positions (continuous, not wrapped), velocities, forces, potential energy, stress (potential
part, ASE sign), cell, pbc, atomic numbers and masses, in the subclass's unit system.

A diverging run raises :class:`~sciml.simulators.md.driver.MDDivergenceError` naming the
sample, parameters, seed and step; ``exc.last_good`` is the last good ``ase.Atoms`` and
``exc.partial`` the production frames recorded so far as a one-sample dataset (or ``None``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sciml.data.schema import provenance_attrs, validate
from sciml.errors import ParameterError
from sciml.simulators.base import ParameterSpace, check_n_samples
from sciml.simulators.md.driver import Frames, MDDivergenceError, MDSettings, import_ase, run_md

__all__ = ["ASEMDSimulator", "fcc_repeat"]


def fcc_repeat(n_atoms: Any) -> int:
    """The repeat ``k`` of the 4-atom cubic fcc cell with ``4 k^3 == n_atoms``.

    Raises
    ------
    ParameterError
        ``n_atoms`` is not ``4 k^3`` (the message lists the accepted values).
    """
    if isinstance(n_atoms, (int, np.integer)) and not isinstance(n_atoms, bool) and n_atoms > 0:
        k = round((n_atoms / 4) ** (1 / 3))
        if 4 * k**3 == n_atoms:
            return k
    raise ParameterError(f"n_atoms must be 4 k^3 (an fcc supercell), got {n_atoms!r}; accepted: "
                         f"{[4 * k**3 for k in range(2, 9)]} ...")


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class ASEMDSimulator(ABC):
    """Base of the ASE-driven MD simulators (see the module docstring).

    Subclasses set ``name``, ``version``, ``UNIT_SYSTEM`` and implement
    :attr:`parameter_space`, :meth:`build_atoms`, :meth:`kelvin`, :meth:`cutoff` and
    :attr:`time_unit`.

    Parameters
    ----------
    n_atoms : int
        ``4 k^3`` atoms of an fcc supercell (108, 256, 500, ...).
    timestep : float
        Time step in the dataset's time unit (tau or fs).
    n_equilibrate : int
        Langevin steps before the first recorded frame.
    n_frames, stride : int
        Frames per sample and steps between frames.
    friction : float
        Langevin friction in 1 / time unit.
    production : {"langevin", "verlet"}
        Production integrator: NVT Langevin or NVE velocity Verlet.
    max_energy_per_atom : float
        Potential energy per atom (energy unit) above which a run counts as diverged.
    premelt_temperature : float or None
        Temperature (unit of the ``temperature`` parameter) of ``n_premelt`` Langevin steps
        before the equilibration: melts the starting crystal where it would superheat.
    n_premelt : int
        Premelt steps (0: none).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    UNIT_SYSTEM: ClassVar[str]
    #: smallest accepted distance between two atoms of the starting structure (length unit)
    MIN_DISTANCE: ClassVar[float]

    def __init__(self, *, n_atoms: int, timestep: float, n_equilibrate: int, n_frames: int, stride: int,
                 friction: float, production: str = "langevin", max_energy_per_atom: float,
                 premelt_temperature: float | None = None, n_premelt: int = 0) -> None:
        self.repeat = fcc_repeat(n_atoms)
        self.n_atoms = int(n_atoms)
        self.timestep = _positive("timestep", timestep)
        self.friction = _positive("friction", friction)
        self.n_equilibrate, self.n_frames, self.stride = n_equilibrate, n_frames, stride
        self.production = production
        self.max_energy_per_atom = _positive("max_energy_per_atom", max_energy_per_atom)
        self.premelt_temperature = None if premelt_temperature is None else _positive("premelt_temperature",
                                                                                      premelt_temperature)
        self.n_premelt = n_premelt
        MDSettings(timestep=self.timestep, temperature_K=1.0, friction=self.friction, n_equilibrate=n_equilibrate,
                   n_frames=n_frames, stride=stride, production=production, n_premelt=n_premelt,
                   max_energy_per_atom=self.max_energy_per_atom,
                   premelt_temperature_K=self.premelt_temperature)  # validates the integer and choice options

    # ----------------------------------------------------------------- subclass hooks
    @property
    @abstractmethod
    def parameter_space(self) -> ParameterSpace:
        """The physical parameters accepted by :meth:`run`."""

    @property
    @abstractmethod
    def time_unit(self) -> float:
        """ASE time units per unit of the dataset's time (1 for tau, ``ase.units.fs`` for fs)."""

    @abstractmethod
    def build_atoms(self, params: Mapping[str, float]) -> Any:
        """The starting ``ase.Atoms`` (cell, pbc, masses) with its calculator attached."""

    @abstractmethod
    def kelvin(self, temperature: float) -> float:
        """A temperature of this simulator's unit in ASE's K (``T* / ase.units.kB`` for reduced LJ)."""

    def temperature_K(self, params: Mapping[str, float]) -> float:
        """Thermostat temperature in K for ASE."""
        return self.kelvin(float(params["temperature"]))

    @abstractmethod
    def cutoff(self, params: Mapping[str, float]) -> float:
        """Interaction cutoff; the periodic box must be at least twice as wide."""

    def extra_config(self) -> dict[str, Any]:
        """Subclass constructor options recorded in :meth:`config`."""
        return {}

    # ----------------------------------------------------------------- protocol
    def config(self) -> dict[str, Any]:
        """Constructor options, JSON-serialisable; ``build_simulator(sim.config())`` rebuilds it."""
        return {"kind": self.name, "n_atoms": self.n_atoms, "timestep": self.timestep,
                "n_equilibrate": self.n_equilibrate, "n_frames": self.n_frames, "stride": self.stride,
                "friction": self.friction, "production": self.production,
                "max_energy_per_atom": self.max_energy_per_atom, "premelt_temperature": self.premelt_temperature,
                "n_premelt": self.n_premelt, **self.extra_config()}

    def settings(self, params: Mapping[str, float]) -> MDSettings:
        """The integration settings in ASE units (validates the numerical options)."""
        return MDSettings(timestep=self.timestep * self.time_unit, temperature_K=self.temperature_K(params),
                          friction=self.friction / self.time_unit, n_equilibrate=self.n_equilibrate,
                          n_frames=self.n_frames, stride=self.stride, production=self.production,
                          max_energy_per_atom=self.max_energy_per_atom, n_premelt=self.n_premelt,
                          premelt_temperature_K=None if self.premelt_temperature is None
                          else self.kelvin(self.premelt_temperature))

    def n_steps(self, params: Mapping[str, float] | None = None) -> int:
        """MD steps of one sample: ``n_premelt + n_equilibrate + (n_frames - 1) * stride``."""
        return self.n_premelt + self.n_equilibrate + (self.n_frames - 1) * self.stride

    def cost(self, params: Mapping[str, float]) -> float:
        """Relative cost of one sample: ``n_atoms * n_steps / 1e6``."""
        self.parameter_space.validate(params, source=self.name)
        return self.n_atoms * self.n_steps() / 1e6

    def sample_nbytes(self, params: Mapping[str, float] | None = None) -> int:
        """Bytes of one sample's per-sample variables (all but the parameters) in the output."""
        f, n = self.n_frames, self.n_atoms
        floats = 3 * f * n * 3 + f + 6 * f + 9 * f + n  # positions, velocities, forces; energy; stress; cell; masses
        return 8 * floats + 3 + 4 * n  # pbc int8, atomic_numbers int32

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """Run ``n_samples`` independent MD trajectories.

        Parameters
        ----------
        params : mapping
            Physical parameters; see :attr:`parameter_space`.
        seed : int
            Seed of the initial velocities and the Langevin noise (one child seed per sample).
        n_samples : int
            Number of trajectories.

        Returns
        -------
        xarray.Dataset
            Trajectory layout, ``(n_samples, n_frames, n_atoms)``, validated.

        Raises
        ------
        ParameterError
            Parameters out of range, a box thinner than twice the cutoff, overlapping atoms.
        MDDivergenceError
            A run diverged (see the module docstring).
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        import_ase()
        settings = self.settings(p)
        frames, atoms = [], None
        for k, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
            atoms = self.build_atoms(p)
            try:
                frames.append(run_md(atoms, settings, np.random.default_rng(child),
                                     min_distance=self.MIN_DISTANCE, cutoff=self.cutoff(p)))
            except MDDivergenceError as exc:
                partial = None if exc.frames is None else self.to_dataset([exc.frames], atoms, p, seed)
                raise exc.with_context(f"{self.name}: sample {k} with parameters {p} and seed {seed}",
                                       partial=partial) from None
        return self.to_dataset(frames, atoms, p, seed)

    def to_dataset(self, frames: list[Frames], atoms: Any, params: Mapping[str, float], seed: int) -> xr.Dataset:
        """Wrap recorded frames (ASE units) as a validated trajectory dataset in this unit system."""
        from sciml.data.particles import trajectory_dataset

        stacked = {name: np.stack([getattr(f, name) for f in frames])
                   for name in ("positions", "velocities", "forces", "energy", "cell")}
        stress = None if frames[0].stress is None else np.stack([f.stress for f in frames])
        ds = trajectory_dataset(
            stacked["positions"], velocities=stacked["velocities"] * self.time_unit, forces=stacked["forces"],
            energy=stacked["energy"], stress=stress, cell=stacked["cell"], pbc=np.asarray(atoms.get_pbc()),
            atomic_numbers=np.asarray(atoms.get_atomic_numbers()), masses=np.asarray(atoms.get_masses()),
            time=frames[0].steps * self.timestep, unit_system=self.UNIT_SYSTEM,
            parameters={k: np.full(len(frames), v) for k, v in params.items()},
            parameter_attrs={q.name: {"units": q.units, "long_name": q.description or q.name}
                             for q in self.parameter_space},
            attrs=provenance_attrs(generator=self.name, generator_version=self.version,
                                   parameters={"config": self.config(), "params": dict(params)}, seed=seed),
        )
        return validate(ds, check_finite=False)
