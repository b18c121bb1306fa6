"""The sciml trajectory layout for particle data (molecular dynamics frames), and its validator.

A sciml *trajectory dataset* is an :class:`xarray.Dataset` with ``attrs["layout"] =
"trajectory"`` and ``attrs["unit_system"]`` in :data:`UNIT_SYSTEMS`, and

* dimensions ``sample`` (independent runs), ``frame`` (time), ``atom``, ``xyz`` (coordinate
  ``["x", "y", "z"]``), ``cell_vector`` (3) and ``voigt`` (6, order ``xx yy zz yz xz xy`` as
  ASE; coordinate of these labels);
* a coordinate ``time`` along ``frame`` (float, strictly increasing, with ``units``) and
  integer index coordinates ``sample`` and ``atom``;
* variables (dims in :data:`VARIABLE_DIMS`): ``positions``, ``cell`` (rows are the cell
  vectors, as ASE), ``pbc`` (int8 0/1 per cell vector), ``atomic_numbers`` (int32, 1..118),
  and optionally ``velocities``, ``forces``, ``energy`` (potential energy of the frame),
  ``stress`` and ``masses``; each with ``units`` (from :data:`UNITS`), ``long_name`` and a
  ``role``: ``"structure"`` (atomic_numbers, masses, pbc), ``"state"`` (positions,
  velocities, cell) or ``"label"`` (energy, forces, stress: what a potential is fitted to);
* per-sample parameters (temperature, density, ...) as 1-D variables along ``sample`` with
  ``role="parameter"``, and provenance attributes, both as in field datasets
  (:func:`sciml.data.schema.provenance_attrs`).

Unit systems: ``"lj"`` is reduced Lennard-Jones units (sigma, epsilon and the particle mass
are 1; time in tau = sigma sqrt(m / epsilon)); ``"ase"`` is Angstrom, eV, amu, with time in
fs and velocities in Angstrom/fs; ``"cosmology"`` is comoving Mpc/h, peculiar velocities in
km/s, masses in Msun/h, and the scale factor ``a`` as time (dark-matter particles: no
``atomic_numbers``, which every other unit system requires).

References: ASE ``Atoms`` conventions (https://wiki.fysik.dtu.dk/ase/ase/atoms.html); H5MD 1.1
(:mod:`sciml.data.h5md`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.ase_frames import (
    ase_getters,
    frame_times,
    frames_by_sample,
    gather,
    import_ase,
    velocity_factor,
)
from sciml.data.checks import (
    format_problems,
    is_trajectory,
    nonfinite_problems,
    parameter_problems,
    provenance_problems,
    sample_index_problems,
)
from sciml.errors import SchemaError

__all__ = [
    "trajectory_dataset",
    "validate_trajectory",
    "is_trajectory",
    "to_ase_atoms",
    "from_ase_frames",
    "required_variables",
    "species",
    "UNITS",
    "UNIT_SYSTEMS",
    "VARIABLE_DIMS",
    "TRAJECTORY_DIMS",
    "VOIGT",
]

#: Dimension names of trajectory data.
TRAJECTORY_DIMS: tuple[str, ...] = ("sample", "frame", "atom", "xyz", "cell_vector", "voigt")
#: Sizes every trajectory dataset agrees on.
FIXED_SIZES: dict[str, int] = {"xyz": 3, "cell_vector": 3, "voigt": 6}
#: Labels of the ``voigt`` dimension (ASE order).
VOIGT: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")
#: Accepted values of ``attrs["unit_system"]``.
UNIT_SYSTEMS: tuple[str, ...] = ("lj", "ase", "cosmology")

#: Dims of every known trajectory variable, in canonical order.
VARIABLE_DIMS: dict[str, tuple[str, ...]] = {
    "positions": ("sample", "frame", "atom", "xyz"),
    "velocities": ("sample", "frame", "atom", "xyz"),
    "forces": ("sample", "frame", "atom", "xyz"),
    "energy": ("sample", "frame"),
    "stress": ("sample", "frame", "voigt"),
    "cell": ("sample", "frame", "cell_vector", "xyz"),
    "pbc": ("sample", "xyz"),
    "atomic_numbers": ("sample", "atom"),
    "masses": ("sample", "atom"),
}
#: Variables every trajectory dataset has (``atomic_numbers`` not in the ``"cosmology"`` unit system).
REQUIRED_VARIABLES: tuple[str, ...] = ("positions", "cell", "pbc", "atomic_numbers")
_INTEGER = {"pbc": np.int8, "atomic_numbers": np.int32}

#: ``units`` attribute of each variable (and of ``time``) in each unit system.
UNITS: dict[str, dict[str, str]] = {
    "lj": {"positions": "sigma", "velocities": "sigma tau-1", "forces": "epsilon sigma-1",
           "energy": "epsilon", "stress": "epsilon sigma-3", "cell": "sigma", "masses": "m",
           "time": "tau", "pbc": "1", "atomic_numbers": "1"},
    "ase": {"positions": "angstrom", "velocities": "angstrom fs-1", "forces": "eV angstrom-1",
            "energy": "eV", "stress": "eV angstrom-3", "cell": "angstrom", "masses": "amu",
            "time": "fs", "pbc": "1", "atomic_numbers": "1"},
    "cosmology": {"positions": "Mpc/h", "velocities": "km/s", "forces": "(km/s)^2 h/Mpc", "energy": "(km/s)^2",
                  "stress": "(km/s)^2 (h/Mpc)^3", "cell": "Mpc/h", "masses": "Msun/h", "time": "1", "pbc": "1",
                  "atomic_numbers": "1"},
}
#: ``long_name`` of the ``time`` coordinate where it is not a time.
_TIME_NAMES = {"cosmology": "scale factor a"}
_LONG_NAMES = {
    "positions": "atom positions", "velocities": "atom velocities", "forces": "forces on atoms",
    "energy": "potential energy", "stress": "stress tensor (Voigt: xx yy zz yz xz xy)",
    "cell": "simulation cell (rows are cell vectors)", "pbc": "periodic along cell vector (0/1)",
    "atomic_numbers": "atomic numbers", "masses": "atom masses",
}
_ROLES = {"positions": "state", "velocities": "state", "cell": "state", "energy": "label",
          "forces": "label", "stress": "label", "pbc": "structure", "atomic_numbers": "structure",
          "masses": "structure"}


def required_variables(unit_system: str) -> tuple[str, ...]:
    """The variables a trajectory dataset of ``unit_system`` must have."""
    return tuple(n for n in REQUIRED_VARIABLES if not (unit_system == "cosmology" and n == "atomic_numbers"))


def _check_unit_system(unit_system: str, has_atomic_numbers: bool) -> None:
    if unit_system not in UNIT_SYSTEMS:
        raise SchemaError(f"unit_system must be one of {list(UNIT_SYSTEMS)}; got {unit_system!r}")
    if not has_atomic_numbers and "atomic_numbers" in required_variables(unit_system):
        raise SchemaError(f"atomic_numbers are required in the {unit_system!r} unit system")


def trajectory_dataset(
    positions: np.ndarray,
    *,
    atomic_numbers: np.ndarray | None = None,
    cell: np.ndarray,
    pbc: np.ndarray | Sequence[bool],
    time: np.ndarray,
    velocities: np.ndarray | None = None,
    forces: np.ndarray | None = None,
    energy: np.ndarray | None = None,
    stress: np.ndarray | None = None,
    masses: np.ndarray | None = None,
    parameters: Mapping[str, np.ndarray] | None = None,
    parameter_attrs: Mapping[str, Mapping[str, str]] | None = None,
    unit_system: str = "lj",
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Assemble a trajectory dataset in the canonical layout.

    Parameters
    ----------
    positions : ndarray
        ``(n_sample, n_frame, n_atom, 3)``, or ``(n_frame, n_atom, 3)`` for one sample.
    atomic_numbers, masses : ndarray
        ``(n_sample, n_atom)`` or anything that broadcasts to it, e.g. ``(n_atom,)``;
        ``atomic_numbers`` is required except in the ``"cosmology"`` unit system.
    cell : ndarray
        ``(n_sample, n_frame, 3, 3)`` (rows are cell vectors) or a broadcastable shape,
        e.g. ``(3, 3)`` for a fixed box.
    pbc : array of bool or 0/1
        ``(n_sample, 3)`` or ``(3,)``; stored as int8 0/1.
    time : ndarray
        ``(n_frame,)``, strictly increasing, in the time unit of ``unit_system``.
    velocities, forces : ndarray, optional
        Shaped like ``positions`` (or broadcastable).
    energy : ndarray, optional
        Potential energy, ``(n_sample, n_frame)`` or broadcastable.
    stress : ndarray, optional
        ``(n_sample, n_frame, 6)`` in Voigt order ``xx yy zz yz xz xy``.
    parameters, parameter_attrs : mapping, optional
        Per-sample parameters ``(n_sample,)`` and their CF attributes, as in
        :func:`sciml.data.schema.field_dataset`.
    unit_system : {"lj", "ase", "cosmology"}
        Sets the ``units`` attribute of every variable (see :data:`UNITS`).
    attrs : mapping, optional
        Global attributes, normally from :func:`sciml.data.schema.provenance_attrs`;
        ``layout`` and ``unit_system`` are set here.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    SchemaError
        An unknown unit system, no ``atomic_numbers`` where they are required, or an array
        whose shape does not fit (named with both shapes).
    """
    _check_unit_system(unit_system, atomic_numbers is not None)
    pos = np.asarray(positions)
    if pos.ndim == 3:
        pos = pos[None]
    if pos.ndim != 4 or pos.shape[-1] != 3:
        raise SchemaError(f"positions must have shape (n_sample, n_frame, n_atom, 3); got {np.shape(positions)}")
    n_sample, n_frame, n_atom, _ = pos.shape
    times = np.asarray(time, dtype=np.float64)
    if times.shape != (n_frame,):
        raise SchemaError(f"time must have shape ({n_frame},) (one value per frame); got {times.shape}")
    sizes = {"sample": n_sample, "frame": n_frame, "atom": n_atom, **FIXED_SIZES}
    given = {"positions": pos, "velocities": velocities, "forces": forces, "energy": energy,
             "stress": stress, "cell": cell, "pbc": pbc, "atomic_numbers": atomic_numbers, "masses": masses}
    data_vars = {name: _variable(name, value, sizes, unit_system)
                 for name, value in given.items() if value is not None}
    for name, vals in (parameters or {}).items():
        a = {"units": "1", "long_name": name, **(parameter_attrs or {}).get(name, {}), "role": "parameter"}
        data_vars[name] = xr.Variable(("sample",), np.asarray(vals, dtype=np.float64), attrs=a)
    coords = _coordinates(n_sample, n_atom, times, unit_system, voigt=stress is not None)
    out_attrs = {**dict(attrs or {}), "layout": "trajectory", "unit_system": unit_system}
    return xr.Dataset(data_vars, coords=coords, attrs=out_attrs)


def _coordinates(n_sample: int, n_atom: int, times: np.ndarray, unit_system: str, *,
                 voigt: bool) -> dict[str, xr.Variable]:
    """Index coordinates ``sample``/``atom``, labels ``xyz`` (and ``voigt``), and ``time``."""
    coords = {
        "sample": xr.Variable(("sample",), np.arange(n_sample, dtype=np.int64),
                              attrs={"long_name": "sample index", "units": "1"}),
        "atom": xr.Variable(("atom",), np.arange(n_atom, dtype=np.int64),
                            attrs={"long_name": "atom index", "units": "1"}),
        "xyz": xr.Variable(("xyz",), np.array(["x", "y", "z"]), attrs={"long_name": "Cartesian component"}),
        "time": xr.Variable(("frame",), times, attrs={
            "units": UNITS[unit_system]["time"], "long_name": _TIME_NAMES.get(unit_system, "time"),
            "standard_name": "time"}),
    }
    if voigt:
        coords["voigt"] = xr.Variable(("voigt",), np.array(VOIGT), attrs={"long_name": "Voigt component"})
    return coords


def _variable(name: str, value: Any, sizes: Mapping[str, int], unit_system: str) -> xr.Variable:
    """One known variable: dtype fixed, broadcast to its canonical shape, CF attributes set."""
    dims = VARIABLE_DIMS[name]
    shape = tuple(sizes[d] for d in dims)
    arr = np.asarray(value)
    if name in _INTEGER:
        if arr.dtype.kind not in "biu":
            raise SchemaError(f"{name} must be integers (or booleans for pbc); got dtype {arr.dtype}")
        arr = arr.astype(_INTEGER[name])
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    try:
        out = arr if arr.shape == shape else np.array(np.broadcast_to(arr, shape))
    except ValueError:
        raise SchemaError(
            f"{name} has shape {arr.shape}; expected {shape} {dims} or a shape that broadcasts to it"
        ) from None
    attrs = {"units": UNITS[unit_system][name], "long_name": _LONG_NAMES[name], "role": _ROLES[name]}
    return xr.Variable(dims, out, attrs=attrs)


def validate_trajectory(
    ds: xr.Dataset,
    *,
    require_forces: bool = False,
    require_energy: bool = False,
    require_provenance: bool = True,
    check_finite: bool = True,
    required_variables: Sequence[str] = (),
    required_parameters: Sequence[str] = (),
) -> xr.Dataset:
    """Check that ``ds`` follows the sciml trajectory layout.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check. It is not modified.
    require_forces, require_energy : bool, default False
        Require a ``forces`` (``energy``) variable, as a force-matching training file does.
    require_provenance : bool, default True
        Require the provenance attributes (:data:`sciml.data.checks.PROVENANCE_ATTRS`).
    check_finite : bool, default True
        Require every float variable and parameter to be finite (reads the data in blocks).
    required_variables, required_parameters : sequence of str
        Further variables and per-sample parameters that must be present.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself.

    Raises
    ------
    SchemaError
        Listing every problem found (dims and their order, dtypes, ``units`` attributes,
        cell shape, pbc values, atomic numbers, time, NaN/inf, missing variables), one a line.
    """
    if not isinstance(ds, xr.Dataset):
        raise SchemaError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    params = _parameter_names(ds)
    problems = _dim_problems(ds) + _variable_problems(ds) + _time_problems(ds) + sample_index_problems(ds)
    problems += _missing_problems(ds, require_forces, require_energy, required_variables)
    problems += [f"required parameter variable {name!r} is missing; present: {params}"
                 for name in required_parameters if name not in params]
    problems += parameter_problems(ds, params) + _attr_problems(ds)
    if require_provenance:
        problems += provenance_problems(ds)
    problems += _value_problems(ds)
    if check_finite:
        floats = [n for n, dims in VARIABLE_DIMS.items() if n not in _INTEGER and _well_formed(ds, n, dims)]
        problems += nonfinite_problems(ds, floats + [p for p in params if ds[p].dtype.kind in "fc"])
    if problems:
        raise SchemaError(format_problems(problems, "sciml trajectory layout"))
    return ds


def _parameter_names(ds: xr.Dataset) -> list[str]:
    """1-D variables along ``sample`` other than per-sample metadata."""
    return [str(n) for n, v in ds.data_vars.items() if v.dims == ("sample",) and v.attrs.get("role") != "metadata"]


def _well_formed(ds: xr.Dataset, name: str, dims: tuple[str, ...]) -> bool:
    """Whether variable ``name`` is present with ``dims`` and the fixed sizes (3 for ``xyz``, ...)."""
    if name not in ds.data_vars or ds[name].dims != dims:
        return False
    return all(ds.sizes[d] == FIXED_SIZES.get(d, ds.sizes[d]) for d in dims)


def _dim_problems(ds: xr.Dataset) -> list[str]:
    """Unknown or missing dimensions and wrong fixed sizes."""
    problems = []
    unknown = sorted(str(d) for d in ds.dims if d not in TRAJECTORY_DIMS)
    if unknown:
        problems.append(f"unknown dimension(s) {unknown}; accepted: {list(TRAJECTORY_DIMS)}")
    problems += [f"dimension {d!r} is missing" for d in ("sample", "frame", "atom", "xyz") if d not in ds.dims]
    problems += [f"dimension {d!r} has size {ds.sizes[d]}; expected {n}"
                 for d, n in FIXED_SIZES.items() if d in ds.dims and ds.sizes[d] != n]
    return problems


def _variable_problems(ds: xr.Dataset) -> list[str]:
    """Known variables with wrong dims, order or dtype; any data variable without ``units``."""
    problems = []
    for name, dims in VARIABLE_DIMS.items():
        if name not in ds.data_vars:
            continue
        v = ds[name]
        if v.dims != dims:
            what = "cell shape: 'cell'" if name == "cell" else repr(name)
            problems.append(f"{what} has dims {v.dims} {tuple(v.shape)}; expected {dims}")
        if name in _INTEGER and v.dtype.kind not in "iu":
            problems.append(f"{name!r} has dtype {v.dtype}; expected an integer type")
        elif name not in _INTEGER and v.dtype.kind != "f":
            problems.append(f"{name!r} has dtype {v.dtype}; expected a floating type")
    problems += [f"variable {str(n)!r} has no 'units' attribute"
                 for n, v in ds.data_vars.items() if "units" not in v.attrs]
    return problems


def _time_problems(ds: xr.Dataset) -> list[str]:
    """The ``time`` coordinate: present along ``frame``, with units, finite, strictly increasing."""
    if "time" not in ds.coords:
        return ["coordinate 'time' (along 'frame') is missing"]
    t = ds.coords["time"]
    if t.dims != ("frame",):
        return [f"coordinate 'time' has dims {t.dims}; expected ('frame',)"]
    problems = [f"coordinate 'time' has no {k!r} attribute" for k in ("units", "long_name") if k not in t.attrs]
    values = np.asarray(t.values)
    if values.dtype.kind not in "iuf":
        return problems + [f"coordinate 'time' has dtype {values.dtype}; expected a number"]
    if not np.all(np.isfinite(values)):
        problems.append("coordinate 'time' has non-finite values")
    elif values.size > 1 and not np.all(np.diff(values) > 0):
        problems.append("coordinate 'time' is not strictly increasing")
    return problems


def _missing_problems(ds: xr.Dataset, forces: bool, energy: bool, required: Sequence[str]) -> list[str]:
    """Required variables that are absent, naming the file the dataset was read from."""
    source = ds.encoding.get("source")
    what = f"file {str(source)!r}" if source else "the dataset"
    unit_system = str(ds.attrs.get("unit_system"))
    problems = [f"required variable {name!r} is missing" for name in required_variables(unit_system)
                if name not in ds.data_vars]
    if forces and "forces" not in ds.data_vars:
        problems.append(f"{what} has no forces; a force-matching training file needs a 'forces' "
                        f"variable {VARIABLE_DIMS['forces']}")
    if energy and "energy" not in ds.data_vars:
        problems.append(f"{what} has no energy; an energy-matching training file needs an 'energy' "
                        f"variable {VARIABLE_DIMS['energy']}")
    present = [str(n) for n in ds.data_vars]
    problems += [f"required variable {name!r} is missing; present: {present}"
                 for name in required if name not in ds.data_vars and name not in REQUIRED_VARIABLES]
    return problems


def _attr_problems(ds: xr.Dataset) -> list[str]:
    problems = []
    if ds.attrs.get("layout") != "trajectory":
        problems.append(f"attrs['layout'] is {ds.attrs.get('layout')!r}; a trajectory dataset has 'trajectory'")
    if ds.attrs.get("unit_system") not in UNIT_SYSTEMS:
        problems.append(f"attrs['unit_system'] is {ds.attrs.get('unit_system')!r}; expected one of "
                        f"{list(UNIT_SYSTEMS)}")
    return problems


def _value_problems(ds: xr.Dataset) -> list[str]:
    """pbc not 0/1, atomic numbers outside 1..118, non-positive masses, zero periodic cell vectors."""
    problems = []
    if _well_formed(ds, "pbc", VARIABLE_DIMS["pbc"]):
        pbc = np.asarray(ds["pbc"].values)
        bad = sorted(set(np.unique(pbc).tolist()) - {0, 1})
        if bad:
            problems.append(f"'pbc' has values {bad[:5]}; expected 0 (open) or 1 (periodic) per cell vector")
        elif _well_formed(ds, "cell", VARIABLE_DIMS["cell"]) and ds["cell"].dtype.kind == "f":
            norms = np.linalg.norm(np.asarray(ds["cell"].values), axis=-1)  # (sample, frame, vector)
            zero = (norms == 0) & (pbc[:, None, :] == 1)
            if zero.any():
                s, f, i = (int(k[0]) for k in np.nonzero(zero))
                problems.append(f"'cell' vector {i} is zero although pbc is periodic along it "
                                f"({int(zero.sum())} case(s), first sample {s}, frame {f})")
    if _well_formed(ds, "atomic_numbers", VARIABLE_DIMS["atomic_numbers"]):
        z = np.asarray(ds["atomic_numbers"].values)
        bad = np.unique(z[(z < 1) | (z > 118)])
        if bad.size:
            problems.append(f"'atomic_numbers' has values outside 1..118: {bad[:5].tolist()}")
    if _well_formed(ds, "masses", VARIABLE_DIMS["masses"]):
        m = np.asarray(ds["masses"].values)
        if np.any(m <= 0):
            problems.append(f"'masses' has {int(np.sum(m <= 0))} non-positive value(s)")
    return problems


# --------------------------------------------------------------------------- ASE bridge


def to_ase_atoms(ds: xr.Dataset, sample: int, frame: int) -> Any:
    """One frame of one sample as an :class:`ase.Atoms`.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory dataset (lazily opened is fine: only this frame is read).
    sample, frame : int
        Positions along ``sample`` and ``frame`` (negative values count from the end).

    Returns
    -------
    ase.Atoms
        Numbers, positions, cell, pbc; masses and velocities when present (velocities in
        ASE units; without a ``masses`` variable ASE's element masses apply);
        ``info["time"]`` in the dataset's time unit; a ``SinglePointCalculator`` with the
        energy, forces and stress present (stress in ASE's sign convention and Voigt
        order). In the ``"lj"`` unit system values are taken as-is (ASE's units read as
        sigma, epsilon, m).

    Raises
    ------
    ImportError
        ASE is not installed (``pip install 'sciml[md]'``).
    SchemaError
        The dataset has no ``atomic_numbers`` (``"cosmology"`` particles).
    """
    if "atomic_numbers" not in ds:
        raise SchemaError(f"an ase.Atoms needs atomic numbers; this {ds.attrs.get('unit_system')!r} trajectory "
                          "has none")
    import_ase()
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    one = ds.isel(sample=sample, frame=frame)
    atoms = Atoms(numbers=np.asarray(one["atomic_numbers"].values),
                  positions=np.asarray(one["positions"].values, dtype=np.float64),
                  cell=np.asarray(one["cell"].values, dtype=np.float64),
                  pbc=np.asarray(one["pbc"].values).astype(bool))
    if "masses" in one:
        atoms.set_masses(np.asarray(one["masses"].values, dtype=np.float64))
    if "velocities" in one:
        factor = velocity_factor(str(ds.attrs.get("unit_system")))
        atoms.set_velocities(np.asarray(one["velocities"].values, dtype=np.float64) * factor)
    results = {name: np.asarray(one[name].values, dtype=np.float64)
               for name in ("energy", "forces", "stress") if name in one}
    if "energy" in results:
        results["energy"] = float(results["energy"])
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["time"] = float(one["time"].values)
    return atoms


def species(ds: xr.Dataset, sample: int | None = None) -> np.ndarray:
    """Chemical symbols of the atoms: ``(n_sample, n_atom)``, or ``(n_atom,)`` for one ``sample``.

    Raises
    ------
    SchemaError
        The dataset has no ``atomic_numbers`` (``"cosmology"`` particles).
    """
    if "atomic_numbers" not in ds:
        raise SchemaError(f"this {ds.attrs.get('unit_system')!r} trajectory has no atomic numbers")
    import_ase()
    from ase.data import chemical_symbols

    z = np.asarray(ds["atomic_numbers"].values if sample is None else ds["atomic_numbers"].isel(sample=sample).values)
    return np.asarray(chemical_symbols, dtype=object)[z]


def from_ase_frames(
    frames: Sequence[Any] | Sequence[Sequence[Any]],
    *,
    time: np.ndarray | None = None,
    unit_system: str = "ase",
    parameters: Mapping[str, np.ndarray] | None = None,
    parameter_attrs: Mapping[str, Mapping[str, str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a trajectory dataset from :class:`ase.Atoms` frames.

    Parameters
    ----------
    frames : list of ase.Atoms, or list of such lists
        One list per sample (a flat list is one sample). Every sample has the same number of
        frames and every frame the same number of atoms; species, pbc (and masses) are taken
        from the first frame of each sample; species and pbc must not change.
    time : ndarray, optional
        ``(n_frame,)`` in the time unit of ``unit_system``. By default ``info["time"]`` of
        the frames of sample 0 when every frame has it, else the frame index (then the
        ``time`` coordinate has ``units="1"``).
    unit_system : {"ase", "lj"}
        How to read ASE's units (velocities are converted from ASE's to Angstrom/fs for
        ``"ase"``; everything is taken as-is for ``"lj"``).
    parameters, parameter_attrs, attrs
        As in :func:`trajectory_dataset`.

    Returns
    -------
    xarray.Dataset
        With energy, forces and stress where every frame's ``atoms.calc.results`` has them
        (nothing is computed), velocities where every frame has momenta, masses where every
        frame has explicitly set masses.

    Raises
    ------
    SchemaError
        No frames, frames of different sizes, changing species or pbc, a quantity present in
        some frames only, or sample times that differ.
    ImportError
        ASE is not installed.
    """
    import_ase()
    samples = frames_by_sample(frames)
    get = ase_getters(velocity_factor(unit_system))
    values = {name: gather(samples, name, getter) for name, getter in get.items()}
    first = [s[0] for s in samples]
    times, time_attrs = frame_times(samples, time)
    masses = values.pop("masses")
    ds = trajectory_dataset(
        values.pop("positions"), atomic_numbers=np.stack([a.numbers for a in first]),
        cell=values.pop("cell"), pbc=np.stack([a.pbc for a in first]), time=times,
        masses=None if masses is None else masses[:, 0], **values,
        parameters=parameters, parameter_attrs=parameter_attrs, unit_system=unit_system, attrs=attrs,
    )
    ds["time"].attrs.update(time_attrs)
    return ds
