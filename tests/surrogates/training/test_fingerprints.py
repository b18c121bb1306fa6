"""Fingerprints of training data: equal data give equal fingerprints, any changed value, shape,
dtype, index or option gives another."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from sciml.data import save
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.data.torch_dataset import InMemoryTrajectoryDataset, TrajectoryDataset, TrajectoryWindowDataset
from sciml.fingerprint import array_digest, file_digest
from sciml.surrogates.training.fingerprints import batch_fingerprint, dataset_fingerprint


class Items(Dataset):
    def __init__(self, values: torch.Tensor) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.values[i], "i": i}


def test_array_digest_sees_values_dtype_and_shape_not_grad():
    a = torch.arange(6, dtype=torch.float32)
    assert array_digest(a) == array_digest(a.clone())
    assert array_digest(a) != array_digest(a.double())
    assert array_digest(a) != array_digest(a.reshape(2, 3))
    b = a.clone()
    b[3] = float(np.nextafter(np.float32(3), np.float32(4)))
    assert array_digest(a) != array_digest(b)
    assert array_digest(a.to(torch.bfloat16)) != array_digest(a)  # dtype recorded
    assert array_digest(np.arange(6, dtype=np.float32)) != array_digest(a)  # torch vs numpy dtype names
    assert array_digest(a.requires_grad_()) == array_digest(torch.arange(6, dtype=torch.float32))


def test_generic_datasets_are_hashed_item_by_item_and_subsets_by_index():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    base = dataset_fingerprint(Items(x))
    assert dataset_fingerprint(Items(x.clone())) == base
    y = x.clone()
    y[4, 2] += 1e-6
    assert dataset_fingerprint(Items(y)) != base
    assert dataset_fingerprint(Subset(Items(x), [0, 1])) != dataset_fingerprint(Subset(Items(x), [0, 2]))
    assert dataset_fingerprint(TensorDataset(x)) != dataset_fingerprint(TensorDataset(y))
    assert dataset_fingerprint(None) == dataset_fingerprint(None) != base
    with pytest.raises(TypeError, match="batch leaf of type object"):
        batch_fingerprint({"x": object()})


def _file(path, scale: float = 1.0):
    rng = np.random.default_rng(0)
    ds = field_dataset({"u": scale * rng.normal(size=(3, 6, 8))},
                       coords={"t": np.arange(6.0), "x": np.arange(8.0) / 8},
                       parameters={"nu": np.array([0.1, 0.2, 0.3])},
                       attrs=provenance_attrs(generator="test", generator_version="1", parameters={}, seed=0))
    return save(ds, path), ds


def test_file_datasets_fingerprint_the_bytes_and_the_options(tmp_path):
    path, ds = _file(tmp_path / "a.nc")
    again, _ = _file(tmp_path / "b.nc")
    other, _ = _file(tmp_path / "c.nc", scale=2.0)
    assert file_digest(path) != file_digest(other)
    fp = TrajectoryDataset(path).fingerprint()
    assert TrajectoryDataset(path).fingerprint() == fp
    assert TrajectoryDataset(other).fingerprint() != fp
    assert TrajectoryDataset(path, samples=[0, 1]).fingerprint() != fp
    assert TrajectoryDataset(path, time_stride=2).fingerprint() != fp
    assert TrajectoryWindowDataset(path, history=2).fingerprint() != TrajectoryWindowDataset(path, history=3).fingerprint()
    mem = InMemoryTrajectoryDataset.from_xarray(ds)
    assert dataset_fingerprint(mem) == InMemoryTrajectoryDataset.from_xarray(ds).fingerprint()
    assert dataset_fingerprint(mem) != dataset_fingerprint(InMemoryTrajectoryDataset.from_xarray(ds, dtype=torch.float64))
