"""Speed of batched posterior MD against sequential ASE runs of the same model (for the benchmark).

:func:`time_posterior_md` measures, on one starting structure, the steps per second of

* ``batched``: :func:`~sciml.surrogates.potentials.batched_md.run_posterior_md` with all ``M``
  samples (one step moves every replica);
* ``sequential``: ``M`` ASE runs one after the other, each with a
  :class:`~sciml.surrogates.potentials.calculator.PotentialCalculator` holding one sample
  (``n_steps`` divided by the total time: the rate at which the ``M`` samples all advance);
* ``analytic``: one ASE run with ASE's own ``LennardJones`` calculator on the same structure
  (sigma from the closest pair, the model's cutoff): the cost of a classical potential.

Velocity Verlet when ``friction = 0``, else Langevin (ASE's for the ASE runs).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml.surrogates.potentials.batched_md import run_posterior_md
from sciml.surrogates.potentials.md_state import InitialState, initial_state
from sciml.surrogates.potentials.protocol import unwrap_potential
from sciml.surrogates.training.loop import torch_threads

__all__ = ["time_posterior_md"]


def _atoms(state: InitialState) -> Any:
    from ase import Atoms

    atoms = Atoms(numbers=state.numbers.cpu().numpy(), positions=state.positions.reshape(-1, 3)[
        : len(state.numbers)].cpu().numpy(), cell=state.cell.cpu().numpy(), pbc=state.pbc)
    atoms.set_masses(state.masses.cpu().numpy())
    return atoms


def _ase_seconds(atoms: Any, calc: Any, state: InitialState, *, temperature: float, timestep: float, friction: float,
              n_steps: int, seed: int) -> float:
    """Wall-clock seconds of ``n_steps`` ASE steps of ``atoms`` with ``calc`` (Maxwell-Boltzmann start)."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    units = state.units
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature * units.kB / _ase_kB(), rng=rng)
    Stationary(atoms)
    dt = timestep * units.time
    dyn = VelocityVerlet(atoms, dt) if friction == 0 else Langevin(
        atoms, dt, temperature_K=temperature * units.kB / _ase_kB(), friction=friction / units.time, rng=rng)
    atoms.get_forces()
    started = time.perf_counter()
    dyn.run(n_steps)
    return time.perf_counter() - started


def _ase_kB() -> float:
    """ASE's Boltzmann constant (eV / K)."""
    from ase import units

    return float(units.kB)


def time_posterior_md(model: nn.Module, samples: Any, initial: Any, *, temperature: float, timestep: float,
                      n_steps: int, friction: float = 0.0, seed: int = 0, unit_system: str | None = None,
                      skin: float = 0.3, dtype: torch.dtype = torch.float64,
                      n_threads: int | None = None) -> dict[str, float]:
    """Steps per second of batched and sequential posterior MD and of ASE's analytic LJ.

    Parameters
    ----------
    model, samples, initial, temperature, timestep, friction, seed, unit_system, skin, dtype
        As :func:`~sciml.surrogates.potentials.batched_md.run_posterior_md` (``samples`` a
        WeightSamples of ``model``).
    n_steps : int
        Steps timed in each run (after one force evaluation that is not timed).
    n_threads : int, optional
        Torch threads for every run (None: unchanged).

    Returns
    -------
    dict
        ``batched_steps_per_second`` and ``sequential_steps_per_second`` (steps by which all
        ``M`` samples advance per wall-clock second), ``analytic_lj_steps_per_second`` (one
        run), ``speedup`` (batched over sequential), ``n_samples``, ``n_atoms``, ``n_steps``.
    """
    with torch_threads(n_threads):
        return _time_all(model, samples, initial, temperature=temperature, timestep=timestep, n_steps=n_steps,
                         friction=friction, seed=seed, unit_system=unit_system, skin=skin, dtype=dtype)


def _time_all(model: nn.Module, samples: Any, initial: Any, *, temperature: float, timestep: float, n_steps: int,
              friction: float, seed: int, unit_system: str | None, skin: float, dtype: torch.dtype) -> dict[str, float]:
    from ase.calculators.lj import LennardJones

    from sciml.surrogates.potentials.calculator import PotentialCalculator

    state = initial_state(initial, unit_system=unit_system, dtype=dtype)
    ds = run_posterior_md(model, samples, initial, temperature=temperature, timestep=timestep, n_steps=n_steps,
                          stride=max(n_steps, 1), friction=friction, seed=seed, skin=skin, unit_system=unit_system,
                          dtype=dtype)
    batched = float(ds.attrs["steps_per_second"])
    atoms, options = _atoms(state), {"temperature": temperature, "timestep": timestep, "friction": friction,
                                     "n_steps": n_steps, "seed": seed}
    one = copy.deepcopy(model).to(dtype)
    total = 0.0
    for m in range(len(samples)):
        samples.load_into(one, m)
        total += _ase_seconds(atoms, PotentialCalculator(unwrap_potential(one), dtype=dtype), state, **options)
    cutoff = float(unwrap_potential(model).cutoff)
    closest = float(np.min(atoms.get_all_distances(mic=True) + np.eye(len(atoms)) * 1e9))
    lj = LennardJones(sigma=closest / 2 ** (1 / 6), epsilon=1.0, rc=cutoff)
    analytic = _ase_seconds(atoms, lj, state, **options)
    return {"batched_steps_per_second": batched, "sequential_steps_per_second": n_steps / total,
            "analytic_lj_steps_per_second": n_steps / analytic, "speedup": batched * total / n_steps,
            "n_samples": float(len(samples)), "n_atoms": float(len(state.numbers)), "n_steps": float(n_steps)}
