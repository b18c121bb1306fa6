"""Corrupted NetCDF files written by save: a sciml FileFormatError naming the file, not an
h5py traceback, and never silently wrong numbers (every chunk is checksummed)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from sciml.cli import main
from sciml.data import open_dataset, save
from sciml.data.describe import summarize_file
from sciml.data.netcdf import guard_read
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import FileFormatError


def make_ds(n_sample: int = 4, n_t: int = 8, n_x: int = 64) -> xr.Dataset:
    rng = np.random.default_rng(0)
    return field_dataset(
        {"u": rng.normal(size=(n_sample, n_t, n_x))},
        coords={"t": np.linspace(0.0, 0.7, n_t), "x": np.linspace(0.0, 1.0, n_x, endpoint=False)},
        parameters={"nu": np.linspace(0.01, 0.1, n_sample)},
        attrs=provenance_attrs(generator="test", generator_version="1", parameters={"nx": n_x}, seed=3),
    )


def flip(path: Path, offset: int, n: int = 8) -> None:
    """Invert ``n`` bytes of the file at ``offset`` (in place)."""
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def chunk_span(path: Path, variable: str, index: int) -> tuple[int, int]:
    """Byte offset and size of chunk ``index`` of ``variable`` in the file."""
    with h5py.File(path, "r") as f:
        info = f[variable].id.get_chunk_info(index)
    return info.byte_offset, info.size


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_corrupted_chunk_raises_on_lazy_read_naming_file_and_variable(tmp_path: Path, compression):
    ds = make_ds()
    path = save(ds, tmp_path / "run.nc", compression=compression)
    offset, size = chunk_span(path, "u", 1)
    flip(path, offset + size // 2)
    with open_dataset(path) as lazy:  # metadata intact: opens, and the intact samples read
        np.testing.assert_array_equal(lazy["u"].isel(sample=0).values, ds["u"].values[0])
        np.testing.assert_array_equal(lazy["nu"].values, ds["nu"].values)
        with pytest.raises(FileFormatError) as info:
            lazy["u"].isel(sample=1).values
        with pytest.raises(FileFormatError, match="corrupted"):
            lazy.load()
    msg = str(info.value)
    assert msg.startswith(f"{path}: corrupted or unreadable data in variable 'u'")
    assert "damaged" in msg


def test_corrupted_chunk_raises_on_eager_open(tmp_path: Path):
    path = save(make_ds(), tmp_path / "run.nc", compression=None)
    offset, size = chunk_span(path, "u", 2)
    flip(path, offset + 10, n=1)
    with pytest.raises(FileFormatError, match=r"run\.nc: corrupted or unreadable data in variable 'u'"):
        open_dataset(path, lazy=False)


def test_flipped_bytes_in_the_middle_of_the_file(tmp_path: Path):
    path = save(make_ds(n_sample=8, n_t=16, n_x=256), tmp_path / "big.nc")
    middle = path.stat().st_size // 2
    spans = [chunk_span(path, "u", i) for i in range(8)]
    assert any(o <= middle < o + s for o, s in spans)  # the middle of this file is field data
    flip(path, middle, n=16)
    with pytest.raises(FileFormatError, match=r"big\.nc: corrupted or unreadable data in variable 'u'"):
        with open_dataset(path) as ds:
            ds.load()


def test_corrupted_coordinate_is_caught_at_open(tmp_path: Path):
    path = save(make_ds(), tmp_path / "run.nc")
    offset, size = chunk_span(path, "x", 0)  # coordinates are checksummed too
    flip(path, offset + size // 2, n=1)
    with pytest.raises(FileFormatError, match=r"run\.nc: corrupted or unreadable NetCDF4 file"):
        open_dataset(path)


def test_data_info_on_a_corrupted_file_is_one_error_line(tmp_path: Path, capsys):
    path = save(make_ds(), tmp_path / "run.nc")
    offset, size = chunk_span(path, "u", 3)
    flip(path, offset + size // 2)
    with pytest.raises(FileFormatError, match="corrupted"):
        summarize_file(path)
    summarize_file(path, statistics=False)  # dims, parameters, provenance: still readable
    with pytest.raises(SystemExit) as info:
        main(["data", "info", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: corrupted or unreadable data in variable 'u'")
    assert "Traceback" not in err


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_every_numeric_variable_is_checksummed(tmp_path: Path, compression):
    path = save(make_ds(), tmp_path / "run.nc", compression=compression)
    with h5py.File(path, "r") as f:
        assert {name: f[name].fletcher32 for name in f} == dict.fromkeys(["u", "nu", "t", "x", "sample"], True)


def test_guard_read_for_direct_h5py_readers(tmp_path: Path):
    path = save(make_ds(), tmp_path / "run.nc")
    offset, size = chunk_span(path, "u", 1)
    flip(path, offset + size // 2)
    with h5py.File(path, "r") as f:
        with guard_read(path, "u"):
            f["u"][0]
        with pytest.raises(FileFormatError, match=r"run\.nc: corrupted .* variable 'u'") as info:
            with guard_read(path, "u"):
                f["u"][1]
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(KeyError):  # other errors pass through
        with guard_read(path, "u"):
            raise KeyError("u")


def test_torch_dataset_read_of_a_corrupted_chunk_is_a_file_format_error(tmp_path: Path):
    from sciml.data.torch_dataset import TrajectoryDataset

    ds = make_ds()
    path = save(ds, tmp_path / "run.nc")
    offset, size = chunk_span(path, "u", 2)
    flip(path, offset + size // 2)
    data = TrajectoryDataset(path, variable="u")
    np.testing.assert_allclose(data[0]["trajectory"][0].numpy(), ds["u"].values[0], rtol=1e-6)
    with pytest.raises(FileFormatError, match=r"corrupted or unreadable data in variable 'u'") as info:
        data[2]
    assert str(path) in str(info.value)
