"""Regret curves of BO runs: step functions of the cumulative cost, their exact mean, cost to reach."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml.bo.analysis import (
    cost_to_reach,
    curve_of,
    mean_curve,
    nan_to_none,
    regret_curve,
    standard_error,
    step_values,
)

nan = math.nan


def test_regret_curve_and_step_values():
    recs = [{"cumulative_cost": 10.0, "regret": 3.0}, {"cumulative_cost": 12.0, "regret": None},
            {"cumulative_cost": 12.0, "regret": 1.0}, {"cumulative_cost": 20.0, "regret": 0.5}]
    cost, regret = regret_curve(recs, cost_offset=10.0)
    assert cost.tolist() == [0.0, 2.0, 2.0, 10.0]
    np.testing.assert_array_equal(regret, [3.0, nan, 1.0, 0.5])
    at = np.array([-1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 100.0])
    # NaN before the first point, the last of equal costs wins, flat after the last point
    np.testing.assert_array_equal(step_values(cost, regret, at), [nan, 3.0, 3.0, 1.0, 1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="must not decrease"):
        regret_curve([{"cumulative_cost": 2.0, "regret": 1.0}, {"cumulative_cost": 1.0, "regret": 1.0}])


def test_mean_curve_is_the_exact_mean_of_step_functions():
    a = (np.array([1.0, 3.0]), np.array([4.0, 2.0]))
    b = (np.array([2.0, 3.0, 5.0]), np.array([6.0, 2.0, 0.0]))
    grid, mean, se = mean_curve([a, b])
    assert grid.tolist() == [1.0, 2.0, 3.0, 5.0]
    np.testing.assert_allclose(mean, [nan, 5.0, 2.0, 1.0])  # run b has no recommendation at cost 1
    np.testing.assert_allclose(se, [nan, 1.0, 0.0, 1.0])  # std(ddof=1) / sqrt(2) of (4, 6), (2, 2), (2, 0)
    grid1, mean1, se1 = mean_curve([a])
    assert mean1.tolist() == [4.0, 2.0] and se1.tolist() == [0.0, 0.0]


def test_cost_to_reach_on_hand_made_curves():
    grid = np.array([1.0, 2.0, 3.0, 5.0])
    values = np.array([nan, 5.0, 2.0, 1.0])
    assert cost_to_reach(grid, values, 2.0) == 3.0  # equality counts as reached
    assert cost_to_reach(grid, values, 1.5) == 5.0
    assert cost_to_reach(grid, values, 0.5) is None
    assert cost_to_reach(grid, values, 10.0) == 2.0  # undefined (NaN) never counts as reached
    # a curve that dips below the target and comes back above: reached only where it stays below
    assert cost_to_reach(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 1.0]), 2.0) == 2.0
    assert cost_to_reach(np.array([]), np.array([]), 1.0) is None


def test_standard_error_and_json_curves():
    assert standard_error([1.0, 3.0]) == pytest.approx(1.0) and standard_error([2.0]) == 0.0
    assert nan_to_none(np.array([1.0, nan, math.inf])) == [1.0, None, None]
    cost, mean = curve_of({"cost": [1.0, 2.0], "mean": [None, 0.5]})
    assert cost.tolist() == [1.0, 2.0] and np.isnan(mean[0]) and mean[1] == 0.5
