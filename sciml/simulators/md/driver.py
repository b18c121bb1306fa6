"""ASE as the MD driver: Langevin equilibration then Langevin or velocity-Verlet production,
recording frames, and stopping a diverging run with the last good frame kept.

:func:`run_md` starts from Maxwell-Boltzmann velocities drawn from an explicit NumPy
``Generator``, removes the centre-of-mass momentum and keeps it zero (``ase.constraints.FixCom``,
so the kinetic temperature has ``3 N - 3`` degrees of freedom), equilibrates with ASE's
``Langevin`` (noise from the same generator) and records ``n_frames`` frames every ``stride``
steps of the production integrator. Everything here is in ASE units (Angstrom, eV, amu, ASE
time); the simulators convert.

References: ASE molecular dynamics (https://wiki.fysik.dtu.dk/ase/ase/md.html); Vanden-Eijnden
and Ciccotti, Chem. Phys. Lett. 429 (2006) 310 (the Langevin scheme ASE implements).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.md.neighbors import check_cell, check_min_distance

__all__ = ["Frames", "MDDivergenceError", "MDSettings", "import_ase", "run_md"]

_HINT = "pip install 'sciml[md]'"


def import_ase() -> Any:
    """``import ase`` or ImportError with the install hint."""
    try:
        import ase
        import ase.md  # noqa: F401
    except ImportError as exc:  # pragma: no cover - ase is installed in the test environment
        raise ImportError(f"the MD simulators need ASE (the Atomic Simulation Environment): {_HINT}") from exc
    return ase


@dataclass(frozen=True)
class MDSettings:
    """Integration settings, in ASE units.

    Attributes
    ----------
    timestep : float
        ASE time units (``ase.units.fs`` per fs; tau for LJ with sigma = epsilon = m = 1).
    temperature_K : float
        Thermostat temperature in K (``T* / ase.units.kB`` for reduced LJ).
    friction : float
        Langevin friction in 1 / ASE time.
    n_equilibrate : int
        Langevin steps before the first frame.
    n_frames, stride : int
        Frames recorded and steps between frames (frame 0 is the equilibrated state).
    production : {"langevin", "verlet"}
        Integrator of the production run (NVT Langevin or NVE velocity Verlet).
    max_energy_per_atom : float
        Potential energy per atom (eV) above which the run counts as diverged.
    premelt_temperature_K : float or None
        Temperature (K) of ``n_premelt`` Langevin steps run before the equilibration (melts a
        crystal that would superheat); ``None`` for none.
    n_premelt : int
        Steps at ``premelt_temperature_K`` (0 without premelting).
    """

    timestep: float
    temperature_K: float
    friction: float
    n_equilibrate: int
    n_frames: int
    stride: int
    production: Literal["langevin", "verlet"] = "langevin"
    max_energy_per_atom: float = 100.0
    premelt_temperature_K: float | None = None
    n_premelt: int = 0

    def __post_init__(self) -> None:
        names = ["timestep", "temperature_K", "friction", "max_energy_per_atom"]
        for name in names + (["premelt_temperature_K"] if self.premelt_temperature_K is not None else []):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
        for name, low in (("n_equilibrate", 0), ("n_frames", 1), ("stride", 1), ("n_premelt", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.production not in ("langevin", "verlet"):
            raise ParameterError(f"production must be 'langevin' or 'verlet', got {self.production!r}")
        if self.n_premelt and self.premelt_temperature_K is None:
            raise ParameterError(f"n_premelt = {self.n_premelt} needs a premelt temperature")

    @property
    def n_steps(self) -> int:
        """Total number of steps: premelt, equilibration and ``(n_frames - 1) * stride``."""
        return self.n_premelt + self.n_equilibrate + (self.n_frames - 1) * self.stride


@dataclass
class Frames:
    """Recorded frames, ASE units; ``F`` frames of ``n`` atoms.

    Attributes
    ----------
    positions, velocities, forces : ndarray, shape (F, n, 3)
        Continuous (unwrapped) positions in Angstrom; velocities in Angstrom / ASE time.
    energy : ndarray, shape (F,)
        Potential energy (eV).
    stress : ndarray, shape (F, 6) or None
        ASE stress (potential part, Voigt ``xx yy zz yz xz xy``, eV / Angstrom^3).
    cell : ndarray, shape (F, 3, 3)
    steps : ndarray of int, shape (F,)
        Production step of each frame (0 at the end of equilibration).
    """

    positions: np.ndarray
    velocities: np.ndarray
    forces: np.ndarray
    energy: np.ndarray
    stress: np.ndarray | None
    cell: np.ndarray
    steps: np.ndarray


class MDDivergenceError(SimulationError):
    """An MD run diverged (non-finite or exploding energy, non-finite positions) and was stopped.

    Attributes
    ----------
    step : int
        Step (counted from the start of the run) at which the divergence was detected.
    phase : str
        ``"premelt"``, ``"equilibration"`` or ``"production"``.
    last_good : ase.Atoms or None
        Copy of the last state that passed the checks (positions, momenta, cell).
    frames : Frames or None
        The production frames recorded before the divergence (``None`` before production).
    partial : xarray.Dataset or None
        Set by the simulators: those frames as a one-sample trajectory dataset.
    """

    def __init__(self, message: str, *, step: int = -1, phase: str = "", last_good: Any = None,
                 frames: Frames | None = None, partial: Any = None) -> None:
        super().__init__(message)
        self.step, self.phase, self.last_good, self.frames, self.partial = step, phase, last_good, frames, partial

    def __reduce__(self) -> tuple:
        """Pickle with the attributes (executors send errors between processes)."""
        return (type(self), (str(self),), dict(self.__dict__))

    def with_context(self, prefix: str, *, partial: Any = None) -> MDDivergenceError:
        """The same error with ``prefix`` before the message (and a partial dataset attached)."""
        return MDDivergenceError(f"{prefix}: {self}", step=self.step, phase=self.phase, last_good=self.last_good,
                                 frames=self.frames, partial=partial if partial is not None else self.partial)


class _Guard:
    """Checks every step; remembers the last good state; records frames."""

    def __init__(self, atoms: Any, settings: MDSettings) -> None:
        self.atoms, self.settings = atoms, settings
        self.good = (atoms.get_positions(), atoms.get_momenta(), 0)
        self.rows: dict[str, list[np.ndarray]] = {k: [] for k in
                                                  ("positions", "velocities", "forces", "energy", "stress", "cell")}
        self.steps: list[int] = []

    def check(self, step: int, phase: str) -> None:
        atoms = self.atoms
        positions = atoms.get_positions()
        energy = atoms.get_potential_energy()
        limit = self.settings.max_energy_per_atom * len(atoms)
        reason = None
        if not np.isfinite(positions).all():
            reason = "non-finite positions"
        elif not math.isfinite(energy):
            reason = f"non-finite potential energy {energy}"
        elif energy > limit:
            reason = f"potential energy {energy:.6g} above {limit:.6g} ({self.settings.max_energy_per_atom:g} per atom)"
        if reason is not None:
            raise MDDivergenceError(
                f"MD diverged at step {step} ({phase}: {reason}); stopped. The last good state (step "
                f"{self.good[2]}) is in exc.last_good, the {len(self.steps)} production frame(s) recorded before "
                f"it in exc.frames",
                step=step, phase=phase, last_good=self._last_good(), frames=self.frames() if self.steps else None)
        self.good = (positions, atoms.get_momenta(), step)

    def _last_good(self) -> Any:
        atoms = self.atoms.copy()
        atoms.calc = None
        atoms.set_positions(self.good[0], apply_constraint=False)
        atoms.set_momenta(self.good[1], apply_constraint=False)
        return atoms

    def record(self, step: int, with_stress: bool) -> None:
        atoms = self.atoms
        self.rows["positions"].append(atoms.get_positions())
        self.rows["velocities"].append(atoms.get_velocities())
        self.rows["forces"].append(atoms.get_forces())
        self.rows["energy"].append(np.asarray(atoms.get_potential_energy()))
        self.rows["cell"].append(np.asarray(atoms.get_cell()))
        if with_stress:
            self.rows["stress"].append(atoms.get_stress(voigt=True))
        self.steps.append(step)

    def frames(self) -> Frames:
        rows = {k: np.stack(v) for k, v in self.rows.items() if v}
        return Frames(rows["positions"], rows["velocities"], rows["forces"], rows["energy"], rows.get("stress"),
                      rows["cell"], np.asarray(self.steps))


def _integrator(kind: str, atoms: Any, settings: MDSettings, rng: np.random.Generator,
                temperature_K: float | None = None) -> Any:
    if kind == "verlet":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, settings.timestep)
    from ase.md.langevin import Langevin

    return Langevin(atoms, settings.timestep, temperature_K=temperature_K or settings.temperature_K,
                    friction=settings.friction, fixcm=False, rng=rng)


def _thermalize(atoms: Any, temperature_K: float, rng: np.random.Generator) -> None:
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())


def _langevin_phase(atoms: Any, settings: MDSettings, rng: np.random.Generator, guard: _Guard, *,
                    steps: int, offset: int, temperature_K: float, phase: str) -> None:
    dyn = _integrator("langevin", atoms, settings, rng, temperature_K)
    for _ in dyn.irun(steps):
        guard.check(offset + dyn.nsteps, phase)


def run_md(atoms: Any, settings: MDSettings, rng: np.random.Generator, *, min_distance: float | None = None,
           cutoff: float | None = None, thermalize: bool = True) -> Frames:
    """Equilibrate ``atoms`` (its calculator attached) and record a production trajectory.

    Phases: optional premelt (Langevin at ``premelt_temperature_K``), equilibration
    (Langevin at ``temperature_K``), production (``settings.production``), all checked for
    divergence at every step.

    Parameters
    ----------
    atoms : ase.Atoms
        Initial structure with a calculator; changed in place (it ends in the final state).
    settings : MDSettings
        ASE units.
    rng : numpy.random.Generator
        Source of the initial velocities and of the Langevin noise.
    min_distance : float, optional
        Refuse a start with two atoms closer than this (images included).
    cutoff : float, optional
        Refuse a periodic cell thinner than ``2 * cutoff``
        (:func:`~sciml.simulators.md.neighbors.check_cell`).
    thermalize : bool
        Draw Maxwell-Boltzmann velocities (otherwise keep the atoms' momenta; the centre of
        mass is fixed either way).

    Returns
    -------
    Frames
        ``settings.n_frames`` frames; stress where the calculator provides it.

    Raises
    ------
    ParameterError
        Overlapping atoms or a box too small for the cutoff (named).
    MDDivergenceError
        The run diverged; it carries the step, the last good state and the frames so far.
    """
    import_ase()
    if cutoff is not None:
        check_cell(np.asarray(atoms.get_cell()), atoms.get_pbc(), cutoff)
    if min_distance is not None:
        check_min_distance(atoms.get_positions(), np.asarray(atoms.get_cell()), atoms.get_pbc(), min_distance)
    premelt = settings.premelt_temperature_K if settings.n_premelt else None
    if thermalize:
        _thermalize(atoms, premelt or settings.temperature_K, rng)
    else:
        from ase.constraints import FixCom

        atoms.set_constraint(FixCom())
    guard = _Guard(atoms, settings)
    if premelt is not None:
        _langevin_phase(atoms, settings, rng, guard, steps=settings.n_premelt, offset=0, temperature_K=premelt,
                        phase="premelt")
    _langevin_phase(atoms, settings, rng, guard, steps=settings.n_equilibrate, offset=settings.n_premelt,
                    temperature_K=settings.temperature_K, phase="equilibration")
    with_stress = "stress" in getattr(atoms.calc, "implemented_properties", ())
    dyn = _integrator(settings.production, atoms, settings, rng)
    start = settings.n_premelt + settings.n_equilibrate
    for _ in dyn.irun((settings.n_frames - 1) * settings.stride):
        step = dyn.nsteps
        guard.check(start + step, "production")
        if step % settings.stride == 0:
            guard.record(step, with_stress)
    return guard.frames()
