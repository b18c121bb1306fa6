"""Tests of the trajectory layout (sciml.data.particles): builder, validator, NetCDF round-trips,
the ASE bridge, and that field datasets are validated as before."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sciml.data import concat, open_dataset, save, validate
from sciml.data.netcdf import _chunk_shape
from sciml.data.ase_frames import import_ase
from sciml.data.particles import (
    UNITS,
    VARIABLE_DIMS,
    from_ase_frames,
    is_trajectory,
    species,
    to_ase_atoms,
    trajectory_dataset,
    validate_trajectory,
)
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import FileFormatError, SchemaError

# ASE itself triggers NumPy's "setting the shape" deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")


def make_traj(n_sample: int = 2, n_frame: int = 4, n_atom: int = 5, *, seed: int = 0,
              unit_system: str = "lj", dtype: type = np.float64, **kw: object) -> xr.Dataset:
    """Random particles in a fixed cubic box, with every optional variable."""
    rng = np.random.default_rng(seed)
    shape = (n_sample, n_frame, n_atom, 3)
    args: dict[str, object] = dict(
        atomic_numbers=np.full(n_atom, 18), cell=np.eye(3) * 4.0, pbc=[True, True, True],
        time=0.005 * np.arange(n_frame), velocities=rng.normal(size=shape).astype(dtype),
        forces=rng.normal(size=shape).astype(dtype), energy=rng.normal(size=(n_sample, n_frame)).astype(dtype),
        stress=rng.normal(size=(n_sample, n_frame, 6)).astype(dtype), masses=np.full(n_atom, 2.0),
        parameters={"temperature": np.linspace(0.8, 1.2, n_sample)},
        parameter_attrs={"temperature": {"units": "epsilon/k_B", "long_name": "temperature"}},
        unit_system=unit_system,
        attrs=provenance_attrs(generator="lj_fluid", generator_version="1.0",
                               parameters={"density": 0.8442, "note": 'a "quoted" value'}, seed=seed),
    )
    args.update(kw)
    return trajectory_dataset((rng.uniform(0, 4, size=shape)).astype(dtype), **args)


def cu_frames(n_frame: int = 3, seed: int = 0) -> list:
    """A rattled 32-atom Cu crystal with EMT energies, forces and stress, and velocities."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frame):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.set_velocities(rng.normal(scale=0.01, size=(len(atoms), 3)))
        atoms.calc = EMT()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        frames.append(atoms)
    return frames


def problems_of(ds: xr.Dataset, **kw: object) -> str:
    with pytest.raises(SchemaError) as info:
        validate_trajectory(ds, **kw)
    return str(info.value)


# --------------------------------------------------------------------------- builder


def test_builder_gives_the_contract_layout():
    ds = make_traj()
    assert is_trajectory(ds) and validate(ds) is ds and validate_trajectory(ds) is ds
    assert dict(ds.sizes) == {"sample": 2, "frame": 4, "atom": 5, "xyz": 3, "cell_vector": 3, "voigt": 6}
    for name, dims in VARIABLE_DIMS.items():
        assert ds[name].dims == dims
        assert ds[name].attrs["units"] == UNITS["lj"][name]
    assert ds["pbc"].dtype == np.int8 and ds["atomic_numbers"].dtype == np.int32
    assert ds["time"].dims == ("frame",) and ds["time"].attrs["units"] == "tau"
    assert ds["xyz"].values.tolist() == ["x", "y", "z"]
    assert ds["voigt"].values.tolist() == ["xx", "yy", "zz", "yz", "xz", "xy"]
    assert ds["sample"].values.tolist() == [0, 1] and ds["atom"].values.tolist() == list(range(5))
    assert ds.attrs["layout"] == "trajectory" and ds.attrs["unit_system"] == "lj"
    assert ds["temperature"].attrs["role"] == "parameter"
    assert (ds["forces"].attrs["role"], ds["positions"].attrs["role"], ds["pbc"].attrs["role"]) == (
        "label", "state", "structure")
    np.testing.assert_array_equal(ds["cell"].values, np.broadcast_to(4.0 * np.eye(3), (2, 4, 3, 3)))


def test_builder_accepts_one_sample_and_ase_units():
    pos = np.zeros((3, 2, 3))
    pos[:, 1, 0] = 1.5
    ds = trajectory_dataset(pos, atomic_numbers=[29, 29], cell=np.zeros((3, 3)), pbc=[False] * 3,
                            time=[0.0, 1.0, 2.0], unit_system="ase")
    assert ds.sizes["sample"] == 1 and "voigt" not in ds.dims
    assert ds["positions"].attrs["units"] == "angstrom" and ds["time"].attrs["units"] == "fs"
    validate_trajectory(ds, require_provenance=False)


@pytest.mark.parametrize("kw, match", [
    ({"cell": np.eye(2)}, r"cell has shape \(2, 2\); expected \(2, 4, 3, 3\)"),
    ({"energy": np.zeros(3)}, r"energy has shape \(3,\); expected \(2, 4\)"),
    ({"atomic_numbers": np.full(5, 18.0)}, r"atomic_numbers must be integers"),
    ({"time": np.arange(3.0)}, r"time must have shape \(4,\)"),
    ({"unit_system": "si"}, r"unit_system must be one of \['lj', 'ase', 'cosmology'\]; got 'si'"),
])
def test_builder_refuses_shapes_that_do_not_fit(kw, match):
    with pytest.raises(SchemaError, match=match):
        make_traj(**kw)


# --------------------------------------------------------------------------- validation


def test_field_datasets_still_validate_as_fields():
    ds = field_dataset({"u": np.zeros((2, 3, 4))}, coords={"t": np.arange(3.0), "x": np.arange(4.0)},
                       attrs=provenance_attrs(generator="g", generator_version="0", parameters={}, seed=1))
    assert not is_trajectory(ds) and validate(ds) is ds
    with pytest.raises(SchemaError, match=r"dimension 't' is missing"):
        validate(ds.rename(t="time_"))


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(positions=d["positions"].transpose("sample", "atom", "frame", "xyz")),
     r"'positions' has dims \('sample', 'atom', 'frame', 'xyz'\) \(2, 5, 4, 3\); expected "
     r"\('sample', 'frame', 'atom', 'xyz'\)"),
    (lambda d: d.assign(cell=d["cell"].transpose("sample", "frame", "xyz", "cell_vector")),
     r"cell shape: 'cell' has dims \('sample', 'frame', 'xyz', 'cell_vector'\)"),
    (lambda d: d.assign(positions=d["positions"].astype(np.int64)), r"'positions' has dtype int64; expected a floating"),
    (lambda d: d.assign(pbc=d["pbc"].astype(np.float32)), r"'pbc' has dtype float32; expected an integer"),
    (lambda d: d.assign(pbc=d["pbc"] * 2), r"'pbc' has values \[2\]; expected 0 \(open\) or 1"),
    (lambda d: d.assign(atomic_numbers=d["atomic_numbers"].copy(data=[[0, 1, 1, 1, 119]] * 2)),
     r"'atomic_numbers' has values outside 1..118: \[0, 119\]"),
    (lambda d: d.assign_coords(time=("frame", [0.0, 0.1, 0.1, 0.2], {"units": "tau", "long_name": "time"})),
     r"coordinate 'time' is not strictly increasing"),
    (lambda d: d.drop_vars("time"), r"coordinate 'time' \(along 'frame'\) is missing"),
    (lambda d: d.assign(positions=d["positions"].where(
        (d["sample"] != 1) | (d["frame"] != 2) | (d["atom"] != 0) | (d["xyz"] != "y"))),
     r"variable 'positions' has 1 non-finite value\(s\) in sample\(s\) \[1\]"),
    (lambda d: d.assign(energy=d["energy"] + np.inf), r"variable 'energy' has 8 non-finite"),
    (lambda d: d.drop_vars(["cell", "atomic_numbers"]),
     r"required variable 'cell' is missing\n  - required variable 'atomic_numbers' is missing"),
    (lambda d: d.isel(xyz=[0, 1]), r"dimension 'xyz' has size 2; expected 3"),
    (lambda d: d.expand_dims(replica=2), r"unknown dimension\(s\) \['replica'\]"),
    (lambda d: d.assign(cell=d["cell"].where(d["cell_vector"] != 2, 0.0)),
     r"'cell' vector 2 is zero although pbc is periodic along it \(8 case\(s\), first sample 0, frame 0\)"),
    (lambda d: d.assign(masses=-d["masses"]), r"'masses' has 10 non-positive value\(s\)"),
    (lambda d: d.assign(forces=d["forces"].assign_attrs(units=None).drop_attrs()),
     r"variable 'forces' has no 'units' attribute"),
    (lambda d: d.drop_attrs(deep=False), r"attrs\['layout'\] is None; a trajectory dataset has 'trajectory'"),
    (lambda d: d.assign_attrs(unit_system="cgs"), r"attrs\['unit_system'\] is 'cgs'; expected one of"),
    (lambda d: xr.concat([d, d], dim="sample"), r"sample index has duplicate values"),
])
def test_each_bad_input_is_named(mutate, match):
    text = problems_of(mutate(make_traj()))
    assert text.startswith("dataset does not follow the sciml trajectory layout:")
    assert __import__("re").search(match, text), text


def test_every_problem_is_listed_at_once():
    ds = make_traj()
    bad = ds.assign(pbc=ds["pbc"] * 3, positions=ds["positions"] * np.nan).drop_attrs(deep=False)
    text = problems_of(bad)
    for part in ("'pbc' has values [3]", "variable 'positions' has 120 non-finite", "attrs['layout']",
                 "provenance attribute(s) missing"):
        assert part in text
    assert "provenance" not in problems_of(bad, require_provenance=False)
    assert "non-finite" not in problems_of(bad, check_finite=False)


def test_missing_forces_and_energy_for_training(tmp_path: Path):
    ds = make_traj().drop_vars(["forces", "energy"])
    validate_trajectory(ds)
    with pytest.raises(SchemaError, match=r"the dataset has no forces; a force-matching training file "
                                          r"needs a 'forces' variable \('sample', 'frame', 'atom', 'xyz'\)"):
        validate_trajectory(ds, require_forces=True)
    with pytest.raises(SchemaError, match=r"has no energy"):
        validate_trajectory(ds, require_energy=True)
    path = save(ds, tmp_path / "train.nc")
    with open_dataset(path) as back, pytest.raises(SchemaError, match=rf"file '{path}' has no forces"):
        validate_trajectory(back, require_forces=True)
    with pytest.raises(SchemaError, match=r"required variable 'forces' is missing"):
        validate(ds, required_fields=["forces"])
    with pytest.raises(SchemaError, match=r"required parameter variable 'density' is missing"):
        validate(ds, required_parameters=["density"])


# --------------------------------------------------------------------------- NetCDF


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_netcdf_round_trip_is_exact_and_chunked_per_sample(tmp_path: Path, dtype):
    ds = make_traj(3, 6, 7, dtype=dtype, unit_system="ase")
    path = save(ds, tmp_path / "traj.nc")
    with open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), ds)
        assert {n: back[n].dtype for n in ds.variables} == {n: ds[n].dtype for n in ds.variables}
        assert back.attrs["parameters"] == ds.attrs["parameters"]
    with h5py.File(path, "r") as f:
        for name in ("positions", "velocities", "forces", "energy", "stress", "cell", "pbc", "atomic_numbers"):
            assert f[name].chunks[0] == 1 and f[name].chunks[1:] == f[name].shape[1:], name
            assert f[name].fletcher32, name
    save(ds.assign(pbc=ds["pbc"] * 3), tmp_path / "bad.nc", validate=False)
    with pytest.raises(FileFormatError, match="not a sciml dataset: .*'pbc' has values"):
        open_dataset(tmp_path / "bad.nc")


def test_long_trajectories_are_split_along_frames():
    assert _chunk_shape((2, 2000, 100, 3), 8, 1, 2**22) == (1, 1000, 100, 3)
    assert _chunk_shape((2, 10, 100, 3), 8, 1, 2**22) == (1, 10, 100, 3)


def test_corrupted_trajectory_chunk_is_a_file_format_error(tmp_path: Path):
    path = save(make_traj(3, 8, 20), tmp_path / "traj.nc", compression=None)
    with h5py.File(path, "r") as f:
        info = f["positions"].id.get_chunk_info(1)
    data = bytearray(path.read_bytes())
    for i in range(info.byte_offset + 16, info.byte_offset + 24):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with open_dataset(path) as back:
        back["positions"].isel(sample=0).values  # intact chunk
        with pytest.raises(FileFormatError, match=r"corrupted or unreadable data in variable 'positions'"):
            back["positions"].isel(sample=1).values


@st.composite
def trajectories(draw: st.DrawFn) -> xr.Dataset:
    n_sample, n_frame, n_atom = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    floats = st.floats(-1e6, 1e6, allow_nan=False, width=32 if dtype is np.float32 else 64)
    arr = lambda *shape: draw(hnp.arrays(dtype, shape, elements=floats))  # noqa: E731
    optional = {
        "velocities": lambda: arr(n_sample, n_frame, n_atom, 3),
        "forces": lambda: arr(n_sample, n_frame, n_atom, 3),
        "energy": lambda: arr(n_sample, n_frame),
        "stress": lambda: arr(n_sample, n_frame, 6),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(optional)), unique=True))
    return trajectory_dataset(
        arr(n_sample, n_frame, n_atom, 3),
        atomic_numbers=draw(hnp.arrays(np.int32, (n_sample, n_atom), elements=st.integers(1, 118))),
        cell=arr(n_sample, n_frame, 3, 3) * 0 + draw(st.floats(1.0, 50.0)) * np.eye(3, dtype=dtype),
        pbc=draw(hnp.arrays(np.bool_, (n_sample, 3))),
        time=np.cumsum(draw(hnp.arrays(np.float64, n_frame, elements=st.floats(0.01, 10.0)))),
        unit_system=draw(st.sampled_from(["lj", "ase"])),
        attrs=provenance_attrs(generator="h", generator_version="0", parameters={"n": n_atom}, seed=draw(st.integers(0, 99))),
        **{name: optional[name]() for name in chosen},
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=trajectories())
def test_netcdf_round_trip_property(tmp_path: Path, ds: xr.Dataset):
    path = save(ds, tmp_path / "p.nc")
    back = open_dataset(path, lazy=False)
    xr.testing.assert_identical(back, ds)
    assert all(back[n].dtype == ds[n].dtype for n in ds.variables)


def test_concat_of_trajectory_runs(tmp_path: Path):
    a, b = make_traj(2, seed=1), make_traj(3, seed=2)
    merged = concat([a, b])
    assert merged.sizes["sample"] == 5 and merged["source_run"].values.tolist() == [0, 0, 1, 1, 1]
    np.testing.assert_array_equal(merged["positions"].values[2:], b["positions"].values)
    with open_dataset(save(merged, tmp_path / "m.nc"), lazy=False) as back:
        xr.testing.assert_identical(back, merged)
    with pytest.raises(SchemaError, match=r"dimension 'atom' has size 4, not 5"):
        concat([a, make_traj(2, n_atom=4)])
    later = b.assign_coords(time=("frame", b["time"].values + 1.0, b["time"].attrs))
    with pytest.raises(SchemaError, match=r"variable 'time' has different values"):
        concat([a, later])


# --------------------------------------------------------------------------- ASE bridge


def test_to_ase_atoms_carries_everything_with_unit_conversion():
    from ase import units

    for unit_system, factor in (("lj", 1.0), ("ase", 1.0 / units.fs)):
        ds = make_traj(unit_system=unit_system)
        atoms = to_ase_atoms(ds, 1, -1)
        one = ds.isel(sample=1, frame=-1)
        np.testing.assert_array_equal(atoms.positions, one["positions"].values)
        np.testing.assert_array_equal(atoms.cell.array, one["cell"].values)
        assert atoms.pbc.tolist() == [True] * 3 and atoms.get_chemical_symbols() == ["Ar"] * 5
        np.testing.assert_array_equal(atoms.get_masses(), np.full(5, 2.0))
        np.testing.assert_allclose(atoms.get_velocities(), one["velocities"].values * factor, rtol=1e-15)
        assert atoms.get_potential_energy() == float(one["energy"])
        np.testing.assert_array_equal(atoms.get_forces(), one["forces"].values)
        np.testing.assert_array_equal(atoms.get_stress(), one["stress"].values)
        assert atoms.info["time"] == float(ds["time"][-1])
    assert factor == pytest.approx(10.1805, rel=1e-4)  # 1 Angstrom/fs in ASE velocity units


def test_from_ase_frames_reads_emt_results_and_round_trips():
    frames = cu_frames(3)
    ds = from_ase_frames([frames, frames[::-1]], time=[0.0, 2.0, 4.0],
                         attrs=provenance_attrs(generator="emt_cu", generator_version="1", parameters={}, seed=0))
    validate_trajectory(ds, require_forces=True, require_energy=True)
    assert ds.attrs["unit_system"] == "ase" and dict(ds.sizes)["atom"] == 32
    assert species(ds, 0).tolist() == ["Cu"] * 32 and species(ds).shape == (2, 32)
    for f, atoms in enumerate(frames):
        assert float(ds["energy"][0, f]) == atoms.get_potential_energy()
        np.testing.assert_array_equal(ds["forces"].values[0, f], atoms.get_forces())
        np.testing.assert_array_equal(ds["stress"].values[1, 2 - f], atoms.get_stress())
        np.testing.assert_allclose(to_ase_atoms(ds, 0, f).get_velocities(), atoms.get_velocities(), rtol=1e-14)
    assert "masses" not in ds  # only explicitly set masses are recorded
    again = from_ase_frames([[to_ase_atoms(ds, s, f) for f in range(3)] for s in range(2)],
                            attrs=dict(ds.attrs))
    xr.testing.assert_allclose(again, ds, rtol=1e-14, atol=0)
    assert again["time"].values.tolist() == [0.0, 2.0, 4.0]


def test_from_ase_frames_without_time_uses_the_frame_index():
    ds = from_ase_frames(cu_frames(2), unit_system="lj")
    assert ds["time"].values.tolist() == [0.0, 1.0] and ds["time"].attrs["units"] == "1"
    assert ds.sizes["sample"] == 1


def test_from_ase_frames_refuses_frames_that_are_not_a_trajectory():
    frames = cu_frames(2)
    with pytest.raises(SchemaError, match=r"number of atoms must be constant: sample 0 frame 1 has 31 atoms"):
        from_ase_frames([frames[0], frames[1][:-1]])
    bare = frames[1].copy()  # no calculator: no energy
    with pytest.raises(SchemaError, match=r"energy is present in 1 of 2 frames \(missing first in sample 0 frame 1\)"):
        from_ase_frames([frames[0], bare])
    other = frames[1].copy()
    other.numbers[0] = 28
    with pytest.raises(SchemaError, match=r"atomic_numbers change within sample 0 \(frame 1\)"):
        from_ase_frames([frames[0], other])
    with pytest.raises(SchemaError, match=r"different numbers of frames \[1, 2\]"):
        from_ase_frames([frames, frames[:1]])
    with pytest.raises(SchemaError, match=r"at least one frame"):
        from_ase_frames([])


def test_missing_ase_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ase", None)
    with pytest.raises(ImportError, match=r"pip install 'sciml\[md\]'"):
        import_ase()
    with pytest.raises(ImportError, match=r"sciml\[md\]"):
        to_ase_atoms(make_traj(), 0, 0)
