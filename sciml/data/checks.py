"""Problem-list checks shared by the dataset layouts (field and trajectory).

Each function returns a list of human-readable problems (empty when all is well) so that a
validator can report *every* problem at once. :mod:`sciml.data.schema` (field layout) and
:mod:`sciml.data.particles` (trajectory layout) both build on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

__all__ = [
    "PROVENANCE_ATTRS",
    "sample_index_problems",
    "provenance_problems",
    "parameter_problems",
    "nonfinite_problems",
    "nonfinite_samples",
    "format_problems",
    "is_trajectory",
]

#: Attributes every dataset carries for provenance.
PROVENANCE_ATTRS: tuple[str, ...] = (
    "generator",
    "generator_version",
    "parameters",
    "seed",
    "schema_version",
    "created",
    "sciml_version",
)


def format_problems(problems: Sequence[str], layout: str = "sciml layout") -> str:
    """The message of a :class:`~sciml.errors.SchemaError`: a header, then one problem a line."""
    return f"dataset does not follow the {layout}:\n  - " + "\n  - ".join(problems)


def is_trajectory(ds: xr.Dataset) -> bool:
    """Whether ``ds`` claims the trajectory layout: ``attrs["layout"] == "trajectory"`` or an ``atom`` dim."""
    return isinstance(ds, xr.Dataset) and (ds.attrs.get("layout") == "trajectory" or "atom" in ds.dims)


def sample_index_problems(ds: xr.Dataset) -> list[str]:
    """A duplicated ``sample`` index (as ``xr.concat`` of several runs gives), as a problem list."""
    if "sample" not in ds.coords:
        return []
    values = np.asarray(ds.coords["sample"].values)
    unique, counts = np.unique(values, return_counts=True)
    if unique.size == values.size:
        return []
    repeated = unique[counts > 1]
    return [
        f"sample index has duplicate values: {values.size - unique.size} of {values.size} samples "
        f"repeat an earlier index (e.g. {repeated[:5].tolist()}), as xr.concat of several runs "
        "gives; combine runs with sciml.data.concat, which renumbers the samples and keeps "
        "every run's provenance"
    ]


def provenance_problems(ds: xr.Dataset) -> list[str]:
    """Missing provenance attributes, or ``parameters`` that is not JSON."""
    missing = [a for a in PROVENANCE_ATTRS if a not in ds.attrs]
    if missing:
        return [f"provenance attribute(s) missing from attrs: {missing}"]
    if "parameters" in ds.attrs:
        try:
            json.loads(ds.attrs["parameters"])
        except (TypeError, ValueError):
            return ["attrs['parameters'] is not valid JSON"]
    return []


def parameter_problems(ds: xr.Dataset, names: Sequence[str]) -> list[str]:
    """Per-sample parameters without a ``units`` or ``long_name`` attribute."""
    return [f"parameter {name!r} has no {key!r} attribute"
            for name in names for key in ("units", "long_name") if key not in ds[name].attrs]


def nonfinite_problems(ds: xr.Dataset, names: Sequence[str]) -> list[str]:
    """Variables among ``names`` with NaN or inf values, naming the samples concerned."""
    problems = []
    for name in names:
        samples, count = nonfinite_samples(ds[name])
        if count:
            problems.append(
                f"variable {name!r} has {count} non-finite value(s) "
                f"in sample(s) {samples[:10]}{' ...' if len(samples) > 10 else ''}"
            )
    return problems


def nonfinite_samples(var: xr.DataArray, *, block_bytes: int = 256 * 2**20) -> tuple[list[int], int]:
    """Indices along ``sample`` where ``var`` has NaN or inf, and the number of such values.

    Lazily opened and dask-backed variables are read ``block_bytes`` at a time, so that a
    file larger than memory can be checked.
    """
    n = var.sizes["sample"]
    per_sample = max(1, var.size // max(n, 1)) * var.dtype.itemsize
    block = max(1, block_bytes // per_sample)
    out: list[int] = []
    count = 0
    for start in range(0, n, block):
        values = np.asarray(var.isel(sample=slice(start, start + block)).values)
        bad = ~np.isfinite(values)
        if bad.any():
            out.extend((start + np.unique(np.nonzero(bad)[0])).tolist())
            count += int(bad.sum())
    return out, count
