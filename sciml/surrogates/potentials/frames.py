"""Frames of a trajectory dataset as a torch dataset of structures (a potential's training data).

Item ``k`` of :class:`FrameDataset` is one frame of one sample of a sciml trajectory dataset
(:mod:`sciml.data.particles`)::

    numbers    (n,)      int64     atomic numbers
    positions  (n, 3)    dtype     in the dataset's length unit
    cell       (3, 3)    dtype     rows are the cell vectors
    pbc        (3,)      bool
    energy     ()        dtype     potential energy of the frame (0 when the file has none)
    forces     (n, 3)    dtype

Every frame of one dataset has the same number of atoms, so ``default_collate`` stacks items
into batches ``(B, n, 3)`` that :func:`~sciml.simulators.md.neighbors.batched_neighbor_pairs`
takes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from sciml.data.particles import validate_trajectory
from sciml.fingerprint import array_digest, stable_hash

__all__ = ["FrameDataset"]


class FrameDataset(Dataset):
    """The frames of a trajectory dataset, held in memory as tensors.

    Parameters
    ----------
    ds : xarray.Dataset
        A sciml trajectory dataset with ``forces`` (and ``energy`` when ``require_energy``).
    samples, frames : sequence of int, optional
        The samples and frames served (default all), e.g. a train/validation split by sample.
    dtype : torch.dtype
        Floating type of positions, cells, energies and forces.
    require_energy : bool
        Refuse a dataset without ``energy``.

    Raises
    ------
    SchemaError
        ``ds`` is not a valid trajectory dataset, or lacks forces (a force-matching training
        file needs them) or, when required, energies.
    IndexError
        A sample or frame index out of range.
    """

    def __init__(self, ds: xr.Dataset, *, samples: Sequence[int] | None = None, frames: Sequence[int] | None = None,
                 dtype: torch.dtype = torch.float64, require_energy: bool = False) -> None:
        validate_trajectory(ds, require_forces=True, require_energy=require_energy, require_provenance=False)
        n_sample, n_frame = ds.sizes["sample"], ds.sizes["frame"]
        s = np.arange(n_sample) if samples is None else _indices(samples, n_sample, "sample")
        f = np.arange(n_frame) if frames is None else _indices(frames, n_frame, "frame")
        sub = ds.isel(sample=s, frame=f)
        n_atoms = sub.sizes["atom"]
        count = len(s) * len(f)

        def per_frame(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            values = np.asarray(sub[name].values, dtype=np.float64).reshape(count, *shape)
            return torch.as_tensor(values, dtype=dtype)

        self.positions = per_frame("positions", (n_atoms, 3))
        self.forces = per_frame("forces", (n_atoms, 3))
        self.cells = per_frame("cell", (3, 3))
        self.energies = (per_frame("energy", ()) if "energy" in sub else torch.zeros(count, dtype=dtype))
        self.has_energy = "energy" in sub
        numbers = np.asarray(sub["atomic_numbers"].values, dtype=np.int64)  # (sample, atom)
        self.numbers = torch.as_tensor(np.repeat(numbers, len(f), axis=0))
        pbc = np.asarray(sub["pbc"].values, dtype=bool)  # (sample, xyz)
        self.pbc = torch.as_tensor(np.repeat(pbc, len(f), axis=0))
        self.unit_system = str(ds.attrs.get("unit_system", ""))

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        return {"numbers": self.numbers[k], "positions": self.positions[k], "cell": self.cells[k],
                "pbc": self.pbc[k], "energy": self.energies[k], "forces": self.forces[k]}

    @property
    def n_atoms(self) -> int:
        """Atoms per frame."""
        return int(self.positions.shape[1])

    def batch(self, index: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Frames ``index`` (default all) stacked as one batch (the keys of an item, with a leading dim)."""
        k = torch.arange(len(self)) if index is None else torch.as_tensor(list(index), dtype=torch.long)
        return {"numbers": self.numbers[k], "positions": self.positions[k], "cell": self.cells[k],
                "pbc": self.pbc[k], "energy": self.energies[k], "forces": self.forces[k]}

    def force_std(self) -> float:
        """Standard deviation of every force component (the scale force errors are judged by)."""
        return float(self.forces.std())

    def fingerprint(self) -> str:
        """SHA-256 of the tensors served (for resume checks)."""
        return stable_hash({name: array_digest(getattr(self, name))
                            for name in ("positions", "forces", "cells", "energies", "numbers", "pbc")})


def _indices(values: Sequence[int], n: int, what: str) -> np.ndarray:
    idx = np.asarray(list(values), dtype=np.int64).ravel()
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise IndexError(f"{what} indices {bad.tolist()[:10]} out of range for {n} {what}(s)")
    return idx


def as_batch(batch: Any) -> dict[str, torch.Tensor]:
    """A collated batch or a single item as a batch with a leading structure dim."""
    if batch["positions"].ndim == 2:
        return {k: v.unsqueeze(0) for k, v in batch.items()}
    return dict(batch)
