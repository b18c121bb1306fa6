"""CARPool control variates: unbiased on a known mean over many seeded repetitions, variance
``(1 - rho^2) var(y) / N`` for Gaussian pairs, the mu_c variance term, multivariate beta = the
least-squares regression, singular Sigma_cc fall-backs, bootstrap intervals, paired runs of a
simulator with a simulator or a surrogate, and input errors.

The bins of one call are independent problems with the univariate beta, so one call with
``B`` bins gives ``B`` independent repetitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.simulators.base import Parameter, ParameterSpace
from sciml.surrogates.posterior import DeterministicPosterior
from sciml.uq import carpool, paired_runs
from sciml.uq.metrics import MetricInputError

REPS = 4000  # independent repetitions (bins)


def _gaussian_pairs(n: int, rho: float, sigma_y: float, seed: int, reps: int = REPS):
    rng = np.random.default_rng(seed)
    z1, z2 = rng.standard_normal((n, reps)), rng.standard_normal((n, reps))
    return 3.0 + sigma_y * (rho * z1 + math.sqrt(1 - rho**2) * z2), z1


def _rel_tol(reps: int) -> float:
    return 3 * math.sqrt(2 / (reps - 1))  # three standard errors of a sample variance, relative


def test_unbiased_on_a_non_gaussian_problem_with_known_mean():
    # y = exp(z / 2) + noise (E = e^{1/8}), c = its quadratic Taylor polynomial (E = 1 + 1/8)
    rng = np.random.default_rng(1)
    n, m = 20, 400
    z = rng.standard_normal((n, REPS))
    y = np.exp(z / 2) + 0.05 * rng.standard_normal((n, REPS))
    c = 1 + z / 2 + z**2 / 8
    zc = rng.standard_normal((m, REPS))
    cheap = 1 + zc / 2 + zc**2 / 8
    zo = rng.standard_normal((n, REPS))
    truth = math.exp(1 / 8)
    out_of_sample = carpool(y, c, cheap=cheap, beta_pairs=(np.exp(zo / 2), 1 + zo / 2 + zo**2 / 8))
    given = carpool(y, c, mu_c=np.full(REPS, 1.125), beta=np.full(REPS, 0.95))
    for est in (out_of_sample, given):  # beta independent of the pairs: exactly unbiased
        assert abs(est.mean.mean() - truth) < 3 * est.mean.std(ddof=1) / math.sqrt(REPS), est.beta_source
        assert np.median(est.variance_reduction) > 3
    in_sample = carpool(y, c, cheap=cheap)  # beta fitted on the pairs: bias O(1/N), here below 0.5 %
    assert abs(in_sample.mean.mean() - truth) < 0.005 * truth
    yg, cg = _gaussian_pairs(n, 0.9, 1.0, seed=2)  # ... and none for Gaussian pairs
    gauss = carpool(yg, cg, mu_c=np.zeros(REPS))
    assert abs(gauss.mean.mean() - 3.0) < 3 * gauss.mean.std(ddof=1) / math.sqrt(REPS)


@pytest.mark.parametrize("rho", [0.5, 0.9, 0.99])
def test_variance_is_one_minus_rho_squared_times_var_y(rho):
    n, sigma = 40, 2.0
    y, c = _gaussian_pairs(n, rho, sigma, seed=int(rho * 100))
    target = (1 - rho**2) * sigma**2 / n
    known = carpool(y, c, mu_c=np.zeros(REPS), beta=np.full(REPS, rho * sigma))  # the optimal beta, given
    assert known.mean.var(ddof=1) == pytest.approx(target, rel=_rel_tol(REPS))
    fitted = carpool(y, c, mu_c=np.zeros(REPS))  # beta fitted per bin: normal-theory factor (N-2)/(N-3)
    assert fitted.mean.var(ddof=1) == pytest.approx(target * (n - 2) / (n - 3), rel=_rel_tol(REPS))
    assert fitted.variance.mean() == pytest.approx(target * (n - 2) / (n - 3), rel=0.02)  # reported = measured
    assert np.median(fitted.beta) == pytest.approx(rho * sigma, rel=0.02)
    assert np.median(fitted.rho) == pytest.approx(rho, abs=0.02)
    assert np.median(fitted.gain) == pytest.approx(1 / (1 - rho**2), rel=0.1)
    plain = y.mean(axis=0)
    assert plain.var(ddof=1) / fitted.mean.var(ddof=1) == pytest.approx((1 - rho**2) ** -1 * (n - 3) / (n - 2),
                                                                        rel=2 * _rel_tol(REPS))


def test_mu_c_variance_is_propagated():
    n, m, rho, sigma = 30, 60, 0.9, 1.5
    y, c = _gaussian_pairs(n, rho, sigma, seed=7)
    cheap = np.random.default_rng(8).standard_normal((m, REPS))
    beta = rho * sigma
    est = carpool(y, c, cheap=cheap, beta=np.full(REPS, beta))
    target = (1 - rho**2) * sigma**2 / n + beta**2 / m  # Var(mu_c) = 1 / M
    assert est.mean.var(ddof=1) == pytest.approx(target, rel=_rel_tol(REPS))
    assert est.variance.mean() == pytest.approx(target, rel=0.03)
    np.testing.assert_allclose(est.mu_c_variance, cheap.var(axis=0, ddof=1) / m, rtol=1e-12)
    np.testing.assert_allclose(est.mu_c, cheap.mean(axis=0), rtol=1e-12)
    assert est.n_cheap == m and est.beta_source == "given"


def test_multivariate_beta_is_the_least_squares_regression():
    rng = np.random.default_rng(3)
    n, b = 40, 4
    c = rng.standard_normal((n, b))
    a = rng.standard_normal((b, b))
    y = 1.0 + c @ a.T + 0.3 * rng.standard_normal((n, b))
    est = carpool(y, c, mu_c=np.zeros(b), beta="multivariate")
    coef = np.linalg.lstsq(np.column_stack([np.ones(n), c]), y, rcond=None)[0]
    np.testing.assert_allclose(est.beta, coef[1:].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.mean, y.mean(0) - est.beta @ c.mean(0), rtol=1e-12)
    assert est.beta_kind == "multivariate" and est.beta_source == "pairs"
    # residual variance with N - 1 - 4 dof and the factor (N - 2) / (N - 2 - 4)
    resid = y - c @ est.beta.T
    expected = resid.var(axis=0, ddof=1 + b) / n * (n - 2) / (n - 2 - b)
    np.testing.assert_allclose(est.variance, expected, rtol=1e-10)


def test_singular_sigma_cc_falls_back_without_nan():
    rng = np.random.default_rng(4)
    n = 30
    c1 = rng.standard_normal((n, 2))
    y = 2.0 + c1 @ np.array([[1.0, 0.5], [0.2, 1.0]]).T + 0.1 * rng.standard_normal((n, 2))
    y3, c3 = np.column_stack([y, y[:, 0]]), np.column_stack([c1, c1[:, 0]])  # bin 2 duplicates bin 0
    est = carpool(y3, c3, mu_c=np.zeros(3), beta="multivariate")
    reduced = carpool(y, c1, mu_c=np.zeros(2), beta="multivariate")
    assert np.all(np.isfinite(est.beta)) and np.all(np.isfinite(est.variance))
    np.testing.assert_allclose(est.mean[:2], reduced.mean, rtol=1e-9)  # the min-norm regression fits the same
    np.testing.assert_allclose(est.beta[:, 0], est.beta[:, 2], rtol=1e-9)  # split equally between the twins
    np.testing.assert_allclose(est.beta[:2, 0] + est.beta[:2, 2], reduced.beta[:, 0], rtol=1e-9)
    flat = np.column_stack([c1[:, 0], np.full(n, 5.0)])  # a constant cheap bin: beta 0, rho 0, the plain mean
    uni = carpool(y, flat, mu_c=np.array([0.0, 5.0]))
    assert uni.beta[1] == 0.0 and uni.rho[1] == 0.0 and uni.gain[1] == 1.0
    assert uni.mean[1] == pytest.approx(y[:, 1].mean(), rel=1e-14)
    assert np.all(np.isfinite(uni.variance_reduction))
    multi = carpool(y, flat, mu_c=np.array([0.0, 5.0]), beta="multivariate")
    assert np.all(np.isfinite(multi.mean)) and np.all(np.isfinite(multi.variance))
    with pytest.raises(MetricInputError, match="N >= 7"):  # 5 pairs, 4 regressors: no residual dof
        carpool(rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), mu_c=np.zeros(4), beta="multivariate")


def test_bootstrap_interval_is_seeded_and_covers():
    n, reps = 30, 400
    y, c = _gaussian_pairs(n, 0.9, 1.0, seed=11, reps=reps)
    est = carpool(y, c, mu_c=np.zeros(reps), n_bootstrap=300, seed=5)
    again = carpool(y, c, mu_c=np.zeros(reps), n_bootstrap=300, seed=5)
    other = carpool(y, c, mu_c=np.zeros(reps), n_bootstrap=300, seed=6)
    np.testing.assert_array_equal(est.lower, again.lower)
    assert not np.array_equal(est.lower, other.lower)
    covered = np.mean((est.lower <= 3.0) & (3.0 <= est.upper))
    assert 0.88 <= covered <= 0.99  # percentile bootstrap at N = 30, nominal 0.95
    assert carpool(y, c, mu_c=np.zeros(reps)).lower is None


def test_bad_input_errors():
    y, c = np.ones((5, 3)) + np.arange(15).reshape(5, 3) ** 0.5, np.arange(15.0).reshape(5, 3)
    with pytest.raises(MetricInputError, match="same shape"):
        carpool(y, c[:, :2], mu_c=np.zeros(3))
    with pytest.raises(MetricInputError, match="same seed, first at index 2"):
        carpool(y, c, mu_c=np.zeros(3), seeds_y=[0, 1, 2, 3, 4], seeds_c=[0, 1, 7, 3, 4])
    with pytest.raises(MetricInputError, match="both"):
        carpool(y, c, mu_c=np.zeros(3), seeds_y=[0, 1, 2, 3, 4])
    with pytest.raises(MetricInputError, match="exactly one"):
        carpool(y, c)
    with pytest.raises(MetricInputError, match="exactly one"):
        carpool(y, c, mu_c=np.zeros(3), cheap=np.zeros((4, 3)))
    with pytest.raises(MetricInputError, match="M >= 2"):
        carpool(y, c, cheap=np.zeros((1, 3)))
    with pytest.raises(MetricInputError, match="NaN"):
        carpool(np.where(y > 2, np.nan, y), c, mu_c=np.zeros(3))
    with pytest.raises(MetricInputError, match="shape"):
        carpool(y, c, mu_c=np.zeros(3), beta=np.ones(2))
    with pytest.raises(MetricInputError, match="univariate"):
        carpool(y, c, mu_c=np.zeros(3), beta="diagonal")
    with pytest.raises(MetricInputError, match="beta_pairs"):
        carpool(y, c, mu_c=np.zeros(3), beta=np.ones(3), beta_pairs=(y, c))
    with pytest.raises(MetricInputError, match="level"):
        carpool(y, c, mu_c=np.zeros(3), n_bootstrap=10, level=1.5)
    with pytest.raises(MetricInputError, match="N >= 2"):
        carpool(y[:1], c[:1], mu_c=np.zeros(3), beta=np.ones(3))
    est = carpool(y, c, mu_c=np.zeros(3), seeds_y=np.arange(5), seeds_c=np.arange(5))
    assert np.all(np.isfinite(est.mean))


# ----------------------------------------------------------------------------- paired runs
class _Toy:
    """Seeded Gaussian field of 3 bins; the expensive run adds its own small-scale noise."""

    version = "0"
    parameter_space = ParameterSpace((Parameter("amp", 0.1, 10.0, default=1.0),))

    def __init__(self, name: str, noise: float) -> None:
        self.name, self.noise = name, noise

    def cost(self, params):
        return 1.0

    def config(self):
        return {"noise": self.noise}

    def run(self, params, *, seed, n_samples=1):
        z = np.random.default_rng(seed).standard_normal((n_samples, 3))
        extra = np.random.default_rng([seed, 99]).standard_normal((n_samples, 3))
        u = params["amp"] * z + self.noise * extra + 2.0
        return xr.Dataset({"u": (("sample", "bin"), u)})


class _ToySurrogate:
    def predict(self, seed):
        z = np.random.default_rng(seed).standard_normal(3)
        return DeterministicPosterior(torch.tensor(2.0 + z))


def test_paired_runs_with_a_simulator_or_a_surrogate():
    qoi = lambda ds: ds["u"].values[0]  # noqa: E731
    expensive, cheap = _Toy("fine", 0.3), _Toy("coarse", 0.0)
    runs = paired_runs(expensive, cheap, qoi, {"amp": 1.0}, range(10), cheap_seeds=range(100, 200))
    assert runs.y.shape == runs.c.shape == (10, 3) and runs.cheap.shape == (100, 3)
    np.testing.assert_allclose(runs.y[4], qoi(expensive.run({"amp": 1.0}, seed=4)))
    np.testing.assert_allclose(runs.y - runs.c, 0.3 * np.stack(
        [np.random.default_rng([s, 99]).standard_normal(3) for s in range(10)]), atol=1e-12)  # shared seeds
    est = runs.estimate()  # Var ~ (1 - rho^2) var(y) / N + rho^2 var(y) / M: about 5x below var(y) / N
    assert np.all(est.variance_reduction > 2.5) and est.n_cheap == 100
    sur = paired_runs(expensive, _ToySurrogate(), qoi, {"amp": 1.0}, range(10), cheap_seeds=range(100, 200),
                      cheap_qoi=lambda mean: mean.numpy(), cheap_inputs=lambda params, seed: seed,
                      executor={"kind": "inprocess"})
    np.testing.assert_allclose(sur.c, runs.c, atol=1e-12)
    with pytest.raises(MetricInputError, match="cheap_inputs"):
        paired_runs(expensive, _ToySurrogate(), qoi, {"amp": 1.0}, range(3))
    with pytest.raises(MetricInputError, match=r"\[2\] are also pair seeds"):
        paired_runs(expensive, cheap, qoi, {"amp": 1.0}, range(3), cheap_seeds=[2, 5])
    with pytest.raises(MetricInputError, match="repeated"):
        paired_runs(expensive, cheap, qoi, {"amp": 1.0}, [1, 1, 2])
    with pytest.raises(MetricInputError, match="Simulator"):
        paired_runs(expensive, object(), qoi, {"amp": 1.0}, range(3))
