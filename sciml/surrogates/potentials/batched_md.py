"""MD with every posterior weight sample at once: M replicas, replica m driven by sample m.

:func:`run_posterior_md` propagates ``M`` copies of one starting structure, replica ``m`` with
the potential of weight sample ``m``, all evaluated in one forward pass per step
(:class:`~sciml.surrogates.potentials.stacked.StackedPotential` over padded skin neighbour
lists, :class:`~sciml.surrogates.potentials.verlet_list.VerletLists`), integrated with
Langevin BAOAB or, with ``friction = 0``, velocity Verlet
(:mod:`~sciml.surrogates.potentials.baoab`). Initial velocities are Maxwell-Boltzmann at the
temperature with zero total momentum, from one ``torch.Generator`` per replica
(:func:`replica_seeds`), so a replica's trajectory is the same run alone or in a batch.

Every step is checked: a non-finite energy, force or position, an energy per atom risen since the
start by more than ``max_energy_rise`` or two atoms closer than ``min_distance`` stops the run with
:class:`~sciml.simulators.md.driver.MDDivergenceError` naming the step and the replicas, with
the frames recorded so far (``exc.partial``) and the last good state of every replica
(``exc.last_good``, a one-frame dataset).

Units: those of the starting structure's unit system (:mod:`~sciml.surrogates.potentials.md_state`):
timestep in tau or fs, friction in 1 / tau or 1 / fs, temperature in T* (epsilon / kB) or K.

Reference: B. Leimkuhler and C. Matthews, Appl. Math. Res. Express 2013, 34; J. Thaler, M.
Doehner, J. Zavadlav, JCTC 19, 4520 (2023) (MD with each posterior sample).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from sciml.data.schema import provenance_attrs
from sciml.errors import ParameterError
from sciml.simulators.md.driver import MDDivergenceError
from sciml.simulators.md.neighbors import check_cell, check_min_distance
from sciml.surrogates.potentials.baoab import BAOAB, ReplicaNoise, remove_com_velocity
from sciml.surrogates.potentials.md_state import InitialState, initial_state
from sciml.surrogates.potentials.replica_frames import ReplicaFrames
from sciml.surrogates.potentials.stacked import StackedPotential
from sciml.surrogates.potentials.verlet_list import VerletLists

__all__ = ["MDOptions", "replica_seeds", "run_posterior_md"]

GENERATOR = "posterior_md"
VERSION = "1"


def replica_seeds(seed: int | Sequence[int], n_replicas: int) -> list[int]:
    """One seed per replica: ``seed`` itself when a sequence (of length ``n_replicas``), else the
    first word of the ``k``-th child of ``numpy.random.SeedSequence(seed)`` (independent of
    ``n_replicas``).

    Raises
    ------
    ParameterError
        A sequence of another length.
    """
    if isinstance(seed, (int, np.integer)):
        return [int(c.generate_state(1, np.uint32)[0]) for c in np.random.SeedSequence(int(seed)).spawn(n_replicas)]
    seeds = [int(s) for s in seed]
    if len(seeds) != n_replicas:
        raise ParameterError(f"seed lists {len(seeds)} seeds for {n_replicas} replicas")
    return seeds


@dataclass(frozen=True)
class MDOptions:
    """Settings of :func:`run_posterior_md` (dataset units; see the module docstring)."""

    temperature: float
    timestep: float
    n_steps: int
    stride: int = 1
    friction: float = 1.0
    n_equilibrate: int = 0
    skin: float = 0.3
    max_energy_rise: float = 50.0
    min_distance: float = 0.5
    thermalize: bool = True

    def __post_init__(self) -> None:
        for name, low in (("n_steps", 0), ("stride", 1), ("n_equilibrate", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("temperature", "timestep", "friction", "skin", "max_energy_rise", "min_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (value == 0 and name == "timestep"):
                raise ParameterError(f"{name} must be a finite number >= 0 (timestep > 0), got {value!r}")


class _Divergence(Exception):
    def __init__(self, step: int, reasons: dict[int, str]) -> None:
        super().__init__(step, reasons)
        self.step, self.reasons = step, reasons


def _check(step: int, energy: Tensor, positions: Tensor, forces: Tensor, closest: Tensor,
           opts: MDOptions, start: Tensor | None = None) -> None:
    """Raise :class:`_Divergence` naming each bad replica (one host sync when all is well); ``start``:
    each replica's energy at step 0 (the energy rise is measured from it; a potential trained on
    forces alone fixes no energy zero)."""
    n = positions.shape[1]
    finite = torch.isfinite(energy) & torch.isfinite(positions).all(-1).all(-1) & torch.isfinite(forces).all(-1).all(-1)
    high = energy - (energy if start is None else start) > opts.max_energy_rise * n
    close = closest < opts.min_distance
    bad = ~finite | high | close
    if not bool(bad.any()):
        return
    reasons = {}
    for m in torch.nonzero(bad).reshape(-1).tolist():
        if not bool(finite[m]):
            reasons[m] = f"non-finite energy, forces or positions (energy {float(energy[m]):.6g})"
        elif bool(high[m]):
            rise = float(energy[m] - (energy[m] if start is None else start[m])) / n
            reasons[m] = (f"energy per atom risen by {rise:.6g} since the start, above max_energy_rise "
                          f"{opts.max_energy_rise:g}")
        else:
            reasons[m] = f"atoms {float(closest[m]):.4g} apart, closer than min_distance {opts.min_distance:g}"
    raise _Divergence(step, reasons)


class _Replicas:
    """The state of ``M`` replicas and one BAOAB step of all of them."""

    def __init__(self, potential: StackedPotential, state: InitialState, opts: MDOptions, seeds: list[int],
                 backend: str) -> None:
        units, n_rep = state.units, potential.n_replicas
        self.potential, self.opts, self.numbers = potential, opts, state.numbers
        self.integrator = BAOAB(opts.timestep * units.time, opts.friction / units.time, units.kB * opts.temperature,
                                state.masses)
        self.noise = ReplicaNoise(seeds, len(state.numbers), dtype=state.positions.dtype,
                                  device=state.positions.device)
        self.x = state.positions.expand(n_rep, -1, -1).clone()
        if opts.thermalize:
            self.v = self.integrator.maxwell_boltzmann(self.noise.normal())
        elif state.velocities is None:
            raise ParameterError("thermalize=False needs initial velocities; the starting structure has none")
        else:
            self.v = remove_com_velocity(state.velocities.expand(n_rep, -1, -1).clone(), state.masses)
        self.lists = VerletLists(potential.cutoff, opts.skin, state.cell, state.pbc, half=potential.half_list,
                                 backend=backend)
        self.lists.build(self.x)
        self.e, self.f, closest = potential.energy_and_forces(self.x, self.numbers, self.lists)
        _check(0, self.e, self.x, self.f, closest, opts)
        self.start = self.e.detach().clone()
        self.good = (0, self.x, self.v, self.f, self.e)

    def step(self, k: int) -> None:
        """Advance every replica by one step (step number ``k``) and check it."""
        integ = self.integrator
        v = integ.kick(self.v, self.f)
        x = integ.drift(self.x, v)
        if integ.gamma > 0:
            v = integ.thermostat(v, self.noise.step())
        x = integ.drift(x, v)
        moved = float(self.lists.max_displacement(x))
        if not math.isfinite(moved):
            _check(k, torch.full_like(self.e, math.nan), x, self.f, torch.full_like(self.e, math.inf), self.opts,
                   self.start)
        self.lists.update(x, moved)
        e, f, closest = self.potential.energy_and_forces(x, self.numbers, self.lists)
        v = integ.kick(v, f)
        _check(k, e, x, f, closest, self.opts, self.start)
        self.x, self.v, self.f, self.e = x, v, f, e
        self.good = (k, x, v, f, e)


def _start_checks(potential: StackedPotential, state: InitialState, opts: MDOptions) -> None:
    """Species, box width and overlapping atoms of the start (ParameterError)."""
    potential.check_species(state.numbers)
    if state.positions.ndim == 3 and state.positions.shape[0] != potential.n_replicas:
        raise ParameterError(f"{state.positions.shape[0]} starting structures for {potential.n_replicas} samples")
    cell = state.cell.cpu().numpy()
    if any(state.pbc):
        check_cell(cell, state.pbc, potential.cutoff)
    starts = state.positions.reshape(-1, len(state.numbers), 3).cpu().numpy()
    check_min_distance(starts, cell if any(state.pbc) else None, state.pbc, opts.min_distance)


def _stacked(samples: Any) -> tuple[Mapping[str, Tensor], list[int] | None, list[int] | None]:
    if hasattr(samples, "stack") and hasattr(samples, "chains"):
        return samples.stack(), list(samples.chains), list(samples.steps)
    if isinstance(samples, Mapping):
        return samples, None, None
    raise ParameterError(f"samples must be WeightSamples or a mapping of stacked states, got {type(samples).__name__}")


def run_posterior_md(model: nn.Module, samples: Any, initial: Any, *, temperature: float, timestep: float,
                     n_steps: int, stride: int = 1, friction: float = 1.0, seed: int | Sequence[int] = 0,
                     n_equilibrate: int = 0, skin: float = 0.3, max_energy_rise: float = 50.0,
                     min_distance: float = 0.5, thermalize: bool = True, unit_system: str | None = None,
                     dtype: torch.dtype = torch.float64, device: Any = None, method: str = "auto",
                     neighbor_backend: str = "auto") -> xr.Dataset:
    """Run MD with every weight sample at once (one replica per sample; see the module docstring).

    Parameters
    ----------
    model : nn.Module
        A potential with ``energy_from_edges`` (SchNetPotential, LennardJonesPotential) or a
        ForceMatchingModel (its ``.potential``); its weights are not used, only its structure.
    samples : WeightSamples or mapping of str to Tensor
        ``M`` weight samples of ``model`` or of its potential (stacked entries ``(M, ...)``).
    initial : xarray.Dataset, ase.Atoms or mapping
        Starting structure (:func:`~sciml.surrogates.potentials.md_state.initial_state`: the
        last frame of sample 0 of a dataset); positions ``(M, n, 3)`` start each replica apart.
    temperature, timestep, friction : float
        Dataset units (T* or K; tau or fs; 1 / time). ``friction = 0``: velocity Verlet (NVE).
    n_steps, stride, n_equilibrate : int
        Steps recorded over (frames at ``0, stride, ...`` after ``n_equilibrate`` unrecorded steps).
    seed : int or sequence of int
        :func:`replica_seeds`: the velocities and Langevin noise of each replica.
    skin : float
        Verlet skin of the neighbour lists (length unit); results do not depend on it.
    max_energy_rise, min_distance : float
        Divergence thresholds (energy unit per atom; length unit).
    thermalize : bool
        Draw Maxwell-Boltzmann velocities; False keeps the starting structure's velocities.
    unit_system : {"lj", "ase"}, optional
        Needed unless ``initial`` is a dataset.
    dtype, device, method, neighbor_backend
        Computation settings (:class:`StackedPotential`, :class:`VerletLists`).

    Returns
    -------
    xarray.Dataset
        Trajectory layout, ``sample`` = weight sample, ``1 + n_steps // stride`` frames with the
        energies and forces of each replica's own sample; attrs ``steps_per_second`` (steps of
        all replicas per wall-clock second), ``neighbor_list_builds`` and provenance.

    Raises
    ------
    ParameterError
        Bad settings, unknown species, a box thinner than twice the cutoff, overlapping atoms
        at the start (closer than ``min_distance``).
    ConfigError
        Samples of another model.
    MDDivergenceError
        The run diverged (see the module docstring).
    """
    opts = MDOptions(temperature=temperature, timestep=timestep, n_steps=n_steps, stride=stride, friction=friction,
                     n_equilibrate=n_equilibrate, skin=skin, max_energy_rise=max_energy_rise,
                     min_distance=min_distance, thermalize=thermalize)
    stacked, chains, draws = _stacked(samples)
    potential = StackedPotential(model, stacked, dtype=dtype, device=device, method=method)
    state = initial_state(initial, unit_system=unit_system, dtype=dtype, device=device)
    _start_checks(potential, state, opts)
    seeds = replica_seeds(seed, potential.n_replicas)
    frames, total = ReplicaFrames(), opts.n_equilibrate + opts.n_steps
    assemble = _assembler(state, opts, chains, draws, seeds, model, method)
    replicas = None
    try:
        replicas = _Replicas(potential, state, opts, seeds, neighbor_backend)
        started = time.perf_counter()
        for k in range(total + 1):
            if k:
                replicas.step(k)
            if k >= opts.n_equilibrate and (k - opts.n_equilibrate) % opts.stride == 0:
                frames.record(k, replicas.x, replicas.v, replicas.f, replicas.e)
    except _Divergence as div:
        raise _divergence_error(div, opts, frames, None if replicas is None else replicas.good, assemble) from None
    wall = time.perf_counter() - started
    return assemble(frames, {"steps_per_second": total / wall if total and wall > 0 else float("nan"),
                             "neighbor_list_builds": replicas.lists.n_builds})


def _assembler(state: InitialState, opts: MDOptions, chains: list[int] | None, draws: list[int] | None,
               seeds: list[int], model: nn.Module, method: str) -> Any:
    """``(frames, extra attrs) -> Dataset`` with the run's provenance."""
    config = {"options": vars(opts), "unit_system": state.units.name, "method": method,
              "model_class": type(model).__name__, "model_config": getattr(getattr(model, "potential", model),
                                                                            "config", None)}

    def assemble(frames: ReplicaFrames, extra: Mapping[str, Any]) -> xr.Dataset:
        attrs = provenance_attrs(generator=GENERATOR, generator_version=VERSION, parameters=config, seed=seeds,
                                 extra=dict(extra))
        return frames.to_dataset(state, timestep=opts.timestep, first_step=opts.n_equilibrate,
                                 temperature=opts.temperature, chains=chains, draw_steps=draws, attrs=attrs)

    return assemble


def _divergence_error(div: _Divergence, opts: MDOptions, frames: ReplicaFrames, good: tuple | None,
                      assemble: Any) -> MDDivergenceError:
    """The MDDivergenceError of a stopped run, with the recorded frames and the last good state."""
    phase = "equilibration" if div.step <= opts.n_equilibrate and opts.n_equilibrate else "production"
    listed = "; ".join(f"replica {m}: {why}" for m, why in sorted(div.reasons.items()))
    partial = assemble(frames, {"diverged_at_step": div.step}) if len(frames) else None
    last_good = None
    if good is not None:
        one = ReplicaFrames()
        one.record(*good)
        last_good = assemble(one, {"diverged_at_step": div.step})
    where = "the start" if good is None else f"step {good[0]}"
    exc = MDDivergenceError(
        f"posterior MD diverged at step {div.step} ({phase}) in replica(s) {sorted(div.reasons)} ({listed}); "
        f"stopped. The last good state ({where}) of every replica is in exc.last_good, the {len(frames)} "
        f"frame(s) recorded before in exc.partial", step=div.step, phase=phase, last_good=last_good,
        partial=partial)
    exc.replicas = sorted(div.reasons)
    return exc
