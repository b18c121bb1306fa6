"""Read and write PDEBench-style HDF5 files.

PDEBench (Takamoto et al., NeurIPS 2022 datasets track) ships its 1D/2D single-field data
(``1D_Burgers_Sols_Nu0.01.hdf5``, ``1D_Advection_Sols_beta0.4.hdf5``,
``ReacDiff_Nu0.5_Rho1.0.hdf5``, ...) as HDF5 files with, at the root,

==================  ========================  =============================================
``tensor``          ``[N, T, X]`` / ``[N, T, X, Y]``  the field, float32
``x-coordinate``    ``[X]``                   cell centres
``y-coordinate``    ``[Y]``                   (2D files only)
``t-coordinate``    ``[T + 1]`` (or ``[T]``)  snapshot times, see below
file attributes     ``Nu``, ``beta``, ``rho``  the one PDE parameter value of the file
==================  ========================  =============================================

Multi-field compressible-flow files hold ``density``, ``pressure``, ``Vx`` [, ``Vy``,
``Vz``] instead of ``tensor``; those are read as fields with the same names.

**The t-coordinate.** PDEBench's 1D generators (``data_gen/data_gen_NLE/*/…_Hydra.py``)
save ``it_tot = ceil((fin_time - ini_time) / dt_save) + 1`` snapshots, the *i*-th at time
``ini_time + i * dt_save`` (snapshot 0 is the initial condition), but build the coordinate
as ``arange(it_tot + 1) * dt_save`` — one entry more than there are snapshots, the extra one
lying *past* the last snapshot. These are snapshot times, not cell edges, so the right
reading is the **first T entries** (midpoints would shift every time by ``dt_save / 2``).
PDEBench's own PINN loader does the same (``data_grid_t[:tdim]`` in
``pdebench/models/pinn/utils.py``). :func:`read_pdebench` therefore accepts a
t-coordinate of length ``T`` (used as is) or ``T + 1`` (first ``T`` used) and rejects
other lengths; :func:`write_pdebench` writes ``T + 1`` entries (the last one extrapolated by
one step) so that the files look like PDEBench's own.

**Parameters.** A PDEBench file holds one value of each PDE parameter, as a file
attribute. :func:`read_pdebench` broadcasts it along ``sample`` under the sciml name
(``Nu``/``nu`` → ``nu``, ``beta`` → ``beta``, ``Rho``/``rho`` → ``rho``; other names are kept).
If the attributes carry no parameter, the file name is parsed (``…_Nu0.01.hdf5``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from sciml.data.atomic import atomic_path
from sciml.data.netcdf import _check_hdf5_file
from sciml.data.schema import (
    DEFAULT_COORD_ATTRS,
    parameter_variables,
    provenance_attrs,
    spatial_dims,
    validate as _validate,
)
from sciml.errors import FileFormatError, SchemaError

__all__ = [
    "read_pdebench",
    "write_pdebench",
    "split_by_parameters",
    "pdebench_parameters",
    "PDEBENCH_TO_SCIML",
    "SCIML_TO_PDEBENCH",
]

#: PDEBench attribute name → sciml parameter name (names not listed are kept as they are).
PDEBENCH_TO_SCIML: dict[str, str] = {"Nu": "nu", "nu": "nu", "beta": "beta", "Rho": "rho", "rho": "rho"}

#: sciml parameter name → PDEBench attribute name written by :func:`write_pdebench`.
SCIML_TO_PDEBENCH: dict[str, str] = {"nu": "Nu", "beta": "beta", "rho": "rho"}

#: Root datasets of PDEBench's multi-field (compressible flow) files.
_CFD_FIELDS: tuple[str, ...] = ("density", "pressure", "Vx", "Vy", "Vz")

#: Attributes written by :func:`write_pdebench` to carry sciml metadata (ignored by PDEBench).
_META_ATTR = "sciml_metadata"

_FILENAME_PARAM = re.compile(r"(?<![A-Za-z])(Nu|nu|beta|Rho|rho)(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


# --------------------------------------------------------------------------- reading


def is_pdebench_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 file in PDEBench layout.

    That is, a root dataset ``tensor`` or one of the multi-field datasets
    (``density``, ``pressure``, ``Vx``, ``Vy``, ``Vz``). Only metadata is read. Returns
    ``False`` for missing, non-HDF5 or other HDF5 files (never raises).
    """
    try:
        with h5py.File(path, "r") as f:
            return any(isinstance(f.get(k), h5py.Dataset) for k in ("tensor", *_CFD_FIELDS))
    except (OSError, ValueError):
        return False


def read_pdebench(
    path: str | os.PathLike[str],
    *,
    variable: str = "u",
    parameter_names: Sequence[str] | Mapping[str, str] | None = None,
    samples: slice | Sequence[int] | None = None,
    lazy: bool = False,
) -> xr.Dataset:
    """Read a PDEBench HDF5 file into the sciml layout.

    Parameters
    ----------
    path : str or path-like
        A PDEBench file with a root dataset ``tensor`` of shape ``[N, T, X]`` or
        ``[N, T, X, Y]`` (or the multi-field ``density``/``pressure``/``Vx``… layout).
    variable : str, default "u"
        Name given to the ``tensor`` field in the returned dataset.
    parameter_names : sequence of str or mapping, optional
        Which parameters to read. ``None``: every numeric scalar file attribute (or, if
        there is none, those encoded in the file name). A sequence names them by PDEBench
        or sciml name (``"Nu"`` or ``"nu"``, case-insensitive); a mapping gives
        ``{pdebench_name: sciml_name}`` explicitly.
    samples : slice or sequence of int, optional
        Read only these samples (their file indices become the ``sample`` coordinate).
    lazy : bool, default False
        If True, the field is read from disk only when indexed/loaded and the file stays
        open until ``ds.close()``. PDEBench files are large (1D Burgers: 10 000 × 201 × 1024
        float32, about 8 GB): use ``lazy=True`` or ``samples=`` for those.

    Returns
    -------
    xarray.Dataset
        Dims ``(sample, t, x[, y])``; field(s) ``(sample, t, x[, y])`` with the file's dtype;
        parameters ``(sample,)`` float64 (the file's value repeated); provenance attrs with
        ``generator="pdebench-file"`` and ``source_file``.

    Raises
    ------
    FileFormatError
        Missing, non-HDF5 or truncated file, or an HDF5 file that is not in PDEBench layout
        (the message names what is missing and what the file holds).
    SchemaError
        A requested parameter is not in the file.
    """
    p = Path(path)
    _check_hdf5_file(p)
    f = h5py.File(p, "r")
    try:
        ds = _build_dataset(f, p, variable=variable, parameter_names=parameter_names)
        if samples is not None:
            ds = ds.isel(sample=_sample_indexer(samples, ds.sizes["sample"]))
        if not lazy:
            ds.load()
            f.close()
        else:
            ds.set_close(f.close)
    except BaseException:
        f.close()
        raise
    return ds


def pdebench_parameters(
    f: h5py.File,
    path: str | os.PathLike[str],
    parameter_names: Sequence[str] | Mapping[str, str] | None = None,
) -> dict[str, float]:
    """PDE parameter values of an open PDEBench file, under sciml names.

    Parameters
    ----------
    f : h5py.File
        The open file.
    path : str or path-like
        Its path (the file name is parsed when the attributes carry no parameter).
    parameter_names : sequence of str or mapping, optional
        As in :func:`read_pdebench`.

    Returns
    -------
    dict of str to float
        ``{sciml_name: value}`` in the requested (or attribute) order.
    """
    available: dict[str, float] = {}
    for key, value in f.attrs.items():
        if key == _META_ATTR:
            continue
        arr = np.asarray(value)
        if arr.ndim == 0 and arr.dtype.kind in "iuf" and arr.dtype != np.bool_:
            available[str(key)] = float(arr)
    from_name = {m.group(1): float(m.group(2)) for m in _FILENAME_PARAM.finditer(Path(path).name)}
    if parameter_names is None:
        source = available or from_name
        return {PDEBENCH_TO_SCIML.get(k, k): v for k, v in source.items()}
    if isinstance(parameter_names, Mapping):
        wanted = [(str(k), str(v)) for k, v in parameter_names.items()]
    else:
        if isinstance(parameter_names, str):
            parameter_names = [parameter_names]
        wanted = [(str(k), PDEBENCH_TO_SCIML.get(str(k), str(k))) for k in parameter_names]
    out: dict[str, float] = {}
    for requested, ours in wanted:
        value = _lookup(requested, ours, available)
        if value is None:
            value = _lookup(requested, ours, from_name)
        if value is None:
            raise SchemaError(
                f"{Path(path).name}: parameter {requested!r} not found; numeric file attributes: "
                f"{available or 'none'}; parsed from the file name: {from_name or 'none'}"
            )
        out[ours] = value
    return out


def _lookup(requested: str, ours: str, table: Mapping[str, float]) -> float | None:
    """Find a parameter by exact, sciml-mapped or case-insensitive name."""
    for key, value in table.items():
        if key == requested or PDEBENCH_TO_SCIML.get(key, key) == ours or key.lower() == requested.lower():
            return value
    return None


def _build_dataset(
    f: h5py.File,
    p: Path,
    *,
    variable: str,
    parameter_names: Sequence[str] | Mapping[str, str] | None,
) -> xr.Dataset:
    """Lazy sciml dataset over the datasets of an open PDEBench file."""
    root = {k: v for k, v in f.items() if isinstance(v, h5py.Dataset)}
    fields = _field_datasets(f, p, root, variable)
    shape = next(iter(fields.values())).shape
    space = ("x", "y")[: len(shape) - 2]
    meta = _read_meta(f)
    coords, t_note = _coordinates(p, root, next(iter(fields.values())), space)
    params = pdebench_parameters(f, p, parameter_names)
    file_attrs = {str(k): _jsonable_attr(v) for k, v in f.attrs.items() if k != _META_ATTR}
    prov = provenance_attrs(
        generator="pdebench-file",
        generator_version="unknown",
        parameters={
            "source_file": p.name,
            "datasets": {name: d.name for name, d in fields.items()},
            "file_attrs": file_attrs,
            "t_coordinate": t_note,
            **({"sciml_attrs": meta["attrs"]} if "attrs" in meta else {}),
        },
        seed=None,
        extra={"source_file": p.name},
    )
    var_attrs: dict[str, dict[str, Any]] = meta.get("variables", {})
    data_vars: dict[str, xr.Variable] = {}
    for name, d in fields.items():
        a = {"units": "1", "long_name": name, "role": "field"}
        a.update(var_attrs.get(name, {}))
        data_vars[name] = xr.Variable(("sample", "t", *space), indexing.LazilyIndexedArray(_H5Array(d)), attrs=a)
    for k, v in params.items():
        a = {"units": "1", "long_name": k}
        a.update(var_attrs.get(k, {}))
        a["role"] = "parameter"
        data_vars[k] = xr.Variable(("sample",), np.full(shape[0], v, dtype=np.float64), attrs=a)
    xr_coords = {
        "sample": xr.Variable(
            ("sample",), np.arange(shape[0], dtype=np.int64),
            attrs={"long_name": "sample index", "units": "1"},
        )
    }
    for c in ("t", *space):
        a = dict(DEFAULT_COORD_ATTRS[c])
        a.update(var_attrs.get(c, {}))
        xr_coords[c] = xr.Variable((c,), coords[c], attrs=a)
    return xr.Dataset(data_vars, coords=xr_coords, attrs=prov)


def _field_datasets(f: h5py.File, p: Path, root: Mapping[str, h5py.Dataset], variable: str
                    ) -> dict[str, h5py.Dataset]:
    """The field datasets (``tensor``, or the CFD fields) of one shape ``[N, T, X(, Y)]``, floating."""
    if "tensor" in root:
        fields = {variable: root["tensor"]}
    else:
        fields = {k: root[k] for k in _CFD_FIELDS if k in root}
    if not fields:
        raise FileFormatError(_missing_tensor_message(f, p, root))
    first = next(iter(fields.values()))
    shape = first.shape
    if len(shape) not in (3, 4):
        raise FileFormatError(
            f"{p}: dataset {first.name!r} has shape {shape}; expected [N, T, X] or [N, T, X, Y]"
        )
    for d in fields.values():
        if d.shape != shape:
            raise FileFormatError(f"{p}: field datasets differ in shape: {first.name} {shape} vs {d.name} {d.shape}")
        if d.dtype.kind != "f":
            raise FileFormatError(f"{p}: dataset {d.name!r} has dtype {d.dtype}; expected floating point")
    return fields


def _missing_tensor_message(f: h5py.File, p: Path, root: Mapping[str, h5py.Dataset]) -> str:
    """Error message for a file without ``tensor``: what is missing, what the file holds, what is accepted."""
    groups = sorted(k for k, v in f.items() if isinstance(v, h5py.Group))
    shown = groups[:10] + ([f"... {len(groups)} groups in all"] if len(groups) > 10 else [])
    hint = (
        " It looks like PDEBench's per-seed group layout ('0000/data', e.g. 2D "
        "diffusion-reaction, shallow water), which is not supported."
        if any("data" in f[g] for g in groups[:10]) else ""
    )
    return (
        f"{p}: not a PDEBench file: the root dataset 'tensor' is missing (and so are the "
        f"multi-field datasets {'/'.join(_CFD_FIELDS)}); datasets present: {sorted(root)}"
        f"{f', groups present: {shown}' if groups else ''}.{hint} Accepted: an HDF5 file with "
        "a root dataset 'tensor' of shape [N, T, X] or [N, T, X, Y] (or the multi-field "
        "datasets), with 'x-coordinate' [, 'y-coordinate'] and 't-coordinate'."
    )


def _coordinates(p: Path, root: Mapping[str, h5py.Dataset], first: h5py.Dataset, space: tuple[str, ...]
                 ) -> tuple[dict[str, np.ndarray], str]:
    """The ``t`` and spatial coordinates of the file, and how ``t`` was found."""
    shape = first.shape
    n_t = shape[1]
    coords: dict[str, np.ndarray] = {}
    for axis, dim in enumerate(space, start=2):
        key = f"{dim}-coordinate"
        if key not in root:
            raise FileFormatError(f"{p}: not a PDEBench file: missing dataset {key!r} for axis {axis} of {first.name!r}; root datasets: {sorted(root)}")
        values = np.asarray(root[key][()])
        if values.ndim != 1 or values.shape[0] != shape[axis]:
            raise FileFormatError(f"{p}: {key!r} has shape {values.shape}; expected ({shape[axis]},) to match {first.name!r} {shape}")
        coords[dim] = values
    if "t-coordinate" not in root:
        coords["t"] = np.arange(n_t, dtype=np.float64)
        return coords, "missing in file; snapshot index used"
    t = np.asarray(root["t-coordinate"][()])
    if t.ndim != 1 or t.shape[0] not in (n_t, n_t + 1):
        raise FileFormatError(
            f"{p}: 't-coordinate' has shape {t.shape}; expected ({n_t},) or ({n_t + 1},) for "
            f"{n_t} snapshots in {first.name!r}"
        )
    coords["t"] = t[:n_t]
    return coords, "first T of T+1 entries" if t.shape[0] == n_t + 1 else "as stored"


class _H5Array(BackendArray):
    """xarray backend array over an h5py dataset (basic indexing is done by h5py)."""

    def __init__(self, dset: h5py.Dataset) -> None:
        self._dset = dset
        self.shape = dset.shape
        self.dtype = dset.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw
        )

    def _raw(self, key: tuple[Any, ...]) -> np.ndarray:
        return np.asarray(self._dset[key])


def _sample_indexer(samples: slice | Sequence[int], n: int) -> slice | np.ndarray:
    if isinstance(samples, slice):
        return samples
    idx = np.asarray(samples, dtype=np.int64).ravel()
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"samples {idx.tolist()[:10]} out of range for {n} samples in the file")
    return idx


def _read_meta(f: h5py.File) -> dict[str, Any]:
    raw = f.attrs.get(_META_ATTR)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _jsonable_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    arr = np.asarray(value)
    if arr.dtype.kind in "OSU":
        return str(value)
    return arr.tolist()


# --------------------------------------------------------------------------- writing


def write_pdebench(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    variable: str = "u",
    validate: bool = True,
    block_samples: int = 64,
) -> Path:
    """Write one field of a sciml dataset as a PDEBench HDF5 file, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        Canonical layout with one or two spatial dims (``x`` or ``x, y``). Every parameter
        variable must take a single value across samples (a PDEBench file holds one
        parameter value); select one first or use :func:`split_by_parameters`.
    path : str or path-like
        Destination, conventionally named like PDEBench's (``1D_Burgers_Sols_Nu0.01.hdf5``).
    variable : str, default "u"
        The field written as ``tensor``; its dtype is kept (PDEBench's loaders cast to
        float32 themselves).
    validate : bool, default True
        Check ``ds`` with :func:`sciml.data.schema.validate` first.
    block_samples : int, default 64
        Samples copied per block, so that lazily opened datasets larger than memory can be
        converted.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    ``t-coordinate`` gets ``T + 1`` entries as in PDEBench (the last ``t[-1] + (t[-1] - t[-2])``).
    Parameters become file attributes named by :data:`SCIML_TO_PDEBENCH` (``nu`` → ``Nu``); CF
    and provenance attributes go to the JSON attribute ``sciml_metadata`` (ignored by PDEBench).

    Raises
    ------
    SchemaError
        ``ds`` is not a valid sciml dataset, lacks ``variable``, has three spatial dims, or
        has parameters that vary across samples.
    """
    if validate:
        _validate(ds, required_fields=[variable])
    elif variable not in ds.data_vars:
        raise SchemaError(f"field {variable!r} is missing; present: {sorted(map(str, ds.data_vars))}")
    space = spatial_dims(ds)
    if len(space) not in (1, 2):
        raise SchemaError(f"PDEBench 'tensor' files hold 1D or 2D fields; {variable!r} has spatial dims {space}")
    field = ds[variable].transpose("sample", "t", *space)
    params = parameter_variables(ds)
    attrs = _single_parameter_values(ds, params)
    t = np.asarray(ds["t"].values)
    t_file = np.append(t, t[-1] + (t[-1] - t[-2])) if t.size >= 2 else t
    meta = {
        "attrs": {str(k): _jsonable_attr(v) for k, v in ds.attrs.items()},
        "variables": {
            str(n): {str(k): _jsonable_attr(v) for k, v in ds[n].attrs.items()}
            for n in [variable, "t", *space, *params]
        },
        "variable": variable,
    }
    n_sample = field.sizes["sample"]
    chunks = (1, *field.shape[1:]) if n_sample and field.size else None
    final = Path(path)
    with atomic_path(final) as tmp:
        with h5py.File(tmp, "w") as f:
            dset = f.create_dataset("tensor", shape=field.shape, dtype=field.dtype, chunks=chunks)
            step = max(1, int(block_samples))
            for i in range(0, n_sample, step):
                dset[i : i + step] = np.asarray(field.isel(sample=slice(i, i + step)).values)
            f.create_dataset("t-coordinate", data=t_file)
            for dim in space:
                f.create_dataset(f"{dim}-coordinate", data=np.asarray(ds[dim].values))
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs[_META_ATTR] = json.dumps(meta, sort_keys=True)
    return final


def _single_parameter_values(ds: xr.Dataset, params: Sequence[str]) -> dict[str, float]:
    """The file attributes (PDEBench names) of parameters that take one value across samples.

    Raises
    ------
    SchemaError
        A parameter varies across samples (the message says how to select one value).
    """
    attrs: dict[str, float] = {}
    varying = []
    for name in params:
        values = np.unique(np.asarray(ds[name].values))
        if values.size > 1:
            varying.append((name, values))
        elif values.size == 1:
            attrs[SCIML_TO_PDEBENCH.get(name, name)] = float(values[0])
    if varying:
        name, values = varying[0]
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
        raise SchemaError(
            "a PDEBench file holds one value of each parameter, but "
            + "; ".join(f"{n!r} takes {v.size} values" for n, v in varying)
            + f" across samples ({name}: {shown}). Select one value first, e.g. "
            f"ds.isel(sample=(ds.{name} == {values[0]:g}).values) or "
            f"ds.where(ds.{name} == {values[0]:g}, drop=True), or write one file per value "
            "with sciml.data.pdebench.split_by_parameters(ds)."
        )
    return attrs


def split_by_parameters(ds: xr.Dataset) -> dict[tuple[float, ...], xr.Dataset]:
    """Split a dataset into groups of samples sharing every parameter value.

    Parameters
    ----------
    ds : xarray.Dataset
        Canonical layout with parameter variables along ``sample``.

    Returns
    -------
    dict
        ``{(value_1, value_2, ...): sub_dataset}`` with values in the order of
        :func:`sciml.data.schema.parameter_variables`; each sub-dataset can be written with
        :func:`write_pdebench`.
    """
    params = parameter_variables(ds)
    if not params:
        return {(): ds}
    table = np.stack([np.asarray(ds[p].values, dtype=np.float64) for p in params], axis=1)
    keys, inverse = np.unique(table, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    return {
        tuple(float(v) for v in key): ds.isel(sample=np.nonzero(inverse == i)[0])
        for i, key in enumerate(keys)
    }
