"""Trajectory datasets to and from extended XYZ files and ASE databases, through ASE.

ASE is optional (``pip install 'sciml[md]'``); it is imported when a function is called.

* :func:`read_extxyz` / :func:`write_extxyz` — ``ase.io.read`` / ``ase.io.write`` with
  ``format="extxyz"``. Energy, forces and stress travel as the frame's calculator results,
  velocities as momenta, time as ``info["time"]``. Precision: ASE writes per-atom arrays
  (positions, forces, momenta, masses) with 8 decimals (absolute error up to 5e-9 in the
  file's units); cell, energy, stress and time are written exactly.
* :func:`read_ase_db` / :func:`write_ase_db` — ``ase.db.connect`` (SQLite ``.db`` or
  ``.json``); rows carry the key-value pairs ``sample``, ``frame`` and ``time``. Exact.

What these formats cannot hold natively (the unit system, provenance and other global
attributes, per-sample parameters, variable attributes) is stored by the writers as a
sciml record: the database's ``metadata["sciml"]``, or ``info["sciml_meta"]`` (URL-safe base64 JSON:
ASE's extxyz cannot quote nested JSON) of the first frame of an extxyz file; readers restore
it (for extxyz when that frame is read), so a dataset written by sciml
comes back with its attributes. Frames with ``sample`` (db) or ``info["sciml_sample"]``
(extxyz) in every frame are grouped by it; otherwise all frames are one sample (along
``frame``), and the number of atoms must not change. Files without a sciml record are read
in ASE units (unit system ``"ase"``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.atomic import atomic_path
from sciml.data.ase_frames import import_ase
from sciml.data.particles import from_ase_frames, to_ase_atoms, validate_trajectory
from sciml.data.schema import _jsonable
from sciml.errors import FileFormatError, SchemaError

__all__ = ["read_extxyz", "write_extxyz", "read_ase_db", "write_ase_db"]

_META_KEY = "sciml_meta"
_SAMPLE_KEY = "sciml_sample"


def write_extxyz(ds: xr.Dataset, path: str | os.PathLike[str], *, sample: int | None = None) -> Path:
    """Write a trajectory dataset (every sample, or one) to an extended XYZ file, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory dataset (checked, provenance not required).
    path : str or path-like
        Destination (conventionally ``*.xyz`` or ``*.extxyz``).
    sample : int, optional
        Write only this sample (by position); by default every sample, frames in order,
        each frame tagged with ``info["sciml_sample"]``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SchemaError
        ``ds`` is not a valid trajectory dataset or ``sample`` is out of range.
    ImportError
        ASE is not installed.
    """
    import_ase()
    import ase.io

    samples = _selected_samples(ds, sample)
    frames = _frames(ds, samples)
    n_frame = ds.sizes["frame"]
    for k, atoms in enumerate(frames):
        atoms.info[_SAMPLE_KEY] = samples[k // n_frame]
    # unpadded URL-safe base64: ASE's extxyz parser splits values on '='
    frames[0].info[_META_KEY] = base64.urlsafe_b64encode(json.dumps(_meta(ds, samples)).encode()).decode().rstrip("=")
    final = Path(path)
    with atomic_path(final) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    return final


def read_extxyz(path: str | os.PathLike[str], *, index: str | int = ":") -> xr.Dataset:
    """Read an extended XYZ file into a trajectory dataset.

    Parameters
    ----------
    path : str or path-like
        The file.
    index : str or int, default ":"
        Frames to read, as ``ase.io.read`` takes them (``":"`` all, ``"::10"``, ``-1``).

    Returns
    -------
    xarray.Dataset
        One sample (all frames along ``frame``), or one per ``info["sciml_sample"]`` value.

    Raises
    ------
    FileFormatError
        The file is missing or not readable as extxyz, or its frames cannot form a
        trajectory (e.g. the number of atoms changes; the message says which frame).
    ImportError
        ASE is not installed.
    """
    import_ase()
    import ase.io

    p = _existing(path)
    try:
        got = ase.io.read(p, index=index, format="extxyz")
    except Exception as exc:  # ASE raises many types for malformed files
        raise FileFormatError(f"{p}: not readable as extended XYZ ({type(exc).__name__}: {exc})") from exc
    frames = [got] if isinstance(got, ase.Atoms) else list(got)
    if not frames:
        raise FileFormatError(f"{p}: no frames selected (index={index!r})")
    raw = next((a.info[_META_KEY] for a in frames if _META_KEY in a.info), None)
    meta = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) if raw is not None else None
    keys = [a.info.get(_SAMPLE_KEY) for a in frames]
    return _dataset(p, frames, keys, meta)


def write_ase_db(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write every frame of every sample of a trajectory dataset to a new ASE database.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory dataset (checked, provenance not required).
    path : str or path-like
        ``*.json`` for ASE's JSON backend, anything else for SQLite (``*.db``). An existing
        database is replaced (atomically), not appended to.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SchemaError
        ``ds`` is not a valid trajectory dataset.
    ImportError
        ASE is not installed.
    """
    import_ase()
    import ase.db

    samples = list(range(ds.sizes["sample"]))
    frames = _frames(ds, samples)
    times = np.asarray(ds["time"].values)
    n_frame = ds.sizes["frame"]
    final = Path(path)
    kind = "json" if final.suffix.lower() == ".json" else "db"
    with atomic_path(final) as tmp:
        db = ase.db.connect(tmp, type=kind, append=False)
        with db:
            for k, atoms in enumerate(frames):
                s, f = divmod(k, n_frame)
                db.write(atoms, sample=s, frame=f, time=float(times[f]))
        db.metadata = {"sciml": _meta(ds, samples)}
    return final


def read_ase_db(path: str | os.PathLike[str], *, selection: Any = None) -> xr.Dataset:
    """Read the rows of an ASE database into a trajectory dataset.

    Parameters
    ----------
    path : str or path-like
        An existing ASE database (``.db``, ``.json``).
    selection : optional
        An ``ase.db`` selection (e.g. ``"sample=0"``, ``"Cu"``, an id); default all rows.
        Rows are read in id order.

    Returns
    -------
    xarray.Dataset
        Grouped by the key ``sample`` when every row has it, else one sample. ``time`` from
        the key ``time`` when every row has it.

    Raises
    ------
    FileFormatError
        The file is missing or not an ASE database, no row matches, or the rows cannot form
        a trajectory (e.g. different numbers of atoms).
    ImportError
        ASE is not installed.
    """
    import_ase()
    import ase.db

    p = _existing(path)
    try:
        db = ase.db.connect(p, type="json" if p.suffix.lower() == ".json" else "db")
        rows = list(db.select(selection, sort="id"))
        meta = (db.metadata or {}).get("sciml")
    except Exception as exc:  # sqlite3/json/ASE errors for foreign files
        raise FileFormatError(f"{p}: not readable as an ASE database ({type(exc).__name__}: {exc})") from exc
    if not rows:
        raise FileFormatError(f"{p}: no row matches the selection {selection!r}")
    frames, keys = [], []
    for row in rows:
        atoms = row.toatoms()
        if "time" in row.key_value_pairs:
            atoms.info["time"] = row.key_value_pairs["time"]
        frames.append(atoms)
        keys.append(row.key_value_pairs.get("sample"))
    return _dataset(p, frames, keys, meta)


# --------------------------------------------------------------------------- helpers


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: no such file")
    return p


def _selected_samples(ds: xr.Dataset, sample: int | None) -> list[int]:
    n = ds.sizes.get("sample", 0)
    if sample is None:
        return list(range(n))
    if not -n <= sample < n:
        raise SchemaError(f"sample {sample} is out of range; the dataset has {n} sample(s)")
    return [sample % n]


def _frames(ds: xr.Dataset, samples: Sequence[int]) -> list[Any]:
    """Every frame of the given samples as ``ase.Atoms`` (validated first)."""
    validate_trajectory(ds, require_provenance=False)
    ds = ds.isel(sample=list(samples)).load()
    return [to_ase_atoms(ds, i, f) for i in range(len(samples)) for f in range(ds.sizes["frame"])]


def _meta(ds: xr.Dataset, samples: Sequence[int]) -> dict[str, Any]:
    """The sciml record: unit system, global attributes, variable attributes, per-sample variables."""
    per_sample = {str(n): {"values": np.asarray(v.values)[list(samples)].tolist(), "dtype": str(v.dtype),
                           "attrs": _jsonable(dict(v.attrs))}
                  for n, v in ds.data_vars.items() if v.dims == ("sample",)}
    return {
        "samples": [int(s) for s in samples],
        "unit_system": str(ds.attrs.get("unit_system")),
        "attrs": _jsonable({str(k): v for k, v in ds.attrs.items()}),
        "variables": {str(n): _jsonable(dict(v.attrs)) for n, v in ds.variables.items() if v.dims != ("sample",)},
        "per_sample": per_sample,
    }


def _dataset(p: Path, frames: list[Any], keys: list[Any], meta: Mapping[str, Any] | None) -> xr.Dataset:
    """Group frames into samples, build the dataset, and restore the sciml record if any."""
    grouped = all(k is not None for k in keys)
    order = list(dict.fromkeys(keys)) if grouped else [None]
    samples = [[a for a, k in zip(frames, keys, strict=True) if k == key] for key in order] if grouped else [frames]
    meta = meta or {}
    try:
        ds = from_ase_frames(samples, unit_system=meta.get("unit_system", "ase"))
    except SchemaError as exc:
        raise FileFormatError(f"{p}: the frames do not form a trajectory: {exc}") from exc
    written = meta.get("samples", [])
    if grouped and all(k in written for k in order):
        rows = [written.index(k) for k in order]
    else:
        rows = [0] if len(written) == 1 else []
    for name, v in meta.get("per_sample", {}).items() if rows else ():
        values = np.asarray(v["values"], dtype=v["dtype"])[rows]
        ds[name] = xr.Variable(("sample",), values, attrs=v["attrs"])
    for name, attrs in meta.get("variables", {}).items():
        if name in ds.variables:
            ds[name].attrs = attrs
    ds.attrs = {**meta.get("attrs", {}), "layout": "trajectory", "unit_system": ds.attrs["unit_system"]}
    return ds
