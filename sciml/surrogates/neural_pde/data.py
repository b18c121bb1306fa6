"""Deprecated home of the in-memory trajectories: see :mod:`sciml.data.torch_dataset`.

``InMemoryTrajectories`` is :class:`sciml.data.torch_dataset.InMemoryTrajectoryDataset`
(build one with ``from_xarray`` or ``from_tensors``); kept for callers that still import it
from here.
"""

from sciml.data.torch_dataset import InMemoryTrajectoryDataset

InMemoryTrajectories = InMemoryTrajectoryDataset

__all__ = ["InMemoryTrajectories"]
