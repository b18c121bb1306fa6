"""The canonical sciml layout for labelled field data, and its validator.

A sciml *field dataset* is an :class:`xarray.Dataset` with

* dimensions named from :data:`FIELD_DIMS` — ``sample`` first, then ``t``, then the
  spatial dimensions ``x`` [, ``y`` [, ``z``]] and/or the wavenumber ``k`` of spectral
  summaries (a power spectrum over ``(sample, t, k)``; per-bin metadata such as mode counts
  over ``(k,)``);
* a ``sample`` index without duplicates (datasets of several runs are combined with
  :func:`sciml.data.concat`, which renumbers the samples; plain ``xr.concat`` repeats them);
* one or more field variables (``u`` by default) over ``(sample, t, x[, y[, z]])`` or
  ``(sample, t, k)``;
* coordinates ``t``, ``x`` (…), ``k`` that carry CF attributes ``units`` and ``long_name``,
  strictly increasing;
* per-sample parameters (``nu``, ``beta``, ...) as 1-D data variables along ``sample``, each
  with ``units`` and ``long_name`` and the attribute ``role = "parameter"``;
* provenance in ``ds.attrs``: ``generator``, ``generator_version``, ``parameters`` (JSON),
  ``seed``, ``schema_version``, ``created`` (ISO 8601, UTC) and ``sciml_version``.

:func:`field_dataset` builds such a dataset from arrays; :func:`validate` checks one and
raises :class:`~sciml.errors.SchemaError` listing *every* problem it found.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sciml import __version__
from sciml.data.checks import (
    PROVENANCE_ATTRS,  # noqa: F401  (re-exported: the schema module documents it)
    format_problems,
    is_trajectory,
    nonfinite_problems,
    nonfinite_samples as _nonfinite_samples,  # noqa: F401  (re-exported for callers and tests)
    parameter_problems,
    provenance_problems,
    sample_index_problems,
)
from sciml.errors import SchemaError

#: Version of the on-disk layout written by this module. Bump on incompatible change.
SCHEMA_VERSION = "1.0"

#: Dimension names of field data, in canonical order.
FIELD_DIMS: tuple[str, ...] = ("sample", "t", "x", "y", "z", "k")

#: Default CF attributes of the standard coordinates.
DEFAULT_COORD_ATTRS: dict[str, dict[str, str]] = {
    "t": {"units": "1", "long_name": "time", "standard_name": "time"},
    "x": {"units": "1", "long_name": "x position", "axis": "X"},
    "y": {"units": "1", "long_name": "y position", "axis": "Y"},
    "z": {"units": "1", "long_name": "z position", "axis": "Z"},
    "k": {"units": "1", "long_name": "wavenumber"},
}


def provenance_attrs(
    *,
    generator: str,
    generator_version: str,
    parameters: Mapping[str, Any],
    seed: int | Sequence[int] | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the provenance attributes of a dataset.

    Parameters
    ----------
    generator : str
        Name of the simulator (or tool) that produced the data, e.g. ``"burgers1d"``.
    generator_version : str
        Version string of that generator.
    parameters : mapping
        Everything needed to reproduce the data (simulator configuration and physical
        parameters); stored as a JSON string so that NetCDF can hold it.
    seed : int, sequence of int or None
        Random seed(s) used. ``None`` is recorded as ``-1`` (deterministic generator).
    extra : mapping, optional
        Additional attributes (strings or numbers) to record.

    Returns
    -------
    dict
        Attributes ready for ``Dataset.attrs``.
    """
    if seed is None:
        seed_attr: Any = -1
    elif isinstance(seed, (int, np.integer)):
        seed_attr = int(seed)
    else:
        seed_attr = json.dumps([int(s) for s in seed])
    attrs: dict[str, Any] = {
        "generator": str(generator),
        "generator_version": str(generator_version),
        "parameters": json.dumps(_jsonable(parameters), sort_keys=True),
        "seed": seed_attr,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "sciml_version": __version__,
        "Conventions": "CF-1.8",
    }
    if extra:
        attrs.update({str(k): v for k, v in extra.items()})
    return attrs


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into JSON-serialisable Python objects."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def field_dataset(
    fields: Mapping[str, np.ndarray],
    *,
    coords: Mapping[str, np.ndarray],
    parameters: Mapping[str, np.ndarray] | None = None,
    field_attrs: Mapping[str, Mapping[str, str]] | None = None,
    coord_attrs: Mapping[str, Mapping[str, str]] | None = None,
    parameter_attrs: Mapping[str, Mapping[str, str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Assemble a field dataset in the canonical layout.

    Parameters
    ----------
    fields : mapping of str to ndarray
        Field variables, each of shape ``(n_sample, n_t, n_x[, n_y[, n_z]])``.
    coords : mapping of str to ndarray
        1-D coordinate values for ``t``, ``x`` (and ``y``, ``z`` when present).
    parameters : mapping of str to ndarray, optional
        Per-sample parameters, each of shape ``(n_sample,)``.
    field_attrs, coord_attrs, parameter_attrs : mapping, optional
        CF attributes (``units``, ``long_name``) per variable; coordinates default to
        :data:`DEFAULT_COORD_ATTRS`, parameters to ``units="1"``.
    attrs : mapping, optional
        Global attributes, normally from :func:`provenance_attrs`.

    Returns
    -------
    xarray.Dataset
    """
    if not fields:
        raise SchemaError("field_dataset needs at least one field variable")
    first = next(iter(fields.values()))
    ndim = np.ndim(first)
    if ndim < 3 or ndim > 5:
        raise SchemaError(
            f"field arrays must have 3 to 5 dims (sample, t, x[, y[, z]]); got shape {np.shape(first)}"
        )
    dims = FIELD_DIMS[:ndim]
    coord_attrs = dict(coord_attrs or {})
    xr_coords = {}
    for d in dims[1:]:
        if d not in coords:
            raise SchemaError(f"coordinate {d!r} is missing; pass coords={{'{d}': values, ...}}")
        a = dict(DEFAULT_COORD_ATTRS.get(d, {}))
        a.update(coord_attrs.get(d, {}))
        xr_coords[d] = xr.Variable((d,), np.asarray(coords[d]), attrs=a)
    n_sample = np.shape(first)[0]
    xr_coords["sample"] = xr.Variable(("sample",), np.arange(n_sample, dtype=np.int64),
                                      attrs={"long_name": "sample index", "units": "1"})
    data_vars: dict[str, xr.Variable] = {}
    field_attrs = field_attrs or {}
    for name, arr in fields.items():
        a = {"units": "1", "long_name": name, "role": "field"}
        a.update(field_attrs.get(name, {}))
        data_vars[name] = xr.Variable(dims, np.asarray(arr), attrs=a)
    parameter_attrs = parameter_attrs or {}
    for name, vals in (parameters or {}).items():
        a = {"units": "1", "long_name": name, "role": "parameter"}
        a.update(parameter_attrs.get(name, {}))
        a["role"] = "parameter"
        data_vars[name] = xr.Variable(("sample",), np.asarray(vals, dtype=np.float64), attrs=a)
    return xr.Dataset(data_vars, coords=xr_coords, attrs=dict(attrs or {}))


def field_variables(ds: xr.Dataset) -> list[str]:
    """Names of the field variables of ``ds`` (variables with both ``sample`` and ``t``)."""
    return [str(n) for n, v in ds.data_vars.items() if "sample" in v.dims and "t" in v.dims]


def parameter_variables(ds: xr.Dataset) -> list[str]:
    """Names of the per-sample parameter variables of ``ds``.

    These are the 1-D variables along ``sample``, except bookkeeping variables marked with
    ``attrs["role"] == "metadata"`` (such as the per-sample ``seed``).
    """
    return [
        str(n)
        for n, v in ds.data_vars.items()
        if v.dims == ("sample",) and v.attrs.get("role") != "metadata"
    ]


def spatial_dims(ds: xr.Dataset) -> list[str]:
    """Spatial dimension names present in ``ds``, in canonical order."""
    return [d for d in ("x", "y", "z") if d in ds.dims]


def validate(
    ds: xr.Dataset,
    *,
    require_provenance: bool = True,
    check_finite: bool = True,
    required_fields: Sequence[str] = (),
    required_parameters: Sequence[str] = (),
) -> xr.Dataset:
    """Check that ``ds`` follows a canonical sciml layout: field or trajectory.

    A dataset with ``attrs["layout"] == "trajectory"`` or an ``atom`` dimension is checked
    against the trajectory layout by :func:`sciml.data.particles.validate_trajectory`
    (``required_fields`` then names required trajectory variables, e.g. ``"forces"``);
    every other dataset against the field layout described in this module.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check. It is not modified.
    require_provenance : bool, default True
        Require every attribute of :data:`PROVENANCE_ATTRS`.
    check_finite : bool, default True
        Require all field and parameter values to be finite. This loads the data; pass
        ``False`` for lazily opened files larger than memory.
    required_fields, required_parameters : sequence of str
        Variables that must be present (e.g. a model needs ``u`` and ``nu``).

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, so that ``validate`` can be chained.

    Raises
    ------
    SchemaError
        Listing every problem found, one per line.
    """
    if not isinstance(ds, xr.Dataset):
        raise SchemaError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if is_trajectory(ds):
        from sciml.data.particles import validate_trajectory

        return validate_trajectory(ds, require_provenance=require_provenance, check_finite=check_finite,
                                   required_variables=required_fields,
                                   required_parameters=required_parameters)
    fields = field_variables(ds)
    params = parameter_variables(ds)
    problems = _dimension_problems(ds, fields) + _coordinate_problems(ds) + sample_index_problems(ds)
    problems += parameter_problems(ds, params)
    problems += [f"required field variable {name!r} is missing; present: {fields}"
                 for name in required_fields if name not in fields]
    problems += [f"required parameter variable {name!r} is missing; present: {params}"
                 for name in required_parameters if name not in params]
    if require_provenance:
        problems += provenance_problems(ds)
    if check_finite and not problems:
        problems += nonfinite_problems(ds, fields + params)
    if problems:
        raise SchemaError(format_problems(problems))
    return ds


def _dimension_problems(ds: xr.Dataset, fields: list[str]) -> list[str]:
    """Unknown or missing dimensions, and field variables in the wrong order, dtype or units."""
    problems = []
    unknown = [d for d in ds.dims if d not in FIELD_DIMS]
    if unknown:
        problems.append(
            f"unknown dimension(s) {sorted(map(str, unknown))}; accepted: {list(FIELD_DIMS)}"
        )
    if "sample" not in ds.dims:
        problems.append("dimension 'sample' is missing")
    if "t" not in ds.dims:
        problems.append("dimension 't' is missing")
    if not spatial_dims(ds) and "k" not in ds.dims:
        problems.append("no spatial dimension; expected at least 'x' (or the wavenumber 'k' of a spectrum)")
    if not fields:
        problems.append("no field variable over ('sample', 't', 'x', ...) or ('sample', 't', 'k')")
    for name in fields:
        v = ds[name]
        expected = tuple(d for d in FIELD_DIMS if d in v.dims)
        if v.dims != expected or len(v.dims) != len(ds[name].dims):
            problems.append(f"field {name!r} has dims {v.dims}; expected order {expected}")
        if not np.issubdtype(v.dtype, np.floating):
            problems.append(f"field {name!r} has dtype {v.dtype}; expected a floating type")
        if "units" not in v.attrs:
            problems.append(f"field {name!r} has no 'units' attribute")
    return problems


def _coordinate_problems(ds: xr.Dataset) -> list[str]:
    """Missing, unlabelled, non-increasing or non-finite ``t``/``x``/``y``/``z``/``k`` coordinates."""
    problems = []
    for d in ("t", "x", "y", "z", "k"):
        if d not in ds.dims:
            continue
        if d not in ds.coords:
            problems.append(f"coordinate {d!r} is missing")
            continue
        c = ds.coords[d]
        problems += [f"coordinate {d!r} has no {key!r} attribute" for key in ("units", "long_name")
                     if key not in c.attrs]
        values = np.asarray(c.values)
        if values.size > 1 and not np.all(np.diff(values) > 0):
            problems.append(f"coordinate {d!r} is not strictly increasing")
        if not np.all(np.isfinite(values)):
            problems.append(f"coordinate {d!r} has non-finite values")
    return problems


def check_sample_index(ds: xr.Dataset) -> None:
    """Raise :class:`SchemaError` if the ``sample`` coordinate of ``ds`` has duplicate values.

    Only the ``sample`` index is read (no field data). A dataset without a ``sample``
    coordinate passes (its samples are numbered by position).

    Raises
    ------
    SchemaError
        The message gives the number of repeated indexes, a few of them, and the remedy
        (:func:`sciml.data.concat`).
    """
    problems = sample_index_problems(ds)
    if problems:
        raise SchemaError(format_problems(problems))
