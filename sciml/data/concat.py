"""Concatenate sciml datasets of several runs along ``sample``, keeping every run's provenance.

``xr.concat`` of several runs repeats the sample index (each run numbers its samples from
0) and keeps the attributes of the first run only, so the other runs' generator
parameters and seeds are lost. :func:`concat` instead

* checks that the runs share one layout (same variables, dims, dtypes, units and
  coordinates other than ``sample``; same ``generator``, ``generator_version`` and
  ``schema_version``) and raises :class:`~sciml.errors.SchemaError` naming what differs;
* **renumbers** the samples ``0 .. n - 1`` in concatenation order (always, even when the
  inputs' indexes happen to be disjoint: in sciml the sample index is a position, as
  :func:`~sciml.data.schema.field_dataset` and campaigns number it), and records where
  each sample came from in two per-sample metadata variables, ``source_run`` (index of the
  run in :func:`run_provenance`) and ``source_sample`` (its index in that run);
* stores every run's provenance in the JSON ``parameters`` attribute, as
  ``{"runs": [provenance of run 0, provenance of run 1, ...]}`` (each entry is the run's
  global attributes, with its own ``parameters`` decoded from JSON), sets ``seed`` to the
  JSON list of the runs' seeds and ``n_runs`` to their number. These are plain NetCDF
  attributes, so they survive :func:`~sciml.data.netcdf.save` /
  :func:`~sciml.data.netcdf.open_dataset`, and ``sciml data info`` shows them (the seeds in
  the text output, every run's full provenance under ``provenance.parameters.runs`` with
  ``--json``).

Concatenating concatenated datasets flattens the runs: the result lists the original runs,
not the intermediate merges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.schema import PROVENANCE_ATTRS, _jsonable, provenance_attrs, validate
from sciml.errors import SchemaError

__all__ = ["concat", "run_provenance", "SOURCE_RUN", "SOURCE_SAMPLE", "N_RUNS_ATTR"]

#: Per-sample variable: index (into :func:`run_provenance`) of the run that made the sample.
SOURCE_RUN = "source_run"
#: Per-sample variable: index of the sample within the run that made it.
SOURCE_SAMPLE = "source_sample"
#: Global attribute: number of runs of a dataset made by :func:`concat`.
N_RUNS_ATTR = "n_runs"

#: Attributes that identify the simulator and layout; runs must agree on them.
_IDENTITY_ATTRS: tuple[str, ...] = ("generator", "generator_version", "schema_version")

_BOOKKEEPING = frozenset({"sample", SOURCE_RUN, SOURCE_SAMPLE})


def concat(datasets: Sequence[xr.Dataset], dim: str = "sample") -> xr.Dataset:
    """Concatenate runs of one simulator along ``sample`` into one valid dataset.

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        One or more sciml field datasets (each passes :func:`~sciml.data.schema.validate`
        without the finiteness check) of the same layout; results of :func:`concat` are
        accepted and their runs flattened. Lazily opened inputs are read into memory
        (dask-backed ones stay lazy).
    dim : {"sample"}
        The dimension to concatenate along. Only ``"sample"`` is accepted: runs add
        samples; they do not extend time or space.

    Returns
    -------
    xarray.Dataset
        Fields of shape ``(sum of n_sample, n_t, n_x[, ...])`` in input order; ``sample``
        renumbered ``0 .. n - 1``; ``source_run`` and ``source_sample`` (int64, shape
        ``(n,)``, ``role="metadata"``); provenance as described in the module docstring.

    Raises
    ------
    SchemaError
        No dataset, a non-dataset, ``dim`` other than ``"sample"``, an input that is not a
        sciml dataset, or inputs that differ in layout or simulator (every difference is
        listed, naming the dataset, the variable or attribute, and both values).
    """
    items = _check_inputs(datasets, dim)
    runs: list[dict[str, Any]] = []
    run_index, source_sample = [], []
    for ds in items:
        ds_runs, ds_run_index, ds_source = _runs_of(ds)
        run_index.append(ds_run_index + len(runs))
        source_sample.append(ds_source)
        runs.extend(ds_runs)
    bodies = [ds.drop_vars([n for n in (SOURCE_RUN, SOURCE_SAMPLE) if n in ds.variables]) for ds in items]
    out = xr.concat(bodies, dim="sample", data_vars="minimal", coords="minimal",
                    compat="override", join="exact", combine_attrs="override")
    n = out.sizes["sample"]
    out = out.assign_coords(sample=xr.Variable(
        ("sample",), np.arange(n, dtype=np.int64), attrs={"long_name": "sample index", "units": "1"}))
    out = out.assign({
        SOURCE_RUN: xr.Variable(("sample",), np.concatenate(run_index), attrs={
            "role": "metadata", "units": "1",
            "long_name": "index of the run that made the sample (in attrs parameters runs)"}),
        SOURCE_SAMPLE: xr.Variable(("sample",), np.concatenate(source_sample), attrs={
            "role": "metadata", "units": "1", "long_name": "index of the sample in its run"}),
    })
    out.attrs = _merged_attrs(items, runs)
    return out


def run_provenance(ds: xr.Dataset) -> list[dict[str, Any]]:
    """The provenance of every run whose samples ``ds`` holds, in run order.

    For a dataset made by :func:`concat` (attribute ``n_runs``), the entries recorded in
    its ``parameters`` attribute; for a single run, one entry made from ``ds.attrs``. Each
    entry is a dict of the run's global attributes (JSON types), with ``parameters``
    decoded from JSON. Sample ``i`` of ``ds`` comes from run ``ds["source_run"][i]``
    (run 0 for a single run).

    Raises
    ------
    SchemaError
        ``ds`` claims to be a concatenation but its ``parameters`` attribute does not hold
        a list of ``n_runs`` runs.
    """
    if N_RUNS_ATTR not in ds.attrs:
        return [_provenance_of(ds.attrs)]
    n_runs = int(ds.attrs[N_RUNS_ATTR])
    try:
        runs = json.loads(ds.attrs["parameters"])["runs"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(
            f"dataset has attrs['{N_RUNS_ATTR}'] = {n_runs} but attrs['parameters'] holds no JSON "
            f"'runs' list ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(runs, list) or len(runs) != n_runs or not all(isinstance(r, dict) for r in runs):
        raise SchemaError(
            f"dataset has attrs['{N_RUNS_ATTR}'] = {n_runs} but attrs['parameters']['runs'] is not "
            f"a list of {n_runs} provenance objects"
        )
    return runs


# --------------------------------------------------------------------------- helpers


def _check_inputs(datasets: Sequence[xr.Dataset], dim: str) -> list[xr.Dataset]:
    """The inputs as a list, or :class:`SchemaError` listing every problem found."""
    if dim != "sample":
        raise SchemaError(f"concat: dim must be 'sample' (runs add samples); got {dim!r}")
    if isinstance(datasets, xr.Dataset):
        raise SchemaError("concat expects a sequence of datasets, got a single xarray.Dataset")
    try:
        items = list(datasets)
    except TypeError:
        raise SchemaError(f"concat expects a sequence of datasets, got {type(datasets).__name__}") from None
    if not items:
        raise SchemaError("concat needs at least one dataset; got none")
    problems = []
    for i, ds in enumerate(items):
        if not isinstance(ds, xr.Dataset):
            problems.append(f"dataset {i} is a {type(ds).__name__}, not an xarray.Dataset")
            continue
        try:
            validate(ds, check_finite=False)
        except SchemaError as exc:
            lines = [ln.strip(" -") for ln in str(exc).splitlines()[1:] if ln.strip(" -")]
            problems.append(f"dataset {i} is not a sciml dataset: {'; '.join(lines) or exc}")
    if not problems:
        problems = [f"dataset {i} differs from dataset 0: {d}"
                    for i, ds in enumerate(items[1:], start=1) for d in _differences(items[0], ds)]
    if problems:
        raise SchemaError("cannot concatenate:\n  - " + "\n  - ".join(problems))
    return items


def _differences(ref: xr.Dataset, ds: xr.Dataset) -> list[str]:
    """Every way ``ds`` differs from ``ref`` that makes them unfit to concatenate."""
    out = [f"attrs[{k!r}] is {ds.attrs.get(k)!r}, not {ref.attrs.get(k)!r}"
           for k in _IDENTITY_ATTRS if not _same(ref.attrs.get(k), ds.attrs.get(k))]
    for kind, a, b in (("data variable", ref.data_vars, ds.data_vars), ("coordinate", ref.coords, ds.coords)):
        names_a, names_b = set(map(str, a)) - _BOOKKEEPING, set(map(str, b)) - _BOOKKEEPING
        out += [f"{kind} {n!r} is missing" for n in sorted(names_a - names_b)]
        out += [f"{kind} {n!r} is extra" for n in sorted(names_b - names_a)]
    out += [f"dimension {d!r} has size {ds.sizes[d]}, not {ref.sizes[d]}"
            for d in ref.dims if d != "sample" and d in ds.dims and ds.sizes[d] != ref.sizes[d]]
    common = [n for n in map(str, ref.variables) if n in ds.variables and n not in _BOOKKEEPING]
    for name in common:
        out += _variable_differences(name, ref.variables[name], ds.variables[name])
    return out


def _variable_differences(name: str, a: xr.Variable, b: xr.Variable) -> list[str]:
    """Differences in dims, dtype, attributes and (without ``sample``) values of one variable."""
    if a.dims != b.dims:
        return [f"variable {name!r} has dims {b.dims}, not {a.dims}"]
    out = []
    if a.dtype != b.dtype:
        out.append(f"variable {name!r} has dtype {b.dtype}, not {a.dtype}")
    for key in sorted(set(map(str, a.attrs)) | set(map(str, b.attrs))):
        if not _same(a.attrs.get(key), b.attrs.get(key)):
            out.append(f"variable {name!r} has attribute {key!r} = {b.attrs.get(key)!r}, "
                       f"not {a.attrs.get(key)!r}")
    if "sample" not in a.dims and a.shape == b.shape:
        va, vb = np.asarray(a.values), np.asarray(b.values)
        if not _same(va, vb):
            flat_a, flat_b = va.ravel(), vb.ravel()
            where = np.flatnonzero(flat_a != flat_b)
            at = (f" (first at index {where[0]}: {flat_b[where[0]].tolist()!r}, "
                  f"not {flat_a[where[0]].tolist()!r})") if where.size else ""
            out.append(f"variable {name!r} has different values{at}")
    return out


def _same(a: Any, b: Any) -> bool:
    """Whether two attribute values or arrays are equal (NaN equal to NaN)."""
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:  # equal_nan on non-numeric types
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except (TypeError, ValueError):
            return False


def _provenance_of(attrs: Mapping[Any, Any]) -> dict[str, Any]:
    """A run's provenance: its attributes as JSON types, ``parameters`` decoded."""
    prov = {str(k): _jsonable(v) for k, v in attrs.items()}
    if isinstance(prov.get("parameters"), str):
        try:
            prov["parameters"] = json.loads(prov["parameters"])
        except ValueError:
            pass
    return prov


def _runs_of(ds: xr.Dataset) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The runs of ``ds``, each sample's run index (int64) and its index within the run."""
    runs = run_provenance(ds)
    n = ds.sizes["sample"]
    if N_RUNS_ATTR not in ds.attrs:
        return runs, np.zeros(n, dtype=np.int64), np.asarray(ds["sample"].values, dtype=np.int64)
    if SOURCE_RUN not in ds.variables or SOURCE_SAMPLE not in ds.variables:
        raise SchemaError(
            f"dataset has attrs['{N_RUNS_ATTR}'] but no {SOURCE_RUN!r}/{SOURCE_SAMPLE!r} variables"
        )
    run_index = np.asarray(ds[SOURCE_RUN].values, dtype=np.int64)
    if run_index.size and (run_index.min() < 0 or run_index.max() >= len(runs)):
        raise SchemaError(f"{SOURCE_RUN!r} has values outside 0..{len(runs) - 1}")
    return runs, run_index, np.asarray(ds[SOURCE_SAMPLE].values, dtype=np.int64)


def _seed_of(run: Mapping[str, Any]) -> Any:
    """A run's seed as a JSON value (a seed list stored as a JSON string is decoded)."""
    seed = run.get("seed", -1)
    if isinstance(seed, str):
        try:
            return json.loads(seed)
        except ValueError:
            return seed
    return seed


def _merged_attrs(items: list[xr.Dataset], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Provenance of the concatenation: identity of the runs, every run, and common extras."""
    first = items[0].attrs
    skip = set(PROVENANCE_ATTRS) | {N_RUNS_ATTR}
    common = {str(k): v for k, v in first.items()
              if k not in skip and all(k in ds.attrs and _same(ds.attrs[k], v) for ds in items[1:])}
    attrs = provenance_attrs(
        generator=str(first["generator"]),
        generator_version=str(first["generator_version"]),
        parameters={"runs": runs},
        seed=None,
        extra=common,
    )
    attrs["seed"] = json.dumps([_seed_of(r) for r in runs])
    attrs["schema_version"] = str(first["schema_version"])
    attrs[N_RUNS_ATTR] = len(runs)
    return attrs
