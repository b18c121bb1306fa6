"""Minibatches of a map-style dataset, drawn reproducibly per step from a seed.

Step ``t`` of a run seeded ``seed`` takes ``n`` distinct examples chosen by a generator
seeded :func:`~sciml.surrogates.training.stream_seed` ``(seed, t, 0)``, so a resumed run draws
the same batches as an uninterrupted one. ``batch_size=None`` (or ``>= N``) is the full batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset, default_collate

from sciml.errors import ConfigError
from sciml.surrogates.training import stream_seed

__all__ = ["dataset_size", "draw_batch"]


def dataset_size(dataset: Dataset) -> int:
    """``len(dataset)``.

    Raises
    ------
    ConfigError
        The dataset has no length or is empty.
    """
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"the dataset must be map-style with a length; got {type(dataset).__name__}") from None
    if n < 1:
        raise ConfigError("the dataset is empty")
    return int(n)


def _take(dataset: Dataset, index: torch.Tensor) -> Any:
    if isinstance(dataset, TensorDataset):
        return tuple(t[index] for t in dataset.tensors)
    return default_collate([dataset[int(i)] for i in index])


def draw_batch(dataset: Dataset, batch_size: int | None, seed: int, step: int) -> Any:
    """The minibatch of step ``step`` (0-based): ``batch_size`` distinct examples, collated.

    Parameters
    ----------
    dataset : Dataset
        Map-style; a ``TensorDataset`` is indexed directly, any other is collated with
        ``torch.utils.data.default_collate``.
    batch_size : int or None
        Examples per batch (None or ``>= N``: all of them, in order).
    seed, step : int

    Raises
    ------
    ConfigError
        ``batch_size < 1``, or the dataset's errors of :func:`dataset_size`.
    """
    n = dataset_size(dataset)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ConfigError(f"batch_size must be an integer >= 1 or None; got {batch_size!r}")
    if batch_size is None or batch_size >= n:
        return tuple(dataset.tensors) if isinstance(dataset, TensorDataset) else _take(dataset, torch.arange(n))
    gen = torch.Generator().manual_seed(stream_seed(seed, step, 0))
    return _take(dataset, torch.randperm(n, generator=gen)[:batch_size])
