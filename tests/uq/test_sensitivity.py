"""Sobol' indices through SALib: the Ishigami function's analytic first and total indices
(a = 7, b = 0.1) at n = 4096 base samples (20480 evaluations, scrambled Sobol' design), a linear
model's closed form with second-order indices, log-scale parameters, several outputs, and errors."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from sciml.simulators.base import Parameter, ParameterSpace
from sciml.uq import sobol_analyze, sobol_design, sobol_indices
from sciml.uq.metrics import MetricInputError

A, B = 7.0, 0.1
ISHIGAMI = {f"x{i}": (-math.pi, math.pi) for i in (1, 2, 3)}


def _ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def _ishigami_indices() -> tuple[np.ndarray, np.ndarray]:
    """Closed forms (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = 8 * B**2 * math.pi**8 / 225
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_closed_forms_are_the_published_values():
    s1, st = _ishigami_indices()
    np.testing.assert_allclose(s1, [0.3139, 0.4424, 0.0], atol=5e-5)
    np.testing.assert_allclose(st, [0.5576, 0.4424, 0.2437], atol=5e-5)


def test_ishigami_indices_match_the_analytic_values():
    s1, st = _ishigami_indices()
    res = sobol_indices(_ishigami, ISHIGAMI, 4096, seed=0)
    assert res.names == ("x1", "x2", "x3") and res.n_base == 4096 and res.n_evaluations == 4096 * 5
    np.testing.assert_allclose(res.first, s1, atol=0.01)
    np.testing.assert_allclose(res.total, st, atol=0.01)
    assert np.all(np.abs(res.first - s1) <= res.first_conf) and np.all(np.abs(res.total - st) <= res.total_conf)
    assert res.second is None
    again = sobol_indices(_ishigami, ISHIGAMI, 4096, seed=0)
    np.testing.assert_array_equal(again.first, res.first)


def test_linear_model_with_second_order_and_log_scale_inputs():
    # Y = 1 X1 + 2 X2 + 3 log X3 with X3 log-uniform: log X3 ~ U(0, 1) -> S_i = c_i^2 / sum c^2, no interactions
    space = ParameterSpace((Parameter("a", 0.0, 1.0), Parameter("b", 0.0, 1.0),
                            Parameter("c", 1.0, math.e, log_scale=True)))
    x = sobol_design(space, 1024, seed=1, second_order=True)
    assert x.shape == (1024 * 8, 3) and x[:, 2].min() >= 1.0 and x[:, 2].max() <= math.e
    y = x[:, 0] + 2 * x[:, 1] + 3 * np.log(x[:, 2])
    res = sobol_analyze(space, y, second_order=True, seed=1)
    expected = np.array([1.0, 4.0, 9.0]) / 14.0
    np.testing.assert_allclose(res.first, expected, atol=0.01)
    np.testing.assert_allclose(res.total, expected, atol=0.01)
    assert np.nanmax(np.abs(res.second)) < 0.02
    both = sobol_analyze(space, np.column_stack([y, x[:, 0]]), second_order=True, seed=1)  # two outputs
    assert both.first.shape == (2, 3)
    np.testing.assert_allclose(both.first[0], res.first)
    np.testing.assert_allclose(both.total[1], [1.0, 0.0, 0.0], atol=0.01)


def test_errors():
    with pytest.raises(MetricInputError, match="power of 2"):
        sobol_design(ISHIGAMI, 1000)
    with pytest.raises(MetricInputError, match="low < high"):
        sobol_design({"x": (1.0, 1.0)}, 64)
    with pytest.raises(MetricInputError, match="ParameterSpace"):
        sobol_design([(0.0, 1.0)], 64)
    with pytest.raises(MetricInputError, match=r"n \* 5 rows"):
        sobol_analyze(ISHIGAMI, np.zeros(321))
    with pytest.raises(MetricInputError, match="constant"):
        sobol_analyze(ISHIGAMI, np.ones(320))
    with pytest.raises(MetricInputError, match="one value .* per design row"):
        sobol_indices(lambda x: x[:10, 0], ISHIGAMI, 64)


def test_missing_salib_names_the_extra(monkeypatch):
    for name in ("SALib", "SALib.sample", "SALib.analyze"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'sciml\[uq\]'"):
        sobol_design(ISHIGAMI, 64)
