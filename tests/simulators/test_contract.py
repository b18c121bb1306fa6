"""Contract test: every registered simulator satisfies the Simulator protocol the same way.

Each implementation only supplies a small configuration (below); the assertions are shared.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sciml.data.schema import validate
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.base import Simulator
from sciml.simulators.registry import SIMULATORS, build_simulator

SMALL = {"n_cells": 32, "n_frames": 5, "t_final": 0.05}


def middle_params(sim) -> dict[str, float]:
    out = {}
    for p in sim.parameter_space:
        out[p.name] = math.sqrt(p.low * p.high) if p.log_scale else 0.5 * (p.low + p.high)
    return out


@pytest.fixture(params=sorted(SIMULATORS))
def kind(request):
    return request.param


@pytest.fixture
def sim(kind):
    return build_simulator({"kind": kind, **SMALL})


def test_satisfies_protocol(sim, kind):
    assert isinstance(sim, Simulator)
    assert sim.name == kind
    assert isinstance(sim.version, str) and sim.version
    assert len(sim.parameter_space) >= 1
    for p in sim.parameter_space:
        assert p.low <= p.high and p.units


def test_run_returns_validated_dataset_with_parameters_and_provenance(sim):
    params = middle_params(sim)
    ds = sim.run(params, seed=3, n_samples=2)
    validate(ds)
    assert ds["u"].shape == (2, SMALL["n_frames"], SMALL["n_cells"])
    np.testing.assert_allclose(ds["t"].values, np.linspace(0, SMALL["t_final"], SMALL["n_frames"]))
    for name, value in params.items():
        np.testing.assert_array_equal(ds[name].values, [value, value])
        assert ds[name].attrs["role"] == "parameter"
    assert ds.attrs["generator"] == sim.name
    assert ds.attrs["seed"] == 3
    recorded = json.loads(ds.attrs["parameters"])
    assert recorded["params"] == params
    assert recorded["config"] == json.loads(json.dumps(sim.config()))


def test_same_seed_same_bits(sim):
    params = middle_params(sim)
    a = sim.run(params, seed=11, n_samples=2)["u"].values
    b = sim.run(params, seed=11, n_samples=2)["u"].values
    np.testing.assert_array_equal(a, b)


def test_config_rebuilds_an_identical_simulator(sim, kind):
    cfg = sim.config()
    assert cfg["kind"] == kind
    twin = build_simulator(cfg)
    params = middle_params(sim)
    np.testing.assert_array_equal(sim.run(params, seed=0)["u"].values, twin.run(params, seed=0)["u"].values)


def test_cost_is_positive_and_grows_with_resolution(kind):
    coarse = build_simulator({"kind": kind, **SMALL})
    fine = build_simulator({"kind": kind, **{**SMALL, "n_cells": 64}})
    params = middle_params(coarse)
    assert 0 < coarse.cost(params) < fine.cost(params)


def test_out_of_range_parameter_is_rejected_with_accepted_range(sim):
    p = next(iter(sim.parameter_space))
    with pytest.raises(ParameterError, match=rf"{p.name}=.* is out of range; accepted: {p.name} in \["):
        sim.run({**middle_params(sim), p.name: p.high * 10 + 1}, seed=0)
    with pytest.raises(ParameterError, match="unknown parameter"):
        sim.run({**middle_params(sim), "bogus": 1.0}, seed=0)
    with pytest.raises(ParameterError, match="must be a number"):
        sim.run({**middle_params(sim), p.name: "fast"}, seed=0)
    with pytest.raises(ParameterError, match="n_samples must be a positive integer"):
        sim.run(middle_params(sim), seed=0, n_samples=0)


def test_bad_constructor_options_are_config_errors(kind):
    with pytest.raises(ConfigError, match="n_cells"):
        build_simulator({"kind": kind, "n_cells": 2})
    with pytest.raises(ConfigError, match="unknown field"):
        build_simulator({"kind": kind, "n_cellz": 32})
