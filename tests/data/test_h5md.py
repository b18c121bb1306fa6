"""Tests of H5MD 1.1 files (sciml.data.h5md): exact round-trips, the H5MD structure (checked
with h5py and read back with pyh5md), foreign files, bad files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from sciml.data import read_h5md, write_h5md
from sciml.data import h5md as h5md_module
from sciml.data.particles import trajectory_dataset, validate_trajectory
from sciml.data.schema import provenance_attrs
from sciml.errors import FileFormatError, SchemaError


def make_traj(*, unit_system: str = "lj", cell: np.ndarray | None = None, n_frame: int = 4,
              minimal: bool = False, dtype: type = np.float64) -> xr.Dataset:
    rng = np.random.default_rng(3)
    shape = (2, n_frame, 6, 3)
    optional = {} if minimal else dict(
        velocities=rng.normal(size=shape).astype(dtype), forces=rng.normal(size=shape).astype(dtype),
        energy=rng.normal(size=shape[:2]).astype(dtype), stress=rng.normal(size=(*shape[:2], 6)).astype(dtype),
        masses=np.linspace(1.0, 2.0, 6))
    return trajectory_dataset(
        rng.uniform(0, 5, size=shape).astype(dtype), atomic_numbers=[29, 29, 28, 28, 29, 29],
        cell=np.diag([5.0, 5.5, 6.0]) if cell is None else cell, pbc=[True, True, False],
        time=0.5 * np.arange(n_frame), parameters={"temperature": [300.0, 1500.0]},
        parameter_attrs={"temperature": {"units": "K", "long_name": "temperature"}},
        unit_system=unit_system,
        attrs=provenance_attrs(generator="emt_cu", generator_version="2", parameters={"n": 6, "s": 'q"'}, seed=5),
        **optional,
    )


def expected(ds: xr.Dataset, sample: int) -> xr.Dataset:
    """What an H5MD file of one sample gives back: that sample, renumbered 0."""
    return ds.isel(sample=[sample]).assign_coords(sample=ds["sample"][:1])


TRICLINIC = np.array([[5.0, 0.0, 0.0], [1.0, 5.0, 0.0], [0.5, 0.7, 6.0]])


@pytest.mark.parametrize("unit_system", ["lj", "ase"])
@pytest.mark.parametrize("cell, edges_shape", [
    (None, (3,)),                                                    # fixed orthorhombic: vector
    (TRICLINIC, (3, 3)),                                             # fixed triclinic: matrix
    (np.diag([5.0, 5.5, 6.0]) * (1 + 0.01 * np.arange(4))[:, None, None], (4, 3)),  # changing box
    (TRICLINIC * (1 + 0.01 * np.arange(4))[:, None, None], (4, 3, 3)),
])
def test_round_trip_is_exact(tmp_path: Path, unit_system, cell, edges_shape):
    ds = make_traj(unit_system=unit_system, cell=cell)
    path = write_h5md(ds, tmp_path / "traj.h5", sample=1)
    back = read_h5md(path)
    xr.testing.assert_identical(back, expected(ds, 1))
    assert {n: back[n].dtype for n in back.variables} == {n: ds[n].dtype for n in ds.variables}
    with h5py.File(path, "r") as f:
        edges = f["particles/all/box/edges"]
        assert (edges["value"] if isinstance(edges, h5py.Group) else edges).shape == edges_shape


def test_h5md_structure(tmp_path: Path):
    ds = make_traj(unit_system="ase", cell=np.diag([5.0, 5.5, 6.0]) * (1 + 0.01 * np.arange(4))[:, None, None])
    path = write_h5md(ds, tmp_path / "t.h5", author="Ada", creator="sciml-test")
    with h5py.File(path, "r") as f:
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
        assert f["h5md/author"].attrs["name"] == "Ada" and f["h5md/creator"].attrs["name"] == "sciml-test"
        assert "version" in f["h5md/creator"].attrs and f["h5md/modules/units"].attrs["version"].tolist() == [1, 0]
        pg = f["particles/all"]
        for element in ("position", "velocity", "force", "box/edges"):
            assert set(pg[element]) == {"value", "step", "time"}, element
            assert pg[element]["step"][()].tolist() == [0, 1, 2, 3]
            np.testing.assert_array_equal(pg[element]["time"][()], ds["time"].values)
        np.testing.assert_array_equal(pg["position/value"][()], ds["positions"].values[0])
        assert pg["position/value"].attrs["unit"] == "angstrom" and pg["position/time"].attrs["unit"] == "fs"
        assert pg["force/value"].attrs["unit"] == "eV angstrom-1"
        assert pg["box"].attrs["dimension"] == 3
        assert [b.decode() for b in pg["box"].attrs["boundary"]] == ["periodic", "periodic", "none"]
        np.testing.assert_array_equal(pg["box/edges/value"][()], np.diagonal(ds["cell"].values[0], axis1=1, axis2=2))
        assert pg["species"][()].tolist() == [29, 29, 28, 28, 29, 29]
        np.testing.assert_array_equal(pg["mass"][()], ds["masses"].values[0])
        pe = f["observables/potential_energy"]
        np.testing.assert_array_equal(pe["value"][()], ds["energy"].values[0])
        assert pe["value"].attrs["unit"] == "eV" and pe["step"][()].tolist() == [0, 1, 2, 3]
        assert f["observables/stress/value"].shape == (4, 6)
        assert f["parameters/sciml"].attrs["generator"] == "emt_cu"
        assert f["parameters/sciml/temperature"][()] == 300.0


def test_reduced_units_carry_no_unit_attribute_and_pyh5md_reads_the_file(tmp_path: Path):
    pyh5md = pytest.importorskip("pyh5md")
    path = write_h5md(make_traj(unit_system="lj"), tmp_path / "lj.h5")
    with h5py.File(path, "r") as f:
        assert "unit" not in f["particles/all/position/value"].attrs
        assert "modules" not in f["h5md"]
    with pyh5md.File(str(path), "r") as f:
        pos = pyh5md.element(f.particles_group("all"), "position")
        assert pos.element_type == "TimeElement" and pos.value.shape == (4, 6, 3)
        assert pos.step[()].tolist() == [0, 1, 2, 3]
        assert pyh5md.element(f["particles/all/box"], "edges").element_type == "FixedElement"


def test_minimal_and_float32_datasets_round_trip(tmp_path: Path):
    for ds in (make_traj(minimal=True), make_traj(dtype=np.float32)):
        path = write_h5md(ds, tmp_path / "m.h5", sample=-1)
        xr.testing.assert_identical(read_h5md(path), expected(ds, 1))


def test_write_is_atomic(tmp_path: Path, monkeypatch):
    path = write_h5md(make_traj(), tmp_path / "t.h5")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5md_module, "_write_structure", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_h5md(make_traj(), path, sample=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]


def test_bad_datasets_are_refused_before_writing(tmp_path: Path):
    ds = make_traj()
    with pytest.raises(SchemaError, match=r"sample 2 is out of range; the dataset has 2 sample\(s\)"):
        write_h5md(ds, tmp_path / "a.h5", sample=2)
    positions = ds["positions"].values.copy()
    positions[1, 2, 3, 0] = np.nan
    with pytest.raises(SchemaError, match=r"variable 'positions' has 1 non-finite value\(s\) in sample\(s\) \[1\]"):
        write_h5md(ds.assign(positions=ds["positions"].copy(data=positions)), tmp_path / "b.h5")
    assert not list(tmp_path.iterdir())


def write_foreign(path: Path, *, unit: str | None = None, force_steps: list[int] | None = None) -> None:
    """A minimal H5MD file as another program writes it: no sciml attributes."""
    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = [1, 0]
        f["h5md"].create_group("author").attrs["name"] = "other"
        f["h5md"].create_group("creator").attrs["name"] = "other-md"
        pg = f.create_group("particles/atoms")
        pos = pg.create_group("position")
        pos["value"] = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3)
        if unit:
            pos["value"].attrs["unit"] = unit
        pos["step"] = np.array([0, 10])
        pos["time"] = np.array([0.0, 0.05])
        pg["species"] = np.array([1, 8, 1])
        box = pg.create_group("box")
        box.attrs["dimension"] = 3
        box.attrs["boundary"] = np.array([b"periodic"] * 3)
        box["edges"] = np.array([10.0, 10.0, 10.0])
        obs = f.create_group("observables/kinetic_energy")
        obs["value"] = np.array([1.0, 2.0])
        obs["step"] = np.array(force_steps or [0, 10])
        obs["time"] = np.array([0.0, 0.05])


def test_foreign_h5md_file(tmp_path: Path):
    write_foreign(tmp_path / "lj.h5")
    ds = read_h5md(tmp_path / "lj.h5", group="atoms")
    validate_trajectory(ds, require_provenance=False)
    assert ds.attrs["unit_system"] == "lj" and ds["positions"].shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(ds["cell"].values[0, 1], 10.0 * np.eye(3))
    assert ds["pbc"].values.tolist() == [[1, 1, 1]] and ds["atomic_numbers"].values.tolist() == [[1, 8, 1]]
    assert ds["time"].values.tolist() == [0.0, 0.05] and ds["time"].attrs["units"] == "tau"
    assert ds["kinetic_energy"].attrs == {"units": "1", "long_name": "kinetic_energy"}
    assert ds["kinetic_energy"].dims == ("sample", "frame") and ds["kinetic_energy"].values.tolist() == [[1.0, 2.0]]
    write_foreign(tmp_path / "ase.h5", unit="Angstrom")
    ds = read_h5md(tmp_path / "ase.h5", group="atoms")
    assert ds.attrs["unit_system"] == "ase" and ds["positions"].attrs["units"] == "Angstrom"
    assert ds["positions"].attrs["role"] == "state"


@pytest.mark.parametrize("make, kw, match", [
    (lambda p: None, {}, r"no such HDF5 file"),
    (lambda p: p.write_text("not hdf5"), {}, r"not an HDF5/H5MD file"),
    (lambda p: h5py.File(p, "w").close(), {}, r"not an H5MD 1.x file"),
    (lambda p: write_foreign(p), {}, r"no particles group 'all'; groups present: \['atoms'\]"),
    (lambda p: write_foreign(p, unit="nm"), {"group": "atoms"},
     r"positions are in 'nm'; sciml reads Angstrom \(unit system 'ase'\) or reduced units"),
    (lambda p: write_foreign(p, force_steps=[0, 5]), {"group": "atoms"},
     r"/observables/kinetic_energy is sampled at other steps than position"),
])
def test_bad_files_are_named(tmp_path: Path, make, kw, match):
    path = tmp_path / "x.h5"
    make(path)
    with pytest.raises(FileFormatError, match=match) as info:
        read_h5md(path, **kw)
    assert str(path) in str(info.value)


def test_extra_variables_round_trip(tmp_path: Path):
    ds = make_traj(unit_system="ase")
    rng = np.random.default_rng(0)
    ds["kinetic_energy"] = xr.Variable(("sample", "frame"), rng.uniform(size=(2, 4)),
                                       {"units": "eV", "long_name": "kinetic energy"})
    ds["charge"] = xr.Variable(("sample", "atom"), rng.normal(size=(2, 6)), {"units": "e", "long_name": "charge"})
    ds["dipole"] = xr.Variable(("sample", "frame", "xyz"), rng.normal(size=(2, 4, 3)), {"units": "e angstrom",
                                                                                        "long_name": "dipole"})
    path = write_h5md(ds, tmp_path / "x.h5")
    xr.testing.assert_identical(read_h5md(path), expected(ds, 0))
    with h5py.File(path, "r") as f:
        assert f["observables/kinetic_energy/value"].attrs["unit"] == "eV"
        assert f["particles/all/charge"].shape == (6,)
        assert f["observables/dipole/value"].shape == (4, 3)
