"""Sharpness of predictive variances: closed forms by hand, the Gaussian interval width, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.uq import dispersion, gaussian_interval_width, interval_width, sharpness
from sciml.uq.metrics import MetricInputError


def test_values_by_hand():
    var = np.array([1.0, 4.0, 9.0, 16.0])  # std 1, 2, 3, 4
    assert sharpness(var) == pytest.approx(math.sqrt(7.5), rel=1e-15)
    assert sharpness(torch.tensor(var).reshape(2, 2), kind="mean") == pytest.approx(2.5, rel=1e-15)
    assert dispersion(var) == pytest.approx(math.sqrt(5 / 3) / 2.5, rel=1e-14)
    assert dispersion(np.full(5, 2.0)) == 0.0
    assert interval_width([0.0, -1.0], [2.0, 3.0]) == 3.0
    assert gaussian_interval_width(var, level=0.95) == pytest.approx(2 * 1.959963984540054 * 2.5, rel=1e-12)
    rng = np.random.default_rng(0)
    s = rng.uniform(0.5, 2.0, 200_000)
    y = s * rng.standard_normal(s.size)  # the mean width of the central 90 % intervals of N(0, s^2) ...
    assert gaussian_interval_width(s**2, level=0.9) == pytest.approx(2 * 1.6448536269514722 * s.mean(), rel=1e-12)
    assert np.mean(np.abs(y) <= 1.6448536269514722 * s) == pytest.approx(0.9, abs=0.003)  # ... covers 90 %


def test_errors():
    with pytest.raises(MetricInputError, match="variance"):
        sharpness([1.0, -1.0])
    with pytest.raises(MetricInputError, match="kind"):
        sharpness([1.0], kind="max")
    with pytest.raises(MetricInputError, match="at least one"):
        sharpness([])
    with pytest.raises(MetricInputError, match="at least 2"):
        dispersion([1.0])
    with pytest.raises(MetricInputError, match="undefined"):
        dispersion([0.0, 0.0])
    with pytest.raises(MetricInputError, match="upper < lower"):
        interval_width([0.0, 1.0], [1.0, 0.5])
    with pytest.raises(MetricInputError, match="same shape"):
        interval_width([0.0], [1.0, 2.0])
    with pytest.raises(MetricInputError, match="level"):
        gaussian_interval_width([1.0], level=95)
