"""The starting state of an MD run in a sciml unit system, from a dataset frame, ``ase.Atoms`` or tensors.

Integration runs in *internal* units: the dataset's length, energy and mass units, with time
in ``sqrt(mass / energy) * length`` (tau for ``"lj"``; ASE's time unit for ``"ase"``, where
1 fs = ``ase.units.fs``). :class:`MDUnits` holds the conversions; the dataset's own units
(:data:`sciml.data.particles.UNITS`) are used at the boundary (timestep, friction,
temperature, recorded velocities).

Reference: ASE units, https://wiki.fysik.dtu.dk/ase/ase/units.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ParameterError

__all__ = ["InitialState", "MDUnits", "initial_state", "md_units"]


@dataclass(frozen=True)
class MDUnits:
    """Conversions between a dataset unit system and internal MD units.

    Attributes
    ----------
    name : {"lj", "ase"}
    time : float
        Internal time units per dataset time unit (1 for tau; ``ase.units.fs`` for fs).
    kB : float
        Boltzmann constant: energy per temperature unit (1 for reduced T*; eV/K).
    """

    name: str
    time: float
    kB: float

    @property
    def velocity(self) -> float:
        """Internal velocity units per dataset velocity unit: ``v_internal = v * velocity``."""
        return 1.0 / self.time


def md_units(name: str) -> MDUnits:
    """:class:`MDUnits` of ``"lj"`` (reduced) or ``"ase"`` (Angstrom, eV, amu, fs; needs ASE).

    Raises
    ------
    ParameterError
        Another name.
    """
    if name == "lj":
        return MDUnits("lj", 1.0, 1.0)
    if name == "ase":
        from sciml.simulators.md.driver import import_ase

        import_ase()
        from ase import units

        return MDUnits("ase", float(units.fs), float(units.kB))
    raise ParameterError(f"unit_system must be 'lj' or 'ase', got {name!r}")


@dataclass
class InitialState:
    """One structure to start every replica from (positions may differ per replica).

    Attributes
    ----------
    positions : Tensor, shape (n, 3) or (M, n, 3)
    numbers : LongTensor, shape (n,)
    cell : Tensor, shape (3, 3)
        Rows are cell vectors (zeros along non-periodic directions are fine).
    pbc : tuple of 3 bool
    masses : Tensor, shape (n,)
        In the unit system's mass unit.
    velocities : Tensor, shape (n, 3) or (M, n, 3), or None
        Internal units.
    units : MDUnits
    """

    positions: Tensor
    numbers: Tensor
    cell: Tensor
    pbc: tuple[bool, bool, bool]
    masses: Tensor
    velocities: Tensor | None
    units: MDUnits


def _default_masses(numbers: np.ndarray, units: MDUnits) -> np.ndarray:
    if units.name == "lj":
        return np.ones(len(numbers))
    from ase.data import atomic_masses

    return np.asarray(atomic_masses[numbers], dtype=np.float64)


def _from_dataset(ds: Any, sample: int, frame: int) -> tuple[dict[str, Any], str]:
    one = ds.isel(sample=sample, frame=frame)
    name = str(ds.attrs.get("unit_system", ""))
    out = {"positions": one["positions"].values, "numbers": one["atomic_numbers"].values,
           "cell": one["cell"].values, "pbc": one["pbc"].values.astype(bool),
           "masses": one["masses"].values if "masses" in one else None,
           "velocities": one["velocities"].values * md_units(name).velocity if "velocities" in one else None}
    return out, name


def _from_atoms(atoms: Any) -> dict[str, Any]:
    return {"positions": atoms.get_positions(), "numbers": atoms.get_atomic_numbers(),
            "cell": np.asarray(atoms.get_cell()), "pbc": atoms.get_pbc(),
            "masses": atoms.arrays.get("masses"),
            "velocities": atoms.get_velocities() if "momenta" in atoms.arrays else None}


def initial_state(initial: Any, *, unit_system: str | None = None, sample: int = 0, frame: int = -1,
                  dtype: torch.dtype = torch.float64, device: Any = None) -> InitialState:
    """The starting state from a trajectory dataset, an ``ase.Atoms`` or a mapping of arrays.

    Parameters
    ----------
    initial : xarray.Dataset, ase.Atoms or mapping
        A trajectory dataset (frame ``frame`` of sample ``sample``; its ``unit_system``); an
        ``ase.Atoms`` (ASE's velocities are internal units); or a mapping with
        ``positions`` ``(n, 3)`` or ``(M, n, 3)``, ``numbers`` ``(n,)``, ``cell`` ``(3, 3)``,
        ``pbc`` and optional ``masses`` ``(n,)``, ``velocities`` (internal units).
    unit_system : {"lj", "ase"}, optional
        Required unless ``initial`` is a dataset (then it must agree with the dataset's).
    dtype, device
        Of the returned tensors.

    Raises
    ------
    ParameterError
        No or conflicting unit system, or arrays of the wrong shape.
    """
    if hasattr(initial, "data_vars"):
        raw, name = _from_dataset(initial, sample, frame)
        if unit_system is not None and unit_system != name:
            raise ParameterError(f"unit_system {unit_system!r} differs from the dataset's {name!r}")
    elif hasattr(initial, "get_positions"):
        raw, name = _from_atoms(initial), unit_system
    elif isinstance(initial, Mapping):
        raw, name = {k: initial.get(k) for k in ("positions", "numbers", "cell", "pbc", "masses", "velocities")}, \
            unit_system
    else:
        raise ParameterError(f"initial must be a trajectory dataset, an ase.Atoms or a mapping, got "
                             f"{type(initial).__name__}")
    if name is None:
        raise ParameterError("unit_system ('lj' or 'ase') is required when initial is not a trajectory dataset")
    units = md_units(name)
    opts = {"dtype": dtype, "device": device}
    pos = torch.as_tensor(np.asarray(raw["positions"], dtype=np.float64), **opts)
    numbers = np.asarray(raw["numbers"], dtype=np.int64).reshape(-1)
    if pos.shape[-2:] != (len(numbers), 3) or pos.ndim not in (2, 3):
        raise ParameterError(f"positions must have shape (n, 3) or (M, n, 3) with n = {len(numbers)} atoms; got "
                             f"{tuple(pos.shape)}")
    masses = np.asarray(raw["masses"] if raw["masses"] is not None else _default_masses(numbers, units), np.float64)
    if masses.shape != numbers.shape or not np.all(masses > 0):
        raise ParameterError(f"masses must be {len(numbers)} positive numbers; got shape {masses.shape}")
    vel = None if raw["velocities"] is None else torch.as_tensor(np.asarray(raw["velocities"], np.float64), **opts)
    if vel is not None and vel.shape[-2:] != (len(numbers), 3):
        raise ParameterError(f"velocities must have shape (n, 3) or (M, n, 3); got {tuple(vel.shape)}")
    flags = np.broadcast_to(np.asarray(bool(raw["pbc"]) if raw["pbc"] is None else raw["pbc"], dtype=bool), (3,))
    cell = np.zeros((3, 3)) if raw["cell"] is None else np.asarray(raw["cell"], np.float64).reshape(3, 3)
    return InitialState(pos, torch.as_tensor(numbers, device=device), torch.as_tensor(cell, **opts),
                        tuple(bool(f) for f in flags),  # type: ignore[arg-type]
                        torch.as_tensor(masses, **opts), vel, units)
