"""Monte Carlo estimates with confidence intervals: closed-form values (t interval, order-statistic
ranks, Wilson and Clopper-Pearson bounds), coverage over 400 seeded repeats within three
binomial standard errors of the nominal (or the interval's exact) coverage, and errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from sciml.uq import mc_exceedance, mc_mean, mc_quantile, order_statistic_ranks
from sciml.uq.metrics import MetricInputError

REPEATS = 400


def _three_se(p: float) -> float:
    return 3 * math.sqrt(p * (1 - p) / REPEATS)


def test_mean_interval_by_hand():
    est = mc_mean([1.0, 2.0, 3.0, 4.0], level=0.95)
    se = math.sqrt(5 / 3) / 2  # sample sd sqrt(5/3), n = 4
    assert (est.estimate, est.n, est.method) == (2.5, 4, "t")
    assert est.std_error == pytest.approx(se, rel=1e-14)
    assert est.upper - est.estimate == pytest.approx(3.182446305284263 * se, rel=1e-12)  # t_{0.975, 3}
    normal = mc_mean([1.0, 2.0, 3.0, 4.0], level=0.9, method="normal")
    assert normal.estimate - normal.lower == pytest.approx(1.6448536269514722 * se, rel=1e-12)


def test_mean_interval_covers_near_nominal():
    hits = 0
    for seed in range(REPEATS):
        est = mc_mean(np.random.default_rng(seed).normal(3.0, 2.0, size=15), level=0.95)
        hits += est.lower <= 3.0 <= est.upper
    assert abs(hits / REPEATS - 0.95) <= _three_se(0.95)


def test_order_statistic_ranks_by_hand():
    # median of n = 10: [X_(2), X_(9)], coverage 1 - 2 (1 + 10) / 2^10
    assert order_statistic_ranks(10, 0.5, 0.95) == (2, 9, pytest.approx(1 - 22 / 1024, rel=1e-12))
    # q = 0.99 from 5 draws: no finite upper bound; l - 1 = 3 is the largest k with F(k) <= 0.025
    lower, upper, coverage = order_statistic_ranks(5, 0.99, 0.95)
    assert (lower, upper) == (4, 6)
    assert coverage == pytest.approx(1 - stats.binom.cdf(3, 5, 0.99), rel=1e-12)
    est = mc_quantile(np.arange(1.0, 6.0), 0.99)
    assert est.lower == 4.0 and est.upper == math.inf


def test_quantile_interval_covers_at_least_its_exact_coverage():
    q, n = 0.9, 200
    true = stats.expon.ppf(q)
    hits, coverage = 0, None
    for seed in range(REPEATS):
        est = mc_quantile(np.random.default_rng(seed).exponential(size=n), q, level=0.95)
        hits += est.lower <= true <= est.upper
        coverage = est.coverage
    assert coverage >= 0.95
    assert abs(hits / REPEATS - coverage) <= _three_se(coverage)


def test_quantile_estimate_is_numpys():
    x = np.random.default_rng(0).normal(size=33)
    assert mc_quantile(x, 0.3).estimate == np.quantile(x, 0.3)


def test_clopper_pearson_bounds_solve_the_binomial_tail_equations():
    n, k, level = 40, 7, 0.9
    est = mc_exceedance(np.r_[np.ones(k), np.zeros(n - k)], 0.5, level=level, method="clopper-pearson")
    assert (est.estimate, est.n_exceed) == (k / n, k)
    assert stats.binom.sf(k - 1, n, est.lower) == pytest.approx(0.05, rel=1e-9)  # P(K >= k | lower) = alpha/2
    assert stats.binom.cdf(k, n, est.upper) == pytest.approx(0.05, rel=1e-9)  # P(K <= k | upper) = alpha/2
    none = mc_exceedance(np.zeros(20), 1.0, method="clopper-pearson")
    assert (none.lower, none.upper) == (0.0, pytest.approx(1 - 0.025 ** (1 / 20), rel=1e-12))
    every = mc_exceedance(np.ones(20), 0.0, method="clopper-pearson")
    assert (every.lower, every.upper) == (pytest.approx(0.025 ** (1 / 20), rel=1e-12), 1.0)


def test_wilson_bounds_solve_the_score_equation():
    n, k = 50, 9
    est = mc_exceedance(np.r_[np.full(k, 2.0), np.zeros(n - k)], 1.0)
    z = stats.norm.ppf(0.975)
    for p in (est.lower, est.upper):
        assert abs(k / n - p) == pytest.approx(z * math.sqrt(p * (1 - p) / n), rel=1e-10)
    none = mc_exceedance(np.zeros(20), 1.0)
    assert (none.lower, none.upper) == (0.0, pytest.approx(z**2 / (20 + z**2), rel=1e-12))


def _exact_coverage(p: float, n: int, method: str) -> float:
    total = 0.0
    for k in range(n + 1):
        est = mc_exceedance(np.r_[np.ones(k), np.zeros(n - k)], 0.5, method=method)
        total += stats.binom.pmf(k, n, p) * (est.lower <= p <= est.upper)
    return total


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_exceedance_intervals_cover_as_their_exact_coverage(method):
    p, n = stats.norm.sf(1.5), 120  # P(Z > 1.5)
    exact = _exact_coverage(p, n, method)
    assert exact >= (0.95 if method == "clopper-pearson" else 0.93)
    hits = 0
    for seed in range(REPEATS):
        est = mc_exceedance(np.random.default_rng(seed).normal(size=n), 1.5, method=method)
        hits += est.lower <= p <= est.upper
    assert abs(hits / REPEATS - exact) <= _three_se(exact)


def test_results_are_frozen():
    est = mc_mean([1.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.estimate = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(("call", "match"), [
    (lambda: mc_mean([]), "empty"),
    (lambda: mc_mean([1.0]), "n >= 2"),
    (lambda: mc_mean([1.0, np.nan]), "non-finite"),
    (lambda: mc_mean(np.zeros((3, 2))), "1-D"),
    (lambda: mc_mean([1.0, 2.0], level=1.0), "level must be"),
    (lambda: mc_mean([1.0, 2.0], level=True), "level must be"),
    (lambda: mc_mean([1.0, 2.0], method="z"), "method must be"),
    (lambda: mc_quantile([1.0, 2.0], 0.0), "q must be"),
    (lambda: mc_quantile([1.0, np.inf], 0.5), "non-finite"),
    (lambda: mc_exceedance([1.0, 2.0], math.nan), "threshold"),
    (lambda: mc_exceedance([1.0, 2.0], 1.0, level=-0.1), "level must be"),
    (lambda: mc_exceedance([1.0, 2.0], 1.0, method="exact"), "method must be"),
    (lambda: order_statistic_ranks(0, 0.5, 0.95), "n must be"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()
