"""In-memory trajectories: coarsening keeps cell averages, parameters and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import SchemaError
from sciml.surrogates.neural_pde.data import InMemoryTrajectories


def make(n=3, nt=9, nx=8):
    u = np.arange(n * nt * nx, dtype=np.float64).reshape(n, nt, nx)
    return field_dataset({"u": u}, coords={"t": np.linspace(0, 1, nt), "x": (np.arange(nx) + 0.5) / nx},
                         parameters={"nu": np.array([0.1, 0.2, 0.3])},
                         attrs=provenance_attrs(generator="t", generator_version="0", parameters={}, seed=0))


def test_coarsening_averages_cells_and_strides_time():
    ds = make()
    data = InMemoryTrajectories(ds, x_factor=4, t_stride=4)
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
        InMemoryTrajectories(ds, parameters=["beta"])
    with pytest.raises(SchemaError, match="field variable"):
        InMemoryTrajectories(ds, variables=["v"])
    with pytest.raises(ValueError, match="x_factor=3 must be a positive divisor of n_x=8"):
        InMemoryTrajectories(ds, x_factor=3)
    with pytest.raises(ValueError, match="trajectories but"):
        InMemoryTrajectories.from_tensors(torch.zeros(2, 1, 3, 4), torch.zeros(3, 1))
