"""Parameter designs: grid products, Latin hypercube strata, Sobol balance, log scaling."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.simulators.design import grid_design, list_design, space_filling_design


def test_grid_is_the_cartesian_product_in_order():
    pts = grid_design({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0]})
    assert len(pts) == 6
    assert pts[0] == {"a": 1.0, "b": 10.0}
    assert pts[1] == {"a": 1.0, "b": 20.0}
    assert pts[-1] == {"a": 3.0, "b": 20.0}


def test_list_design_copies_points():
    src = [{"nu": 0.1}]
    out = list_design(src)
    out[0]["nu"] = 5.0
    assert src[0]["nu"] == 0.1


def test_lhs_has_one_point_per_stratum_in_each_dimension():
    n = 16
    pts = space_filling_design("lhs", n, {"a": (0.0, 1.0), "b": (-2.0, 2.0)}, seed=3)
    a = np.array([p["a"] for p in pts])
    b = np.array([(p["b"] + 2.0) / 4.0 for p in pts])
    for u in (a, b):
        strata = np.floor(u * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n))


def test_sobol_is_balanced_and_seeded():
    pts = space_filling_design("sobol", 32, {"a": (0.0, 1.0)}, seed=5)
    a = np.array([p["a"] for p in pts])
    # a (scrambled) Sobol sequence of 2^m points has exactly one point in each 1/2^m interval
    assert sorted(np.floor(a * 32).astype(int).tolist()) == list(range(32))
    again = space_filling_design("sobol", 32, {"a": (0.0, 1.0)}, seed=5)
    other = space_filling_design("sobol", 32, {"a": (0.0, 1.0)}, seed=6)
    assert again == pts
    assert other != pts


def test_log_scaled_parameter_is_uniform_in_log10():
    pts = space_filling_design("lhs", 10, {"nu": (1e-3, 10.0)}, seed=0, log=["nu"])
    logs = np.log10([p["nu"] for p in pts])
    assert logs.min() >= -3 and logs.max() <= 1
    assert sorted(np.floor((logs + 3) / 4 * 10).astype(int).tolist()) == list(range(10))


def test_bad_space_filling_requests_are_rejected():
    with pytest.raises(ValueError, match="accepted: 'lhs', 'sobol'"):
        space_filling_design("random", 4, {"a": (0, 1)}, seed=0)
    with pytest.raises(ValueError, match="positive bounds"):
        space_filling_design("lhs", 4, {"a": (0, 1)}, seed=0, log=["a"])
