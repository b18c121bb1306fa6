"""Multi-fidelity GP surrogates: dense-Gaussian reference for AR(1), rho recovery, BoTorch use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from botorch.acquisition import FixedFeatureAcquisitionFunction, qLogNoisyExpectedImprovement
from botorch.exceptions.errors import ModelFittingError
from botorch.models import MultiTaskGP, SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from botorch.test_functions.multi_fidelity import AugmentedBranin

import sciml.bo.ar1 as ar1
import sciml.bo.fitting as fitting
import sciml.bo.gp as gp
import sciml.bo.multitask as multitask
from sciml.bo.ar1 import AR1MultiFidelityGP, fit_ar1_gp
from sciml.bo.fitting import FIT_STRATEGIES, InitMismatchError, ModelFitError, ModelInputError, hyperparameters
from sciml.bo.gp import fit_multifidelity_gp, fit_singletask_gp
from sciml.bo.models import model_for
from sciml.bo.multitask import fit_multitask_gp
from sciml.bo.names import MODEL_KINDS
from sciml.errors import SciMLError

DT = torch.float64


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------------------------
# dense-Gaussian reference for the AR(1) posterior
# --------------------------------------------------------------------------------------------


def _matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray, scale: float) -> np.ndarray:
    r = np.sqrt((((a[:, None, :] - b[None, :, :]) / ls) ** 2).sum(-1))
    s5 = math.sqrt(5.0) * r
    return scale * (1.0 + s5 + s5**2 / 3.0) * np.exp(-s5)


def _ar1_cov(za, la, zb, lb, rho, ls, scales) -> np.ndarray:
    """cov(f_la, f_lb) = sum_{k<=min(la,lb)} (prod_{j=k}^{la-1} rho_j)(prod_{j=k}^{lb-1} rho_j) k_k

    Written independently of the model: plain loops over the formula, numpy only.
    """
    out = np.zeros((len(za), len(zb)))
    for i in range(len(za)):
        for j in range(len(zb)):
            for k in range(min(la[i], lb[j]) + 1):
                ca = np.prod(rho[k : la[i]])
                cb = np.prod(rho[k : lb[j]])
                kk = _matern52(za[i : i + 1], zb[j : j + 1], ls[k], scales[k])[0, 0]
                out[i, j] += ca * cb * kk
    return out


def _reference_posterior(z, lev, y, zt, lt, rho, ls, scales, means, noise):
    K = _ar1_cov(z, lev, z, lev, rho, ls, scales) + noise * np.eye(len(z))
    Ks = _ar1_cov(z, lev, zt, lt, rho, ls, scales)
    Kss = _ar1_cov(zt, lt, zt, lt, rho, ls, scales)
    resid = y - means[lev]
    mean = means[lt] + Ks.T @ np.linalg.solve(K, resid)
    cov = Kss - Ks.T @ np.linalg.solve(K, Ks)
    return mean, cov


def _set_hypers(model: AR1MultiFidelityGP, rho, ls, scales, means, noise) -> None:
    kern = model.covar_module
    with torch.no_grad():
        kern.rho.copy_(torch.as_tensor(rho, dtype=DT))
        for k, delta in enumerate(kern.deltas):
            delta.base_kernel.lengthscale = torch.as_tensor(ls[k], dtype=DT).reshape(1, -1)
            delta.outputscale = torch.tensor(scales[k], dtype=DT)
        model.mean_module.constants.copy_(torch.as_tensor(means, dtype=DT))
        model.likelihood.noise = torch.tensor([noise], dtype=DT)
    model.eval()


def _three_level_data():
    rng = np.random.default_rng(3)
    n_per = [8, 5, 3]
    z = rng.uniform(size=(sum(n_per), 2))
    lev = np.repeat(np.arange(3), n_per)
    y = np.sin(3 * z[:, 0]) + z[:, 1] ** 2 + 0.3 * lev
    zt = rng.uniform(size=(6, 2))
    lt = np.array([0, 1, 2, 2, 1, 0])
    return z, lev, y, zt, lt


HYPERS = dict(
    rho=np.array([1.7, -0.6]),
    ls=[np.array([0.3, 0.5]), np.array([0.7, 0.2]), np.array([0.4, 0.9])],
    scales=[1.3, 0.2, 0.05],
    means=np.array([0.3, -0.2, 0.5]),
    noise=0.01,
)


def _xcat(z: np.ndarray, lev: np.ndarray, n_levels: int) -> torch.Tensor:
    return torch.as_tensor(np.column_stack([z, lev / (n_levels - 1)]), dtype=DT)


def test_ar1_posterior_matches_dense_gaussian_reference():
    z, lev, y, zt, lt = _three_level_data()
    model = AR1MultiFidelityGP(
        _xcat(z, lev, 3), torch.as_tensor(y[:, None]), input_transform=None, outcome_transform=None
    )
    assert model.n_levels == 3 and model.fidelity_dim == 2
    _set_hypers(model, **HYPERS)
    mean_ref, cov_ref = _reference_posterior(z, lev, y, zt, lt, **HYPERS)

    post = model.posterior(_xcat(zt, lt, 3))
    assert post.mean.shape == (6, 1)
    np.testing.assert_allclose(_np(post.mean).squeeze(-1), mean_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(_np(post.variance).squeeze(-1), np.diag(cov_ref), rtol=0, atol=1e-8)
    cov = _np(post.distribution.covariance_matrix)
    np.testing.assert_allclose(cov, cov_ref, rtol=0, atol=1e-8)
    # the level-0 rows of the reference differ from the level-2 rows: levels really matter
    assert abs(mean_ref[0] - mean_ref[2]) > 1e-2
    np.testing.assert_allclose(_np(model.rho), HYPERS["rho"])


def test_ar1_posterior_with_transforms_and_q_batches():
    """Default Normalize + Standardize: reference on normalised X / standardised Y, then undone."""
    z, lev, y, zt, lt = _three_level_data()
    model = AR1MultiFidelityGP(_xcat(z, lev, 3), torch.as_tensor(y[:, None]))
    _set_hypers(model, **HYPERS)
    lo, hi = z.min(0), z.max(0)
    ym, ys = y.mean(), y.std(ddof=1)
    mean_ref, cov_ref = _reference_posterior(
        (z - lo) / (hi - lo), lev, (y - ym) / ys, (zt - lo) / (hi - lo), lt, **HYPERS
    )
    post = model.posterior(_xcat(zt, lt, 3))
    np.testing.assert_allclose(_np(post.mean).squeeze(-1), ym + ys * mean_ref, atol=1e-8)
    np.testing.assert_allclose(_np(post.variance).squeeze(-1), ys**2 * np.diag(cov_ref), atol=1e-8)

    # q-batch (b, q, d + 1): each batch is the joint posterior of its q points
    Xb = _xcat(zt, lt, 3).reshape(3, 2, 3)
    pb = model.posterior(Xb)
    assert pb.mean.shape == (3, 2, 1)
    np.testing.assert_allclose(_np(pb.mean).reshape(-1), ym + ys * mean_ref, atol=1e-8)
    cb = _np(pb.distribution.covariance_matrix)
    for b in range(3):
        block = cov_ref[2 * b : 2 * b + 2, 2 * b : 2 * b + 2]
        np.testing.assert_allclose(cb[b], ys**2 * block, atol=1e-8)


def test_ar1_level_encoding_errors():
    z, lev, y, _, _ = _three_level_data()
    X = _xcat(z, lev, 3)
    Y = torch.as_tensor(y[:, None])
    with pytest.raises(ModelInputError, match="n_levels"):  # {0.2, 1} is no grid l/(L-1)
        AR1MultiFidelityGP(torch.cat([X[:, :2], torch.where(X[:, 2:] < 1, 0.2, 1.0)], -1), Y)
    assert AR1MultiFidelityGP(X[lev > 0], Y[lev > 0], n_levels=3).n_levels == 3
    model = AR1MultiFidelityGP(X, Y)
    with pytest.raises(ModelInputError, match="not on the grid"):
        model.posterior(torch.tensor([[0.5, 0.5, 0.3]], dtype=DT))


# --------------------------------------------------------------------------------------------
# AR(1) recovers rho and beats the single-fidelity GP
# --------------------------------------------------------------------------------------------


def _f0(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(6 * x)


def _f1(x: torch.Tensor) -> torch.Tensor:
    return 2 * _f0(x) + 0.1 * (x - 0.5)


@pytest.fixture(scope="module")
def two_level_data() -> tuple[torch.Tensor, torch.Tensor]:
    xl = torch.linspace(0, 1, 12, dtype=DT).unsqueeze(-1)
    xh = torch.tensor([[0.05], [0.3], [0.5], [0.72], [0.95]], dtype=DT)
    X = torch.cat(
        [torch.cat([xl, torch.zeros_like(xl)], -1), torch.cat([xh, torch.ones_like(xh)], -1)]
    )
    Y = torch.cat([_f0(xl), _f1(xh)])
    return X, Y


@pytest.fixture(scope="module")
def ar1_model(two_level_data) -> AR1MultiFidelityGP:
    X, Y = two_level_data
    return fit_ar1_gp(X, Y, n_restarts=2, seed=0)


def test_ar1_recovers_rho_and_beats_single_fidelity(ar1_model, two_level_data):
    X, Y = two_level_data
    assert abs(float(ar1_model.rho[0]) - 2.0) < 0.2
    single = fit_singletask_gp(X, Y, seed=0)
    assert single.train_inputs[0].shape[-2] == 5  # the 5 high-fidelity rows only

    xt = torch.linspace(0.01, 0.99, 50, dtype=DT).unsqueeze(-1)
    Xt = torch.cat([xt, torch.ones_like(xt)], -1)
    truth = _f1(xt).squeeze(-1)
    err_ar1 = (ar1_model.posterior(Xt).mean.squeeze(-1) - truth).abs()
    err_st = (single.posterior(Xt).mean.squeeze(-1) - truth).abs()
    rmse_ar1, rmse_st = err_ar1.pow(2).mean().sqrt(), err_st.pow(2).mean().sqrt()
    assert rmse_ar1 < 0.05 and rmse_ar1 < 0.5 * rmse_st
    # a single held-out point between high-fidelity observations
    i = int(torch.argmin((xt.squeeze(-1) - 0.4).abs()))
    assert err_ar1[i] < err_st[i]


def _mll_per_point(model: AR1MultiFidelityGP) -> float:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    return fitting._mll_value(ExactMarginalLogLikelihood(model.likelihood, model))


def test_ar1_iteration_cap_on_proportional_levels():
    # f_H = 1.25 f_L exactly (like Borehole's two levels): the discrepancy's outputscale drifts
    # towards 0 for thousands of L-BFGS-B iterations; the default cap keeps rho and the fit
    X = torch.linspace(0, 1, 16, dtype=DT).unsqueeze(-1)
    s = (torch.arange(16) % 3 == 0).to(DT).unsqueeze(-1)  # every third point at the target
    Z = torch.cat([X, s], -1)
    Y = _f0(X) * torch.where(s == 1.0, 1.25, 1.0)
    capped = fit_ar1_gp(Z, Y, n_restarts=1, seed=0)  # default max_iter = AR1_MAX_ITER
    full = fit_ar1_gp(Z, Y, n_restarts=1, seed=0, max_iter=None)
    one = fit_ar1_gp(Z, Y, n_restarts=1, seed=0, max_iter=1)
    assert ar1.AR1_MAX_ITER == 300
    assert abs(float(capped.rho[0]) - 1.25) < 0.0125  # within 1%
    assert abs(float(full.rho[0]) - 1.25) < 0.0125
    # the cap bites: one iteration leaves the likelihood far from the optimum the others reach
    assert _mll_per_point(one) < _mll_per_point(capped) - 0.5
    assert _mll_per_point(capped) > _mll_per_point(full) - 0.1
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ModelInputError, match="max_iter must be a positive integer"):
            fit_ar1_gp(Z, Y, n_restarts=1, max_iter=bad)


def test_warm_start_begins_at_the_given_hyperparameters():
    # f_H = 1.25 f_L as above: one L-BFGS-B iteration from the defaults is far from the optimum
    # (previous test); one iteration from a converged fit's hyperparameters stays there
    X = torch.linspace(0, 1, 16, dtype=DT).unsqueeze(-1)
    s = (torch.arange(16) % 3 == 0).to(DT).unsqueeze(-1)
    Z = torch.cat([X, s], -1)
    Y = _f0(X) * torch.where(s == 1.0, 1.25, 1.0)
    converged = fit_ar1_gp(Z, Y, n_restarts=1, seed=0)
    init = hyperparameters(converged)
    assert set(init) == {name for name, _ in converged.named_parameters()}
    warm = fit_ar1_gp(Z, Y, n_restarts=1, seed=5, max_iter=1, init=init)
    cold = fit_ar1_gp(Z, Y, n_restarts=1, seed=5, max_iter=1)
    assert _mll_per_point(warm) >= _mll_per_point(converged) - 1e-6
    assert _mll_per_point(cold) < _mll_per_point(converged) - 0.5
    assert abs(float(warm.rho[0]) - float(converged.rho[0])) < 1e-3
    # the copy is detached: fitting again does not move the hyperparameters handed over
    assert all(torch.equal(init[k], v) for k, v in hyperparameters(converged).items())


def test_every_model_kind_starts_its_fit_from_init(monkeypatch):
    # with the optimiser switched off, a fit returns exactly its starting point: init when given
    X = torch.linspace(0, 1, 12, dtype=DT).unsqueeze(-1)
    s = (torch.arange(12) % 2).to(DT).unsqueeze(-1)
    Z = torch.cat([X, s], -1)
    Y = _f0(X) + 0.3 * s
    fitted = {kind: model_for(kind, Z, Y, seed=0) for kind in MODEL_KINDS}
    monkeypatch.setattr(fitting, "_run_strategy", lambda mll, strategy, max_iter=None: None)
    for kind in MODEL_KINDS:
        init = hyperparameters(fitted[kind])
        warm = hyperparameters(model_for(kind, Z, 2.0 * Y, seed=1, init=init))
        cold = hyperparameters(model_for(kind, Z, 2.0 * Y, seed=1))
        assert all(torch.equal(warm[k], init[k]) for k in init), kind
        assert any(not torch.equal(cold[k], init[k]) for k in init), kind


def test_warm_start_errors_name_what_does_not_fit():
    X = torch.linspace(0, 1, 9, dtype=DT).unsqueeze(-1)
    Z = torch.cat([X, (torch.arange(9) % 2).to(DT).unsqueeze(-1)], -1)
    Y = _f0(X)
    good = hyperparameters(fit_ar1_gp(Z, Y, n_restarts=1, seed=0, max_iter=5))
    name = "covar_module.rho"
    cases = [
        ({**good, "no.such.parameter": torch.zeros(1, dtype=DT)}, "does not have: \\['no.such.parameter'\\]"),
        ({**good, name: torch.zeros(2, dtype=DT)}, "has shape \\(2,\\), the model's parameter \\(1,\\)"),
        ({**good, name: torch.tensor([math.nan], dtype=DT)}, "non-finite"),
        ([1.0, 2.0], "must be a mapping"),
    ]
    for init, match in cases:
        with pytest.raises(InitMismatchError, match=match):
            fit_ar1_gp(Z, Y, n_restarts=1, seed=0, init=init)
    assert issubclass(InitMismatchError, ModelInputError)
    partial = {k: v for k, v in good.items() if k != name}
    with pytest.raises(InitMismatchError, match="lacks parameters of this model: \\['covar_module.rho'\\]"):
        fit_ar1_gp(Z, Y, n_restarts=1, seed=0, init=partial)
    # a fixed parameter (the fidelity kernel's power) is not overwritten by another value
    learned = hyperparameters(fit_multifidelity_gp(Z, Y, seed=0, fidelity_power=2))
    with pytest.raises(InitMismatchError, match="raw_power.*differs from the model's fixed value"):
        fit_multifidelity_gp(Z, Y, seed=0, fidelity_power=1, init=learned)
    assert fit_multifidelity_gp(Z, Y, seed=0, fidelity_power=2, init=learned) is not None
    # three levels: the two-level hyperparameters have other shapes
    Z3 = torch.cat([X, (torch.arange(9) % 3).to(DT).unsqueeze(-1) / 2], -1)
    with pytest.raises(InitMismatchError, match="does not have|has shape|lacks parameters"):
        fit_ar1_gp(Z3, Y, n_restarts=1, seed=0, init=good)


def test_ar1_inside_botorch_acquisition(ar1_model, two_level_data):
    X, _ = two_level_data
    X_base = X.clone()
    X_base[:, -1] = 1.0  # incumbent judged at the target level
    acq = qLogNoisyExpectedImprovement(ar1_model, X_baseline=X_base)
    ff = FixedFeatureAcquisitionFunction(acq, d=2, columns=[1], values=[1.0])
    bounds = torch.tensor([[0.0], [1.0]], dtype=DT)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cand, value = optimize_acqf(
            ff, bounds=bounds, q=1, num_restarts=2, raw_samples=16, options={"maxiter": 20}
        )
    assert cand.shape == (1, 1) and torch.isfinite(value)
    assert 0.0 <= float(cand) <= 1.0
    assert ff._construct_X_full(cand)[0, 1] == 1.0
    # fantasy models (used by knowledge-gradient acquisitions) work with the custom kernel
    fant = ar1_model.fantasize(X_base[:2].unsqueeze(0), SobolQMCNormalSampler(torch.Size([3])))
    assert fant.posterior(X_base[:4]).mean.shape == (3, 1, 4, 1)


# --------------------------------------------------------------------------------------------
# SingleTaskMultiFidelityGP
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def branin_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    u = torch.rand(20, 3, generator=g, dtype=DT)
    u[:5, 2] = 1.0  # some target-fidelity points
    X = torch.stack([-5 + 15 * u[:, 0], 15 * u[:, 1], u[:, 2]], -1)
    Y = -AugmentedBranin()(X).unsqueeze(-1)  # maximise -f
    return X, Y


def test_mfgp_fits_augmented_branin(branin_data):
    X, Y = branin_data
    model = fit_multifidelity_gp(X, Y, seed=0)
    assert isinstance(model, SingleTaskMultiFidelityGP)
    Xt = torch.tensor(
        [[[0.0, 5.0, 1.0], [2.0, 3.0, 1.0]], [[9.0, 2.0, 1.0], [-3.0, 12.0, 0.5]]], dtype=DT
    )
    post = model.posterior(Xt)
    assert post.mean.shape == (2, 2, 1)
    assert torch.isfinite(post.mean).all() and (post.variance > 0).all()
    # the fidelity column is not normalised (the fidelity kernel needs 1 = target)
    tf = model.input_transform
    assert tf(X)[:, 2].equal(X[:, 2]) and tf(X)[:, :2].min() >= 0 and tf(X)[:, :2].max() <= 1
    # un-standardised: predictions on the scale of Y at a training point
    assert abs(float(model.posterior(X[:1]).mean.detach()) - float(Y[0])) < 0.1 * float(Y.std())


def test_mfgp_input_errors(branin_data):
    X, Y = branin_data
    Xbad = X.clone()
    Xbad[:, 2] = 1.0 + 4.0 * X[:, 2]  # raw fidelity in [1, 5]
    with pytest.raises(ModelInputError, match="rescale"):
        fit_multifidelity_gp(Xbad, Y)
    Ybad = Y.clone()
    Ybad[3] = float("nan")
    with pytest.raises(ModelInputError, match=r"NaN.*rows \[3\]"):
        fit_multifidelity_gp(X, Ybad)
    with pytest.raises(ModelInputError, match="same number of rows"):
        fit_multifidelity_gp(X, Y[:-1])
    with pytest.raises(ModelInputError, match="out of range"):
        fit_multifidelity_gp(X, Y, data_fidelity_dim=3)
    with pytest.raises(ModelInputError, match="noise"):
        fit_multifidelity_gp(X, Y, noise=torch.ones(3, 1))
    assert issubclass(ModelInputError, ValueError) and issubclass(ModelInputError, SciMLError)


def test_fit_failures_raise_model_fit_error_listing_attempts(monkeypatch, branin_data):
    X, Y = branin_data
    calls = []

    def broken_fit(mll, **kwargs):
        calls.append(kwargs.get("optimizer"))
        raise ModelFittingError(f"boom {len(calls)}")

    monkeypatch.setattr(fitting, "fit_gpytorch_mll", broken_fit)
    with pytest.raises(ModelFitError) as info:
        fit_multifidelity_gp(X, Y, seed=0)
    msg = str(info.value)
    # one attempt from the defaults, then 1 + EXTRA_DRAWS prior draws for each resampling strategy
    assert len(FIT_STRATEGIES) == 3 and not FIT_STRATEGIES[0].resample
    assert all(s.resample for s in FIT_STRATEGIES[1:])
    assert len(calls) == 1 + 2 * (1 + fitting.EXTRA_DRAWS) == 9
    assert "lbfgs (restart 0): ModelFittingError: boom 1\n" in msg and "lbfgs (restart 1)" not in msg
    for k in range(1 + fitting.EXTRA_DRAWS):
        assert f"lbfgs-jitter (restart {k}): ModelFittingError: boom {2 + k}\n" in msg
        assert f"adam (restart {k}): ModelFittingError: boom {6 + k}\n" in msg
    assert calls[-1] is fitting.fit_gpytorch_mll_torch  # last fallback is the Adam optimizer
    assert isinstance(info.value, SciMLError) and isinstance(info.value, RuntimeError)


def test_fit_fallback_recovers_after_first_strategy_fails(monkeypatch, branin_data):
    X, Y = branin_data
    real = fitting.fit_gpytorch_mll
    calls = []

    def flaky_fit(mll, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cholesky_cpu: the leading minor of order 5 is not positive")
        return real(mll, **kwargs)

    monkeypatch.setattr(fitting, "fit_gpytorch_mll", flaky_fit)
    model = fit_multifidelity_gp(X, Y, seed=0)
    assert len(calls) == 2 and torch.isfinite(model.posterior(X[:2]).mean).all()


def test_a_later_prior_draw_recovers_a_fit_that_every_earlier_attempt_failed(monkeypatch, branin_data):
    """The extra draws of a resampling strategy: the first two draws of lbfgs-jitter fail (as do
    lbfgs and Adam), the third succeeds; without extra draws the same fit fails."""
    X, Y = branin_data
    real = fitting._run_strategy
    attempts: list[tuple[str, str]] = []

    def failing_until_third_draw(mll, strategy, max_iter=None):
        jitter_draws = sum(name == "lbfgs-jitter" for name, _ in attempts)
        if strategy.name != "lbfgs-jitter" or jitter_draws < 2:
            attempts.append((strategy.name, "failed"))
            raise ModelFittingError(f"{strategy.name} draw failed")
        real(mll, strategy, max_iter)
        attempts.append((strategy.name, "ok"))

    monkeypatch.setattr(fitting, "_run_strategy", failing_until_third_draw)
    monkeypatch.setattr(fitting, "EXTRA_DRAWS", 0)
    with pytest.raises(ModelFitError, match=r"lbfgs-jitter \(restart 0\): ModelFittingError"):
        fit_multifidelity_gp(X, Y, seed=0)
    assert attempts == [("lbfgs", "failed"), ("lbfgs-jitter", "failed"), ("adam", "failed")]
    attempts.clear()
    monkeypatch.undo()
    monkeypatch.setattr(fitting, "_run_strategy", failing_until_third_draw)
    model = fit_multifidelity_gp(X, Y, seed=0)
    assert attempts == [("lbfgs", "failed")] + [("lbfgs-jitter", "failed")] * 2 + [("lbfgs-jitter", "ok")]
    with torch.no_grad():
        mean = model.posterior(X).mean
    assert float((mean - Y).abs().max()) < 0.05 * float(Y.abs().max())


def test_fit_that_fails_for_the_learned_power_is_recovered_by_the_fallbacks(monkeypatch):
    """Real data from a Burgers BO run whose fit failed for seed 26 with one draw per fallback.

    The failure came from BoTorch's learned power of the fidelity kernel (indefinite on these
    four levels for a non-integer power): with it, the fit from the default hyperparameters
    failed and a fallback recovered; with the power fixed to 1 (the default) the first attempt
    succeeds and the model interpolates the data. Whether the first learned-power attempt fails
    depends on the BoTorch/GPyTorch release and the machine, so it is *forced* to fail here (a
    ``NotPSDError`` in place of the attempt), and the fallbacks run for real on these data.
    """
    import json
    from pathlib import Path

    from linear_operator.utils.errors import NotPSDError

    d = json.loads((Path(__file__).parent / "data" / "mfgp_fit_failure.json").read_text())
    Z = torch.tensor(d["Z"], dtype=torch.float64)
    Y = torch.tensor(d["Y"], dtype=torch.float64)[:, None]
    bounds = torch.tensor(d["bounds"], dtype=torch.float64)
    real = fitting._run_strategy
    attempts: list[tuple[str, str]] = []
    force_first = {"on": True}

    def spy(mll, strategy, max_iter=None):
        if force_first["on"] and not attempts:
            attempts.append((strategy.name, "NotPSDError"))
            raise NotPSDError("forced: the learned-power kernel is indefinite at this attempt")
        try:
            out = real(mll, strategy, max_iter)
        except Exception as exc:
            attempts.append((strategy.name, type(exc).__name__))
            raise
        attempts.append((strategy.name, "ok"))
        return out

    monkeypatch.setattr(fitting, "_run_strategy", spy)
    monkeypatch.setattr(fitting, "EXTRA_DRAWS", 0)
    model = fit_multifidelity_gp(Z, Y, seed=d["seed"], bounds=bounds, fidelity_power=None)
    assert attempts[0] == ("lbfgs", "NotPSDError")
    assert attempts[-1][1] == "ok" and attempts[-1][0] != "lbfgs"
    force_first["on"] = False
    attempts.clear()
    fixed = fit_multifidelity_gp(Z, Y, seed=d["seed"], bounds=bounds)
    assert attempts == [("lbfgs", "ok")]
    with torch.no_grad():
        assert torch.isfinite(model.posterior(Z).mean).all()
        post = fixed.posterior(Z)
    # the default model interpolates its (noise-free) data closely
    assert float((post.mean - Y).abs().max()) < 0.05 * float(Y.abs().max())


# --------------------------------------------------------------------------------------------
# multi-task, single-task baseline and factory
# --------------------------------------------------------------------------------------------


def test_multitask_maps_raw_task_values(two_level_data):
    X, Y = two_level_data
    Xc = X.clone()
    Xc[:12, 1] = 0.25  # two sources coded 0.25 and 1 (any discrete codes work)
    model = fit_multitask_gp(Xc, Y, seed=0)
    assert isinstance(model, MultiTaskGP) and model.num_tasks == 2
    xt = torch.tensor([[0.2], [0.6]], dtype=DT)
    p_full = model.posterior(torch.cat([xt, torch.ones_like(xt)], -1))
    p_design = model.posterior(xt)  # no task column: the target source (default: largest code)
    np.testing.assert_allclose(_np(p_full.mean), _np(p_design.mean), atol=1e-10)
    p_low = model.posterior(torch.cat([xt, torch.full_like(xt, 0.25)], -1))
    # the low source is sin(6x), the target 2 sin(6x) + ...: the two predictions differ
    np.testing.assert_allclose(_np(p_low.mean), _np(torch.sin(6 * xt)), atol=0.05)
    np.testing.assert_allclose(_np(p_full.mean), _np(_f1(xt)), atol=0.3)
    with pytest.raises(ModelInputError, match="not among the training task values"):
        model.posterior(torch.cat([xt, torch.zeros_like(xt)], -1))
    with pytest.raises(ModelInputError, match="no training data"):
        fit_multitask_gp(Xc, Y, target_task=0.5)


def test_multitask_fit_caps_its_lbfgs_iterations(two_level_data, monkeypatch):
    X, Y = two_level_data
    seen = []
    real = fitting._run_strategy

    def spy(mll, strategy, max_iter=None):
        seen.append(max_iter)
        return real(mll, strategy, max_iter)

    monkeypatch.setattr(fitting, "_run_strategy", spy)
    fit_multitask_gp(X, Y, seed=0)
    assert seen == [multitask.MULTITASK_MAX_ITER] == [300]
    fit_multitask_gp(X, Y, seed=0, max_iter=None)  # scipy's own limit
    assert seen[-1] is None


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_factory_kinds_share_the_posterior_interface(kind, two_level_data):
    X, Y = two_level_data
    kw = {"n_restarts": 1} if kind == "ar1" else {}
    model = model_for(kind, X, Y, seed=1, **kw)
    expected = {"mfgp": SingleTaskMultiFidelityGP, "ar1": AR1MultiFidelityGP,
                "multitask": MultiTaskGP, "singletask": SingleTaskGP}[kind]
    assert isinstance(model, expected)
    xt = torch.rand(3, 2, 1, generator=torch.Generator().manual_seed(0), dtype=DT)
    post = model.posterior(torch.cat([xt, torch.ones_like(xt)], -1))
    assert post.mean.shape == (3, 2, 1)
    assert torch.isfinite(post.mean).all() and (post.variance > 0).all()


def test_factory_unknown_kind_and_singletask_errors(two_level_data):
    X, Y = two_level_data
    with pytest.raises(ModelInputError, match="mfgp, ar1, multitask, singletask"):
        model_for("kriging", X, Y)
    with pytest.raises(ModelInputError, match="no training rows at the target fidelity"):
        fit_singletask_gp(X[:12], Y[:12])
    plain = fit_singletask_gp(X[12:, :1], Y[12:], fidelity_dim=None)
    assert plain.posterior(torch.tensor([[0.3]], dtype=DT)).mean.shape == (1, 1)


# --------------------------------------------------------------------------------------------
# the linear-truncated fidelity kernel: integer power, positive-definite training covariance
# --------------------------------------------------------------------------------------------


def _indefinite_case() -> dict:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "data" / "mfgp_indefinite.json").read_text())


def test_learned_fidelity_power_makes_the_kernel_indefinite():
    # BoTorch's fidelity factor (1 - s)(1 - s')(1 + s s')^p on four equally spaced levels: a
    # non-integer power gives a negative eigenvalue, integer powers never do
    s = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=DT)
    a = (1 - s)[:, None] * (1 - s)[None, :]
    z = s[:, None] * s[None, :]
    assert float(torch.linalg.eigvalsh(a * (1 + z).pow(0.643)).min()) < -5e-5
    for p in (0, 1, 2, 3):
        assert float(torch.linalg.eigvalsh(a * (1 + z).pow(p)).min()) > -1e-12


def test_check_training_covariance_rejects_the_indefinite_fit():
    d = _indefinite_case()
    Z = torch.tensor(d["Z"], dtype=DT)
    Y = torch.tensor(d["y"], dtype=DT)[:, None]
    bounds = torch.tensor(d["bounds"], dtype=DT)
    model = SingleTaskMultiFidelityGP(Z, Y, data_fidelities=[1], input_transform=fitting.design_normalize(2, 1, bounds),
                                      outcome_transform=gp.Standardize(m=1))
    state = {k: torch.tensor(v, dtype=DT) for k, v in d["raw_hyperparameters"].items()}
    model.load_state_dict(state, strict=False)
    model.eval()
    assert float(model.covar_module.base_kernel.kernels[0].power.detach()) == pytest.approx(d["hyperparameters"]["power"])
    with pytest.raises(ValueError, match="not positive definite"):
        fitting.check_training_covariance(model)
    # what that model predicts at the target level: far outside the data, with a tiny variance
    g = torch.linspace(-3.0, math.log10(0.3), 34, dtype=DT)[:, None]
    with torch.no_grad():
        post = model.posterior(torch.cat([g, torch.ones_like(g)], -1))
    assert float(post.mean.min()) < 3 * float(Y.min())  # -0.092 against data >= -0.0263
    # the same hyperparameters with the power fixed to 1: a valid kernel
    gp.fix_fidelity_power(model, 1)
    fitting.check_training_covariance(model)


def test_fit_multifidelity_gp_fixes_the_power_and_predicts_the_data():
    d = _indefinite_case()
    Z = torch.tensor(d["Z"], dtype=DT)
    Y = torch.tensor(d["y"], dtype=DT)[:, None]
    bounds = torch.tensor(d["bounds"], dtype=DT)
    model = fit_multifidelity_gp(Z, Y, bounds=bounds, seed=47)  # the run's fit seed (seed + iteration)
    kern = model.covar_module.base_kernel.kernels[0]
    assert float(kern.power) == 1.0 and not kern.raw_power.requires_grad
    assert "power_prior" not in kern._priors
    fitting.check_training_covariance(model)
    target = Z[:, 1] == 1.0
    with torch.no_grad():
        post = model.posterior(Z[target])
    # the target-level observations are reproduced to within 3e-4 (the data span 0.026)
    assert float((post.mean - Y[target]).abs().max()) < 3e-4
    # the posterior mean over the design range stays within the data's range (+- 10%)
    g = torch.linspace(-3.0, math.log10(0.3), 100, dtype=DT)[:, None]
    with torch.no_grad():
        mean = model.posterior(torch.cat([g, torch.ones_like(g)], -1)).mean
    span = float(Y.max() - Y.min())
    assert float(mean.max()) < float(Y.max()) + 0.1 * span
    assert float(mean.min()) > float(Y.min()) - 0.1 * span
    learned = fit_multifidelity_gp(Z, Y, bounds=bounds, seed=47, fidelity_power=None)
    assert learned.covar_module.base_kernel.kernels[0].raw_power.requires_grad
    fitting.check_training_covariance(learned)  # indefinite attempts are rejected by the fit


@pytest.mark.parametrize("bad", [0.5, -1, True, "1"])
def test_fidelity_power_must_be_a_non_negative_integer(bad):
    d = _indefinite_case()
    Z = torch.tensor(d["Z"], dtype=DT)[:12]
    Y = torch.tensor(d["y"], dtype=DT)[:12, None]
    with pytest.raises(ModelInputError, match="fidelity_power must be a non-negative integer"):
        fit_multifidelity_gp(Z, Y, fidelity_power=bad)


def test_fix_fidelity_power_needs_a_linear_truncated_kernel(two_level_data):
    X, Y = two_level_data
    plain = SingleTaskGP(X, Y)
    with pytest.raises(ModelInputError, match="no LinearTruncatedFidelityKernel"):
        gp.fix_fidelity_power(plain, 1)
