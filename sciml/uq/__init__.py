"""Uncertainty quantification: metrics for probabilistic predictions, and their accumulation per function."""

from sciml.uq.field_metrics import FieldMetrics, mean_and_se, sample_shock_positions
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

__all__ = [
    "FieldMetrics",
    "MetricInputError",
    "conservation_error",
    "crps_ensemble",
    "crps_gaussian",
    "empirical_interval_coverage",
    "gaussian_log_likelihood",
    "gaussian_nll",
    "interval_coverage",
    "max_conservation_error",
    "mean_and_se",
    "mse",
    "sample_gaussian",
    "sample_shock_positions",
    "shock_position",
]
