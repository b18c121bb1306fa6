"""The Simulator contract suite."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping

import numpy as np

from sciml.data.schema import validate
from sciml.errors import ParameterError
from sciml.simulators.base import Simulator
from sciml.testing._assert import require

__all__ = ["check_simulator", "middle_of_space"]


def middle_of_space(simulator: Simulator) -> dict[str, float]:
    """The middle of each parameter's range (geometric for log-scale parameters)."""
    return {p.name: math.sqrt(p.low * p.high) if p.log_scale else 0.5 * (p.low + p.high)
            for p in simulator.parameter_space}


def check_simulator(simulator: Simulator, params: Mapping[str, float] | None = None, *,
                    seed: int = 3, n_samples: int = 2) -> None:
    """Check that ``simulator`` keeps the :class:`~sciml.simulators.base.Simulator` contract.

    ``run(params, seed=, n_samples=)`` must return a dataset that passes
    :func:`sciml.data.validate` with ``n_samples`` samples, the parameters as per-sample
    variables (``role = "parameter"``), provenance naming the simulator, its seed, parameters
    and configuration; the same seed gives the same bits; the parameters passed in are not
    changed; ``cost`` is finite and positive; ``sample_nbytes(params)``, where a simulator
    has it, is the bytes of one sample's fields; bad parameters and sample counts are
    :class:`~sciml.errors.ParameterError` naming the accepted values.

    Parameters
    ----------
    simulator : Simulator
        The implementation under test (small grids keep the suite fast).
    params : mapping, optional
        A valid parameter point; default the middle of the parameter space.

    Raises
    ------
    AssertionError
        The first rule broken, named.
    """
    require(isinstance(simulator, Simulator), f"{type(simulator).__name__} does not satisfy the Simulator protocol")
    require(isinstance(simulator.name, str) and simulator.name, "a simulator has a non-empty name")
    require(isinstance(simulator.version, str) and simulator.version, "a simulator has a non-empty version")
    space = simulator.parameter_space
    require(len(space) >= 1, "a simulator declares at least one parameter")
    for p in space:
        require(p.low <= p.high and p.units, f"parameter {p.name}: low <= high and units are required")
    params = dict(params) if params is not None else middle_of_space(simulator)
    _check_run(simulator, params, seed, n_samples)
    cost = simulator.cost(params)
    require(isinstance(cost, float) and math.isfinite(cost) and cost > 0, f"cost must be a float > 0, got {cost!r}")
    _check_bad_parameters(simulator, params)


def _check_run(simulator: Simulator, params: dict[str, float], seed: int, n_samples: int) -> None:
    before = copy.deepcopy(params)
    ds = simulator.run(params, seed=seed, n_samples=n_samples)
    require(params == before, "run must not change the parameters passed in")
    validate(ds)
    require(ds.sizes.get("sample") == n_samples, f"expected {n_samples} samples, got dims {dict(ds.sizes)}")
    for name, value in simulator.parameter_space.validate(params).items():
        require(name in ds and ds[name].attrs.get("role") == "parameter",
                f"parameter {name!r} must be a per-sample variable with role 'parameter'")
        np.testing.assert_array_equal(ds[name].values, np.full(n_samples, value),
                                      err_msg=f"parameter {name!r} is not recorded per sample")
    require(ds.attrs.get("generator") == simulator.name, "attrs['generator'] must be the simulator's name")
    require(ds.attrs.get("seed") == seed, "attrs['seed'] must be the run's seed")
    recorded = json.loads(ds.attrs["parameters"])
    require(recorded.get("params") == simulator.parameter_space.validate(params),
            "provenance must record the validated parameters")
    require(recorded.get("config") == json.loads(json.dumps(simulator.config())),
            "provenance must record the simulator's config()")
    per_sample = getattr(simulator, "sample_nbytes", None)
    if callable(per_sample):  # optional: campaigns size their output and memory with it
        fields = sum(ds[v].nbytes for v in ds.data_vars
                     if ds[v].attrs.get("role", "field") not in ("parameter", "metadata") and "sample" in ds[v].dims)
        require(int(per_sample(params)) * n_samples == fields,
                f"sample_nbytes(params) x {n_samples} = {int(per_sample(params)) * n_samples} must equal the "
                f"bytes of the fields of run(params, n_samples={n_samples}): {fields}")
    again = simulator.run(params, seed=seed, n_samples=n_samples)
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, again[name].values,
                                      err_msg=f"the same seed must give the same bits ({name!r})")


def _expect_parameter_error(simulator: Simulator, params: dict, pattern: str, **kwargs) -> None:
    try:
        simulator.run(params, seed=0, **kwargs)
    except ParameterError as exc:
        require(re.search(pattern, str(exc)) is not None, f"the ParameterError must match {pattern!r}; got {exc}")
    else:
        raise AssertionError(f"run({params}, {kwargs}) must raise ParameterError ({pattern})")


def _check_bad_parameters(simulator: Simulator, params: dict[str, float]) -> None:
    first = next(iter(simulator.parameter_space))
    too_high = first.high + max(1.0, abs(first.high)) * 10
    name = re.escape(first.name)
    _expect_parameter_error(simulator, {**params, first.name: too_high},
                            rf"{name}=\S+ is out of range; accepted: {name} in \[")
    _expect_parameter_error(simulator, {**params, "bogus": 1.0}, "unknown parameter")
    _expect_parameter_error(simulator, {**params, first.name: "fast"}, "must be a number")
    _expect_parameter_error(simulator, params, "n_samples must be a positive integer", n_samples=0)
