"""UQ metrics: hand-computed values, closed forms against numerical integration, sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.stats import norm

from sciml.errors import SciMLError
from sciml.uq import (
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


def test_mse_by_hand_numpy_and_torch():
    assert mse([1.0, 2.0, 3.0], [1.0, 0.0, 0.0]) == pytest.approx(13.0 / 3.0, rel=1e-15)
    assert mse(torch.tensor([[1.0, -1.0]]), torch.tensor([[0.0, 1.0]])) == pytest.approx(2.5, rel=1e-15)
    with pytest.raises(MetricInputError, match="same shape"):
        mse(np.zeros(3), np.zeros(4))
    with pytest.raises(MetricInputError, match="NaN"):
        mse([np.nan], [0.0])
    assert issubclass(MetricInputError, ValueError) and issubclass(MetricInputError, SciMLError)


def test_conservation_error_by_hand():
    G = np.array([[0.5, 0.5, 0.5]])
    mean = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])  # (batch=1, n_t=2, n_x=3)
    b = np.array([[2.0], [-0.5]])
    ce = conservation_error(mean, G, b)
    np.testing.assert_allclose(ce, [[[1.0], [0.5]]], rtol=1e-15)
    np.testing.assert_allclose(conservation_error(mean, G, b, relative=True), [[[0.5], [1.0]]], rtol=1e-15)
    assert max_conservation_error(mean, G, b) == 1.0
    assert max_conservation_error(torch.tensor(mean), G[0], b, relative=True) == 1.0
    # b = 0: the relative error uses the floor instead of dividing by zero
    assert conservation_error(mean, G, np.zeros((2, 1)), relative=True, tiny=1e-3)[0, 1, 0] == 0.0
    assert conservation_error(mean, G, np.zeros((2, 1)), relative=True, tiny=0.5)[0, 0, 0] == 6.0
    with pytest.raises(MetricInputError, match="n_x = mean.shape"):
        conservation_error(mean, np.ones((1, 4)), b)


def test_gaussian_nll_by_hand():
    assert gaussian_nll([0.0], [1.0], [0.0]) == pytest.approx(0.5 * math.log(2 * math.pi), rel=1e-15)
    # mean over points of 0.5 log(2 pi s^2) + (y - mu)^2 / (2 s^2)
    val = gaussian_nll([0.0, 1.0], [4.0, 0.25], [2.0, 1.5])
    expected = 0.5 * ((0.5 * math.log(8 * math.pi) + 0.5) + (0.5 * math.log(0.5 * math.pi) + 0.5))
    assert val == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(gaussian_nll([0.0, 1.0], [4.0, 0.25], [2.0, 1.5], reduction="none"),
                               -norm.logpdf([2.0, 1.5], [0.0, 1.0], [2.0, 0.5]), rtol=1e-14)
    assert gaussian_log_likelihood([0.0, 1.0], [4.0, 0.25], [2.0, 1.5]) == pytest.approx(-expected, rel=1e-14)
    with pytest.raises(MetricInputError, match="variance > 0"):
        gaussian_nll([0.0], [0.0], [1.0])
    with pytest.raises(MetricInputError, match="not a standard deviation"):
        gaussian_nll([0.0], [-1.0], [1.0])


def _crps_numeric(mu, var, y):
    """int (F(x) - 1{x >= y})^2 dx, split at y."""
    s = math.sqrt(var)
    left, _ = quad(lambda x: norm.cdf(x, mu, s) ** 2, -np.inf, y, epsabs=1e-13, epsrel=1e-12)
    right, _ = quad(lambda x: norm.sf(x, mu, s) ** 2, y, np.inf, epsabs=1e-13, epsrel=1e-12)
    return left + right


@pytest.mark.parametrize("mu, var, y", [(0.0, 1.0, 0.0), (1.0, 4.0, -0.5), (-2.0, 0.09, -1.7), (3.0, 2.5, 9.0)])
def test_crps_gaussian_equals_numeric_integral(mu, var, y):
    assert crps_gaussian([mu], [var], [y]) == pytest.approx(_crps_numeric(mu, var, y), rel=1e-8, abs=1e-12)


def test_crps_gaussian_special_values():
    # y = mu: s (2 phi(0) - 1/sqrt(pi)) = s (sqrt 2 - 1) / sqrt(pi)
    assert crps_gaussian([0.0], [9.0], [0.0]) == pytest.approx(3.0 * (math.sqrt(2) - 1) / math.sqrt(math.pi))
    # zero variance: absolute error
    np.testing.assert_allclose(crps_gaussian([1.0, 1.0], [0.0, 0.0], [3.0, -1.0], reduction="none"), [2.0, 2.0])


def test_crps_ensemble_by_hand_brute_force_and_gaussian_limit():
    # two samples {0, 1}, y = 0: E|X - y| = 1/2, E|X - X'| = 1/2 -> 1/4 (= int (F - H)^2 = 0.25 on [0, 1))
    assert crps_ensemble(np.array([[0.0], [1.0]]), np.array([0.0])) == pytest.approx(0.25, rel=1e-15)
    assert crps_ensemble(np.array([[0.0], [1.0]]), np.array([0.0]), fair=True) == pytest.approx(0.0, abs=1e-15)
    rng = np.random.default_rng(0)
    xs, y = rng.normal(size=(7, 3)), rng.normal(size=3)
    brute = np.abs(xs - y).mean(0) - 0.5 * np.abs(xs[:, None] - xs[None]).mean((0, 1))
    np.testing.assert_allclose(crps_ensemble(xs, y, reduction="none"), brute, rtol=1e-13)
    brute_fair = np.abs(xs - y).mean(0) - np.abs(xs[:, None] - xs[None]).sum((0, 1)) / (2 * 7 * 6)
    np.testing.assert_allclose(crps_ensemble(torch.tensor(xs), y, fair=True, reduction="none"), brute_fair,
                               rtol=1e-13)
    # many Gaussian samples -> Gaussian closed form
    mu, var, obs = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.25, 4.0]), np.array([0.3, 2.0, -4.0])
    samples = mu + np.sqrt(var) * rng.standard_normal((40_000, 3))
    np.testing.assert_allclose(crps_ensemble(samples, obs, reduction="none"),
                               crps_gaussian(mu, var, obs, reduction="none"), rtol=1e-2)
    with pytest.raises(MetricInputError, match="samples must have shape"):
        crps_ensemble(xs, np.zeros(4))


def test_interval_coverage_of_exact_gaussian_samples():
    rng = np.random.default_rng(1)
    n = 200_000
    mu, var = rng.normal(size=n), rng.uniform(0.1, 3.0, size=n)
    y = mu + np.sqrt(var) * rng.standard_normal(n)
    for alpha in (0.5, 0.9, 0.95):
        cov = interval_coverage(mu, var, y, alpha)
        assert abs(cov - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n)
    # the variance is a variance: passing the std (2 instead of 4) shrinks the interval by sqrt(2)
    big = np.full(n, 4.0)
    y2 = 2.0 * rng.standard_normal(n)
    assert interval_coverage(np.zeros(n), big, y2, 0.9) == pytest.approx(0.9, abs=0.005)
    under = 2 * norm.cdf(norm.ppf(0.95) * math.sqrt(2.0) / 2.0) - 1  # = 0.755
    assert interval_coverage(np.zeros(n), np.sqrt(big), y2, 0.9) == pytest.approx(under, abs=0.005)
    # empirical quantiles of samples from the same distribution
    samples = 2.0 * rng.standard_normal((2000, 500))
    y3 = 2.0 * rng.standard_normal(500)
    assert empirical_interval_coverage(samples, y3, 0.8) == pytest.approx(0.8, abs=4 * math.sqrt(0.16 / 500))
    assert interval_coverage([0.0], [1.0], [1.959963984540054], 0.95) == 1.0
    assert interval_coverage([0.0], [1.0], [1.96], 0.95) == 0.0
    with pytest.raises(MetricInputError, match="alpha"):
        interval_coverage([0.0], [1.0], [0.0], 1.0)


def test_shock_position_on_linear_profiles():
    x = np.linspace(0.0, 1.0, 11)
    profiles = np.stack([
        1.0 - x,  # crosses 0.35 at x = 0.65 (linear interpolation is exact)
        0.5 - x,  # crosses at 0.15
        np.full(11, 2.0),  # never below -> x[-1]
        np.full(11, 0.1),  # below at the first point -> x[0]
        np.where(x < 0.42, 1.0, 0.0),  # a step between x = 0.4 and 0.5 -> 0.4 + 0.65 * 0.1
    ])
    np.testing.assert_allclose(shock_position(profiles, x, 0.35), [0.65, 0.15, 1.0, 0.0, 0.465], atol=1e-14)
    # non-uniform grid and the first of two crossings
    xn = np.array([0.0, 0.1, 0.5, 0.6, 1.0])
    u = np.array([[1.0, 0.8, 0.0, 1.0, 0.0]])
    np.testing.assert_allclose(shock_position(torch.tensor(u), xn, 0.6), [0.1 + 0.25 * 0.4], atol=1e-14)
    with pytest.raises(MetricInputError, match="n_x = samples.shape"):
        shock_position(profiles, x[:-1], 0.5)


def test_sample_gaussian_uses_the_full_covariance():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 4))
    sigma = a @ a.T / 4 + np.diag([3.0, 0.1, 1.0, 0.5])  # variances well away from their sqrt
    mean = torch.tensor([1.0, -1.0, 0.0, 2.0], dtype=torch.float64)
    draws = sample_gaussian(mean, torch.tensor(sigma), 200_000, torch.Generator().manual_seed(0))
    assert draws.shape == (200_000, 4) and draws.dtype == torch.float64
    d = draws.numpy()
    np.testing.assert_allclose(d.mean(0), mean.numpy(), atol=1e-2)
    np.testing.assert_allclose(np.cov(d.T), sigma, atol=1e-2 * max(1.0, np.abs(sigma).max()))
    # numpy in, numpy out; reproducible from an integer seed; batched means
    x1 = sample_gaussian(np.zeros((2, 4)), np.stack([sigma, np.eye(4)]), 5, generator=3)
    x2 = sample_gaussian(np.zeros((2, 4)), np.stack([sigma, np.eye(4)]), 5, generator=3)
    assert isinstance(x1, np.ndarray) and x1.shape == (5, 2, 4)
    np.testing.assert_array_equal(x1, x2)


def test_sample_gaussian_singular_and_invalid_covariances():
    v = np.array([1.0, 2.0, -1.0])
    rank1 = np.outer(v, v)
    with pytest.warns(RuntimeWarning, match="jitter"):
        draws = sample_gaussian(np.zeros(3), rank1, 1000, generator=0)
    # all draws lie (up to the jitter) on the line spanned by v
    resid = draws - np.outer(draws @ v / (v @ v), v)
    assert np.abs(resid).max() < 1e-3
    assert np.std(draws @ v / (v @ v)) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(MetricInputError, match="not positive semi-definite"):
        sample_gaussian(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), 10)
    with pytest.raises(MetricInputError, match="cov must have shape"):
        sample_gaussian(np.zeros(3), np.eye(2), 10)
    with pytest.raises(MetricInputError, match="negative diagonal"):
        sample_gaussian(np.zeros(2), -np.eye(2), 10)
