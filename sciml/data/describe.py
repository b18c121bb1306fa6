"""Human-readable descriptions of datasets and files (``sciml data info``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.schema import PROVENANCE_ATTRS, field_variables, parameter_variables


def summarize(ds: xr.Dataset, *, statistics: bool = True) -> dict[str, Any]:
    """A JSON-serialisable summary of a field dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A sciml dataset (opened lazily or in memory).
    statistics : bool
        Compute min/max/mean/std of each field (reads the data, sample by sample).

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


def _streaming_stats(v: xr.DataArray) -> dict[str, float]:
    """min, max, mean, std of a field, reading one sample at a time."""
    n = 0
    total = 0.0
    total_sq = 0.0
    lo, hi = np.inf, -np.inf
    for s in range(v.sizes["sample"]):
        a = np.asarray(v.isel(sample=s).values, dtype=np.float64)
        n += a.size
        total += float(a.sum())
        total_sq += float(np.square(a).sum())
        lo = min(lo, float(a.min()))
        hi = max(hi, float(a.max()))
    mean = total / n if n else float("nan")
    var = max(total_sq / n - mean**2, 0.0) if n else float("nan")
    return {"min": lo, "max": hi, "mean": mean, "std": float(np.sqrt(var))}


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
