"""Frames of M MD replicas (internal units) recorded and assembled into a sciml trajectory dataset.

Replica ``m`` becomes sample ``m`` of the dataset (:func:`sciml.data.particles.trajectory_dataset`):
positions (continuous, not wrapped), velocities (converted to the dataset's units), forces
and potential energy predicted by the replica's own weight sample; per-sample ``temperature``
(a parameter) and, where known, the sample's ``chain`` and ``draw_step`` (metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from sciml.data.particles import trajectory_dataset, validate_trajectory
from sciml.surrogates.potentials.md_state import InitialState

__all__ = ["ReplicaFrames"]

_TEMPERATURE_UNITS = {"lj": "epsilon kB-1", "ase": "K"}


@dataclass
class ReplicaFrames:
    """Recorded frames of ``M`` replicas: each a step and ``positions, velocities, forces (M, n, 3)``,
    ``energy (M,)`` (internal units)."""

    steps: list[int] = field(default_factory=list)
    rows: dict[str, list[Tensor]] = field(default_factory=lambda: {k: [] for k in
                                                                   ("positions", "velocities", "forces", "energy")})

    def __len__(self) -> int:
        return len(self.steps)

    def record(self, step: int, positions: Tensor, velocities: Tensor, forces: Tensor, energy: Tensor) -> None:
        """Keep a copy of one frame."""
        self.steps.append(int(step))
        for name, value in (("positions", positions), ("velocities", velocities), ("forces", forces),
                            ("energy", energy)):
            self.rows[name].append(value.detach().clone())

    def to_dataset(self, state: InitialState, *, timestep: float, first_step: int, temperature: float,
                   chains: Sequence[int] | None = None, draw_steps: Sequence[int] | None = None,
                   attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
        """The frames as a validated trajectory dataset (``sample`` = replica).

        Parameters
        ----------
        state : InitialState
            Species, cell, pbc, masses and the unit system.
        timestep : float
            In the dataset's time unit; frame time is ``(step - first_step) * timestep``.
        first_step : int
            Step at time 0 (after the equilibration).
        temperature : float
            Thermostat temperature (T* or K), recorded per sample.
        chains, draw_steps : sequence of int, optional
            The weight samples' chain and step (metadata variables).
        attrs : mapping, optional
            Provenance attributes.
        """
        def stack(name: str) -> np.ndarray:
            out = torch.stack(self.rows[name], dim=1).cpu().numpy().astype(np.float64)  # (M, F, ...)
            return out * state.units.time if name == "velocities" else out

        n_rep = self.rows["positions"][0].shape[0]
        name = state.units.name
        ds = trajectory_dataset(
            stack("positions"), velocities=stack("velocities"), forces=stack("forces"), energy=stack("energy"),
            cell=state.cell.cpu().numpy(), pbc=np.asarray(state.pbc), atomic_numbers=state.numbers.cpu().numpy(),
            masses=state.masses.cpu().numpy(), time=(np.asarray(self.steps) - first_step) * float(timestep),
            unit_system=name, parameters={"temperature": np.full(n_rep, float(temperature))},
            parameter_attrs={"temperature": {"units": _TEMPERATURE_UNITS[name], "long_name": "thermostat temperature"}},
            attrs=attrs)
        for var, values, long_name in (("chain", chains, "chain of the weight sample"),
                                       ("draw_step", draw_steps, "sampler step of the weight sample")):
            if values is not None:
                ds[var] = xr.Variable(("sample",), np.asarray(values, dtype=np.int64),
                                      attrs={"role": "metadata", "units": "1", "long_name": long_name})
        return validate_trajectory(ds, require_provenance=attrs is not None, check_finite=False)
