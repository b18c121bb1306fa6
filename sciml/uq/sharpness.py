"""Sharpness of predictive uncertainties: how narrow the predictions are, whatever their calibration.

A calibrated model that is also sharp is informative; sharpness alone rewards overconfidence,
so it is read next to :mod:`sciml.uq.calibration` (Gneiting, Balabdaoui & Raftery 2007:
"maximise sharpness subject to calibration"). Variances, not standard deviations, as in
:mod:`sciml.uq.metrics`; inputs are numpy arrays or torch tensors, flattened.

================================  ==================================================================
function                          definition
================================  ==================================================================
:func:`sharpness`                 ``sqrt(mean(variance))`` (root mean variance, Tran et al. 2020), or
                                  ``mean(sqrt(variance))`` (mean predicted std)
:func:`dispersion`                coefficient of variation of the predicted std,
                                  ``std_{ddof=1}(sigma) / mean(sigma)`` (0: one std for every point)
:func:`interval_width`            mean ``upper - lower`` of given intervals
:func:`gaussian_interval_width`   mean width ``2 z sigma`` of the central ``level`` Gaussian interval
================================  ==================================================================

References: T. Gneiting, F. Balabdaoui, A. E. Raftery, J. R. Stat. Soc. B 69 (2007) 243; K. Tran
et al., Mach. Learn.: Sci. Technol. 1 (2020) 025006 (sharpness and dispersion).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import ndtri

from sciml.uq.metrics import MetricInputError, _np, _same_shape, _variance

__all__ = ["dispersion", "gaussian_interval_width", "interval_width", "sharpness"]


def _flat_variance(variance: Any) -> np.ndarray:
    v = _variance(variance).ravel()
    if v.size == 0:
        raise MetricInputError("sharpness needs at least one predicted variance")
    return v


def sharpness(variance: Any, *, kind: Literal["rms", "mean"] = "rms") -> float:
    """Typical predicted standard deviation: ``sqrt(mean(variance))`` (``"rms"``) or
    ``mean(sqrt(variance))`` (``"mean"``), units of the prediction; lower is sharper.

    Raises
    ------
    MetricInputError
        No points, negative or non-finite variances, unknown ``kind``.
    """
    v = _flat_variance(variance)
    if kind == "rms":
        return float(np.sqrt(v.mean()))
    if kind == "mean":
        return float(np.sqrt(v).mean())
    raise MetricInputError(f"kind must be 'rms' or 'mean'; got {kind!r}")


def dispersion(variance: Any) -> float:
    """Coefficient of variation ``C_v = std(sigma, ddof=1) / mean(sigma)`` of the predicted std.

    Raises
    ------
    MetricInputError
        Fewer than 2 points, negative or non-finite variances, or all variances zero.
    """
    s = np.sqrt(_flat_variance(variance))
    if s.size < 2:
        raise MetricInputError(f"dispersion needs at least 2 points; got {s.size}")
    if not s.mean() > 0:
        raise MetricInputError("every predicted variance is 0: the dispersion is undefined")
    return float(s.std(ddof=1) / s.mean())


def interval_width(lower: Any, upper: Any) -> float:
    """Mean width ``mean(upper - lower)`` of intervals (units of the prediction).

    Raises
    ------
    MetricInputError
        Shapes differ, no points, non-finite bounds, or ``upper < lower`` somewhere.
    """
    lo, hi = _np(lower, "lower"), _np(upper, "upper")
    _same_shape(lower=lo, upper=hi)
    if lo.size == 0:
        raise MetricInputError("interval_width needs at least one interval")
    if np.any(hi < lo):
        raise MetricInputError(f"{int((hi < lo).sum())} interval(s) have upper < lower")
    return float(np.mean(hi - lo))


def gaussian_interval_width(variance: Any, level: float = 0.95) -> float:
    """Mean width ``2 z sigma``, ``z = Phi^{-1}((1 + level) / 2)``, of the central ``level`` intervals.

    Raises
    ------
    MetricInputError
        ``level`` outside ``(0, 1)``, no points, negative or non-finite variances.
    """
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise MetricInputError(f"level (the nominal coverage) must lie in (0, 1); got {level!r}")
    z = float(ndtri(0.5 * (1.0 + level)))
    return float(2.0 * z * np.sqrt(_flat_variance(variance)).mean())
