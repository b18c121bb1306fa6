"""Tests of extxyz files and ASE databases (sciml.data.ase_io): round-trips with the documented
precision, foreign files written by ASE itself, and bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sciml.data import from_ase_frames, read_ase_db, read_extxyz, write_ase_db, write_extxyz
from sciml.data.particles import trajectory_dataset, validate_trajectory
from sciml.data.schema import provenance_attrs
from sciml.errors import FileFormatError, SchemaError

# ASE itself triggers NumPy's "setting the shape" deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")

ase_io = pytest.importorskip("ase.io")
ase_db = pytest.importorskip("ase.db")

#: ASE writes per-atom arrays with 8 decimals: absolute error up to 5e-9.
PER_ATOM_ATOL = 5e-9
PER_ATOM = ["positions", "velocities", "forces", "masses"]


def cu_frames(n_frame: int = 3, seed: int = 0, n_repeat: int = 2) -> list:
    """A rattled Cu crystal (32 atoms) with EMT energy, forces, stress, velocities and masses."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frame):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(n_repeat)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.set_cell(atoms.cell.array * (1 + 0.001 * i), scale_atoms=True)
        atoms.set_masses(np.full(len(atoms), 63.546))
        atoms.set_velocities(rng.normal(scale=0.01, size=(len(atoms), 3)))
        atoms.calc = EMT()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.info["time"] = 2.0 * i
        frames.append(atoms)
    return frames


def cu_dataset(n_sample: int = 2) -> xr.Dataset:
    samples = [cu_frames(seed=s) for s in range(n_sample)]
    return from_ase_frames(samples, parameters={"temperature": np.linspace(300.0, 600.0, n_sample)},
                           parameter_attrs={"temperature": {"units": "K", "long_name": "temperature"}},
                           attrs=provenance_attrs(generator="emt_cu", generator_version="1",
                                                  parameters={"quote": 'a "b" c', "n": 32}, seed=11))


def assert_round_trip(back: xr.Dataset, ds: xr.Dataset, per_atom_atol: float) -> None:
    """Identical except per-atom arrays, which agree to ``per_atom_atol``."""
    present = [n for n in PER_ATOM if n in ds]
    xr.testing.assert_identical(back.drop_vars(present), ds.drop_vars(present))
    for name in present:
        np.testing.assert_allclose(back[name].values, ds[name].values, rtol=0, atol=per_atom_atol, err_msg=name)
        assert back[name].attrs == ds[name].attrs


# --------------------------------------------------------------------------- extxyz


def test_extxyz_round_trip_with_documented_precision(tmp_path: Path):
    ds = cu_dataset(2)
    path = write_extxyz(ds, tmp_path / "cu.xyz")
    back = read_extxyz(path)
    validate_trajectory(back, require_forces=True, require_energy=True)
    # velocities travel as momenta (8 decimals in amu * Angstrom / ASE time): error / (m * 10.18)
    assert_round_trip(back, ds, PER_ATOM_ATOL)
    assert back.attrs == ds.attrs and back["temperature"].values.tolist() == [300.0, 600.0]
    one = read_extxyz(write_extxyz(ds, tmp_path / "one.xyz", sample=1))
    assert_round_trip(one, ds.isel(sample=[1]).assign_coords(sample=ds["sample"][:1]), PER_ATOM_ATOL)


def test_extxyz_lj_units_and_index(tmp_path: Path):
    rng = np.random.default_rng(0)
    ds = trajectory_dataset(rng.uniform(0, 3, size=(1, 5, 4, 3)), atomic_numbers=[18] * 4, cell=np.eye(3) * 3.0,
                            pbc=[1, 1, 1], time=np.arange(5) * 0.005, velocities=rng.normal(size=(1, 5, 4, 3)),
                            unit_system="lj",
                            attrs=provenance_attrs(generator="lj", generator_version="0", parameters={}, seed=0))
    path = write_extxyz(ds, tmp_path / "lj.extxyz")
    assert_round_trip(read_extxyz(path), ds, PER_ATOM_ATOL)
    every_other = read_extxyz(path, index="::2")
    assert every_other["time"].values.tolist() == [0.0, 0.01, 0.02]
    assert every_other.attrs["unit_system"] == "lj"
    last = read_extxyz(path, index=-1)
    assert last.sizes["frame"] == 1 and last["time"].values.tolist() == [0.02]
    assert last.attrs["unit_system"] == "ase"  # the sciml record is on the first frame only


def test_foreign_extxyz_written_by_ase(tmp_path: Path):
    frames = cu_frames(3)
    for atoms in frames:
        del atoms.info["time"]
    ase_io.write(tmp_path / "md.xyz", frames, format="extxyz")
    ds = read_extxyz(tmp_path / "md.xyz")
    validate_trajectory(ds, require_forces=True, require_provenance=False)
    assert ds.sizes["sample"] == 1 and ds.sizes["frame"] == 3 and ds.attrs["unit_system"] == "ase"
    assert ds["time"].values.tolist() == [0.0, 1.0, 2.0] and ds["time"].attrs["units"] == "1"
    for f, atoms in enumerate(frames):
        assert float(ds["energy"][0, f]) == atoms.get_potential_energy()
        np.testing.assert_allclose(ds["forces"].values[0, f], atoms.get_forces(), atol=PER_ATOM_ATOL, rtol=0)


def test_extxyz_bad_files(tmp_path: Path):
    with pytest.raises(FileFormatError, match=r"no such file"):
        read_extxyz(tmp_path / "missing.xyz")
    (tmp_path / "junk.xyz").write_text("this is\nnot an xyz file\n")
    with pytest.raises(FileFormatError, match=r"not readable as extended XYZ"):
        read_extxyz(tmp_path / "junk.xyz")
    frames = cu_frames(2)
    ase_io.write(tmp_path / "grow.xyz", [frames[0], frames[1][:-1]], format="extxyz")
    with pytest.raises(FileFormatError, match=r"the number of atoms must be constant: sample 0 frame 1 has 31"):
        read_extxyz(tmp_path / "grow.xyz")
    with pytest.raises(SchemaError, match=r"sample 5 is out of range"):
        write_extxyz(cu_dataset(1), tmp_path / "x.xyz", sample=5)


# --------------------------------------------------------------------------- ASE database


@pytest.mark.parametrize("name", ["cu.db", "cu.json"])
def test_ase_db_round_trip_is_exact(tmp_path: Path, name):
    ds = cu_dataset(2)
    path = write_ase_db(ds, tmp_path / name)
    xr.testing.assert_identical(read_ase_db(path), ds)
    one = read_ase_db(path, selection="sample=1")
    xr.testing.assert_identical(one, ds.isel(sample=[1]).assign_coords(sample=ds["sample"][:1]))
    write_ase_db(ds.isel(sample=[0]), path)  # replaces, does not append
    assert read_ase_db(path).sizes["sample"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_foreign_ase_db(tmp_path: Path):
    frames = cu_frames(2)
    db = ase_db.connect(tmp_path / "foreign.db")
    for atoms in frames:
        db.write(atoms, relaxed=True)
    ds = read_ase_db(tmp_path / "foreign.db")
    assert ds.sizes["sample"] == 1 and ds["time"].values.tolist() == [0.0, 1.0]
    assert [float(e) for e in ds["energy"].values[0]] == [a.get_potential_energy() for a in frames]
    np.testing.assert_array_equal(ds["positions"].values[0], [a.positions for a in frames])


def test_ase_db_bad_input(tmp_path: Path):
    with pytest.raises(FileFormatError, match=r"no such file"):
        read_ase_db(tmp_path / "none.db")
    path = write_ase_db(cu_dataset(1), tmp_path / "cu.db")
    with pytest.raises(FileFormatError, match=r"no row matches the selection 'sample=7'"):
        read_ase_db(path, selection="sample=7")
    (tmp_path / "junk.db").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(FileFormatError, match=r"not readable as an ASE database"):
        read_ase_db(tmp_path / "junk.db")
    db = ase_db.connect(tmp_path / "mixed.db")
    frames = cu_frames(1) + cu_frames(1, n_repeat=1)
    for atoms in frames:
        db.write(atoms)
    with pytest.raises(FileFormatError, match=r"number of atoms must be constant: sample 0 frame 1 has 4 atoms"):
        read_ase_db(tmp_path / "mixed.db")


# --------------------------------------------------------------------------- optional dependency


def test_import_sciml_data_does_not_import_ase():
    code = "import sys, sciml.data; assert 'ase' not in sys.modules, 'ase imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("call", [
    lambda p: read_extxyz(p), lambda p: read_ase_db(p),
    lambda p: write_extxyz(xr.Dataset(), p), lambda p: write_ase_db(xr.Dataset(), p),
])
def test_missing_ase_gives_the_install_hint(tmp_path: Path, monkeypatch, call):
    monkeypatch.setitem(sys.modules, "ase", None)
    with pytest.raises(ImportError, match=r"pip install 'sciml\[md\]'"):
        call(tmp_path / "x")
