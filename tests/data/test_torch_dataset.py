"""Tests of the lazy PyTorch trajectory datasets."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import xarray as xr
from torch.utils.data import DataLoader

from sciml.data.netcdf import save
from sciml.data.pdebench import write_pdebench
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.data.torch_dataset import TrajectoryDataset, TrajectoryWindowDataset
from sciml.errors import FileFormatError, SchemaError


def make_ds(n_sample: int = 4, n_t: int = 12, n_x: int = 7, *, two_fields: bool = False, ny: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(42)
    shape = (n_sample, n_t, n_x, ny) if ny else (n_sample, n_t, n_x)
    fields = {"u": rng.normal(size=shape).astype(np.float32)}
    if two_fields:
        fields["v"] = rng.normal(size=shape).astype(np.float32)
    coords = {"t": np.arange(n_t) * 0.1, "x": np.linspace(0, 1, n_x, endpoint=False)}
    if ny:
        coords["y"] = np.linspace(0, 1, ny, endpoint=False)
    return field_dataset(
        fields,
        coords=coords,
        parameters={"nu": 0.01 * (1 + np.arange(n_sample)), "beta": 10.0 + np.arange(n_sample)},
        attrs=provenance_attrs(generator="test", generator_version="0", parameters={}, seed=0),
    )


@pytest.fixture(scope="module")
def nc_file(tmp_path_factory) -> tuple[Path, xr.Dataset]:
    ds = make_ds()
    path = tmp_path_factory.mktemp("nc") / "train.nc"
    save(ds, path)
    return path, ds


def test_windows_equal_slices_of_the_array(nc_file):
    path, ds = nc_file
    u, nu, beta = ds["u"].values, ds["nu"].values, ds["beta"].values
    data = TrajectoryWindowDataset(path, history=3, horizon=2, stride=2)
    # 12 frames, windows of 5 starting at 0, 2, 4, 6 -> 4 windows per sample.
    assert data.n_windows == 4
    assert len(data) == 4 * 4
    assert data.parameter_names == ("nu", "beta")
    assert data.variables == ("u",)
    for i in range(len(data)):
        item = data[i]
        s, t0 = i // 4, 2 * (i % 4)
        assert item["sample"] == s and item["t0"] == t0
        assert item["history"].shape == (1, 3, 7) and item["history"].dtype == torch.float32
        assert item["target"].shape == (1, 2, 7)
        np.testing.assert_array_equal(item["history"].numpy()[0], u[s, t0 : t0 + 3])
        np.testing.assert_array_equal(item["target"].numpy()[0], u[s, t0 + 3 : t0 + 5])
        np.testing.assert_allclose(item["params"].numpy(), [nu[s], beta[s]], rtol=1e-7)
    last = data[-1]
    assert (last["sample"], last["t0"]) == (3, 6)
    with pytest.raises(IndexError, match="index 16 out of range for a dataset of 16 items"):
        data[16]


def test_time_stride_samples_subset_and_dtype(nc_file):
    path, ds = nc_file
    u = ds["u"].values
    data = TrajectoryWindowDataset(
        path, history=2, horizon=1, time_stride=2, samples=[3, 1], parameter_names=["beta"],
        dtype=torch.float64,
    )
    # Frames 0, 2, ..., 10 (6 served); windows of 3 at 0..3 -> 4 per sample.
    assert data.n_frames == 6 and data.n_windows == 4 and len(data) == 8
    np.testing.assert_allclose(data.times, ds["t"].values[::2])
    item = data[5]  # sample 1, window 1 -> file frames 2, 4 | 6
    assert item["sample"] == 1 and item["t0"] == 2
    assert item["history"].dtype == torch.float64
    np.testing.assert_array_equal(item["history"].numpy()[0], u[1, [2, 4]])
    np.testing.assert_array_equal(item["target"].numpy()[0], u[1, [6]])
    np.testing.assert_array_equal(item["params"].numpy(), [11.0])
    assert data[0]["sample"] == 3


def test_several_variables_and_2d(tmp_path: Path):
    ds = make_ds(n_sample=2, n_t=5, n_x=4, ny=3, two_fields=True)
    save(ds, tmp_path / "a.nc")
    data = TrajectoryWindowDataset(tmp_path / "a.nc", variable=["v", "u"], history=2, horizon=3)
    assert len(data) == 2 and data.spatial_shape == (4, 3)
    item = data[1]
    assert item["history"].shape == (2, 2, 4, 3)
    assert item["target"].shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(item["history"].numpy()[0], ds["v"].values[1, :2])
    np.testing.assert_array_equal(item["target"].numpy()[1], ds["u"].values[1, 2:5])


def test_full_trajectories(nc_file):
    path, ds = nc_file
    data = TrajectoryDataset(path, time_stride=3, samples=[2])
    assert len(data) == 1
    item = data[0]
    assert item["trajectory"].shape == (1, 4, 7)
    np.testing.assert_array_equal(item["trajectory"].numpy()[0], ds["u"].values[2, ::3])
    np.testing.assert_allclose(item["t"].numpy(), ds["t"].values[::3], rtol=1e-6)
    np.testing.assert_allclose(item["params"].numpy(), [0.03, 12.0], rtol=1e-6)


def test_construction_errors_name_what_is_present(nc_file, tmp_path: Path):
    path, _ = nc_file
    with pytest.raises(SchemaError, match=r"field variable\(s\) \['w'\] not found; field variables present: \['u'\]"):
        TrajectoryWindowDataset(path, variable="w")
    with pytest.raises(SchemaError, match=r"parameter variable\(s\) \['rho'\] not found; parameter variables present: \['nu', 'beta'\]"):
        TrajectoryWindowDataset(path, parameter_names=["nu", "rho"])
    with pytest.raises(SchemaError, match=r"history \(10\) \+ horizon \(3\) = 13 frames are needed, but the trajectories have 12 frame"):
        TrajectoryWindowDataset(path, history=10, horizon=3)
    with pytest.raises(SchemaError, match=r"have 6 frame\(s\) \(n_t = 12 in the file, time_stride = 2\)"):
        TrajectoryWindowDataset(path, history=6, horizon=1, time_stride=2)
    with pytest.raises(IndexError, match=r"samples \[4\] out of range for 4 samples"):
        TrajectoryWindowDataset(path, samples=[0, 4], history=2)
    with pytest.raises(ValueError, match="history must be a positive integer; got 0"):
        TrajectoryWindowDataset(path, history=0)
    with pytest.raises(FileFormatError, match="no such file"):
        TrajectoryWindowDataset(tmp_path / "missing.nc")


def test_never_reads_more_than_one_window(nc_file, monkeypatch):
    """Every read of the field touches one sample and exactly history + horizon frames."""
    path, ds = nc_file
    reads: list[tuple[str, object, tuple[int, ...]]] = []
    original = h5py.Dataset.__getitem__

    def recording(self, key, *args, **kwargs):
        out = original(self, key, *args, **kwargs)
        reads.append((self.name, key, np.shape(out)))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    history, horizon = 4, 2
    data = TrajectoryWindowDataset(path, history=history, horizon=horizon, stride=1)
    assert not [r for r in reads if r[0] == "/u"], "construction must not read the field"
    for i in range(len(data)):
        data[i]
    u_reads = [(key, shape) for name, key, shape in reads if name == "/u"]
    assert len(u_reads) == len(data) == 4 * 7
    n_x = ds.sizes["x"]
    for key, shape in u_reads:
        assert isinstance(key, tuple) and isinstance(key[0], (int, np.integer))  # one sample
        frames = key[1]
        assert isinstance(frames, slice) and frames.stop - frames.start == history + horizon
        assert shape == (history + horizon, n_x)
    elements = sum(int(np.prod(shape)) for _, shape in u_reads)
    assert elements == len(data) * (history + horizon) * n_x
    assert max(int(np.prod(s)) for _, s in u_reads) * 8 == ds["u"].size  # 1/8 of the field per read
    with h5py.File(path, "r") as f:
        assert f["u"].chunks == (1, 12, 7)  # ... and that slice lies in one chunk


def test_pickle_drops_the_open_handle(nc_file):
    path, _ = nc_file
    data = TrajectoryWindowDataset(path, history=2, horizon=1)
    first = data[5]
    assert data._h5 is not None
    clone = pickle.loads(pickle.dumps(data))
    assert clone._h5 is None
    again = clone[5]
    torch.testing.assert_close(again["history"], first["history"], rtol=0, atol=0)
    data.close()
    torch.testing.assert_close(data[5]["target"], first["target"], rtol=0, atol=0)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_with_two_workers(nc_file, start_method):
    path, ds = nc_file
    data = TrajectoryWindowDataset(path, history=3, horizon=1, stride=3)
    data[0]  # the parent holds an open handle before the workers start
    loader = DataLoader(
        data, batch_size=3, shuffle=False, num_workers=2, multiprocessing_context=start_method
    )
    batches = list(loader)
    history = torch.cat([b["history"] for b in batches])
    target = torch.cat([b["target"] for b in batches])
    samples = torch.cat([b["sample"] for b in batches])
    t0 = torch.cat([b["t0"] for b in batches])
    assert history.shape == (len(data), 1, 3, 7)
    u = ds["u"].values
    for k in range(len(data)):
        s, t = int(samples[k]), int(t0[k])
        assert (s, t) == (data[k]["sample"], data[k]["t0"])
        np.testing.assert_array_equal(history[k, 0].numpy(), u[s, t : t + 3])
        np.testing.assert_array_equal(target[k, 0].numpy(), u[s, t + 3 : t + 4])
    params = torch.cat([b["params"] for b in batches])
    np.testing.assert_allclose(params[:, 0].numpy(), ds["nu"].values[samples.numpy()], rtol=1e-6)


def test_reads_pdebench_files(tmp_path: Path):
    ds = make_ds(n_sample=3, n_t=6, n_x=5).assign(nu=lambda d: d["nu"] * 0 + 0.01, beta=lambda d: d["beta"] * 0 + 0.4)
    path = write_pdebench(ds, tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    data = TrajectoryWindowDataset(path, history=2, horizon=2, stride=2)
    assert data.parameter_names == ("nu", "beta")
    assert len(data) == 3 * 2
    item = data[3]
    np.testing.assert_array_equal(item["history"].numpy()[0], ds["u"].values[1, 2:4])
    np.testing.assert_array_equal(item["target"].numpy()[0], ds["u"].values[1, 4:6])
    np.testing.assert_allclose(item["params"].numpy(), [0.01, 0.4], rtol=1e-7)
    traj = TrajectoryDataset(path, parameter_names=["Nu"])
    assert traj.parameter_names == ("nu",)
    # write_pdebench stores T + 1 times; the served times are the first T.
    np.testing.assert_allclose(traj[0]["t"].numpy(), ds["t"].values, rtol=1e-6)
    with pytest.raises(SchemaError, match=r"parameter 'rho' not found"):
        TrajectoryDataset(path, parameter_names=["rho"])


def test_import_sciml_data_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, sciml.data as d; assert 'torch' not in sys.modules, 'torch imported'; "
        "cls = d.TrajectoryWindowDataset; assert 'torch' in sys.modules; print(cls.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "TrajectoryWindowDataset"
