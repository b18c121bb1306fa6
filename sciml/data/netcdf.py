"""NetCDF4 (HDF5) storage of sciml datasets (field and trajectory layouts), through ``h5netcdf``.

Files are written

* **chunked per sample** — a field of shape ``(n_sample, n_t, n_x[, n_y[, n_z]])`` is stored in
  HDF5 chunks of shape ``(chunk_samples, n_t, n_x[, ...])``, so reading one trajectory reads
  one chunk (this is what :class:`sciml.data.torch_dataset.TrajectoryWindowDataset` relies
  on); a trajectory dataset (:mod:`sciml.data.particles`) is chunked per sample too, its
  per-sample arrays (``positions``, ``forces``, ...) split along ``frame`` into chunks of
  at most 4 MiB so that reading a few frames does not read a whole run;
* **atomically** — to a temporary file in the destination folder that is renamed onto the
  destination only once it is complete (:func:`sciml.data.atomic.atomic_path`), so a crash
  or an exception mid-write leaves either the previous file or no file, never a partial one;
* **exactly** — values, dtypes, coordinates, CF attributes and global attributes (including
  the JSON ``parameters`` provenance attribute) come back unchanged from
  :func:`open_dataset`. No ``_FillValue`` is added and time-like units are not decoded
  into ``datetime64``/``timedelta64``: a ``t`` coordinate with ``units="s"`` stays a float.

* **checksummed** — every chunk of every numeric variable (fields, parameters, per-sample
  metadata, coordinates) carries an HDF5 Fletcher-32 checksum, so damaged data is detected
  when it is read, whatever the compression (without it, ``lzf`` and uncompressed chunks
  would silently return wrong numbers). Attributes carry no checksum.

:func:`save` refuses a dataset whose ``sample`` index repeats values (what ``xr.concat`` of
several runs gives); :func:`sciml.data.concat` combines runs properly.

:func:`open_dataset` opens lazily (the data is read when it is indexed or loaded) and turns
every way a file can be unreadable into a :class:`~sciml.errors.FileFormatError` that names
the file and what is wrong with it — at open time (missing, foreign, truncated, damaged
metadata) and also when the data is read later (a corrupted chunk, a failed checksum):
every variable of the returned dataset reads through :func:`guard_read`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from sciml.data.atomic import atomic_path
from sciml.data.checks import is_trajectory
from sciml.data.schema import check_sample_index, field_variables, validate as _validate
from sciml.errors import FileFormatError, SchemaError

__all__ = ["save", "open_dataset", "is_netcdf4_file", "guard_read", "COMPRESSIONS"]

#: Accepted values of ``compression`` in :func:`save`.
COMPRESSIONS: tuple[str | None, ...] = ("gzip", "lzf", None)

#: gzip level used by :func:`save` (1 = fastest, 9 = smallest); 4 is a good trade-off.
_GZIP_LEVEL = 4

#: HDF5 refuses chunks of 4 GiB or more; stay well below.
_MAX_CHUNK_BYTES = 2**31

#: Largest chunk of a trajectory variable (one sample, several frames).
_TRAJECTORY_CHUNK_BYTES = 2**22

_ATTR_SCALARS = (str, bytes, int, float, np.integer, np.floating)


def save(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    chunk_samples: int = 1,
    compression: Literal["gzip", "lzf"] | None = "gzip",
    validate: bool = True,
) -> Path:
    """Write a sciml dataset to a NetCDF4 file, atomically and chunked per sample.

    Parameters
    ----------
    ds : xarray.Dataset
        Dataset in a canonical layout (field: dims ``sample, t, x[, y[, z]]``; or trajectory,
        :mod:`sciml.data.particles`). Lazily opened or
        dask-backed datasets are fine; ``path`` may even be the file ``ds`` was opened from.
    path : str or path-like
        Destination (conventionally ``*.nc``). Parent folders are created. An existing
        file is replaced only once the new one is complete.
    chunk_samples : int, default 1
        Number of samples per HDF5 chunk of each field variable: chunk shape is
        ``(chunk_samples, n_t, n_x[, ...])``. Use 1 for random access to single trajectories
        (training); larger values compress better. Clipped to ``n_sample``.
    compression : {"gzip", "lzf", None}, default "gzip"
        HDF5 filter for field and parameter variables. ``"gzip"`` (level 4, with byte
        shuffle) is readable everywhere, ``"lzf"`` is faster but h5py-only, ``None``
        stores raw bytes.
    validate : bool, default True
        Check ``ds`` with :func:`sciml.data.schema.validate` (including finiteness) before
        anything is written. The ``sample`` index is checked for duplicates even when
        False (it is cheap, and a file with repeated indexes cannot be told apart later).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    SchemaError
        ``ds`` does not follow the sciml layout, has attributes NetCDF cannot store, or has
        a ``sample`` index with duplicates (e.g. from ``xr.concat`` of several runs: use
        :func:`sciml.data.concat`). Nothing is written.
    ValueError
        ``chunk_samples`` or ``compression`` is not accepted.
    """
    if not isinstance(ds, xr.Dataset):
        raise SchemaError(f"save expects an xarray.Dataset, got {type(ds).__name__}")
    if isinstance(chunk_samples, bool) or not isinstance(chunk_samples, (int, np.integer)) or chunk_samples < 1:
        raise ValueError(f"chunk_samples must be a positive integer; got {chunk_samples!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {list(COMPRESSIONS)}; got {compression!r}")
    if validate:
        _validate(ds)
    else:
        check_sample_index(ds)
    _check_attrs(ds)
    encoding = _encoding(ds, chunk_samples=int(chunk_samples), compression=compression)
    final = Path(path)
    with atomic_path(final) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    return final


def open_dataset(
    path: str | os.PathLike[str],
    *,
    lazy: bool = True,
    validate: bool = True,
) -> xr.Dataset:
    """Open a NetCDF4 file written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        The file.
    lazy : bool, default True
        If True, variables are read from disk only when indexed or loaded and the file
        stays open until ``ds.close()`` (use ``with open_dataset(p) as ds:``). If False,
        everything is read into memory and the file is closed.
    validate : bool, default True
        Check the sciml layout (dims, coordinates, CF attributes, provenance) without
        reading the field data (``check_finite=False``).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    FileFormatError
        The file is missing, not an HDF5/NetCDF4 file, truncated, otherwise unreadable,
        or (with ``validate=True``) not a sciml dataset (including a ``sample`` index with
        duplicates). The message names the file. Also raised *later*, by any read of a
        lazily opened variable (``.values``, ``.load()``, ``isel(...).values``, ...), when
        the data on disk is corrupted (a damaged chunk or failed checksum): the message
        names the file and the variable and says the file is damaged.
    """
    p = Path(path)
    _check_hdf5_file(p)
    raw = _open_raw(p)
    try:
        ds = _guarded(raw, p)
        if validate:
            try:
                _validate(ds, check_finite=False)
            except SchemaError as exc:
                raise FileFormatError(
                    f"{p}: not a sciml dataset: {_problems(exc)}\n"
                    f"(variables present: {sorted(map(str, ds.variables))}; "
                    f"dims present: {dict(ds.sizes)})"
                ) from exc
        if not lazy:
            ds.load()
            raw.close()
    except BaseException:
        raw.close()
        raise
    return ds


def guard_read(path: str | os.PathLike[str], variable: str) -> contextlib.AbstractContextManager[None]:
    """Context manager that turns a failed read of ``variable`` from ``path`` into a sciml error.

    HDF5 reports a corrupted chunk (failed Fletcher-32 checksum, undecodable gzip/lzf
    stream, damaged chunk index) as a bare ``OSError``/``RuntimeError`` from deep inside
    h5py; inside this block it becomes a :class:`~sciml.errors.FileFormatError` that names
    the file and the variable and says the file is corrupted. Readers that use h5py directly
    (e.g. a torch dataset reading single samples) can wrap their reads in it::

        with guard_read(path, "u"):
            block = dset[sample, t0:t1]

    Raises
    ------
    FileFormatError
        In place of any ``OSError`` or ``RuntimeError`` raised in the block (a
        ``FileFormatError`` passes through unchanged).
    """
    return _guard_read(Path(path), str(variable))


@contextlib.contextmanager
def _guard_read(p: Path, variable: str) -> Iterator[None]:
    try:
        yield
    except FileFormatError:
        raise
    except (OSError, RuntimeError) as exc:
        raise FileFormatError(
            f"{p}: corrupted or unreadable data in variable {variable!r}: the file is damaged "
            f"({type(exc).__name__}: {exc}). Regenerate the file or restore it from a copy."
        ) from exc


class _GuardedArray(BackendArray):
    """A lazily opened variable whose reads go through :func:`guard_read` (outer indexing)."""

    def __init__(self, var: xr.Variable, path: Path, name: str) -> None:
        self._var = var
        self._path = path
        self._name = name
        self.shape = var.shape
        self.dtype = var.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read
        )

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        # xarray indexes a Variable with a tuple of ints, slices and 1-D arrays orthogonally,
        # which is what IndexingSupport.OUTER hands over; .values does the actual read.
        with _guard_read(self._path, self._name):
            return np.asarray(self._var[key].values)


def _open_raw(p: Path) -> xr.Dataset:
    """``xr.open_dataset`` of ``p`` (lazy, undecoded times), or :class:`FileFormatError`."""
    try:
        with warnings.catch_warnings():
            # Foreign HDF5 files without dimension scales get "phony" dims; say so
            # through validation instead of a warning.
            warnings.simplefilter("ignore", UserWarning)
            return xr.open_dataset(
                p,
                engine="h5netcdf",
                decode_times=False,
                decode_timedelta=False,
                phony_dims="access",
                chunks=None,
                cache=False,
            )
    except Exception as exc:  # h5netcdf/xarray raise many types for malformed files
        raise FileFormatError(
            f"{p}: corrupted or unreadable NetCDF4 file; cannot be read as NetCDF4 "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _guarded(raw: xr.Dataset, p: Path) -> xr.Dataset:
    """``raw`` with every lazily read (non-index) variable reading through :func:`guard_read`.

    Index coordinates were read when the file was opened. Closing the result closes ``raw``.
    """
    wrapped = {
        str(name): xr.Variable(var.dims, indexing.LazilyIndexedArray(_GuardedArray(var, p, str(name))),
                               var.attrs, encoding=var.encoding)
        for name, var in raw.variables.items()
        if not isinstance(var, xr.IndexVariable)
    }
    ds = raw.assign_coords({n: v for n, v in wrapped.items() if n in raw.coords})
    ds = ds.assign({n: v for n, v in wrapped.items() if n not in raw.coords})
    ds.encoding = dict(raw.encoding)
    ds.set_close(raw.close)
    return ds


def is_netcdf4_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 file written through netCDF4 (by :func:`save` or another tool).

    A NetCDF4 file carries netCDF's root attribute ``_NCProperties`` or at least one root
    dataset that is an HDF5 dimension scale (a netCDF dimension). Only metadata is read.
    Returns ``False`` for missing, non-HDF5 or plain HDF5 files (never raises).
    """
    try:
        with h5py.File(path, "r") as f:
            if "_NCProperties" in f.attrs:
                return True
            return any(
                isinstance(d, h5py.Dataset) and _attr_text(d.attrs.get("CLASS")) == "DIMENSION_SCALE"
                for d in f.values()
            )
    except (OSError, ValueError):
        return False


def _attr_text(value: Any) -> str:
    """An HDF5 string attribute (bytes or str) as ``str``; anything else as ``""``."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- helpers


def _problems(exc: SchemaError) -> str:
    """The problem list of a :class:`SchemaError` from ``validate``, as one string."""
    text = str(exc)
    head, _, rest = text.partition("\n")
    if head.startswith("dataset does not follow the sciml") and head.endswith(":"):
        text = rest
    return "; ".join(s.strip(" -") for s in text.strip().splitlines() if s.strip(" -"))


def _check_hdf5_file(p: Path) -> None:
    """Raise :class:`FileFormatError` unless ``p`` is a complete, readable HDF5 file."""
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, not an HDF5/NetCDF4 file")
    try:
        is_hdf5 = h5py.is_hdf5(p)
    except OSError as exc:  # e.g. permission denied
        raise FileFormatError(f"{p}: cannot be read ({exc})") from exc
    if not is_hdf5:
        size = p.stat().st_size
        raise FileFormatError(
            f"{p}: not an HDF5/NetCDF4 file (no HDF5 signature; {size} bytes). "
            "NetCDF3 classic files and text files are not accepted; sciml writes NetCDF4."
        )
    try:
        with h5py.File(p, "r"):
            pass
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise FileFormatError(
                f"{p}: truncated HDF5/NetCDF4 file ({p.stat().st_size} bytes on disk; "
                f"HDF5 says: {msg}). Was the write interrupted or the copy incomplete?"
            ) from exc
        raise FileFormatError(f"{p}: corrupt or unreadable HDF5/NetCDF4 file ({msg})") from exc


def _check_attrs(ds: xr.Dataset) -> None:
    """Reject attribute values NetCDF cannot store, naming the variable and attribute."""

    def bad(value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return True
        if isinstance(value, _ATTR_SCALARS):
            return False
        if isinstance(value, (list, tuple, np.ndarray)):
            arr = np.asarray(value)
            return arr.dtype.kind not in "iufSU" or arr.ndim > 1
        return True

    problems = []
    for where, attrs in [("the dataset", ds.attrs)] + [
        (f"variable {name!r}", v.attrs) for name, v in ds.variables.items()
    ]:
        for key, value in attrs.items():
            if bad(value):
                problems.append(f"attribute {key!r} of {where} is {type(value).__name__} {value!r}")
    if problems:
        raise SchemaError(
            "cannot store in NetCDF: " + "; ".join(problems)
            + ". Accepted attribute values: str, int, float, or 1-D lists/arrays of numbers "
            "or strings (store mappings as JSON strings, booleans as 0/1)."
        )


def _encoding(
    ds: xr.Dataset, *, chunk_samples: int, compression: str | None
) -> dict[str, dict[str, Any]]:
    """Per-variable encoding: no fill value, per-sample chunks, filters and checksums.

    Every non-empty numeric variable of at least one dimension (fields, per-sample
    parameters and metadata, coordinates) gets a Fletcher-32 checksum per chunk whatever the
    compression, so that corrupted data is detected on read. Every
    variable gets an explicit encoding so that stale encodings (from a file ``ds`` was
    opened from: old chunk sizes, ``source``, ...) are not carried over.
    """
    filters: dict[str, Any] = {"fletcher32": True}
    if compression == "gzip":
        filters.update(compression="gzip", compression_opts=_GZIP_LEVEL, shuffle=True)
    elif compression == "lzf":
        filters.update(compression="lzf", shuffle=True)
    fields = set(field_variables(ds))
    trajectory = {str(n) for n, v in ds.data_vars.items() if v.ndim >= 2} if is_trajectory(ds) else set()
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {"_FillValue": None}
        if name in fields | trajectory and var.dims and var.dims[0] == "sample" and var.size > 0:
            limit = _TRAJECTORY_CHUNK_BYTES if name in trajectory else _MAX_CHUNK_BYTES
            enc["chunksizes"] = _chunk_shape(var.shape, var.dtype.itemsize, chunk_samples, limit)
            enc.update(filters)
        elif name not in ds.coords and var.ndim >= 1 and var.size > 0 and var.dtype.kind in "iuf":
            enc.update(filters)
        elif var.ndim >= 1 and var.size > 0 and var.dtype.kind in "iuf":
            enc["fletcher32"] = True  # coordinates: checksummed (one chunk), not compressed
        encoding[str(name)] = enc
    return encoding


def _chunk_shape(shape: tuple[int, ...], itemsize: int, chunk_samples: int,
                 max_bytes: int = _MAX_CHUNK_BYTES) -> tuple[int, ...]:
    """``(chunk_samples, n_t, n_x, ...)`` clipped to the shape and to ``max_bytes`` per chunk."""
    chunk = [min(chunk_samples, shape[0]), *shape[1:]]
    # One trajectory larger than the chunk limit: split along t (then along space).
    axis = 1
    while int(np.prod(chunk)) * itemsize >= max_bytes and axis < len(chunk):
        if chunk[0] > 1:
            chunk[0] = max(1, chunk[0] // 2)
            continue
        if chunk[axis] > 1:
            chunk[axis] = (chunk[axis] + 1) // 2
        else:
            axis += 1
    return tuple(int(c) for c in chunk)

