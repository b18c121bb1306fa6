"""In-memory trajectory datasets for training neural PDE solvers on small problems.

:class:`sciml.data.torch_dataset.TrajectoryDataset` reads trajectories lazily from disk;
for the small grids of benchmarks and tests, :class:`InMemoryTrajectories` holds them as one
tensor instead, optionally coarsened the way PDEBench's reduced-resolution data are made:
cell averages over ``x_factor`` neighbouring cells (finite-volume data stay cell averages)
and every ``t_stride``-th frame.

Items are dictionaries with the same keys as ``TrajectoryDataset``::

    {"trajectory": (n_vars, n_t, *space), "params": (n_params,), "sample": int}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from sciml.data.schema import field_variables, parameter_variables, validate
from sciml.errors import SchemaError


class InMemoryTrajectories(Dataset):
    """Trajectories and parameters of a sciml dataset, as tensors in memory.

    Parameters
    ----------
    ds : xarray.Dataset
        A sciml field dataset with dims ``(sample, t, x)``.
    variables : sequence of str, optional
        Field variables (default: all).
    parameters : sequence of str, optional
        Parameter variables (default: all); ``[]`` for none.
    x_factor : int
        Average groups of ``x_factor`` cells (``n_x`` must be divisible by it).
    t_stride : int
        Keep every ``t_stride``-th frame (the first frame is kept).
    dtype : torch.dtype
        Floating type of the tensors.

    Attributes
    ----------
    trajectories : Tensor, shape ``(n_samples, n_vars, n_t, n_x)``
    params : Tensor, shape ``(n_samples, n_params)``
    t : ndarray, shape ``(n_t,)``
    x : ndarray, shape ``(n_x,)``
    """

    def __init__(
        self,
        ds: xr.Dataset,
        *,
        variables: Sequence[str] | None = None,
        parameters: Sequence[str] | None = None,
        x_factor: int = 1,
        t_stride: int = 1,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        validate(ds, require_provenance=False, check_finite=False)
        fields = field_variables(ds)
        params_present = parameter_variables(ds)
        self.variables = list(variables) if variables is not None else fields
        self.parameter_names = list(parameters) if parameters is not None else params_present
        missing = [v for v in self.variables if v not in fields]
        if missing:
            raise SchemaError(f"field variable(s) {missing} not in the dataset; present: {fields}")
        missing = [p for p in self.parameter_names if p not in params_present]
        if missing:
            raise SchemaError(f"parameter variable(s) {missing} not in the dataset; present: {params_present}")
        if ds[self.variables[0]].dims != ("sample", "t", "x"):
            raise SchemaError(f"InMemoryTrajectories supports dims ('sample', 't', 'x'); got {ds[self.variables[0]].dims}")
        n_x = ds.sizes["x"]
        if x_factor < 1 or n_x % x_factor:
            raise ValueError(f"x_factor={x_factor} must be a positive divisor of n_x={n_x}")
        if t_stride < 1:
            raise ValueError(f"t_stride must be >= 1, got {t_stride}")
        arrays = []
        for v in self.variables:
            a = np.asarray(ds[v].values, dtype=np.float64)[:, ::t_stride]
            a = a.reshape(a.shape[0], a.shape[1], n_x // x_factor, x_factor).mean(axis=-1)
            arrays.append(a)
        self.trajectories = torch.as_tensor(np.stack(arrays, axis=1), dtype=dtype)
        p = np.stack([np.asarray(ds[n].values, dtype=np.float64) for n in self.parameter_names], axis=1) \
            if self.parameter_names else np.zeros((ds.sizes["sample"], 0))
        self.params = torch.as_tensor(p, dtype=dtype)
        self.t = np.asarray(ds["t"].values)[::t_stride]
        x = np.asarray(ds["x"].values)
        self.x = x.reshape(-1, x_factor).mean(axis=-1)

    @classmethod
    def from_tensors(cls, trajectories: torch.Tensor, params: torch.Tensor) -> InMemoryTrajectories:
        """Wrap tensors ``(n, n_vars, n_t, *space)`` and ``(n, n_params)`` directly."""
        if trajectories.shape[0] != params.shape[0]:
            raise ValueError(f"{trajectories.shape[0]} trajectories but {params.shape[0]} parameter rows")
        obj = cls.__new__(cls)
        obj.trajectories, obj.params = trajectories, params
        obj.variables = [f"u{i}" for i in range(trajectories.shape[1])]
        obj.parameter_names = [f"p{i}" for i in range(params.shape[1])]
        obj.t = np.arange(trajectories.shape[2], dtype=np.float64)
        obj.x = (np.arange(trajectories.shape[-1]) + 0.5) / trajectories.shape[-1]
        return obj

    def __len__(self) -> int:
        return int(self.trajectories.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return {"trajectory": self.trajectories[i], "params": self.params[i], "sample": int(i)}

    @property
    def n_vars(self) -> int:
        """Number of field variables."""
        return int(self.trajectories.shape[1])

    @property
    def n_params(self) -> int:
        """Number of parameters per sample."""
        return int(self.params.shape[1])
