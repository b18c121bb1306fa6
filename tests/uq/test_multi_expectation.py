"""Several expectations from one adaptive importance sample with control variates: against plain
Monte Carlo at the same budget on three rare-ish Gaussian probabilities with known values (lower
mean squared error over seeded repeats, unbiased, honest standard errors), the control variates by
construction, user control variates, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sciml.uq import GaussianMixtureProposal, estimate_expectations
from sciml.uq.metrics import MetricInputError
from sciml.uq.multi_expectation import _design, _Nominal

F = stats.multivariate_normal(np.zeros(2), np.eye(2))
TRUTH = np.array([stats.norm.sf(2.0), stats.norm.sf(2.5), stats.norm.sf(3 / math.sqrt(2))])
BUDGET, REPEATS = 4000, 30


def _events(x: np.ndarray) -> np.ndarray:
    """P(X1 > 2) = 0.0228, P(X1 > 2.5) = 0.0062, P(X1 + X2 > 3) = 0.0169 for X ~ N(0, I_2)."""
    return np.column_stack([x[:, 0] > 2.0, x[:, 0] > 2.5, x[:, 0] + x[:, 1] > 3.0]).astype(float)


def test_beats_plain_monte_carlo_at_equal_budget():
    runs = [estimate_expectations(_events, F, BUDGET, seed=r) for r in range(REPEATS)]
    est, se = np.array([r.estimate for r in runs]), np.array([r.std_error for r in runs])
    mse = ((est - TRUTH) ** 2).mean(axis=0)
    plain = TRUTH * (1 - TRUTH) / BUDGET  # exact variance of plain Monte Carlo with the same budget
    assert np.all(plain / mse > 3), plain / mse
    sem = est.std(axis=0, ddof=1) / math.sqrt(REPEATS)
    assert np.all(np.abs(est.mean(axis=0) - TRUTH) < 3 * sem)
    ratio = se.mean(axis=0) / est.std(axis=0, ddof=1)  # the reported standard errors are of the right size
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_result_bookkeeping_and_reproducibility():
    a = estimate_expectations(_events, F, 2000, n_stage=200, seed=3)
    b = estimate_expectations(_events, F, 2000, n_stage=200, seed=3)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert a.n_evaluations == 2000 == a.n_adaptation + a.n_final and a.n_adaptation == 200 * a.n_stages
    assert len(a.criterion) == a.n_stages >= 2 and a.coefficients == "pilot"
    assert a.proposal.defensive == 0.1 and 1 <= a.proposal.n_components <= 3
    np.testing.assert_allclose(a.proposal.weights.sum(), 1.0)
    final = estimate_expectations(_events, F, 2000, n_stage=200, seed=3, coefficients="final", criterion="variance")
    assert np.all(np.isfinite(final.estimate)) and final.coefficients == "final"


def test_control_variates_have_mean_zero_under_the_proposal():
    prop = GaussianMixtureProposal(0.2, np.array([0.5, 0.5]), np.array([[2.0, 0.0], [0.0, -2.0]]),
                                   np.array([np.eye(2) * 0.3, np.eye(2) * 0.5]))
    nominal = _Nominal(F)
    x = prop.sample(400_000, nominal, np.random.default_rng(0))
    log_w, h = _design(x, prop, nominal.logpdf(x), (lambda z: z, np.zeros(2)))
    assert h.shape == (400_000, 5)  # f/g - 1, q_k/g - 1 (k = 1, 2), w (x - 0)
    np.testing.assert_allclose(h.mean(axis=0), 0.0, atol=0.02)
    assert np.exp(log_w).max() <= 1 / 0.2 + 1e-12  # the defensive mixture bounds the weights
    np.testing.assert_allclose(np.exp(log_w).mean(), 1.0, atol=0.01)


def test_user_control_variates_and_independent_marginals():
    # E[X^2] and E[X^4] of X ~ U(0, 1)^2 (1/3, 1/5), with h(x) = x (E = 1/2) as a known-mean control variate
    unif = [stats.uniform(0, 1), stats.uniform(0, 1)]
    phi = lambda x: np.column_stack([x[:, 0] ** 2, x[:, 1] ** 4])  # noqa: E731
    plain = estimate_expectations(phi, unif, 2000, max_stages=1, seed=1)  # stage 0 only: plain MC + CVs
    cv = estimate_expectations(phi, unif, 2000, max_stages=1, seed=1, control_variates=lambda x: x,
                               cv_means=[0.5, 0.5], coefficients="final")
    assert plain.n_stages == 1 and plain.proposal.n_components == 0
    assert np.all(np.abs(cv.estimate - [1 / 3, 1 / 5]) < 4 * cv.std_error)
    # the error shrinks by sqrt(1 - rho^2): corr(x, x^2) = sqrt(15) / 4, corr(x, x^4) = sqrt(12) / 4
    ratio = cv.std_error / plain.std_error
    np.testing.assert_allclose(ratio, [math.sqrt(1 - 15 / 16), math.sqrt(1 - 12 / 16)], rtol=0.15)


def test_errors():
    with pytest.raises(MetricInputError, match="budget"):
        estimate_expectations(_events, F, 3)
    with pytest.raises(MetricInputError, match="one stage and a final sample"):
        estimate_expectations(_events, F, 100, n_stage=60)
    with pytest.raises(MetricInputError, match="defensive"):
        estimate_expectations(_events, F, 100, defensive=0.0)
    with pytest.raises(MetricInputError, match="criterion"):
        estimate_expectations(_events, F, 100, criterion="absolute")
    with pytest.raises(MetricInputError, match="go together"):
        estimate_expectations(_events, F, 100, control_variates=lambda x: x)
    with pytest.raises(MetricInputError, match="rvs and logpdf"):
        estimate_expectations(_events, object(), 100)
    with pytest.raises(MetricInputError, match="NaN"):
        estimate_expectations(lambda x: np.full((len(x), 2), np.nan), F, 100)
    with pytest.raises(MetricInputError, match="cov_floor"):
        estimate_expectations(_events, F, 100, cov_floor=-1.0)
