"""Calibration metrics against closed forms: calibrated Gaussians give area ~ 0, a variance off
by a factor gives the area of the curve 2 Phi(z_p / sqrt(k)) - 1, the scale fit recovers k."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from sciml.uq.calibration import calibration_curve, fit_variance_scale, miscalibration_area, spearman_std_error
from sciml.uq.metrics import MetricInputError


def _draws(n: int = 200_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    std = rng.uniform(0.5, 2.0, n)
    return np.zeros(n), std**2, std * rng.standard_normal(n)


def test_calibrated_predictions_have_a_diagonal_curve_and_no_area():
    mean, var, y = _draws()
    expected, observed = calibration_curve(mean, var, y)
    assert np.max(np.abs(observed - expected)) < 0.005
    assert miscalibration_area(mean, var, y) < 0.003


@pytest.mark.parametrize("k", [0.25, 4.0])
def test_a_wrong_variance_gives_the_closed_form_area_and_the_scale_recovers_it(k):
    mean, var, y = _draws()
    p = np.linspace(0, 1, 20001)[1:-1]
    exact_curve = 2 * ndtr(ndtri(0.5 + p / 2) / np.sqrt(k)) - 1  # observed when the variance is k x too small
    exact = float(np.trapezoid(np.abs(exact_curve - p), p))
    assert miscalibration_area(mean, var / k, y) == pytest.approx(exact, abs=0.003)
    assert fit_variance_scale(mean, var / k, y) == pytest.approx(k, rel=0.01)
    assert miscalibration_area(mean, fit_variance_scale(mean, var / k, y) * var / k, y) < 0.003


def test_spearman_sees_informative_and_useless_uncertainties():
    mean, var, y = _draws(20_000)
    informative = spearman_std_error(var, mean, y)
    # |N(0, s^2)| has median 0.674 s, so rank correlation with s is clearly positive but < 1
    assert 0.3 < informative < 0.7
    rng = np.random.default_rng(1)
    useless = spearman_std_error(rng.permutation(var), mean, y)
    assert abs(useless) < 0.03


def test_bad_input_is_refused():
    with pytest.raises(MetricInputError, match="at least 3 points"):
        spearman_std_error([1.0, 2.0], [0.0, 0.0], [1.0, 0.5])
    with pytest.raises(MetricInputError, match="constant"):
        spearman_std_error([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.5, 2.0])
    with pytest.raises(MetricInputError, match="> 0 to fit a scale"):
        fit_variance_scale([0.0, 0.0], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(MetricInputError):
        miscalibration_area([0.0, 0.0], [1.0], [1.0, 1.0])
