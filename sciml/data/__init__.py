"""Labelled datasets: the canonical layout, its validator, and file formats.

* :mod:`sciml.data.schema` — :func:`field_dataset`, :func:`provenance_attrs`, :func:`validate`
  (field and trajectory layouts);
* :mod:`sciml.data.particles` — the trajectory layout for particle data:
  :func:`trajectory_dataset`, :func:`validate_trajectory`, :func:`is_trajectory`,
  :func:`to_ase_atoms`, :func:`from_ase_frames`, :func:`species`;
* :mod:`sciml.data.h5md` — :func:`write_h5md` / :func:`read_h5md` (H5MD 1.1, one trajectory);
* :mod:`sciml.data.ase_io` — :func:`read_extxyz`, :func:`write_extxyz`, :func:`read_ase_db`,
  :func:`write_ase_db` (through ASE, imported on call: ``pip install 'sciml[md]'``);
* :mod:`sciml.data.netcdf` — :func:`save` / :func:`open_dataset` (NetCDF4 via h5netcdf);
* :mod:`sciml.data.concat` — :func:`concat` (several runs into one dataset, renumbered
  samples, every run's provenance) and :func:`run_provenance`;
* :mod:`sciml.data.pdebench` — :func:`read_pdebench` / :func:`write_pdebench`;
* :mod:`sciml.data.torch_dataset` — :class:`TrajectoryWindowDataset`,
  :class:`TrajectoryDataset` (lazy, from files), :class:`InMemoryTrajectoryDataset` and
  :func:`open_trajectories` (in memory when the data fit) — imported on first use, so
  ``import sciml.data`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sciml.data.ase_io import read_ase_db, read_extxyz, write_ase_db, write_extxyz
from sciml.data.concat import concat, run_provenance
from sciml.data.h5md import read_h5md, write_h5md
from sciml.data.netcdf import open_dataset, save
from sciml.data.particles import (
    from_ase_frames,
    is_trajectory,
    species,
    to_ase_atoms,
    trajectory_dataset,
    validate_trajectory,
)
from sciml.data.pdebench import read_pdebench, split_by_parameters, write_pdebench
from sciml.data.schema import (
    field_dataset,
    field_variables,
    parameter_variables,
    provenance_attrs,
    validate,
)

if TYPE_CHECKING:  # pragma: no cover
    from sciml.data.torch_dataset import (
        InMemoryTrajectoryDataset,
        TrajectoryDataset,
        TrajectoryWindowDataset,
        open_trajectories,
    )

__all__ = [
    "validate",
    "field_dataset",
    "provenance_attrs",
    "field_variables",
    "parameter_variables",
    "save",
    "open_dataset",
    "concat",
    "run_provenance",
    "read_pdebench",
    "write_pdebench",
    "split_by_parameters",
    "trajectory_dataset",
    "validate_trajectory",
    "is_trajectory",
    "to_ase_atoms",
    "from_ase_frames",
    "species",
    "write_h5md",
    "read_h5md",
    "read_extxyz",
    "write_extxyz",
    "read_ase_db",
    "write_ase_db",
    "TrajectoryWindowDataset",
    "TrajectoryDataset",
    "InMemoryTrajectoryDataset",
    "open_trajectories",
]

_LAZY = {"TrajectoryWindowDataset", "TrajectoryDataset", "InMemoryTrajectoryDataset", "open_trajectories"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("sciml.data.torch_dataset"), name)
    raise AttributeError(f"module 'sciml.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
