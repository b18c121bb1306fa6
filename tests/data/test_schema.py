"""Tests of the canonical layout validator, sciml.data.schema.validate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from sciml.data.schema import (
    PROVENANCE_ATTRS,
    field_dataset,
    field_variables,
    parameter_variables,
    provenance_attrs,
    validate,
)
from sciml.errors import SchemaError


def make_ds(n_sample: int = 3, n_t: int = 4, n_x: int = 5) -> xr.Dataset:
    rng = np.random.default_rng(0)
    return field_dataset(
        {"u": rng.normal(size=(n_sample, n_t, n_x)).astype(np.float32)},
        coords={"t": np.linspace(0.0, 1.0, n_t), "x": np.linspace(0.0, 1.0, n_x, endpoint=False)},
        parameters={"nu": np.linspace(0.01, 0.1, n_sample)},
        attrs=provenance_attrs(
            generator="test", generator_version="0", parameters={"nx": n_x}, seed=1
        ),
    )


def test_good_dataset_passes_and_is_returned():
    ds = make_ds()
    assert validate(ds) is ds
    assert field_variables(ds) == ["u"]
    assert parameter_variables(ds) == ["nu"]
    assert ds["nu"].attrs["role"] == "parameter"
    assert json.loads(ds.attrs["parameters"]) == {"nx": 5}
    assert set(PROVENANCE_ATTRS) <= set(ds.attrs)


def test_2d_dataset_passes():
    ds = field_dataset(
        {"u": np.zeros((2, 3, 4, 5))},
        coords={"t": np.arange(3.0), "x": np.arange(4.0), "y": np.arange(5.0)},
        attrs=provenance_attrs(generator="g", generator_version="0", parameters={}, seed=None),
    )
    validate(ds)
    assert ds.attrs["seed"] == -1


def test_wrong_dim_order_is_named():
    ds = make_ds()
    bad = ds.assign(u=ds["u"].transpose("sample", "x", "t"))
    with pytest.raises(SchemaError, match=r"field 'u' has dims \('sample', 'x', 't'\); expected order \('sample', 't', 'x'\)"):
        validate(bad)


def test_missing_units_on_field_and_coordinate():
    ds = make_ds()
    del ds["u"].attrs["units"]
    del ds["x"].attrs["units"]
    with pytest.raises(SchemaError) as info:
        validate(ds)
    msg = str(info.value)
    assert "field 'u' has no 'units' attribute" in msg
    assert "coordinate 'x' has no 'units' attribute" in msg


def test_nan_reports_variable_count_and_sample_index():
    ds = make_ds(n_sample=4)
    u = ds["u"].values.copy()
    u[2, 1, 3] = np.nan
    u[2, 0, 0] = np.inf
    ds["u"].values = u
    with pytest.raises(SchemaError, match=r"variable 'u' has 2 non-finite value\(s\) in sample\(s\) \[2\]"):
        validate(ds)
    # ... but check_finite=False does not look at the values.
    validate(ds, check_finite=False)


def test_missing_provenance_lists_the_attributes():
    ds = make_ds()
    del ds.attrs["seed"]
    del ds.attrs["generator"]
    with pytest.raises(SchemaError, match=r"provenance attribute\(s\) missing from attrs: \['generator', 'seed'\]"):
        validate(ds)
    validate(ds, require_provenance=False)


def test_parameters_attr_must_be_json():
    ds = make_ds()
    ds.attrs["parameters"] = "{not json"
    with pytest.raises(SchemaError, match="not valid JSON"):
        validate(ds)


def test_unknown_dim_is_named_with_accepted_dims():
    ds = make_ds().rename({"x": "r"})
    with pytest.raises(SchemaError) as info:
        validate(ds)
    msg = str(info.value)
    assert "unknown dimension(s) ['r']" in msg
    assert "accepted: ['sample', 't', 'x', 'y', 'z', 'k']" in msg
    assert "no spatial dimension" in msg


def test_every_problem_is_listed_once_per_line():
    ds = make_ds()
    del ds["u"].attrs["units"]
    del ds.attrs["created"]
    ds = ds.assign_coords(t=("t", ds["t"].values[::-1], ds["t"].attrs))
    with pytest.raises(SchemaError) as info:
        validate(ds)
    lines = [ln for ln in str(info.value).splitlines() if ln.strip().startswith("- ")]
    assert len(lines) == 3
    assert any("coordinate 't' is not strictly increasing" in ln for ln in lines)


def test_required_fields_and_parameters():
    ds = make_ds()
    with pytest.raises(SchemaError, match=r"required field variable 'v' is missing; present: \['u'\]"):
        validate(ds, required_fields=["v"])
    with pytest.raises(SchemaError, match=r"required parameter variable 'beta' is missing; present: \['nu'\]"):
        validate(ds, required_parameters=["beta"])


def test_integer_field_rejected():
    ds = make_ds()
    ds["u"] = ds["u"].astype(np.int32)
    with pytest.raises(SchemaError, match="field 'u' has dtype int32; expected a floating type"):
        validate(ds)


def test_not_a_dataset():
    with pytest.raises(SchemaError, match="expected an xarray.Dataset, got DataArray"):
        validate(make_ds()["u"])


def test_finite_check_reads_bounded_blocks_and_finds_every_sample():
    from sciml.data.schema import _nonfinite_samples

    ds = make_ds(n_sample=5)
    u = ds["u"].values.copy()
    u[0, 0, 0] = np.nan
    u[3, 1, 2] = -np.inf
    u[3, 0, 1] = np.nan
    ds["u"].values = u
    one_sample = ds["u"].isel(sample=0).nbytes
    for block in (1, one_sample, 2 * one_sample, 10**9):
        assert _nonfinite_samples(ds["u"], block_bytes=block) == ([0, 3], 3)


def test_a_power_spectrum_over_k_is_a_field_and_its_k_is_checked():
    k = np.array([0.05, 0.1, 0.2])
    ds = xr.Dataset(
        {"power": (("sample", "t", "k"), np.ones((2, 1, 3)), {"units": "(Mpc/h)^3", "long_name": "P(k)"}),
         "n_modes": (("k",), np.array([6.0, 30.0, 120.0]), {"units": "1", "long_name": "modes per bin"}),
         "sigma_8": (("sample",), np.array([0.8, 0.9]), {"units": "1", "long_name": "sigma_8", "role": "parameter"})},
        coords={"sample": [0, 1], "t": ("t", [1.0], {"units": "1", "long_name": "scale factor"}),
                "k": ("k", k, {"units": "h/Mpc", "long_name": "wavenumber"})})
    assert validate(ds, require_provenance=False) is ds
    bad = ds.assign_coords(k=("k", k[::-1], {"units": "h/Mpc"}))
    with pytest.raises(SchemaError) as info:
        validate(bad, require_provenance=False)
    assert "coordinate 'k' has no 'long_name' attribute" in str(info.value)
    assert "coordinate 'k' is not strictly increasing" in str(info.value)
