"""Uncertainty quantification: metrics for probabilistic predictions."""

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
    "MetricInputError",
    "conservation_error",
    "crps_ensemble",
    "crps_gaussian",
    "empirical_interval_coverage",
    "gaussian_log_likelihood",
    "gaussian_nll",
    "interval_coverage",
    "max_conservation_error",
    "mse",
    "sample_gaussian",
    "shock_position",
]
