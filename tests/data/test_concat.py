"""Tests of sciml.data.concat: runs combined with unique samples and every run's provenance,
incompatible runs refused with the difference named, and save refusing xr.concat results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sciml.data import concat, open_dataset, run_provenance, save, validate
from sciml.data.describe import format_summary, summarize_file
from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import FileFormatError, SchemaError


def make_run(n_sample: int = 3, *, seed: int = 7, nu: tuple[float, float] = (0.01, 0.1),
             n_x: int = 6, cfl: float = 0.4, **extra: object) -> xr.Dataset:
    """One simulator run as the simulators build it: fields, a parameter, provenance."""
    rng = np.random.default_rng(seed)
    return field_dataset(
        {"u": rng.normal(size=(n_sample, 4, n_x)).astype(np.float32)},
        coords={"t": np.linspace(0.0, 0.3, 4), "x": np.linspace(0.0, 1.0, n_x, endpoint=False)},
        parameters={"nu": np.linspace(*nu, n_sample)},
        coord_attrs={"t": {"units": "s"}},
        field_attrs={"u": {"units": "m s-1"}},
        attrs=provenance_attrs(generator="burgers1d", generator_version="1.2",
                               parameters={"nx": n_x, "cfl": cfl}, seed=seed, extra=extra or None),
    )


# --------------------------------------------------------------------------- concat


def test_two_runs_round_trip_with_unique_samples_and_both_provenances(tmp_path: Path):
    a = make_run(3, seed=7, nu=(0.01, 0.02), cfl=0.4)
    b = make_run(2, seed=8, nu=(0.5, 0.6), cfl=0.2)
    merged = concat([a, b])
    path = save(merged, tmp_path / "merged.nc")
    with open_dataset(path) as back:
        validate(back)
        np.testing.assert_array_equal(back["sample"].values, np.arange(5))
        np.testing.assert_array_equal(back["u"].values, np.concatenate([a["u"].values, b["u"].values]))
        np.testing.assert_array_equal(back["nu"].values, np.concatenate([a["nu"].values, b["nu"].values]))
        np.testing.assert_array_equal(back["source_run"].values, [0, 0, 0, 1, 1])
        np.testing.assert_array_equal(back["source_sample"].values, [0, 1, 2, 0, 1])
        assert back["u"].attrs == a["u"].attrs and back["t"].attrs == a["t"].attrs
        runs = run_provenance(back)
        assert back.attrs["n_runs"] == 2
        assert json.loads(back.attrs["seed"]) == [7, 8]
        assert back.attrs["generator"] == "burgers1d" and back.attrs["generator_version"] == "1.2"
        # the per-sample metadata is not mistaken for a parameter
        from sciml.data import parameter_variables
        assert parameter_variables(back) == ["nu"]
    assert len(runs) == 2
    for run, src in zip(runs, (a, b), strict=True):
        assert run["parameters"] == json.loads(src.attrs["parameters"])
        assert run["seed"] == src.attrs["seed"]
        assert run["created"] == src.attrs["created"]
        assert run["generator"] == "burgers1d"
    assert runs[0]["parameters"]["cfl"] == 0.4 and runs[1]["parameters"]["cfl"] == 0.2


def test_data_info_shows_every_run(tmp_path: Path):
    path = save(concat([make_run(2, seed=7), make_run(2, seed=8, cfl=0.2)]), tmp_path / "m.nc")
    summary = summarize_file(path)
    prov = summary["provenance"]
    assert prov["seed"] == "[7, 8]"
    assert [r["seed"] for r in prov["parameters"]["runs"]] == [7, 8]
    assert [r["parameters"]["cfl"] for r in prov["parameters"]["runs"]] == [0.4, 0.2]
    assert summary["dims"]["sample"] == 4
    text = format_summary(summary, path=path)
    assert "seed: [7, 8]" in text
    json.dumps(summary)  # still JSON-serialisable for --json


def test_concat_of_concatenations_flattens_the_runs(tmp_path: Path):
    a, b, c = make_run(2, seed=1), make_run(3, seed=2), make_run(1, seed=3)
    ab = save(concat([a, b]), tmp_path / "ab.nc")
    with open_dataset(ab) as lazy_ab:
        abc = concat([lazy_ab, c])
    assert abc.attrs["n_runs"] == 3
    assert json.loads(abc.attrs["seed"]) == [1, 2, 3]
    assert [r["seed"] for r in run_provenance(abc)] == [1, 2, 3]
    np.testing.assert_array_equal(abc["source_run"].values, [0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(abc["source_sample"].values, [0, 1, 0, 1, 2, 0])
    np.testing.assert_array_equal(abc["sample"].values, np.arange(6))
    np.testing.assert_array_equal(abc["u"].values, np.concatenate([a["u"], b["u"], c["u"]]))


def test_single_run_provenance_and_common_extras(tmp_path: Path):
    a = make_run(2, seed=1, title="burgers sweep", site="A")
    b = make_run(2, seed=2, title="burgers sweep", site="B")
    assert run_provenance(a) == [{**{k: v for k, v in a.attrs.items()},
                                  "parameters": json.loads(a.attrs["parameters"])}]
    merged = concat([a, b])
    assert merged.attrs["title"] == "burgers sweep"  # shared by every run: kept
    assert "site" not in merged.attrs  # differs between runs: only in each run's provenance
    assert [r["site"] for r in run_provenance(merged)] == ["A", "B"]


def test_concat_of_one_run_renumbers_and_records_it():
    a = make_run(3, seed=5).assign_coords(sample=[10, 11, 12])
    one = concat([a])
    np.testing.assert_array_equal(one["sample"].values, [0, 1, 2])
    np.testing.assert_array_equal(one["source_sample"].values, [10, 11, 12])
    assert one.attrs["n_runs"] == 1 and json.loads(one.attrs["seed"]) == [5]


def _other_generator(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign_attrs(generator="advection1d")


def _other_version(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign_attrs(generator_version="2.0")


def _no_parameter(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars("nu")


def _extra_field(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign(v=ds["u"] * 2)


def _shifted_x(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign_coords(x=ds["x"] + 0.01)


def _other_units(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out["u"].attrs["units"] = "km s-1"
    return out


def _float64_field(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign(u=ds["u"].astype(np.float64))


@pytest.mark.parametrize(("change", "message"), [
    (_other_generator, "attrs['generator'] is 'advection1d', not 'burgers1d'"),
    (_other_version, "attrs['generator_version'] is '2.0', not '1.2'"),
    (_no_parameter, "data variable 'nu' is missing"),
    (_extra_field, "data variable 'v' is extra"),
    (_shifted_x, "variable 'x' has different values (first at index 0: 0.01, not 0.0)"),
    (_other_units, "variable 'u' has attribute 'units' = 'km s-1', not 'm s-1'"),
    (_float64_field, "variable 'u' has dtype float64, not float32"),
])
def test_incompatible_runs_are_refused_naming_the_difference(change, message):
    a, b = make_run(2, seed=1), change(make_run(2, seed=2))
    with pytest.raises(SchemaError) as info:
        concat([a, b])
    text = str(info.value)
    assert text.startswith("cannot concatenate:")
    assert f"dataset 1 differs from dataset 0: {message}" in text


def test_other_grid_size_is_named():
    with pytest.raises(SchemaError, match=r"dimension 'x' has size 8, not 6"):
        concat([make_run(2), make_run(2, n_x=8)])


def test_every_difference_of_every_dataset_is_listed():
    a = make_run(2)
    with pytest.raises(SchemaError) as info:
        concat([a, _other_units(make_run(2)), _no_parameter(_other_generator(make_run(2)))])
    text = str(info.value)
    assert "dataset 1 differs from dataset 0: variable 'u' has attribute 'units'" in text
    assert "dataset 2 differs from dataset 0: attrs['generator']" in text
    assert "dataset 2 differs from dataset 0: data variable 'nu' is missing" in text


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (([],), {}, "at least one dataset"),
    ((None,), {}, "a sequence of datasets, got NoneType"),
    (("make_run",), {}, "a sequence of datasets, got a single xarray.Dataset"),
    (([1],), {}, "dataset 0 is a int, not an xarray.Dataset"),
    ((["make_run"],), {"dim": "t"}, "dim must be 'sample'"),
])
def test_bad_arguments(args, kwargs, message):
    args = tuple(make_run(2) if a == "make_run" else [make_run(2)] if a == ["make_run"] else a for a in args)
    with pytest.raises(SchemaError, match=message):
        concat(*args, **kwargs)


def test_input_that_is_not_a_sciml_dataset_is_named():
    bad = make_run(2)
    del bad.attrs["seed"]
    with pytest.raises(SchemaError, match=r"dataset 1 is not a sciml dataset: .*provenance attribute\(s\) missing"):
        concat([make_run(2), bad])


def test_inputs_are_not_modified():
    a, b = make_run(2, seed=1), make_run(2, seed=2)
    before = (a.copy(deep=True), b.copy(deep=True))
    concat([a, b])
    xr.testing.assert_identical(a, before[0])
    xr.testing.assert_identical(b, before[1])
    assert a.attrs == before[0].attrs


# --------------------------------------------------------------------------- duplicate samples


@pytest.mark.parametrize("check", [True, False])
def test_save_refuses_xr_concat_with_duplicate_sample_index(tmp_path: Path, check: bool):
    dup = xr.concat([make_run(3, seed=1), make_run(2, seed=2)], dim="sample")
    with pytest.raises(SchemaError, match=r"sample index has duplicate values: 2 of 5 samples.*"
                                          r"sciml\.data\.concat"):
        save(dup, tmp_path / "dup.nc", validate=check)
    assert list(tmp_path.iterdir()) == []


def test_validate_flags_duplicate_sample_index():
    dup = xr.concat([make_run(2, seed=1), make_run(2, seed=2)], dim="sample")
    with pytest.raises(SchemaError, match=r"e\.g\. \[0, 1\]"):
        validate(dup)
    validate(concat([make_run(2, seed=1), make_run(2, seed=2)]))


def test_file_with_duplicate_sample_index_is_refused_on_open(tmp_path: Path):
    dup = xr.concat([make_run(2, seed=1), make_run(2, seed=2)], dim="sample")
    path = tmp_path / "old.nc"
    dup.to_netcdf(path, engine="h5netcdf")  # as files were written before save refused them
    with pytest.raises(FileFormatError, match=r"old\.nc: not a sciml dataset: sample index has duplicate"):
        open_dataset(path)
    with open_dataset(path, validate=False) as raw:  # still readable, to repair
        assert raw.sizes["sample"] == 4
