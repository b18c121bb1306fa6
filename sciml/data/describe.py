"""Human-readable descriptions of datasets and files (``sciml data info``).

Describing a file streams: :func:`open_any` opens it lazily, dims, coordinates, parameters
and attributes are read without touching the field variables, and :func:`summarize` reads
each field in blocks of at most :data:`STATS_BLOCK_BYTES` (as float64), so that memory
stays bounded whatever the size of the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.schema import PROVENANCE_ATTRS, field_variables, parameter_variables

#: Most bytes of float64 field values held at once by the statistics of :func:`summarize`
#: (a block of whole samples, or of time frames of one sample when a sample is larger).
STATS_BLOCK_BYTES: int = 8 * 2**20


def open_any(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a sciml NetCDF4 file or a PDEBench HDF5 file lazily, in the sciml layout.

    The format is told from the file's metadata: a root ``tensor`` dataset (or PDEBench's
    multi-field datasets) means PDEBench (:func:`sciml.data.pdebench.read_pdebench`); netCDF
    dimensions mean NetCDF4 (:func:`sciml.data.netcdf.open_dataset`); any other HDF5 file is
    read as PDEBench, whose error names the missing ``tensor`` and the datasets present.
    No field data is read; close the result (``with open_any(p) as ds:``).

    Raises
    ------
    FileFormatError
        Missing, non-HDF5, truncated or unreadable file, a NetCDF4 file that is not a sciml
        dataset, or an HDF5 file that is not in PDEBench layout.
    """
    from sciml.data.netcdf import _check_hdf5_file, is_netcdf4_file, open_dataset
    from sciml.data.pdebench import is_pdebench_file, read_pdebench
    from sciml.errors import FileFormatError

    p = Path(path)
    _check_hdf5_file(p)
    if is_pdebench_file(p):
        return read_pdebench(p, lazy=True)
    if is_netcdf4_file(p):
        return open_dataset(p, lazy=True)
    try:
        return read_pdebench(p, lazy=True)
    except FileFormatError as exc:
        raise FileFormatError(
            f"{exc} Nor is it a NetCDF4 file (no netCDF dimensions), as sciml.data.save writes."
        ) from exc


def summarize_file(path: str | os.PathLike[str], *, statistics: bool = True) -> dict[str, Any]:
    """:func:`summarize` of the file at ``path`` (opened with :func:`open_any`, then closed).

    Memory stays bounded whatever the file's size (see :data:`STATS_BLOCK_BYTES`).

    Raises
    ------
    FileFormatError
        As :func:`open_any`.
    """
    with open_any(path) as ds:
        return summarize(ds, statistics=statistics)


def summarize(ds: xr.Dataset, *, statistics: bool = True) -> dict[str, Any]:
    """A JSON-serialisable summary of a field dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A sciml dataset (opened lazily or in memory).
    statistics : bool
        Compute min/max/mean/std of each field (reads the data in blocks of at most
        :data:`STATS_BLOCK_BYTES` as float64). Without it, no field data is read.

    Returns
    -------
    dict
        ``dims``, ``fields`` (dims, dtype, units and optional statistics), ``parameters``
        (units and distinct values), ``coordinates`` (range, units) and ``provenance``.
    """
    out: dict[str, Any] = {"dims": {str(k): int(v) for k, v in ds.sizes.items()}}
    fields = {}
    for name in field_variables(ds):
        v = ds[name]
        info: dict[str, Any] = {"dims": list(map(str, v.dims)), "dtype": str(v.dtype),
                                "units": v.attrs.get("units", "")}
        if statistics:
            info.update(_streaming_stats(v))
        fields[name] = info
    out["fields"] = fields
    params = {}
    for name in parameter_variables(ds):
        values = np.unique(np.asarray(ds[name].values))
        params[name] = {
            "units": ds[name].attrs.get("units", ""),
            "n_distinct": int(values.size),
            "values": values[:20].tolist(),
            "min": float(values.min()) if values.size else None,
            "max": float(values.max()) if values.size else None,
        }
    out["parameters"] = params
    coords = {}
    for name in ("t", "x", "y", "z"):
        if name in ds.coords:
            c = np.asarray(ds[name].values)
            coords[name] = {"size": int(c.size), "min": float(c.min()), "max": float(c.max()),
                            "units": ds[name].attrs.get("units", "")}
    out["coordinates"] = coords
    prov = {k: _plain(ds.attrs[k]) for k in PROVENANCE_ATTRS if k in ds.attrs}
    if "parameters" in prov:
        try:
            prov["parameters"] = json.loads(prov["parameters"])
        except (TypeError, ValueError):
            pass
    out["provenance"] = prov
    return out


def _streaming_stats(v: xr.DataArray, *, block_bytes: int | None = None) -> dict[str, float]:
    """min, max, mean and std (population) of a field, read block by block as float64.

    ``block_bytes`` bounds each block (default :data:`STATS_BLOCK_BYTES`).

    Sums are accumulated sample by sample, as if each sample were read on its own (frame
    block by frame block for samples larger than ``block_bytes``); empty fields give
    ``min=inf, max=-inf, mean=std=nan``.
    """
    n = 0
    total = 0.0
    total_sq = 0.0
    lo, hi = np.inf, -np.inf
    for a in _field_blocks(v, STATS_BLOCK_BYTES if block_bytes is None else block_bytes):
        rows = a.reshape(a.shape[0], -1)
        n += rows.size
        for s, s_sq in zip(rows.sum(axis=1), np.square(rows).sum(axis=1)):
            total += float(s)
            total_sq += float(s_sq)
        lo = min(lo, float(rows.min()))
        hi = max(hi, float(rows.max()))
    mean = total / n if n else float("nan")
    var = max(total_sq / n - mean**2, 0.0) if n else float("nan")
    return {"min": lo, "max": hi, "mean": mean, "std": float(np.sqrt(var))}


def _field_blocks(v: xr.DataArray, block_bytes: int) -> Iterator[np.ndarray]:
    """The values of ``v`` (dims ``sample``, ``t``, ...) as float64 blocks of about ``block_bytes``.

    Yields arrays of shape ``(k, ...)`` with ``sample`` first: ``k`` whole samples, or, when
    one sample exceeds ``block_bytes``, one sample's frames ``t0:t1`` (``k = 1``, frames
    flattened together). Nothing is yielded for an empty field.
    """
    n = v.sizes["sample"]
    if n == 0 or v.size == 0:
        return
    per_sample = v.size // n * 8
    if per_sample <= block_bytes:
        step = max(1, block_bytes // per_sample)
        for start in range(0, n, step):
            block = v.isel(sample=slice(start, start + step)).transpose("sample", ...)
            yield np.ascontiguousarray(block.values, dtype=np.float64)
        return
    n_t = v.sizes["t"]
    frames = max(1, block_bytes // (per_sample // n_t))
    for s in range(n):
        for t0 in range(0, n_t, frames):
            block = v.isel(sample=s, t=slice(t0, t0 + frames))
            yield np.ascontiguousarray(block.values, dtype=np.float64).reshape(1, -1)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def format_summary(summary: dict[str, Any], *, path: str | Path | None = None) -> str:
    """Render :func:`summarize` output as readable text."""
    lines = []
    if path is not None:
        lines.append(f"file: {path}")
    lines.append("dims: " + ", ".join(f"{k}={v}" for k, v in summary["dims"].items()))
    for name, c in summary["coordinates"].items():
        lines.append(f"coord {name}: {c['size']} points in [{c['min']:.6g}, {c['max']:.6g}] ({c['units']})")
    for name, f in summary["fields"].items():
        stats = ""
        if "mean" in f:
            stats = f"  min={f['min']:.4g} max={f['max']:.4g} mean={f['mean']:.4g} std={f['std']:.4g}"
        lines.append(f"field {name}{tuple(f['dims'])} {f['dtype']} ({f['units']}){stats}")
    for name, p in summary["parameters"].items():
        vals = ", ".join(f"{v:.4g}" for v in p["values"])
        more = " ..." if p["n_distinct"] > len(p["values"]) else ""
        lines.append(f"parameter {name} ({p['units']}): {p['n_distinct']} distinct: {vals}{more}")
    prov = summary["provenance"]
    for key in ("generator", "generator_version", "seed", "schema_version", "created", "sciml_version"):
        if key in prov:
            lines.append(f"{key}: {prov[key]}")
    return "\n".join(lines)
