"""In-memory trajectories: coarsening keeps cell averages, parameters and errors; the lazy
reader serves the same items; open_trajectories picks a mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.data.netcdf import save
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.data.torch_dataset import InMemoryTrajectoryDataset, TrajectoryDataset, open_trajectories
from sciml.errors import SchemaError


def make(n=3, nt=9, nx=8, *, random=False):
    u = (np.random.default_rng(0).normal(size=(n, nt, nx)) if random
         else np.arange(n * nt * nx, dtype=np.float64).reshape(n, nt, nx))
    return field_dataset({"u": u}, coords={"t": np.linspace(0, 1, nt), "x": (np.arange(nx) + 0.5) / nx},
                         parameters={"nu": np.array([0.1, 0.2, 0.3])[:n]},
                         attrs=provenance_attrs(generator="t", generator_version="0", parameters={}, seed=0))


def test_coarsening_averages_cells_and_strides_time():
    ds = make()
    data = InMemoryTrajectoryDataset.from_xarray(ds, x_factor=4, t_stride=4)
    assert data.trajectories.shape == (3, 1, 3, 2)
    u = ds["u"].values
    expected = u[:, ::4].reshape(3, 3, 2, 4).mean(-1)
    np.testing.assert_allclose(data.trajectories[:, 0].numpy(), expected)
    np.testing.assert_allclose(data.x, [0.25, 0.75])
    np.testing.assert_allclose(data.t, [0.0, 0.5, 1.0])
    item = data[1]
    assert torch.allclose(item["params"], torch.tensor([0.2]))
    assert item["trajectory"].shape == (1, 3, 2) and item["sample"] == 1
    # sums over x are conserved by the coarsening (cell averages)
    np.testing.assert_allclose(data.trajectories.sum(-1).numpy()[:, 0] * 4, u[:, ::4].sum(-1))


def test_bad_requests_are_clear_errors():
    ds = make()
    with pytest.raises(SchemaError, match=r"parameter variable\(s\) \['beta'\] not in the dataset; present: \['nu'\]"):
        InMemoryTrajectoryDataset.from_xarray(ds, parameters=["beta"])
    with pytest.raises(SchemaError, match="field variable"):
        InMemoryTrajectoryDataset.from_xarray(ds, variables=["v"])
    with pytest.raises(ValueError, match="x_factor=3 must be a positive divisor of n_x=8"):
        InMemoryTrajectoryDataset.from_xarray(ds, x_factor=3)
    with pytest.raises(ValueError, match="trajectories but"):
        InMemoryTrajectoryDataset.from_tensors(torch.zeros(2, 1, 3, 4), torch.zeros(3, 1))


def test_lazy_and_in_memory_serve_identical_items_and_batches(tmp_path):
    """The data layer's two modes give bit-identical trajectories, parameters and batches."""
    path = save(make(random=True), tmp_path / "d.nc")
    memory = open_trajectories(path, x_factor=2, t_stride=3, in_memory=True)
    lazy = open_trajectories(path, x_factor=2, t_stride=3, in_memory=False)
    assert isinstance(memory, InMemoryTrajectoryDataset) and isinstance(lazy, TrajectoryDataset)
    assert (memory.in_memory, lazy.in_memory) == (True, False)
    assert len(memory) == len(lazy) == 3 and memory.n_vars == lazy.n_vars == 1
    assert memory.parameter_names == list(lazy.parameter_names) == ["nu"]
    np.testing.assert_array_equal(memory.t, lazy.t)
    np.testing.assert_array_equal(memory.x, lazy.x)
    assert torch.equal(memory.params, lazy.params)
    for i in range(3):
        a, b = memory[i], lazy[i]
        assert a["trajectory"].dtype == b["trajectory"].dtype == torch.float32
        assert torch.equal(a["trajectory"], b["trajectory"]) and torch.equal(a["params"], b["params"])
        assert a["sample"] == b["sample"] == i
    for (ta, pa), (tb, pb) in zip(memory.batches(2), lazy.batches(2), strict=True):
        assert torch.equal(ta, tb) and torch.equal(pa, pb)
    assert [t.shape[0] for t, _ in memory.batches(2)] == [2, 1]


def test_open_trajectories_reads_lazily_what_does_not_fit(tmp_path):
    path = save(make(), tmp_path / "d.nc")
    assert open_trajectories(path).in_memory
    assert not open_trajectories(path, memory_limit_bytes=100).in_memory
    with pytest.raises(SchemaError, match="parameter variable"):
        open_trajectories(path, parameters=["beta"])
