"""Fingerprints of training data, so that ``fit(..., resume=True)`` never continues on other data.

:func:`dataset_fingerprint` hashes what a dataset serves: a dataset's own ``fingerprint()``
when it has one (sciml's trajectory datasets: the file's bytes, or the tensors, and the
options), a ``Subset`` by its parent and indices, a ``TensorDataset`` by its tensors, and any
other map-style dataset by every item (one pass over the data). :func:`batch_fingerprint`
hashes one batch (tensors, arrays, numbers, in nested dicts, lists, tuples and dataclasses).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from sciml.fingerprint import array_digest, stable_hash

__all__ = ["batch_fingerprint", "dataset_fingerprint"]


def batch_fingerprint(batch: Any) -> str:
    """SHA-256 (hex) of a batch: tensors and arrays by dtype, shape and values, containers by structure.

    Raises
    ------
    TypeError
        A leaf that is not a tensor, an array, a number, a string, a bool or None.
    """
    return stable_hash(_digestible(batch))


def _digestible(obj: Any) -> Any:
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return {"array": array_digest(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {type(obj).__name__: [(f.name, _digestible(getattr(obj, f.name))) for f in dataclasses.fields(obj)]}
    if isinstance(obj, Mapping):
        return {"mapping": sorted((str(k), _digestible(v)) for k, v in obj.items())}
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [_digestible(v) for v in obj]]
    if obj is None or isinstance(obj, (bool, int, float, str, np.generic)):
        return repr(obj)
    raise TypeError(f"cannot fingerprint a batch leaf of type {type(obj).__name__}")


def dataset_fingerprint(dataset: Dataset | None) -> str:
    """SHA-256 (hex) of what ``dataset`` serves (None: the digest of "no dataset").

    Raises
    ------
    TypeError
        The dataset has no ``fingerprint()``, is not a ``Subset``/``TensorDataset`` and has no
        ``__len__`` (an iterable-style dataset cannot be fingerprinted without consuming it).
    """
    if dataset is None:
        return stable_hash(None)
    own = getattr(dataset, "fingerprint", None)
    if callable(own):
        return str(own())
    if isinstance(dataset, Subset):
        return stable_hash({"subset_of": dataset_fingerprint(dataset.dataset),
                            "indices": [int(i) for i in dataset.indices]})
    if isinstance(dataset, TensorDataset):
        return stable_hash({"tensors": [array_digest(t) for t in dataset.tensors]})
    if not hasattr(dataset, "__len__"):
        raise TypeError(f"cannot fingerprint {type(dataset).__name__}: it has no fingerprint() and no __len__")
    return stable_hash({"items": [batch_fingerprint(dataset[i]) for i in range(len(dataset))]})
