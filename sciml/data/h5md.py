"""H5MD 1.1 files of one trajectory, written and read with ``h5py``.

Layout written by :func:`write_h5md` (H5MD 1.1, https://www.nongnu.org/h5md/h5md.html):

* ``/h5md`` with ``version = [1, 1]``, ``/h5md/author`` (``name``) and ``/h5md/creator``
  (``name``, ``version``); ``/h5md/modules/units`` (``version = [1, 0]``) when the data carry
  physical units (unit system ``"ase"``; reduced ``"lj"`` values have no ``unit`` attribute,
  as H5MD prescribes for dimensionless data);
* ``/particles/<group>/{position,velocity,force}/{value,step,time}`` (value ``(n_frame,
  n_atom, 3)``; ``step`` is the frame index, ``time`` the ``time`` coordinate; the
  ``step``/``time`` of every element are hard links to those of ``position``);
* ``/particles/<group>/box`` with attributes ``dimension = 3`` and ``boundary``
  (``"periodic"``/``"none"`` per cell vector) and ``edges``: a fixed dataset when the cell
  does not change, else a time-dependent ``edges/{value,step,time}``; a vector (the
  diagonal) for an orthorhombic cell, a ``(3, 3)`` matrix (rows = cell vectors) otherwise;
* ``/particles/<group>/species`` (atomic numbers) and ``/particles/<group>/mass`` (if known);
* ``/observables/potential_energy/{value,step,time}`` and ``/observables/stress`` (Voigt);
  any other per-frame variable as ``/observables/<name>`` (per-atom ones under
  ``/particles/<group>/<name>``), per-atom constants as fixed ``/particles/<group>/<name>``;
* ``/parameters/sciml``: the dataset's global attributes (provenance, ``unit_system``) as
  attributes, and its per-sample parameters as scalar datasets.

Every ``value`` dataset carries ``unit`` (H5MD units module) and ``sciml_attrs`` (the
variable's attributes as JSON) so that :func:`read_h5md` gives back the dataset exactly, and
a Fletcher-32 checksum. One H5MD file holds one trajectory: one sample of a dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from sciml import __version__
from sciml.data.atomic import atomic_path
from sciml.data.particles import UNIT_SYSTEMS, VARIABLE_DIMS, trajectory_dataset, validate_trajectory
from sciml.data.schema import _jsonable
from sciml.errors import FileFormatError, SchemaError

__all__ = ["write_h5md", "read_h5md", "H5MD_VERSION"]

#: The H5MD version written.
H5MD_VERSION = (1, 1)
#: Dataset variable -> (H5MD location under the particles group or "/observables", element name).
_ELEMENTS = {"positions": ("particles", "position"), "velocities": ("particles", "velocity"),
             "forces": ("particles", "force"), "energy": ("observables", "potential_energy"),
             "stress": ("observables", "stress")}
_STRUCTURE = {"cell", "pbc", "atomic_numbers", "masses"}


def write_h5md(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    sample: int = 0,
    group: str = "all",
    author: str = "unknown",
    creator: str = "sciml",
) -> Path:
    """Write one sample of a trajectory dataset to an H5MD 1.1 file, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory dataset (:mod:`sciml.data.particles`); checked with
        :func:`~sciml.data.particles.validate_trajectory` (provenance not required).
    path : str or path-like
        Destination (conventionally ``*.h5``); replaced only once the new file is complete.
    sample : int, default 0
        Position along ``sample`` of the trajectory to write.
    group : str, default "all"
        Name of the particles group.
    author, creator : str
        ``/h5md/author`` and ``/h5md/creator`` names (the creator version is sciml's).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SchemaError
        ``ds`` is not a valid trajectory dataset, has no atomic numbers (``"cosmology"``
        particles), or ``sample`` is out of range.
    """
    validate_trajectory(ds, require_provenance=False)
    if "atomic_numbers" not in ds:
        raise SchemaError(f"H5MD needs the particles' species (atomic numbers); this {ds.attrs['unit_system']!r} "
                          "trajectory has none: save it as NetCDF (sciml.data.save)")
    n = ds.sizes["sample"]
    if not -n <= sample < n:
        raise SchemaError(f"sample {sample} is out of range; the dataset has {n} sample(s)")
    one = ds.isel(sample=sample).load()
    final = Path(path)
    with atomic_path(final) as tmp, h5py.File(tmp, "w") as f:
        _write_header(f, author, creator, with_units=one.attrs["unit_system"] != "lj")
        particles = f.create_group(f"particles/{group}")
        steps = np.arange(one.sizes["frame"], dtype=np.int64)
        ref = _write_element(particles, "position", one["positions"], steps, one["time"])
        for name, var in one.data_vars.items():
            if name in _STRUCTURE or name == "positions" or var.dims == ():
                continue
            if var.dims[0] != "frame":  # fixed per-atom data (charges, ...): a fixed element
                dset = particles.create_dataset(str(name), data=np.asarray(var.values))
                _write_attrs(dset, var, dims=var.dims)
                continue
            where, element = _ELEMENTS.get(str(name), ("particles" if "atom" in var.dims else "observables", name))
            parent = particles if where == "particles" else f.require_group("observables")
            _write_element(parent, str(element), var, steps, one["time"], link=ref)
        _write_structure(particles, one, ref)
        _write_parameters(f, ds, sample)
    return final


def _write_header(f: h5py.File, author: str, creator: str, *, with_units: bool) -> None:
    h5md = f.create_group("h5md")
    h5md.attrs["version"] = np.asarray(H5MD_VERSION, dtype=np.int32)
    h5md.create_group("author").attrs["name"] = str(author)
    creator_group = h5md.create_group("creator")
    creator_group.attrs["name"] = str(creator)
    creator_group.attrs["version"] = __version__
    if with_units:
        h5md.create_group("modules/units").attrs["version"] = np.asarray([1, 0], dtype=np.int32)


def _write_element(parent: h5py.Group, name: str, var: xr.DataArray, steps: np.ndarray,
                   time: xr.DataArray, link: h5py.Group | None = None) -> h5py.Group:
    """A time-dependent element ``name/{value,step,time}``; step/time hard-linked to ``link``."""
    g = parent.create_group(name)
    value = g.create_dataset("value", data=np.asarray(var.values), fletcher32=True)
    _write_attrs(value, var, dims=var.dims)
    if link is None:
        g.create_dataset("step", data=steps)
        t = g.create_dataset("time", data=np.asarray(time.values))
        _write_attrs(t, time, dims=time.dims)
    else:
        g["step"] = link["step"]
        g["time"] = link["time"]
    return g


def _write_attrs(dset: h5py.Dataset, var: xr.DataArray, *, dims: tuple[Any, ...]) -> None:
    """H5MD ``unit`` (skipped for reduced units) and the sciml attributes and dims as JSON."""
    units = var.attrs.get("units")
    if units is not None and str(units) != "1" and "modules/units" in dset.file["h5md"]:
        dset.attrs["unit"] = str(units)
    dset.attrs["sciml_attrs"] = json.dumps({str(k): _jsonable(v) for k, v in var.attrs.items()})
    dset.attrs["sciml_dims"] = json.dumps([str(d) for d in dims])


def _write_structure(particles: h5py.Group, one: xr.Dataset, ref: h5py.Group) -> None:
    """``species``, ``mass`` and ``box`` (fixed edges, or time-dependent when the cell changes)."""
    species = particles.create_dataset("species", data=np.asarray(one["atomic_numbers"].values))
    _write_attrs(species, one["atomic_numbers"], dims=one["atomic_numbers"].dims)
    if "masses" in one:
        mass = particles.create_dataset("mass", data=np.asarray(one["masses"].values))
        _write_attrs(mass, one["masses"], dims=one["masses"].dims)
    box = particles.create_group("box")
    box.attrs["dimension"] = np.int32(3)
    pbc = np.asarray(one["pbc"].values)
    box.attrs["boundary"] = np.asarray(["periodic" if p else "none" for p in pbc], dtype="S8")
    box.attrs["sciml_pbc_attrs"] = json.dumps({str(k): _jsonable(v) for k, v in one["pbc"].attrs.items()})
    cell = one["cell"]
    values = np.asarray(cell.values)  # (frame, 3, 3)
    orthorhombic = not np.any(values[:, ~np.eye(3, dtype=bool)])
    edges = np.diagonal(values, axis1=1, axis2=2) if orthorhombic else values
    if np.all(values == values[:1]):
        dset = box.create_dataset("edges", data=edges[0])
        _write_attrs(dset, cell, dims=cell.dims)
    else:
        g = box.create_group("edges")
        dset = g.create_dataset("value", data=edges, fletcher32=True)
        _write_attrs(dset, cell, dims=cell.dims)
        g["step"] = ref["step"]
        g["time"] = ref["time"]


def _write_parameters(f: h5py.File, ds: xr.Dataset, sample: int) -> None:
    """Global attributes and per-sample (1-D along ``sample``) variables under ``/parameters/sciml``."""
    g = f.create_group("parameters/sciml")
    for key, value in ds.attrs.items():
        g.attrs[str(key)] = value
    for name, var in ds.data_vars.items():
        if var.dims == ("sample",):
            dset = g.create_dataset(str(name), data=np.asarray(var.values)[sample])
            dset.attrs["sciml_attrs"] = json.dumps({str(k): _jsonable(v) for k, v in var.attrs.items()})


# --------------------------------------------------------------------------- reading


def read_h5md(path: str | os.PathLike[str], *, group: str = "all") -> xr.Dataset:
    """Read an H5MD file (one trajectory) into a one-sample trajectory dataset.

    Files written by :func:`write_h5md` come back exactly (values, dtypes, attributes,
    provenance). Foreign H5MD files need ``position`` and ``species`` in the particles group;
    their unit system is ``"lj"`` when ``position`` has no ``unit`` and ``"ase"`` when it is
    in Angstrom; all time-dependent elements must share the steps of ``position``.

    Parameters
    ----------
    path : str or path-like
        The H5MD file.
    group : str, default "all"
        The particles group to read.

    Returns
    -------
    xarray.Dataset
        A trajectory dataset with one sample (provenance where the file has it).

    Raises
    ------
    FileFormatError
        The file is missing, not HDF5, not H5MD 1.x, lacks the group or a required element,
        has elements sampled at other steps than ``position``, or units sciml cannot read.
    """
    p = Path(path)
    if not p.is_file() or not h5py.is_hdf5(p):
        raise FileFormatError(f"{p}: no such HDF5 file" if not p.exists() else f"{p}: not an HDF5/H5MD file")
    try:
        with h5py.File(p, "r") as f:
            return _read(f, p, group)
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{p}: corrupted or unreadable H5MD file ({type(exc).__name__}: {exc})") from exc


def _read(f: h5py.File, p: Path, group: str) -> xr.Dataset:
    version = tuple(np.asarray(f["h5md"].attrs.get("version", [0, 0])).tolist()) if "h5md" in f else None
    if version is None or version[0] != 1:
        raise FileFormatError(f"{p}: not an H5MD 1.x file (/h5md version: {version})")
    groups = sorted(f["particles"]) if "particles" in f else []
    if group not in groups:
        raise FileFormatError(f"{p}: no particles group {group!r}; groups present: {groups}")
    pg = f["particles"][group]
    for required in ("position", "species"):
        if required not in pg:
            raise FileFormatError(f"{p}: /particles/{group} has no {required!r}; sciml needs it")
    meta = f["parameters/sciml"] if "parameters/sciml" in f else None
    attrs = {str(k): _plain(v) for k, v in meta.attrs.items()} if meta is not None else {}
    unit_system = attrs.get("unit_system") or _unit_system(pg["position/value"], p)
    steps, times, time_attrs = _element_times(pg["position"])
    variables: dict[str, tuple[np.ndarray, dict[str, Any], list[str] | None]] = {}
    elements = [pg[n] for n in pg if n not in {"species", "mass", "box"}]
    elements += [f["observables"][n] for n in f["observables"]] if "observables" in f else []
    n_atom = pg["position/value"].shape[1]
    for element in elements:
        if isinstance(element, h5py.Dataset):  # a fixed element: per-atom data
            raw_dims = element.attrs.get("sciml_dims")
            dims = json.loads(_plain(raw_dims)) if raw_dims is not None else (
                ["atom"] if element.shape == (n_atom,) else None)
            variables[element.name.rsplit("/", 1)[-1]] = (element[()], _sciml_attrs(element), dims)
            continue
        if "value" not in element:  # not an element (e.g. per-group observables): not read
            continue
        name, values, var_attrs, dims = _read_element(element, steps, p)
        variables[name] = (values, var_attrs, dims)
    species = pg["species"]
    variables["atomic_numbers"] = (species["value"][0] if isinstance(species, h5py.Group) else species[()],
                                   _sciml_attrs(species), None)
    if "mass" in pg:
        variables["masses"] = (pg["mass"][()], _sciml_attrs(pg["mass"]), None)
    variables.update(_read_box(pg, steps, p))
    ds = _assemble(variables, times, time_attrs, unit_system)
    if meta is not None:
        for name, dset in meta.items():
            ds[str(name)] = xr.Variable(("sample",), np.asarray(dset[()])[None], attrs=_sciml_attrs(dset))
    ds.attrs = attrs | {"layout": "trajectory", "unit_system": unit_system}
    try:
        validate_trajectory(ds, require_provenance=False, check_finite=False)
    except SchemaError as exc:
        raise FileFormatError(f"{p}: not a sciml trajectory: {exc}") from exc
    return ds


def _assemble(variables: dict[str, tuple[np.ndarray, dict[str, Any], list[str] | None]],
              times: np.ndarray, time_attrs: dict[str, Any], unit_system: str) -> xr.Dataset:
    """A one-sample dataset from the variables read (values without ``sample``, attrs, dims)."""
    known = {k: v[0][None] for k, v in variables.items() if k in VARIABLE_DIMS}
    ds = trajectory_dataset(known.pop("positions"), time=times, unit_system=unit_system, **known)
    n_atom = ds.sizes["atom"]
    for name, (values, _, dims) in variables.items():
        if name not in VARIABLE_DIMS:
            dims = dims if dims is not None else _guess_dims(values.shape, n_atom)
            if dims is not None:
                ds[name] = xr.Variable(("sample", *dims), values[None])
    for name, (values, var_attrs, _) in variables.items():
        if name in ds.data_vars:
            defaults = ds[name].attrs or {"units": "1", "long_name": name}
            # sciml's own attributes replace the defaults; a foreign file's unit is merged in
            ds[name].attrs = var_attrs if "long_name" in var_attrs else {**defaults, **var_attrs}
    ds["time"].attrs = time_attrs if "units" in time_attrs else {**ds["time"].attrs, **time_attrs}
    return ds


def _guess_dims(shape: tuple[int, ...], n_atom: int) -> list[str] | None:
    """Dims (without ``sample``) of a foreign per-frame element, or None when they are unclear."""
    rest = shape[1:]
    guesses = {(): ["frame"], (n_atom,): ["frame", "atom"], (n_atom, 3): ["frame", "atom", "xyz"],
               (3,): ["frame", "xyz"]}
    return guesses.get(rest)


def _read_element(g: h5py.Group | h5py.Dataset, steps: np.ndarray, p: Path
                  ) -> tuple[str, np.ndarray, dict[str, Any], list[str] | None]:
    """A time-dependent element: (variable name, values, attributes, dims without sample)."""
    if not isinstance(g, h5py.Group) or "value" not in g or "step" not in g:
        raise FileFormatError(f"{p}: {g.name} is not a time-dependent H5MD element (value, step)")
    own_steps, _, _ = _element_times(g)
    if not np.array_equal(own_steps, steps):
        raise FileFormatError(f"{p}: {g.name} is sampled at other steps than position; "
                              "sciml needs every element at the position steps")
    element = g.name.rsplit("/", 1)[-1]
    var = next((v for v, (_, e) in _ELEMENTS.items() if e == element), element)
    raw_dims = g["value"].attrs.get("sciml_dims")
    dims = json.loads(_plain(raw_dims)) if raw_dims is not None else None
    unit = g["value"].attrs.get("unit")
    attrs = _sciml_attrs(g["value"]) or ({"units": _plain(unit)} if unit is not None else {})
    return var, g["value"][()], attrs, dims


def _element_times(g: h5py.Group) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Steps, times and the time attributes of a time-dependent element (explicit or linear)."""
    n = g["value"].shape[0]
    step = g["step"]
    steps = step[()] if step.shape else step.attrs.get("offset", 0) + step[()] * np.arange(n)
    if "time" not in g:
        return np.asarray(steps), np.asarray(steps, dtype=np.float64), {"units": "1", "long_name": "step"}
    time = g["time"]
    times = time[()] if time.shape else time.attrs.get("offset", 0.0) + time[()] * np.arange(n)
    attrs = _sciml_attrs(time) or {"long_name": "time", **({"units": _plain(time.attrs["unit"])}
                                                           if "unit" in time.attrs else {})}
    return np.asarray(steps), np.asarray(times), attrs


def _read_box(pg: h5py.Group, steps: np.ndarray, p: Path
              ) -> dict[str, tuple[np.ndarray, dict[str, Any], None]]:
    """``cell`` ``(n_frame, 3, 3)`` and ``pbc`` ``(3,)`` from ``box`` (no box: open, zero cell)."""
    n_frame = len(steps)
    box = pg["box"] if "box" in pg else None
    if box is None:
        return {"cell": (np.zeros((n_frame, 3, 3)), {}, None), "pbc": (np.zeros(3, dtype=np.int8), {}, None)}
    dim = int(np.asarray(box.attrs.get("dimension", 3)))
    if dim != 3:
        raise FileFormatError(f"{p}: box dimension is {dim}; sciml reads 3-D boxes only")
    boundary = [_plain(b) for b in np.asarray(box.attrs.get("boundary", [b"none"] * 3)).tolist()]
    pbc = np.asarray([b == "periodic" for b in boundary], dtype=np.int8)
    pbc_attrs = json.loads(_plain(box.attrs["sciml_pbc_attrs"])) if "sciml_pbc_attrs" in box.attrs else {}
    edges = box.get("edges")
    if edges is None:
        values, cell_attrs = np.zeros((n_frame, 3)), {}
    elif isinstance(edges, h5py.Group):
        _, values, cell_attrs, _ = _read_element(edges, steps, p)
    else:
        values, cell_attrs = np.broadcast_to(edges[()], (n_frame, *edges.shape)), _sciml_attrs(edges)
    cell = values[..., None] * np.eye(3, dtype=values.dtype) if values.shape[1:] == (3,) else values
    return {"cell": (np.array(cell), cell_attrs, None), "pbc": (pbc, pbc_attrs, None)}


def _unit_system(position: h5py.Dataset, p: Path) -> str:
    unit = _plain(position.attrs.get("unit", ""))
    if unit == "":
        return "lj"
    if unit.lower() in {"angstrom", "a", "å"}:
        return "ase"
    raise FileFormatError(f"{p}: positions are in {unit!r}; sciml reads Angstrom (unit system 'ase') "
                          f"or reduced units (no unit attribute, 'lj'); known systems: {list(UNIT_SYSTEMS)}")


def _sciml_attrs(dset: h5py.Dataset | h5py.Group) -> dict[str, Any]:
    raw = dset.attrs.get("sciml_attrs")
    return json.loads(_plain(raw)) if raw is not None else {}


def _plain(value: Any) -> Any:
    """An HDF5 attribute value as a plain Python value (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
