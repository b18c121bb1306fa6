"""Uncertainty quantification and evaluation: metrics of probabilistic field predictions and of
PDE rollouts (PDEBench), accumulated over batches by one :class:`MetricAccumulator`; calibration
of predictive variances (:mod:`sciml.uq.calibration`)."""

from sciml.uq.accumulator import MetricAccumulator, mean_and_se
from sciml.uq.calibration import calibration_curve, fit_variance_scale, miscalibration_area, spearman_std_error
from sciml.uq.field_metrics import FieldMetrics, sample_shock_positions
from sciml.uq.metrics import (
    MetricInputError,
    conservation_error,
    crps_ensemble,
    crps_gaussian,
    empirical_interval_coverage,
    gaussian_log_likelihood,
    gaussian_nll,
    interval_coverage,
    max_conservation_error,
    mse,
    sample_gaussian,
    shock_position,
)
from sciml.uq.pde_metrics import RolloutMetrics, accumulate_rollouts, compute_metrics

__all__ = [
    "FieldMetrics",
    "MetricAccumulator",
    "MetricInputError",
    "RolloutMetrics",
    "accumulate_rollouts",
    "calibration_curve",
    "compute_metrics",
    "conservation_error",
    "crps_ensemble",
    "crps_gaussian",
    "empirical_interval_coverage",
    "fit_variance_scale",
    "gaussian_log_likelihood",
    "gaussian_nll",
    "interval_coverage",
    "max_conservation_error",
    "mean_and_se",
    "miscalibration_area",
    "mse",
    "sample_gaussian",
    "sample_shock_positions",
    "shock_position",
    "spearman_std_error",
]
