"""Uncertainty quantification and evaluation: metrics of probabilistic field predictions and of
PDE rollouts (PDEBench), accumulated over batches by one :class:`MetricAccumulator`; calibration
of predictive variances (:mod:`sciml.uq.calibration`) and their sharpness
(:mod:`sciml.uq.sharpness`); split-conformal intervals around any surrogate
(:mod:`sciml.uq.conformal`); distances between sample sets (:mod:`sciml.uq.distances`); Monte
Carlo estimates with confidence intervals (:mod:`sciml.uq.monte_carlo`), with control variates
from paired cheap runs (CARPool, :mod:`sciml.uq.control_variates`), and of several expectations
from one adaptive importance sample (:mod:`sciml.uq.multi_expectation`); Sobol' sensitivity
indices through SALib (:mod:`sciml.uq.sensitivity`, ``pip install 'sciml[uq]'``)."""

from sciml.uq.accumulator import MetricAccumulator, mean_and_se
from sciml.uq.calibration import calibration_curve, fit_variance_scale, miscalibration_area, spearman_std_error
from sciml.uq.conformal import ConformalIntervals, SplitConformal, conformal_quantile
from sciml.uq.control_variates import CARPoolEstimate, PairedRuns, carpool, paired_runs
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
from sciml.uq.multi_expectation import GaussianMixtureProposal, MultiExpectationEstimate, estimate_expectations
from sciml.uq.pde_metrics import RolloutMetrics, accumulate_rollouts, compute_metrics
from sciml.uq.sensitivity import SobolIndices, sobol_analyze, sobol_design, sobol_indices
from sciml.uq.sharpness import dispersion, gaussian_interval_width, interval_width, sharpness

__all__ = [
    "CARPoolEstimate",
    "ConformalIntervals",
    "ExceedanceEstimate",
    "FieldMetrics",
    "GaussianMixtureProposal",
    "MeanEstimate",
    "MetricAccumulator",
    "MetricInputError",
    "MultiExpectationEstimate",
    "PairedRuns",
    "QuantileEstimate",
    "RolloutMetrics",
    "SobolIndices",
    "SplitConformal",
    "accumulate_rollouts",
    "calibration_curve",
    "carpool",
    "compute_metrics",
    "conformal_quantile",
    "conservation_error",
    "crps_ensemble",
    "crps_gaussian",
    "dispersion",
    "empirical_interval_coverage",
    "estimate_expectations",
    "fit_variance_scale",
    "gaussian_interval_width",
    "gaussian_log_likelihood",
    "gaussian_nll",
    "interval_coverage",
    "interval_width",
    "max_conservation_error",
    "mc_exceedance",
    "mc_mean",
    "mc_quantile",
    "mean_and_se",
    "miscalibration_area",
    "mse",
    "order_statistic_ranks",
    "paired_runs",
    "random_directions",
    "sample_gaussian",
    "sample_shock_positions",
    "sharpness",
    "shock_position",
    "sliced_wasserstein_distance",
    "sobol_analyze",
    "sobol_design",
    "sobol_indices",
    "spearman_std_error",
    "wasserstein_1d",
]
