"""Tests of the PDEBench HDF5 reader and writer."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sciml.data.pdebench import read_pdebench, split_by_parameters, write_pdebench
from sciml.data.schema import field_dataset, provenance_attrs, validate
from sciml.errors import FileFormatError, SchemaError


def make_ds(n_sample: int = 4, n_t: int = 5, n_x: int = 8, nu=0.01) -> xr.Dataset:
    rng = np.random.default_rng(0)
    return field_dataset(
        {"u": rng.normal(size=(n_sample, n_t, n_x)).astype(np.float32)},
        coords={"t": np.arange(n_t) * 0.01, "x": (np.arange(n_x) + 0.5) / n_x},
        parameters={"nu": np.broadcast_to(np.asarray(nu, dtype=float), (n_sample,))},
        attrs=provenance_attrs(generator="burgers1d", generator_version="0.1", parameters={"nx": n_x}, seed=3),
    )


def write_pdebench_like(path: Path, tensor: np.ndarray, *, t_len_extra: int = 1, attrs=None, y=True) -> dict:
    """A file laid out as PDEBench's generators write them (built with h5py only)."""
    n, n_t = tensor.shape[:2]
    dt = 0.05
    coords = {
        "x-coordinate": (np.arange(tensor.shape[2]) + 0.5) / tensor.shape[2],
        "t-coordinate": np.arange(n_t + t_len_extra) * dt,
    }
    if tensor.ndim == 4 and y:
        coords["y-coordinate"] = (np.arange(tensor.shape[3]) + 0.5) / tensor.shape[3]
    coords = {k: v.astype(np.float32) for k, v in coords.items()}  # as PDEBench stores them
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=tensor)
        for k, v in coords.items():
            f.create_dataset(k, data=v)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return coords


# --------------------------------------------------------------------------- reading


def test_read_hand_built_1d_burgers_file(tmp_path: Path):
    rng = np.random.default_rng(1)
    tensor = rng.normal(size=(3, 6, 10)).astype(np.float32)
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    coords = write_pdebench_like(path, tensor, attrs={"Nu": 0.01})
    ds = read_pdebench(path)
    validate(ds)
    assert dict(ds.sizes) == {"sample": 3, "t": 6, "x": 10}
    assert ds["u"].dims == ("sample", "t", "x")
    assert ds["u"].dtype == np.float32
    np.testing.assert_array_equal(ds["u"].values, tensor)
    # t-coordinate has T + 1 = 7 entries; the first T are the snapshot times 0, dt, ..., 5 dt.
    assert coords["t-coordinate"].shape == (7,)
    np.testing.assert_array_equal(ds["t"].values, coords["t-coordinate"][:6])
    np.testing.assert_allclose(ds["t"].values, np.arange(6) * 0.05, rtol=1e-6)
    np.testing.assert_array_equal(ds["x"].values, coords["x-coordinate"])
    np.testing.assert_array_equal(ds["nu"].values, [0.01, 0.01, 0.01])
    assert ds["nu"].attrs["role"] == "parameter"
    np.testing.assert_array_equal(ds["sample"].values, [0, 1, 2])
    assert ds.attrs["generator"] == "pdebench-file"
    assert ds.attrs["source_file"] == path.name
    prov = json.loads(ds.attrs["parameters"])
    assert prov["source_file"] == path.name
    assert prov["file_attrs"] == {"Nu": 0.01}
    assert prov["t_coordinate"] == "first T of T+1 entries"


def test_t_coordinate_of_length_t_is_used_as_is(tmp_path: Path):
    path = tmp_path / "a.hdf5"
    coords = write_pdebench_like(path, np.zeros((2, 4, 5), np.float32), t_len_extra=0, attrs={"beta": 0.4})
    ds = read_pdebench(path)
    np.testing.assert_array_equal(ds["t"].values, coords["t-coordinate"])
    np.testing.assert_array_equal(ds["beta"].values, [0.4, 0.4])


def test_t_coordinate_of_wrong_length_is_rejected(tmp_path: Path):
    path = tmp_path / "a.hdf5"
    write_pdebench_like(path, np.zeros((2, 4, 5), np.float32), t_len_extra=2, attrs={"Nu": 1.0})
    with pytest.raises(FileFormatError, match=r"'t-coordinate' has shape \(6,\); expected \(4,\) or \(5,\)"):
        read_pdebench(path)


def test_read_2d_file_and_reaction_diffusion_parameters(tmp_path: Path):
    rng = np.random.default_rng(2)
    tensor = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    path = tmp_path / "2D_ReacDiff_Nu0.5_Rho1.0.hdf5"
    coords = write_pdebench_like(path, tensor, attrs={"Nu": 0.5, "rho": 1.0})
    ds = read_pdebench(path, variable="c")
    validate(ds)
    assert ds["c"].dims == ("sample", "t", "x", "y")
    np.testing.assert_array_equal(ds["c"].values, tensor)
    np.testing.assert_array_equal(ds["y"].values, coords["y-coordinate"])
    assert sorted(ds.data_vars) == ["c", "nu", "rho"]
    np.testing.assert_array_equal(ds["rho"].values, [1.0, 1.0])
    only_nu = read_pdebench(path, variable="c", parameter_names=["Nu"])
    assert sorted(only_nu.data_vars) == ["c", "nu"]
    renamed = read_pdebench(path, variable="c", parameter_names={"Rho": "reaction_rate"})
    np.testing.assert_array_equal(renamed["reaction_rate"].values, [1.0, 1.0])
    with pytest.raises(SchemaError, match=r"parameter 'beta' not found; numeric file attributes: \{'Nu': 0\.5, 'rho': 1\.0\}"):
        read_pdebench(path, parameter_names=["beta"])


def test_parameters_from_the_file_name_when_attributes_lack_them(tmp_path: Path):
    path = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    write_pdebench_like(path, np.ones((2, 3, 4), np.float32))
    ds = read_pdebench(path)
    np.testing.assert_array_equal(ds["beta"].values, [0.4, 0.4])


def test_missing_x_coordinate_is_named(tmp_path: Path):
    path = tmp_path / "a.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(FileFormatError, match=r"missing dataset 'x-coordinate'"):
        read_pdebench(path)


def test_lazy_read_and_sample_subset(tmp_path: Path, monkeypatch):
    rng = np.random.default_rng(3)
    tensor = rng.normal(size=(6, 4, 5)).astype(np.float32)
    path = tmp_path / "a.hdf5"
    write_pdebench_like(path, tensor, attrs={"Nu": 0.1})
    reads = []
    original = h5py.Dataset.__getitem__

    def recording(self, key, *args, **kwargs):
        reads.append((self.name, key))
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    ds = read_pdebench(path, lazy=True, samples=[1, 4])
    assert not [r for r in reads if r[0] == "/tensor"]
    np.testing.assert_array_equal(ds["sample"].values, [1, 4])
    np.testing.assert_array_equal(ds["u"].isel(sample=1).values, tensor[4])
    tensor_reads = [k for n, k in reads if n == "/tensor"]
    assert len(tensor_reads) == 1 and tensor_reads[0][0] == 4  # one read, of sample 4 only
    ds.close()
    eager = read_pdebench(path, samples=slice(2, 4))
    np.testing.assert_array_equal(eager["u"].values, tensor[2:4])


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "foreign", "per-seed groups"])
def test_bad_files(tmp_path: Path, kind: str):
    path = tmp_path / "bad.hdf5"
    if kind == "text":
        path.write_text("tensor\n")
    elif kind == "truncated":
        write_pdebench_like(tmp_path / "good.hdf5", np.zeros((8, 10, 64), np.float32), attrs={"Nu": 1.0})
        data = (tmp_path / "good.hdf5").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "foreign":
        with h5py.File(path, "w") as f:
            f["weights"] = np.ones((3, 3))
    elif kind == "per-seed groups":
        with h5py.File(path, "w") as f:
            f["0000/data"] = np.ones((5, 4, 4, 1))
    expected = {
        "missing": "no such file",
        "text": "not an HDF5/NetCDF4 file",
        "truncated": "truncated HDF5/NetCDF4 file",
        "foreign": r"not a PDEBench file: the root dataset 'tensor' is missing.*datasets present: \['weights'\]",
        "per-seed groups": "per-seed group layout",
    }[kind]
    with pytest.raises(FileFormatError, match=expected) as info:
        read_pdebench(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- writing


def test_written_file_has_pdebench_layout(tmp_path: Path):
    ds = make_ds(n_sample=3, n_t=5, n_x=8, nu=0.01)
    path = write_pdebench(ds, tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    with h5py.File(path, "r") as f:
        assert {"tensor", "x-coordinate", "t-coordinate"} <= set(f)
        assert f["tensor"].shape == (3, 5, 8)
        assert f["tensor"].dtype == np.float32
        np.testing.assert_array_equal(f["tensor"][()], ds["u"].values)
        np.testing.assert_allclose(f["t-coordinate"][()], np.arange(6) * 0.01)  # T + 1 entries
        np.testing.assert_array_equal(f["x-coordinate"][()], ds["x"].values)
        assert float(f.attrs["Nu"]) == 0.01
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_mixed_parameters_are_refused_with_advice(tmp_path: Path):
    ds = make_ds(n_sample=4, nu=[0.01, 0.1, 0.01, 1.0])
    path = tmp_path / "mixed.hdf5"
    with pytest.raises(SchemaError) as info:
        write_pdebench(ds, path)
    msg = str(info.value)
    assert "'nu' takes 3 values" in msg
    assert "ds.where(ds.nu == 0.01, drop=True)" in msg
    assert "split_by_parameters" in msg
    assert not path.exists() and list(tmp_path.iterdir()) == []
    parts = split_by_parameters(ds)
    assert sorted(parts) == [(0.01,), (0.1,), (1.0,)]
    np.testing.assert_array_equal(parts[(0.01,)]["sample"].values, [0, 2])
    for (nu,), part in parts.items():
        back = read_pdebench(write_pdebench(part, tmp_path / f"1D_Burgers_Sols_Nu{nu}.hdf5"))
        np.testing.assert_array_equal(back["u"].values, part["u"].values)
        assert set(back["nu"].values.tolist()) == {nu}
    # The advice in the message works as written.
    one = ds.where(ds.nu == 0.01, drop=True)
    back = read_pdebench(write_pdebench(one, tmp_path / "where.hdf5"))
    np.testing.assert_array_equal(back["u"].values, ds["u"].values[[0, 2]])


def test_3d_dataset_is_refused(tmp_path: Path):
    ds = field_dataset(
        {"u": np.zeros((1, 2, 2, 2, 2))},
        coords={"t": [0.0, 1.0], "x": [0.0, 1.0], "y": [0.0, 1.0], "z": [0.0, 1.0]},
        attrs=provenance_attrs(generator="g", generator_version="0", parameters={}, seed=None),
    )
    with pytest.raises(SchemaError, match=r"1D or 2D fields; 'u' has spatial dims \['x', 'y', 'z'\]"):
        write_pdebench(ds, tmp_path / "a.hdf5")


def test_missing_variable_is_named(tmp_path: Path):
    with pytest.raises(SchemaError, match=r"required field variable 'rho' is missing; present: \['u'\]"):
        write_pdebench(make_ds(), tmp_path / "a.hdf5", variable="rho")


def _increasing(n: int, dtype) -> st.SearchStrategy[np.ndarray]:
    return st.builds(
        lambda s0, d: (s0 + np.cumsum(d)).astype(dtype),
        st.floats(-10.0, 10.0),
        hnp.arrays(np.float64, n, elements=st.floats(0.25, 2.0)),
    )


@st.composite
def datasets(draw: st.DrawFn) -> xr.Dataset:
    n_sample, n_t, n_x = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    shape = [n_sample, n_t, n_x]
    coords = {"t": draw(_increasing(n_t, np.float64)), "x": draw(_increasing(n_x, np.float64))}
    if draw(st.booleans()):
        shape.append(draw(st.integers(1, 3)))
        coords["y"] = draw(_increasing(shape[-1], np.float64))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    u = draw(hnp.arrays(dtype, tuple(shape), elements=st.floats(-1e6, 1e6, width=32 if dtype is np.float32 else 64)))
    names = draw(st.lists(st.sampled_from(["nu", "beta", "rho", "alpha"]), unique=True, max_size=3))
    params = {p: np.full(n_sample, draw(st.floats(-1e3, 1e3))) for p in names}
    return field_dataset(
        {"u": u}, coords=coords, parameters=params,
        field_attrs={"u": {"units": "m s-1", "long_name": "velocity"}},
        coord_attrs={"t": {"units": "s"}},
        parameter_attrs={p: {"units": "m2 s-1", "long_name": f"parameter {p}"} for p in names},
        attrs=provenance_attrs(
            generator="sim", generator_version="2", parameters={"n": n_x, "names": names}, seed=draw(st.integers(0, 99))
        ),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_round_trip_ours_pdebench_ours(ds: xr.Dataset):
    with tempfile.TemporaryDirectory() as d:
        path = write_pdebench(ds, Path(d) / "file.hdf5")
        back = read_pdebench(path)
        with h5py.File(path, "r") as f:
            n_t = ds.sizes["t"]
            assert f["t-coordinate"].shape == ((n_t + 1,) if n_t >= 2 else (n_t,))
            expected_attrs = {{"nu": "Nu"}.get(p, p) for p in ds.data_vars if p != "u"}
            assert set(f.attrs) - {"sciml_metadata"} == expected_attrs
    validate(back)
    assert back["u"].dtype == ds["u"].dtype
    for name in ds.variables:
        np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=str(name))
        assert back[name].dims == ds[name].dims
        assert back[name].attrs == ds[name].attrs, name
    assert set(back.data_vars) == set(ds.data_vars)
    assert back.attrs["generator"] == "pdebench-file"
    assert json.loads(back.attrs["parameters"])["sciml_attrs"] == dict(ds.attrs)
