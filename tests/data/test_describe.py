"""Dataset descriptions (``sciml data info``): streamed statistics, lazy opening, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from sciml.data import read_pdebench, save
from sciml.data.describe import _streaming_stats, open_any, summarize, summarize_file
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import FileFormatError


def make_ds(n_sample: int = 6, n_t: int = 5, n_x: int = 7, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return field_dataset(
        {"u": (rng.normal(size=(n_sample, n_t, n_x)) * 3 + 1).astype(np.float32)},
        coords={"t": np.arange(n_t) * 0.1, "x": np.linspace(0, 1, n_x)},
        parameters={"nu": rng.choice([0.1, 0.5], n_sample)},
        attrs=provenance_attrs(generator="test", generator_version="0", parameters={"a": 1}, seed=1),
    )


def write_pdebench(path: Path, tensor: np.ndarray, *, fields: tuple[str, ...] = ("tensor",)) -> Path:
    with h5py.File(path, "w") as f:
        for name in fields:
            f.create_dataset(name, data=tensor)
        f["x-coordinate"] = np.linspace(0, 1, tensor.shape[2], dtype=np.float32)
        f["t-coordinate"] = np.arange(tensor.shape[1] + 1, dtype=np.float32) * 0.1
        f.attrs["Nu"] = 0.01
    return path


def numpy_stats(a: np.ndarray) -> dict[str, float]:
    a = np.asarray(a, dtype=np.float64)
    return {"min": a.min(), "max": a.max(), "mean": a.mean(), "std": a.std()}


def recorded_reads(monkeypatch) -> list[tuple[str, object]]:
    """Every ``h5py.Dataset.__getitem__`` from now on, as ``(dataset name, key)``."""
    reads: list[tuple[str, object]] = []
    original = h5py.Dataset.__getitem__

    def recording(self, key, *args, **kwargs):
        reads.append((self.name, key))
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording)
    return reads


@pytest.mark.parametrize("block_bytes", [None, 7 * 5 * 8 * 2, 7 * 8 * 2, 1])
def test_streamed_statistics_match_numpy(block_bytes):
    """Blocks of several samples, of one sample's frames, and of one frame give the same numbers."""
    ds = make_ds()
    got = _streaming_stats(ds["u"], block_bytes=block_bytes)
    expected = numpy_stats(ds["u"].values)
    assert got["min"] == expected["min"] and got["max"] == expected["max"]
    assert got["mean"] == pytest.approx(expected["mean"], rel=1e-12)
    assert got["std"] == pytest.approx(expected["std"], rel=1e-12)


def test_statistics_do_not_depend_on_dim_order():
    ds = make_ds()
    got = summarize(ds.transpose("x", "t", "sample"))["fields"]["u"]
    expected = numpy_stats(ds["u"].values)
    assert got["dims"] == ["x", "t", "sample"]
    assert [got[k] for k in expected] == pytest.approx(list(expected.values()), rel=1e-12)


def test_empty_field_statistics():
    stats = _streaming_stats(make_ds().isel(sample=slice(0, 0))["u"])
    assert stats["min"] == np.inf and stats["max"] == -np.inf and np.isnan(stats["mean"])


def test_pdebench_summary_reads_no_field_without_statistics(tmp_path, monkeypatch):
    tensor = np.random.default_rng(1).normal(size=(9, 4, 6)).astype(np.float32)
    path = write_pdebench(tmp_path / "a_Nu0.01.hdf5", tensor)
    reads = recorded_reads(monkeypatch)
    summary = summarize_file(path, statistics=False)
    assert not [r for r in reads if r[0] == "/tensor"]
    assert summary["dims"] == {"sample": 9, "t": 4, "x": 6}
    assert summary["coordinates"]["t"]["size"] == 4 and summary["parameters"]["nu"]["values"] == [0.01]


def test_pdebench_statistics_read_bounded_blocks(tmp_path, monkeypatch):
    """With a budget of two samples per block, every read of ``tensor`` spans at most two samples."""
    import sciml.data.describe as describe

    tensor = np.random.default_rng(2).normal(size=(9, 4, 6)).astype(np.float32)
    path = write_pdebench(tmp_path / "a_Nu0.01.hdf5", tensor)
    monkeypatch.setattr(describe, "STATS_BLOCK_BYTES", 2 * 4 * 6 * 8)
    reads = recorded_reads(monkeypatch)
    stats = summarize_file(path)["fields"]["u"]
    spans = [key[0] for name, key in reads if name == "/tensor"]
    assert len(spans) == 5 and all(isinstance(s, slice) and s.stop - s.start <= 2 for s in spans)
    expected = numpy_stats(tensor)
    assert stats["min"] == expected["min"] and stats["max"] == expected["max"]
    assert stats["mean"] == pytest.approx(expected["mean"], rel=1e-12)
    assert stats["std"] == pytest.approx(expected["std"], rel=1e-12)


def test_netcdf_summary_reads_no_field_without_statistics(tmp_path, monkeypatch):
    ds = make_ds()
    path = save(ds, tmp_path / "a.nc")
    expected = summarize(ds)
    reads = recorded_reads(monkeypatch)
    summary = summarize_file(path, statistics=False)
    assert not [r for r in reads if r[0] == "/u"]
    assert summary["dims"] == expected["dims"] and summary["parameters"] == expected["parameters"]
    assert summary["coordinates"] == expected["coordinates"]
    assert summarize_file(path)["fields"] == expected["fields"]


def test_open_any_reads_multi_field_pdebench_files(tmp_path):
    tensor = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    path = write_pdebench(tmp_path / "cfd.hdf5", tensor, fields=("density", "pressure", "Vx"))
    with open_any(path) as ds:
        assert sorted(ds.data_vars) == ["Vx", "density", "nu", "pressure"]


def test_pdebench_file_without_tensor_names_it_and_the_datasets_present(tmp_path):
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.linspace(0, 1, 8)
        f["t-coordinate"] = np.arange(5.0)
        f.attrs["Nu"] = 0.01
    expected = (re.escape(f"{path}: not a PDEBench file: the root dataset 'tensor' is missing")
                + r".*datasets present: \['t-coordinate', 'x-coordinate'\]")
    for reader in (read_pdebench, open_any):
        with pytest.raises(FileFormatError, match=expected) as info:
            reader(path)
        assert "phony" not in str(info.value) and "provenance" not in str(info.value)


def test_foreign_hdf5_file_says_what_is_accepted(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10.0)
        f["group/matrix"] = np.ones((3, 4))
    with pytest.raises(FileFormatError) as info:
        open_any(path)
    msg = str(info.value)
    assert "the root dataset 'tensor' is missing" in msg and "datasets present: ['data']" in msg
    assert "groups present: ['group']" in msg and "Nor is it a NetCDF4 file" in msg
