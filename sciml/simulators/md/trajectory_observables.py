"""Observables of trajectory datasets (the ``layout = "trajectory"`` of :mod:`sciml.data.particles`).

Thin wrappers over :mod:`sciml.simulators.md.observables` that pick the arrays of a dataset,
pool or average its samples and convert units: in the ``"lj"`` unit system ``k_B = 1`` and
the kinetic energy is ``m v^2 / 2`` as stored; in ``"ase"`` (Angstrom, eV, amu, fs) the
kinetic energy is converted to eV and temperatures are in K. Results along time are
:class:`xarray.DataArray` with ``units``.

Reference: Allen and Tildesley, *Computer Simulation of Liquids*, 2nd ed. (OUP, 2017), ch. 8.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sciml.errors import ParameterError
from sciml.simulators.md.observables import (
    AngularDistribution,
    RadialDistribution,
    angular_distribution,
    kinetic_energy,
    mean_squared_displacement,
    radial_distribution,
    unwrap_positions,
    velocity_autocorrelation,
    virial_pressure,
)

__all__ = [
    "trajectory_adf",
    "trajectory_msd",
    "trajectory_pressure",
    "trajectory_rdf",
    "trajectory_temperature",
    "trajectory_vacf",
    "unit_constants",
]


def unit_constants(unit_system: str) -> dict[str, float | str]:
    """``k_B`` (energy per temperature unit), the factor from ``m v^2`` to energy, and unit names.

    Returns
    -------
    dict
        ``k_B``, ``ke_factor``, ``temperature_units``, ``pressure_units``, ``length_units``,
        ``time_units``.
    """
    if unit_system == "lj":
        return {"k_B": 1.0, "ke_factor": 1.0, "temperature_units": "epsilon k_B-1",
                "pressure_units": "epsilon sigma-3", "length_units": "sigma", "time_units": "tau"}
    if unit_system == "ase":
        try:
            from ase import units
        except ImportError as exc:  # pragma: no cover - ase is installed in the test environment
            raise ImportError("the 'ase' unit system needs ASE: pip install 'sciml[md]'") from exc
        return {"k_B": units.kB, "ke_factor": 1.0 / units.fs**2, "temperature_units": "K",
                "pressure_units": "eV angstrom-3", "length_units": "angstrom", "time_units": "fs"}
    raise ParameterError(f"unknown unit_system {unit_system!r}; accepted: ['lj', 'ase']")


def _samples(ds: xr.Dataset, sample: int | None) -> list[int]:
    if "positions" not in ds or ds.attrs.get("layout") != "trajectory":
        raise ParameterError("expected a trajectory dataset (attrs['layout'] == 'trajectory' with 'positions')")
    n = ds.sizes["sample"]
    if sample is None:
        return list(range(n))
    if not -n <= int(sample) < n:
        raise ParameterError(f"sample {sample} out of range; the dataset has {n} sample(s)")
    return [int(sample) % n]


def _get(ds: xr.Dataset, name: str, s: int) -> np.ndarray:
    if name not in ds:
        raise ParameterError(f"the trajectory dataset has no {name!r}")
    return np.asarray(ds[name].isel(sample=s).values, dtype=np.float64)


def _masses(ds: xr.Dataset, s: int) -> np.ndarray:
    if "masses" in ds:
        return _get(ds, "masses", s)
    if ds.attrs.get("unit_system") == "lj":
        return np.ones(ds.sizes["atom"])
    from ase.data import atomic_masses

    return atomic_masses[np.asarray(ds["atomic_numbers"].isel(sample=s).values)]


def trajectory_rdf(ds: xr.Dataset, *, r_max: float, n_bins: int = 100, pair: tuple[int, int] | None = None,
                   sample: int | None = None, frames: slice | None = None) -> RadialDistribution:
    """:func:`~sciml.simulators.md.observables.radial_distribution` pooled over samples and frames.

    ``pair`` is a pair of atomic numbers (centre, neighbour); ``frames`` selects frames
    (default all); ``sample`` one sample (default all).
    """
    parts = []
    sel = frames if frames is not None else slice(None)
    for s in _samples(ds, sample):
        z = np.asarray(ds["atomic_numbers"].isel(sample=s).values)
        parts.append(radial_distribution(_get(ds, "positions", s)[sel], _get(ds, "cell", s)[sel],
                                         ds["pbc"].isel(sample=s).values.astype(bool),
                                         r_max=r_max, n_bins=n_bins, species=z, pair=pair))
    return RadialDistribution(parts[0].r, parts[0].edges, np.mean([p.g for p in parts], axis=0),
                              np.mean([p.coordination for p in parts], axis=0))


def trajectory_adf(ds: xr.Dataset, *, cutoff: float, n_bins: int = 180, sample: int | None = None,
                   frames: slice | None = None) -> AngularDistribution:
    """:func:`~sciml.simulators.md.observables.angular_distribution` pooled over samples and frames."""
    counts = None
    sel = frames if frames is not None else slice(None)
    for s in _samples(ds, sample):
        one = angular_distribution(_get(ds, "positions", s)[sel], _get(ds, "cell", s)[sel],
                                   ds["pbc"].isel(sample=s).values.astype(bool), cutoff=cutoff, n_bins=n_bins)
        counts = one.counts if counts is None else counts + one.counts
        theta, edges = one.theta, one.edges
    total = counts.sum()
    density = counts / (total * np.diff(edges)) if total else np.zeros_like(counts)
    return AngularDistribution(theta, edges, density, counts)


def _lag_array(values: np.ndarray, ds: xr.Dataset, name: str, units: str, long_name: str) -> xr.DataArray:
    time = np.asarray(ds["time"].values, dtype=np.float64)
    lag = time[: values.size] - time[0]
    if values.size > 2 and not np.allclose(np.diff(time[: values.size]), time[1] - time[0]):
        raise ParameterError(f"{name} needs equally spaced frames")
    return xr.DataArray(values, dims=("lag",), coords={"lag": ("lag", lag, {"units": ds["time"].attrs.get("units", "1"),
                                                                             "long_name": "lag time"})},
                        name=name, attrs={"units": units, "long_name": long_name})


def trajectory_msd(ds: xr.Dataset, *, sample: int | None = None, max_lag: int | None = None) -> xr.DataArray:
    """Mean-squared displacement along lag time, unwrapped per sample and averaged over samples.

    Returns
    -------
    xarray.DataArray, dims ``("lag",)``
        Coordinate ``lag`` (time units of the dataset); MSD in length^2.
    """
    msds = [mean_squared_displacement(unwrap_positions(_get(ds, "positions", s), _get(ds, "cell", s),
                                                       ds["pbc"].isel(sample=s).values.astype(bool)),
                                      max_lag=max_lag) for s in _samples(ds, sample)]
    units = str(unit_constants(ds.attrs.get("unit_system", "lj"))["length_units"])
    return _lag_array(np.mean(msds, axis=0), ds, "msd", f"{units}2", "mean-squared displacement")


def trajectory_vacf(ds: xr.Dataset, *, sample: int | None = None, max_lag: int | None = None,
                    normalize: bool = False) -> xr.DataArray:
    """Velocity autocorrelation along lag time, averaged over samples (velocity units squared)."""
    vacfs = [velocity_autocorrelation(_get(ds, "velocities", s), max_lag=max_lag) for s in _samples(ds, sample)]
    c = np.mean(vacfs, axis=0)
    units = "1" if normalize else f"({ds['velocities'].attrs.get('units', '1')})2"
    return _lag_array(c / c[0] if normalize else c, ds, "vacf", units, "velocity autocorrelation")


def _kinetic(ds: xr.Dataset, s: int) -> np.ndarray:
    factor = float(unit_constants(ds.attrs.get("unit_system", "lj"))["ke_factor"])
    return factor * kinetic_energy(_get(ds, "velocities", s), _masses(ds, s))


def trajectory_temperature(ds: xr.Dataset, *, dof: int | None = None) -> xr.DataArray:
    """Kinetic temperature ``2 K / (dof k_B)`` of every sample and frame.

    ``dof`` defaults to ``3 n - 3`` (centre of mass fixed). Returns a DataArray
    ``(sample, frame)`` in ``epsilon/k_B`` (``"lj"``) or K (``"ase"``).
    """
    consts = unit_constants(ds.attrs.get("unit_system", "lj"))
    n = ds.sizes["atom"]
    dof = 3 * n - 3 if dof is None else dof
    values = np.stack([2.0 * _kinetic(ds, s) / (dof * float(consts["k_B"])) for s in range(ds.sizes["sample"])])
    return xr.DataArray(values, dims=("sample", "frame"), coords={"time": ds["time"]}, name="temperature",
                        attrs={"units": consts["temperature_units"], "long_name": "kinetic temperature"})


def trajectory_pressure(ds: xr.Dataset) -> xr.DataArray:
    """Pressure ``2 K / (3 V) - tr(stress) / 3`` of every sample and frame (stress: potential part).

    Returns a DataArray ``(sample, frame)`` in ``epsilon/sigma^3`` or ``eV/Angstrom^3``.
    """
    consts = unit_constants(ds.attrs.get("unit_system", "lj"))
    rows = []
    for s in range(ds.sizes["sample"]):
        volume = np.abs(np.linalg.det(_get(ds, "cell", s)))
        rows.append(virial_pressure(volume, _kinetic(ds, s), stress=_get(ds, "stress", s)))
    return xr.DataArray(np.stack(rows), dims=("sample", "frame"), coords={"time": ds["time"]}, name="pressure",
                        attrs={"units": consts["pressure_units"], "long_name": "pressure (kinetic + virial)"})

