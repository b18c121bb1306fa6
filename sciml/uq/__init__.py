"""Uncertainty quantification and evaluation: metrics of probabilistic field predictions and of
PDE rollouts (PDEBench), accumulated over batches by one :class:`MetricAccumulator`; calibration
of predictive variances (:mod:`sciml.uq.calibration`); distances between sample sets
(:mod:`sciml.uq.distances`) and Monte Carlo estimates with confidence intervals
(:mod:`sciml.uq.monte_carlo`)."""

from sciml.uq.accumulator import MetricAccumulator, mean_and_se
from sciml.uq.calibration import calibration_curve, fit_variance_scale, miscalibration_area, spearman_std_error
from sciml.uq.distances import random_directions, sliced_wasserstein_distance, wasserstein_1d
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
from sciml.uq.monte_carlo import (
    ExceedanceEstimate,
    MeanEstimate,
    QuantileEstimate,
    mc_exceedance,
    mc_mean,
    mc_quantile,
    order_statistic_ranks,
)
from sciml.uq.pde_metrics import RolloutMetrics, accumulate_rollouts, compute_metrics

__all__ = [
    "ExceedanceEstimate",
    "FieldMetrics",
    "MeanEstimate",
    "MetricAccumulator",
    "MetricInputError",
    "QuantileEstimate",
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
    "mc_exceedance",
    "mc_mean",
    "mc_quantile",
    "mean_and_se",
    "miscalibration_area",
    "mse",
    "order_statistic_ranks",
    "random_directions",
    "sample_gaussian",
    "sample_shock_positions",
    "shock_position",
    "sliced_wasserstein_distance",
    "spearman_std_error",
    "wasserstein_1d",
]
