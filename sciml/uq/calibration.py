"""Calibration of Gaussian predictive uncertainties: curves, miscalibration area, rank
correlation of uncertainty and error, and recalibration by one variance scale.

Predictions are a mean and a **variance** per point (as :mod:`sciml.uq.metrics`); inputs may be
numpy arrays or torch tensors and are flattened.

=====================================  ======================================================
function                               definition
=====================================  ======================================================
:func:`calibration_curve`              expected level ``p`` vs observed fraction of points
                                       inside the central ``p`` Gaussian interval
:func:`miscalibration_area`            area between that curve and the diagonal (0: calibrated,
                                       at most 0.5)
:func:`spearman_std_error`             Spearman rank correlation of ``std`` and ``|y - mean|``
:func:`fit_variance_scale`             ``s`` minimising the Gaussian NLL of ``s * variance``:
                                       ``s = mean((y - mean)^2 / variance)``
=====================================  ======================================================

References: V. Kuleshov, N. Fenner, S. Ermon, "Accurate uncertainties for deep learning using
calibrated regression", ICML 2018; K. Tran et al., "Methods for comparing uncertainty
quantifications for material property predictions", MLST 1, 025006 (2020) (miscalibration area);
D. Levi et al., "Evaluating and calibrating uncertainty prediction in regression tasks",
Sensors 22, 5540 (2022) (variance scaling); the scaling step of Thaler et al., JCTC 2023.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri
from scipy.stats import spearmanr

from sciml.uq.metrics import MetricInputError, _np, _same_shape, _variance

__all__ = ["calibration_curve", "fit_variance_scale", "miscalibration_area", "spearman_std_error"]


def _inputs(mean: Any, variance: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, v, t = _np(mean, "mean").ravel(), _variance(variance).ravel(), _np(y, "y").ravel()
    _same_shape(mean=m, variance=v, y=t)
    if m.size == 0:
        raise MetricInputError("calibration needs at least one point")
    return m, v, t


def calibration_curve(mean: Any, variance: Any, y: Any, *, n_levels: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """Expected levels ``p = 1/(n+1) .. n/(n+1)`` and the observed fraction of ``y`` inside each
    central interval ``mean +- z_{(1+p)/2} sqrt(variance)``.

    Returns
    -------
    (expected, observed) : two float64 arrays of shape ``(n_levels,)``

    Raises
    ------
    MetricInputError
        Shapes differ, no points, negative or non-finite variances, ``n_levels < 1``.
    """
    if n_levels < 1:
        raise MetricInputError(f"n_levels must be >= 1, got {n_levels}")
    m, v, t = _inputs(mean, variance, y)
    expected = np.arange(1, n_levels + 1, dtype=np.float64) / (n_levels + 1)
    z = np.abs(t - m) / np.sqrt(np.maximum(v, np.finfo(np.float64).tiny))
    half_width = ndtri(0.5 + expected / 2)
    observed = (z[None, :] <= half_width[:, None]).mean(axis=1)
    return expected, observed


def miscalibration_area(mean: Any, variance: Any, y: Any, *, n_levels: int = 99) -> float:
    """Area between the calibration curve and the diagonal over ``p`` in ``[0, 1]`` (trapezoids,
    with the end points ``(0, 0)`` and ``(1, 1)``): 0 for calibrated, up to 0.5.

    Raises
    ------
    MetricInputError
        As :func:`calibration_curve`.
    """
    expected, observed = calibration_curve(mean, variance, y, n_levels=n_levels)
    gap = np.concatenate([[0.0], np.abs(observed - expected), [0.0]])
    p = np.concatenate([[0.0], expected, [1.0]])
    return float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(p)))


def spearman_std_error(variance: Any, mean: Any, y: Any) -> float:
    """Spearman rank correlation between the predicted ``std`` and the absolute error ``|y - mean|``.

    Raises
    ------
    MetricInputError
        Shapes differ, fewer than 3 points, or constant ``std`` or errors (no ranking).
    """
    m, v, t = _inputs(mean, variance, y)
    if m.size < 3:
        raise MetricInputError(f"a rank correlation needs at least 3 points, got {m.size}")
    err = np.abs(t - m)
    if np.ptp(v) == 0 or np.ptp(err) == 0:
        raise MetricInputError("the predicted std or the errors are constant: no rank correlation")
    return float(spearmanr(np.sqrt(v), err).statistic)


def fit_variance_scale(mean: Any, variance: Any, y: Any) -> float:
    """The factor ``s > 0`` that minimises the mean Gaussian NLL of ``(mean, s * variance)`` on
    ``y``: ``s = mean((y - mean)^2 / variance)`` (fit it on validation data, apply it to test data).

    Raises
    ------
    MetricInputError
        Shapes differ, no points, a zero or non-finite variance, or all errors zero.
    """
    m, v, t = _inputs(mean, variance, y)
    if not np.all(v > 0):
        raise MetricInputError("every variance must be > 0 to fit a scale")
    s = float(np.mean((t - m) ** 2 / v))
    if not s > 0:
        raise MetricInputError("the errors are all zero: no scale to fit")
    return s
