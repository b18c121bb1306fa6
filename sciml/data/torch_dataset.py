"""PyTorch datasets of trajectories: read lazily from HDF5 files, or held in memory.

* :class:`TrajectoryWindowDataset` and :class:`TrajectoryDataset` read a NetCDF4 file written
  by :func:`sciml.data.netcdf.save` (or a PDEBench HDF5 file) **without loading it**: every item
  is one h5py read per field variable of the frames it needs from one sample (files written by
  ``save`` are chunked per sample). Parameter values are read once, at construction. The h5py
  file is opened lazily in each process and is not pickled, so ``DataLoader(num_workers > 0)``
  works under ``fork`` and ``spawn``.
* :class:`InMemoryTrajectoryDataset` holds the trajectories as one tensor
  (:meth:`~InMemoryTrajectoryDataset.from_xarray`), for data that fit in memory;
  :func:`open_trajectories` picks one mode or the other for a file, with identical items.

Both can coarsen like PDEBench's reduced-resolution data: every ``t_stride``-th frame and cell
averages over ``x_factor`` neighbouring cells (:func:`coarsen`, in float64). Items are
channel-first (``n_vars`` field variables, ``*space`` = ``(n_x,)`` or ``(n_x, n_y)``):

====================  =======================================================  ==========
key                   shape                                                    dtype
====================  =======================================================  ==========
``history``           ``(n_vars, history, *space)`` (window dataset)           ``dtype``
``target``            ``(n_vars, horizon, *space)`` (window dataset)           ``dtype``
``trajectory``        ``(n_vars, n_frames, *space)`` (whole trajectories)      ``dtype``
``params``            ``(n_params,)``                                          ``dtype``
``sample``            int, index of the sample
``t``                 ``(n_frames,)`` frame times (lazy datasets)              ``dtype``
``t0``                int, index of the first frame in the file (lazy datasets)
====================  =======================================================  ==========
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from sciml.data.netcdf import _check_hdf5_file, guard_read, open_dataset
from sciml.data.pdebench import pdebench_parameters
from sciml.data.schema import field_variables, parameter_variables, validate
from sciml.errors import FileFormatError, SchemaError
from sciml.fingerprint import array_digest, file_digest, stable_hash

__all__ = [
    "InMemoryTrajectoryDataset",
    "TrajectoryDataset",
    "TrajectoryWindowDataset",
    "coarsen",
    "open_trajectories",
]

_SPACE_DIMS = ("x", "y", "z")


@dataclass(frozen=True)
class _Layout:
    """What a dataset needs to know about a file, read once at construction."""

    variables: tuple[str, ...]  # names asked for
    h5_names: tuple[str, ...]  # h5py dataset paths of those variables
    shape: tuple[int, ...]  # (n_sample, n_t, *space)
    parameter_names: tuple[str, ...]
    parameters: np.ndarray  # (n_sample, n_params) float64
    t: np.ndarray  # (n_t,)
    x: np.ndarray  # (n_x,) cell centres along the first spatial axis
    kind: str  # "netcdf" or "pdebench"


def _coordinate(dset: Any, n: int) -> np.ndarray:
    """The values of a 1-D coordinate dataset of length ``n``; cell centres of ``[0, 1]`` otherwise."""
    if isinstance(dset, h5py.Dataset) and dset.shape == (n,):
        return np.asarray(dset[()], dtype=np.float64)
    return (np.arange(n, dtype=np.float64) + 0.5) / n


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _dim_names(dset: h5py.Dataset) -> list[str | None]:
    """Names of the NetCDF dimensions attached to ``dset`` (None where not attached)."""
    names: list[str | None] = []
    for axis in range(dset.ndim):
        scales = dset.dims[axis]
        names.append(scales[0].name.rsplit("/", 1)[-1] if len(scales) else None)
    return names


def _inspect(
    path: Path,
    variables: tuple[str, ...],
    parameter_names: Sequence[str] | None,
) -> _Layout:
    """Read the metadata (shapes, dims, parameter values, times) of ``path``."""
    _check_hdf5_file(path)
    with h5py.File(path, "r") as f:
        root = {k: v for k, v in f.items() if isinstance(v, h5py.Dataset)}
        if "tensor" in root and not all(v in root for v in variables):
            return _inspect_pdebench(f, path, variables, parameter_names)
        fields = {k: v for k, v in root.items() if v.ndim >= 3}
        missing = [v for v in variables if v not in fields]
        if missing:
            raise SchemaError(
                f"{path}: field variable(s) {missing} not found; field variables present: "
                f"{sorted(fields) or 'none'}"
            )
        dsets = [fields[v] for v in variables]
        shape = dsets[0].shape
        for v, d in zip(variables, dsets, strict=True):
            if d.shape != shape:
                raise SchemaError(f"{path}: fields differ in shape: {variables[0]} {shape} vs {v} {d.shape}")
            if d.dtype.kind != "f":
                raise SchemaError(f"{path}: field {v!r} has dtype {d.dtype}; expected floating point")
            dims = _dim_names(d)
            expected = ["sample", "t", *_SPACE_DIMS[: d.ndim - 2]]
            if any(n is not None for n in dims) and dims != expected:
                raise SchemaError(f"{path}: field {v!r} has dims {dims}; expected {expected}")
        n_sample = shape[0]
        candidates = [
            k for k, d in root.items()
            if d.shape == (n_sample,) and _text(d.attrs.get("role", "")) == "parameter"
        ]
        if parameter_names is None:
            names = candidates
        else:
            names = [str(p) for p in parameter_names]
            absent = [p for p in names if p not in root or root[p].shape != (n_sample,)]
            if absent:
                raise SchemaError(
                    f"{path}: parameter variable(s) {absent} not found; parameter variables "
                    f"present: {candidates or 'none'}"
                )
        values = np.stack(
            [np.asarray(root[p][()], dtype=np.float64) for p in names], axis=1
        ) if names else np.zeros((n_sample, 0))
        t = np.asarray(root["t"][()]) if "t" in root and root["t"].shape == (shape[1],) else np.arange(shape[1], dtype=np.float64)
        x = _coordinate(root.get("x"), shape[2])
        return _Layout(variables, tuple(d.name for d in dsets), tuple(shape), tuple(names), values, t, x, "netcdf")


def _inspect_pdebench(
    f: h5py.File, path: Path, variables: tuple[str, ...], parameter_names: Sequence[str] | None
) -> _Layout:
    if len(variables) != 1:
        raise SchemaError(
            f"{path}: a PDEBench 'tensor' file holds one field; asked for {list(variables)}"
        )
    d = f["tensor"]
    if d.ndim not in (3, 4) or d.dtype.kind != "f":
        raise FileFormatError(f"{path}: 'tensor' has shape {d.shape} and dtype {d.dtype}; expected float [N, T, X] or [N, T, X, Y]")
    params = pdebench_parameters(f, path, parameter_names)
    n_sample, n_t = d.shape[:2]
    values = np.tile(np.asarray(list(params.values()), dtype=np.float64), (n_sample, 1))
    t = np.arange(n_t, dtype=np.float64)
    if "t-coordinate" in f:
        tc = np.asarray(f["t-coordinate"][()])
        if tc.ndim == 1 and tc.shape[0] in (n_t, n_t + 1):
            t = tc[:n_t]  # PDEBench stores T + 1 snapshot times; the first T are the frames
    x = _coordinate(f.get("x-coordinate"), d.shape[2])
    return _Layout(variables, ("tensor",), tuple(d.shape), tuple(params), values, t, x, "pdebench")


class _LazyH5Dataset(Dataset):
    """Shared machinery: metadata at construction, per-process lazy h5py handle."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str | Sequence[str],
        parameter_names: Sequence[str] | None,
        samples: Sequence[int] | np.ndarray | None,
        time_stride: int,
        dtype: torch.dtype,
        x_factor: int = 1,
    ) -> None:
        super().__init__()
        _positive("time_stride", time_stride)
        _positive("x_factor", x_factor)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch.dtype (e.g. torch.float32); got {dtype!r}")
        self.path = Path(path)
        variables = (variable,) if isinstance(variable, str) else tuple(str(v) for v in variable)
        if not variables:
            raise ValueError("variable must name at least one field variable")
        if isinstance(parameter_names, str):
            parameter_names = [parameter_names]
        self._layout = _inspect(self.path, variables, parameter_names)
        self.dtype = dtype
        self.time_stride = int(time_stride)
        self.x_factor = int(x_factor)
        check_x_factor(self.x_factor, self._layout.shape[2:])
        n_sample = self._layout.shape[0]
        if samples is None:
            idx = np.arange(n_sample, dtype=np.int64)
        else:
            arr = np.asarray(samples)
            if arr.size and arr.dtype.kind not in "iu":
                raise ValueError(f"samples must be integer indices; got dtype {arr.dtype}")
            idx = arr.astype(np.int64).ravel()
            bad = idx[(idx < -n_sample) | (idx >= n_sample)]
            if bad.size:
                raise IndexError(f"samples {bad.tolist()[:10]} out of range for {n_sample} samples in {self.path}")
            idx = np.where(idx < 0, idx + n_sample, idx)
        self.samples = idx
        #: Frames of the file's t axis that are served (after ``time_stride``).
        self.n_frames = len(range(0, self._layout.shape[1], self.time_stride))
        self._h5: h5py.File | None = None
        self._dsets: list[h5py.Dataset] | None = None
        self._pid: int | None = None

    # -- metadata --------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        """Field variables served, in channel order."""
        return self._layout.variables

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Parameters served in ``params``, in order."""
        return self._layout.parameter_names

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """``(n_x,)`` or ``(n_x, n_y)`` of the served frames (after ``x_factor``)."""
        return tuple(n // self.x_factor for n in self._layout.shape[2:])

    @property
    def n_vars(self) -> int:
        """Number of field variables."""
        return len(self._layout.variables)

    @property
    def n_params(self) -> int:
        """Number of parameters per sample."""
        return len(self._layout.parameter_names)

    @property
    def t(self) -> np.ndarray:
        """Times of the served frames (as :attr:`times`)."""
        return self.times

    @property
    def x(self) -> np.ndarray:
        """Cell centres of the served frames along the first spatial axis, shape ``(n_x,)``."""
        return coarsen(self._layout.x, self.x_factor, 1)

    @property
    def times(self) -> np.ndarray:
        """Times of the served frames, shape ``(n_frames,)``."""
        return self._layout.t[:: self.time_stride]

    def fingerprint(self) -> str:
        """SHA-256 of the file's bytes and of what this dataset serves from it (variables,
        parameters, samples, strides, dtype): equal fingerprints serve equal items."""
        served = {"file": file_digest(self.path), "class": type(self).__name__, "variables": self.variables,
                  "parameters": self.parameter_names, "samples": self.samples.tolist(),
                  "time_stride": self.time_stride, "x_factor": self.x_factor, "dtype": str(self.dtype),
                  "windows": [getattr(self, k, None) for k in ("history", "horizon", "stride")]}
        return stable_hash(served)

    # -- file handling ---------------------------------------------------------------
    def _datasets(self) -> list[h5py.Dataset]:
        if self._dsets is None or self._pid != os.getpid():
            # A handle inherited through fork is not reused: open our own.
            self._h5 = h5py.File(self.path, "r")
            self._dsets = [self._h5[name] for name in self._layout.h5_names]
            self._pid = os.getpid()
        return self._dsets

    def close(self) -> None:
        """Close this process's file handle (it is reopened on the next item)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5, self._dsets, self._pid = None, None, None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_h5=None, _dsets=None, _pid=None)
        return state

    def _read(self, sample: int, t0: int, n: int) -> np.ndarray:
        """Frames ``t0, t0 + s, ..., t0 + (n-1) s`` of one sample: ``(n_vars, n, *space)``."""
        s = self.time_stride
        frames = slice(t0, t0 + (n - 1) * s + 1, s)
        blocks = []
        for name, dset in zip(self._layout.variables, self._datasets(), strict=True):
            with guard_read(self.path, name):
                blocks.append(np.asarray(dset[sample, frames]))
        block = np.stack(blocks)
        if self.x_factor == 1:
            return block
        return coarsen(np.asarray(block, dtype=np.float64), self.x_factor, block.ndim - 2)

    def _params(self, sample: int) -> torch.Tensor:
        return torch.as_tensor(self._layout.parameters[sample], dtype=self.dtype)

    def _index(self, idx: int, n_per_sample: int) -> tuple[int, int]:
        n = len(self)
        if not isinstance(idx, (int, np.integer)):
            raise TypeError(f"index must be an int; got {type(idx).__name__}")
        if idx < -n or idx >= n:
            raise IndexError(f"index {idx} out of range for a dataset of {n} items")
        idx = int(idx) % n
        return int(self.samples[idx // n_per_sample]), idx % n_per_sample


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def check_x_factor(x_factor: int, space: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``x_factor`` divides every spatial size in ``space``."""
    for axis, n in zip("xyz", space, strict=False):
        if x_factor < 1 or n % x_factor:
            raise ValueError(f"x_factor={x_factor} must be a positive divisor of n_{axis}={n}")


def coarsen(a: np.ndarray, factor: int, n_space: int) -> np.ndarray:
    """Average groups of ``factor`` neighbouring cells along each of the last ``n_space`` axes.

    Finite-volume data stay cell averages (sums over space are conserved up to the factor),
    as in PDEBench's reduced-resolution data. ``factor`` must divide every such axis.
    """
    if factor == 1:
        return a
    for axis in range(a.ndim - n_space, a.ndim):
        shape = a.shape
        a = a.reshape(*shape[:axis], shape[axis] // factor, factor, *shape[axis + 1:]).mean(axis=axis + 1)
    return a


class TrajectoryWindowDataset(_LazyH5Dataset):
    """(history window → next steps, parameters) pairs read lazily from an HDF5 file.

    Each trajectory (after subsampling time by ``time_stride``) of ``n_frames`` frames
    yields ``n_windows = (n_frames - history - horizon) // stride + 1`` windows starting at
    frames ``0, stride, 2 stride, ...``; item ``i`` is window ``i % n_windows`` of sample
    ``samples[i // n_windows]``.

    Parameters
    ----------
    path : str or path-like
        NetCDF4 file from :func:`sciml.data.netcdf.save` or a PDEBench HDF5 file.
    variable : str or sequence of str, default "u"
        Field variable(s), stacked as channels. For a PDEBench file the single ``tensor``
        is served whatever the name (unless the file has a dataset of that name).
    history : int, default 10
        Frames given as input (PDEBench's ``initial_step``).
    horizon : int, default 1
        Frames to predict after the history.
    stride : int, default 1
        Step, in served frames, between the starts of consecutive windows.
    time_stride : int, default 1
        Serve every ``time_stride``-th frame of the file (temporal subsampling).
    x_factor : int, default 1
        Average groups of ``x_factor`` neighbouring cells along every spatial axis (computed
        in float64, then cast to ``dtype``), as PDEBench's reduced-resolution data; must
        divide the spatial sizes.
    parameter_names : sequence of str, optional
        Parameters returned in ``params``; default: every parameter variable of the file
        (attribute ``role="parameter"``), or every PDE parameter of a PDEBench file.
    samples : sequence of int, optional
        Sample indices to serve (for train/validation/test splits); default all.
    dtype : torch.dtype, default torch.float32
        dtype of every returned tensor.

    Raises
    ------
    SchemaError
        A variable or parameter is not in the file (the message lists those present), or
        the trajectories are shorter than ``history + horizon`` frames.
    FileFormatError
        The file is missing, truncated or not HDF5.

    Examples
    --------
    >>> ds = TrajectoryWindowDataset("burgers.nc", history=10, horizon=1)   # doctest: +SKIP
    >>> item = ds[0]; item["history"].shape, item["target"].shape          # doctest: +SKIP
    (torch.Size([1, 10, 128]), torch.Size([1, 1, 128]))
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str | Sequence[str] = "u",
        history: int = 10,
        horizon: int = 1,
        stride: int = 1,
        time_stride: int = 1,
        x_factor: int = 1,
        parameter_names: Sequence[str] | None = None,
        samples: Sequence[int] | np.ndarray | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        _positive("history", history)
        _positive("horizon", horizon)
        _positive("stride", stride)
        super().__init__(
            path, variable=variable, parameter_names=parameter_names, samples=samples,
            time_stride=time_stride, dtype=dtype, x_factor=x_factor,
        )
        self.history, self.horizon, self.stride = int(history), int(horizon), int(stride)
        window = self.history + self.horizon
        if window > self.n_frames:
            raise SchemaError(
                f"{self.path}: history ({history}) + horizon ({horizon}) = {window} frames are "
                f"needed, but the trajectories have {self.n_frames} frame(s) "
                f"(n_t = {self._layout.shape[1]} in the file, time_stride = {time_stride})"
            )
        #: Windows per trajectory.
        self.n_windows = (self.n_frames - window) // self.stride + 1

    def __len__(self) -> int:
        return len(self.samples) * self.n_windows

    def __getitem__(self, idx: int) -> dict[str, Any]:
        sample, w = self._index(idx, self.n_windows)
        t0 = w * self.stride * self.time_stride
        block = self._read(sample, t0, self.history + self.horizon)
        return {
            "history": torch.as_tensor(block[:, : self.history], dtype=self.dtype).clone(),
            "target": torch.as_tensor(block[:, self.history :], dtype=self.dtype).clone(),
            "params": self._params(sample),
            "sample": sample,
            "t0": t0,
        }


class TrajectoryDataset(_LazyH5Dataset):
    """Whole trajectories (for rollout evaluation), read lazily one sample at a time.

    Parameters
    ----------
    path, variable, time_stride, x_factor, parameter_names, samples, dtype
        As in :class:`TrajectoryWindowDataset`.

    Notes
    -----
    Item ``i`` is sample ``samples[i]``: ``{"trajectory": (n_vars, n_frames, *space),
    "t": (n_frames,), "params": (n_params,), "sample": int, "t0": 0}``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str | Sequence[str] = "u",
        time_stride: int = 1,
        x_factor: int = 1,
        parameter_names: Sequence[str] | None = None,
        samples: Sequence[int] | np.ndarray | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            path, variable=variable, parameter_names=parameter_names, samples=samples,
            time_stride=time_stride, dtype=dtype, x_factor=x_factor,
        )

    def __len__(self) -> int:
        return len(self.samples)

    #: items are read from the file one at a time
    in_memory = False

    @property
    def params(self) -> torch.Tensor:
        """Parameters of the served samples, shape ``(len(self), n_params)``."""
        return torch.as_tensor(self._layout.parameters[self.samples], dtype=self.dtype)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(trajectories (b, n_vars, n_frames, *space), params (b, n_params))`` in item order."""
        _positive("batch_size", batch_size)
        for start in range(0, len(self), batch_size):
            items = [self[i] for i in range(start, min(start + batch_size, len(self)))]
            yield torch.stack([it["trajectory"] for it in items]), torch.stack([it["params"] for it in items])

    def __getitem__(self, idx: int) -> dict[str, Any]:
        sample, _ = self._index(idx, 1)
        block = self._read(sample, 0, self.n_frames)
        return {
            "trajectory": torch.as_tensor(block, dtype=self.dtype).clone(),
            "t": torch.as_tensor(self.times, dtype=self.dtype),
            "params": self._params(sample),
            "sample": sample,
            "t0": 0,
        }


class InMemoryTrajectoryDataset(Dataset):
    """Whole trajectories held in memory as one tensor (the sibling of :class:`TrajectoryDataset`).

    Parameters
    ----------
    trajectories : Tensor, shape ``(n_samples, n_vars, n_t, *space)``
    params : Tensor, shape ``(n_samples, n_params)``
    variables, parameter_names : sequence of str, optional
        Names (default ``u0, u1, ...`` and ``p0, p1, ...``).
    t : array, shape ``(n_t,)``, optional
        Frame times (default ``0, 1, ...``).
    x : array, shape ``(n_x,)``, optional
        Cell centres along the first spatial axis (default: those of ``[0, 1]``).

    Notes
    -----
    Item ``i`` is ``{"trajectory": trajectories[i], "params": params[i], "sample": i}``;
    :meth:`from_xarray` builds one from a sciml dataset, :func:`open_trajectories` from a file.

    Raises
    ------
    ValueError
        The tensors do not have the shapes above or disagree on ``n_samples``.
    """

    #: items are views of tensors in memory
    in_memory = True

    def __init__(self, trajectories: torch.Tensor, params: torch.Tensor, *,
                 variables: Sequence[str] | None = None, parameter_names: Sequence[str] | None = None,
                 t: np.ndarray | None = None, x: np.ndarray | None = None) -> None:
        if trajectories.ndim < 4 or params.ndim != 2:
            raise ValueError(f"trajectories must be (n, n_vars, n_t, *space) and params (n, n_params); got shapes "
                             f"{tuple(trajectories.shape)} and {tuple(params.shape)}")
        if trajectories.shape[0] != params.shape[0]:
            raise ValueError(f"{trajectories.shape[0]} trajectories but {params.shape[0]} parameter rows")
        self.trajectories, self.params = trajectories, params
        self.variables = list(variables) if variables is not None else [f"u{i}" for i in range(trajectories.shape[1])]
        self.parameter_names = (list(parameter_names) if parameter_names is not None
                                else [f"p{i}" for i in range(params.shape[1])])
        self.t = np.asarray(t) if t is not None else np.arange(trajectories.shape[2], dtype=np.float64)
        n_x = trajectories.shape[3]
        self.x = np.asarray(x) if x is not None else (np.arange(n_x) + 0.5) / n_x

    @classmethod
    def from_tensors(cls, trajectories: torch.Tensor, params: torch.Tensor) -> InMemoryTrajectoryDataset:
        """Wrap tensors ``(n, n_vars, n_t, *space)`` and ``(n, n_params)`` (default names and grid)."""
        return cls(trajectories, params)

    @classmethod
    def from_xarray(cls, ds: xr.Dataset, *, variables: Sequence[str] | None = None,
                    parameters: Sequence[str] | None = None, x_factor: int = 1, t_stride: int = 1,
                    dtype: torch.dtype = torch.float32) -> InMemoryTrajectoryDataset:
        """The trajectories of a sciml field dataset, optionally coarsened.

        Parameters
        ----------
        ds : xarray.Dataset
            A sciml field dataset with dims ``(sample, t, x)`` or ``(sample, t, x, y)``.
        variables : sequence of str, optional
            Field variables, stacked as channels (default: all).
        parameters : sequence of str, optional
            Parameter variables (default: all); ``[]`` for none.
        x_factor : int
            Average groups of ``x_factor`` cells along every spatial axis (:func:`coarsen`).
        t_stride : int
            Keep every ``t_stride``-th frame (the first frame is kept).
        dtype : torch.dtype
            Floating type of the tensors (the coarsening is done in float64).

        Raises
        ------
        SchemaError
            A variable is missing (the message lists those present) or the dims are not
            ``(sample, t, x[, y])``.
        ValueError
            ``x_factor`` does not divide the grid, or ``t_stride < 1``.
        """
        validate(ds, require_provenance=False, check_finite=False)
        names, params = _resolve_names(ds, variables, parameters)
        dims = ds[names[0]].dims
        if dims not in (("sample", "t", "x"), ("sample", "t", "x", "y")):
            raise SchemaError(f"in-memory trajectories need dims ('sample', 't', 'x'[, 'y']); got {dims}")
        space = [ds.sizes[d] for d in dims[2:]]
        check_x_factor(x_factor, space)
        if t_stride < 1:
            raise ValueError(f"t_stride must be >= 1, got {t_stride}")
        arrays = [coarsen(np.asarray(ds[v].values, dtype=np.float64)[:, ::t_stride], x_factor, len(space))
                  for v in names]
        p = np.stack([np.asarray(ds[n].values, dtype=np.float64) for n in params], axis=1) \
            if params else np.zeros((ds.sizes["sample"], 0))
        return cls(torch.as_tensor(np.stack(arrays, axis=1), dtype=dtype), torch.as_tensor(p, dtype=dtype),
                   variables=names, parameter_names=params, t=np.asarray(ds["t"].values)[::t_stride],
                   x=coarsen(np.asarray(ds["x"].values), x_factor, 1))

    def __len__(self) -> int:
        return int(self.trajectories.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return {"trajectory": self.trajectories[i], "params": self.params[i], "sample": int(i)}

    def fingerprint(self) -> str:
        """SHA-256 of the tensors' values, dtypes and shapes and of the names: equal
        fingerprints serve equal items."""
        return stable_hash({"trajectories": array_digest(self.trajectories), "params": array_digest(self.params),
                            "variables": self.variables, "parameters": self.parameter_names})

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(trajectories (b, n_vars, n_t, *space), params (b, n_params))`` slices, in item order."""
        _positive("batch_size", batch_size)
        for start in range(0, len(self), batch_size):
            yield self.trajectories[start:start + batch_size], self.params[start:start + batch_size]

    @property
    def n_vars(self) -> int:
        """Number of field variables."""
        return int(self.trajectories.shape[1])

    @property
    def n_params(self) -> int:
        """Number of parameters per sample."""
        return int(self.params.shape[1])


def _resolve_names(ds: xr.Dataset, variables: Sequence[str] | None,
                   parameters: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The field and parameter variables asked for (default: all), checked against ``ds``."""
    fields, present = field_variables(ds), parameter_variables(ds)
    names = list(variables) if variables is not None else fields
    params = list(parameters) if parameters is not None else present
    missing = [v for v in names if v not in fields]
    if missing or not names:
        raise SchemaError(f"field variable(s) {missing} not in the dataset; present: {fields}")
    missing = [p for p in params if p not in present]
    if missing:
        raise SchemaError(f"parameter variable(s) {missing} not in the dataset; present: {present}")
    return names, params


#: :func:`open_trajectories` holds a dataset in memory when its float64 frames take at most this
IN_MEMORY_LIMIT_BYTES = 2**30


def open_trajectories(
    path: str | os.PathLike[str],
    *,
    variables: Sequence[str] | None = None,
    parameters: Sequence[str] | None = None,
    x_factor: int = 1,
    t_stride: int = 1,
    dtype: torch.dtype = torch.float32,
    in_memory: bool | None = None,
    memory_limit_bytes: int = IN_MEMORY_LIMIT_BYTES,
) -> InMemoryTrajectoryDataset | TrajectoryDataset:
    """Whole trajectories of a sciml NetCDF file: in memory when they fit, read lazily otherwise.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`sciml.data.netcdf.save`.
    variables, parameters, x_factor, t_stride, dtype
        As in :meth:`InMemoryTrajectoryDataset.from_xarray`.
    in_memory : bool, optional
        Force one mode; ``None``: in memory when the served frames take at most
        ``memory_limit_bytes`` as float64.

    Returns
    -------
    InMemoryTrajectoryDataset or TrajectoryDataset
        Both serve the same items (``trajectory``, ``params``, ``sample``; the lazy one also
        ``t`` and ``t0``) with identical values, and have ``variables``, ``parameter_names``,
        ``n_vars``, ``n_params``, ``params``, ``t``, ``x`` and ``batches(batch_size)``.

    Raises
    ------
    FileFormatError, SchemaError, ValueError
        As :func:`sciml.data.netcdf.open_dataset` and the two datasets.
    """
    with open_dataset(path) as ds:
        names, params = _resolve_names(ds, variables, parameters)
        if in_memory is None:
            frames = ds[names[0]].size // max(ds.sizes["t"], 1) * len(range(0, ds.sizes["t"], max(t_stride, 1)))
            in_memory = 8 * frames * len(names) <= memory_limit_bytes
        if in_memory:
            return InMemoryTrajectoryDataset.from_xarray(ds, variables=names, parameters=params, x_factor=x_factor,
                                                         t_stride=t_stride, dtype=dtype)
    return TrajectoryDataset(path, variable=names, parameter_names=params, time_stride=t_stride, x_factor=x_factor,
                             dtype=dtype)
