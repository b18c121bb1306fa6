"""PyTorch datasets that read trajectories lazily from HDF5 files.

Both datasets read from a NetCDF4 file written by :func:`sciml.data.netcdf.save` or from a
PDEBench HDF5 file (:mod:`sciml.data.pdebench`), **never loading the whole file**: every
item is one h5py read per field variable of exactly the frames it needs from one sample
(``u[sample, t0 : t0 + n_frames * time_stride : time_stride, ...]``). Files written by
``save`` are chunked per sample, so that read touches one HDF5 chunk. Parameter values
(one small ``(n_sample,)`` vector per parameter) are read once, at construction. Values
are read as stored (no CF decoding of ``scale_factor``/``_FillValue``; :func:`save` writes
neither).

The h5py file is opened lazily, on the first item requested in each process, and is not
part of the pickled state: the datasets work with ``DataLoader(num_workers > 0)`` under both
the ``fork`` and the ``spawn`` start methods.

Shapes (``n_vars`` = number of field variables, ``*space`` = ``(n_x,)`` or ``(n_x, n_y)``;
items are channel-first, ready for a 1D/2D convolution or an FNO after folding time into
channels):

====================  =======================================================  ==========
key                   shape                                                    dtype
====================  =======================================================  ==========
``history``           ``(n_vars, history, *space)``                            ``dtype``
``target``            ``(n_vars, horizon, *space)``                            ``dtype``
``trajectory``        ``(n_vars, n_frames, *space)`` (TrajectoryDataset)       ``dtype``
``t``                 ``(n_frames,)`` times of the trajectory frames           ``dtype``
``params``            ``(n_params,)``                                          ``dtype``
``sample``            int, index of the sample in the file
``t0``                int, index (in the file's ``t`` axis) of the first frame
====================  =======================================================  ==========
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from sciml.data.netcdf import _check_hdf5_file
from sciml.data.pdebench import pdebench_parameters
from sciml.errors import FileFormatError, SchemaError

__all__ = ["TrajectoryWindowDataset", "TrajectoryDataset"]

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
    kind: str  # "netcdf" or "pdebench"


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
        return _Layout(variables, tuple(d.name for d in dsets), tuple(shape), tuple(names), values, t, "netcdf")


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
    return _Layout(variables, ("tensor",), tuple(d.shape), tuple(params), values, t, "pdebench")


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
    ) -> None:
        super().__init__()
        _positive("time_stride", time_stride)
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
        """``(n_x,)`` or ``(n_x, n_y)``."""
        return self._layout.shape[2:]

    @property
    def times(self) -> np.ndarray:
        """Times of the served frames, shape ``(n_frames,)``."""
        return self._layout.t[:: self.time_stride]

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
        return np.stack([np.asarray(d[sample, frames]) for d in self._datasets()])

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
        parameter_names: Sequence[str] | None = None,
        samples: Sequence[int] | np.ndarray | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        _positive("history", history)
        _positive("horizon", horizon)
        _positive("stride", stride)
        super().__init__(
            path, variable=variable, parameter_names=parameter_names, samples=samples,
            time_stride=time_stride, dtype=dtype,
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
    path, variable, time_stride, parameter_names, samples, dtype
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
        parameter_names: Sequence[str] | None = None,
        samples: Sequence[int] | np.ndarray | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            path, variable=variable, parameter_names=parameter_names, samples=samples,
            time_stride=time_stride, dtype=dtype,
        )

    def __len__(self) -> int:
        return len(self.samples)

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
