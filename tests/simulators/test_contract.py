"""Every registered simulator passes :func:`sciml.testing.check_simulator`, and the registry's
own promises: ``config()`` rebuilds it, cost grows with resolution, bad options are clear."""

from __future__ import annotations


import numpy as np
import pytest

from sciml.errors import ConfigError, ParameterError
from sciml.simulators.registry import SIMULATORS, build_simulator
from sciml.testing import check_simulator
from sciml.testing.simulators import middle_of_space

SMALL = {"n_cells": 32, "n_frames": 5, "t_final": 0.05}


#: the grid-based PDE simulators (MD simulators have their own suite in tests/simulators/md)
PDE_KINDS = sorted(k for k, target in SIMULATORS.items() if target.startswith("sciml.simulators.pde"))


@pytest.fixture(params=PDE_KINDS)
def kind(request):
    return request.param


@pytest.fixture
def sim(kind):
    return build_simulator({"kind": kind, **SMALL})


def test_registered_simulator_keeps_the_contract(sim, kind):
    assert sim.name == kind
    check_simulator(sim)


def test_run_has_the_configured_grid(sim):
    ds = sim.run(middle_of_space(sim), seed=3, n_samples=2)
    assert ds["u"].shape == (2, SMALL["n_frames"], SMALL["n_cells"])
    np.testing.assert_allclose(ds["t"].values, np.linspace(0, SMALL["t_final"], SMALL["n_frames"]))


def test_config_rebuilds_an_identical_simulator(sim, kind):
    cfg = sim.config()
    assert cfg["kind"] == kind
    twin = build_simulator(cfg)
    params = middle_of_space(sim)
    np.testing.assert_array_equal(sim.run(params, seed=0)["u"].values, twin.run(params, seed=0)["u"].values)


def test_cost_is_positive_and_grows_with_resolution(kind):
    coarse = build_simulator({"kind": kind, **SMALL})
    fine = build_simulator({"kind": kind, **{**SMALL, "n_cells": 64}})
    params = middle_of_space(coarse)
    assert 0 < coarse.cost(params) < fine.cost(params)


def test_bad_constructor_options_are_config_errors(kind):
    with pytest.raises(ConfigError, match="n_cells"):
        build_simulator({"kind": kind, "n_cells": 2})
    with pytest.raises(ConfigError, match="unknown field"):
        build_simulator({"kind": kind, "n_cellz": 32})


class _VagueRange(type(build_simulator({"kind": "advection1d", **SMALL}))):
    """Out-of-range parameters fail without naming the value and the accepted range."""

    def run(self, params, *, seed, n_samples=1):
        if any(not p.low <= params.get(p.name, p.low) <= p.high
               for p in self.parameter_space if isinstance(params.get(p.name), (int, float))):
            raise ParameterError("bad parameter")
        return super().run(params, seed=seed, n_samples=n_samples)


class _Noisy(type(build_simulator({"kind": "advection1d", **SMALL}))):
    """The same seed gives another array: not a pure function of (params, seed)."""

    calls = 0

    def run(self, params, *, seed, n_samples=1):
        ds = super().run(params, seed=seed, n_samples=n_samples)
        type(self).calls += 1
        return ds.assign(u=ds["u"] + 1e-12 * type(self).calls)


class _Undersized(type(build_simulator({"kind": "advection1d", **SMALL}))):
    """Declares half the bytes its samples take: a campaign would misjudge its size."""

    def sample_nbytes(self, params=None):
        return super().sample_nbytes(params) // 2


@pytest.mark.parametrize(("broken", "message"), [
    (_VagueRange, r"must match .*is out of range"),
    (_Noisy, r"the same seed must give the same bits"),
    (_Undersized, r"sample_nbytes\(params\) x 2 = \d+ must equal the bytes of the fields"),
])
def test_the_suite_fails_a_broken_simulator(broken, message):
    with pytest.raises(AssertionError, match=message):
        check_simulator(broken(**SMALL))
