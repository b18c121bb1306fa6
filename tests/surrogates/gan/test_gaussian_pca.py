"""Gaussian-PCA baseline: the fitted moments are the sample moments exactly and recover the true
ones within sampling error; data in a k-dim subspace are reproduced exactly (k found, draws in
the subspace); a linear conditional family is reproduced exactly; the Surrogate contract; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.errors import ConfigError
from sciml.surrogates.gan import GaussianPCA, GenerationRequest, HistoryInputError
from sciml.testing import check_surrogate


def _gaussian(n: int = 4000, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    cov = a @ a.T / d + 0.1 * np.eye(d)
    mean = rng.normal(size=d)
    return rng.multivariate_normal(mean, cov, size=n), mean, cov


def test_moments_are_the_sample_moments_and_recover_the_truth_within_sampling_error():
    x, mean, cov = _gaussian()
    n = x.shape[0]
    model = GaussianPCA(n_components=6).fit(x)
    fitted_mean, fitted_cov = model.history_mean().numpy(), model.history_covariance().numpy()
    np.testing.assert_allclose(fitted_mean, x.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fitted_cov, np.cov(x.T), rtol=0, atol=1e-12)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(fitted_mean - mean) <= 4 * se_mean)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(fitted_cov - cov) <= 4.5 * se_cov)
    draws = model.generate(40_000, seed=1).numpy()
    assert np.all(np.abs(draws.mean(0) - fitted_mean) <= 4 * np.sqrt(np.diag(fitted_cov) / 40_000))
    assert np.all(np.abs(np.cov(draws.T) - fitted_cov) <= 4.5 * np.sqrt(
        (np.outer(np.diag(fitted_cov), np.diag(fitted_cov)) + fitted_cov**2) / 40_000))


def test_data_in_a_k_dim_subspace_are_reproduced_exactly():
    rng = np.random.default_rng(1)
    k, d, n = 3, 20, 50
    basis = rng.normal(size=(k, d))
    x = rng.normal(size=d) + rng.normal(size=(n, k)) * np.array([3.0, 1.0, 0.5]) @ basis
    model = GaussianPCA().fit(x.reshape(n, 4, 5))  # (N, channels, time): flattened to D = 20
    assert model.basis.n_components == k
    np.testing.assert_allclose(model.history_covariance().numpy(), np.cov(x.T), rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.history_mean().numpy(), x.mean(0).reshape(4, 5), rtol=0, atol=1e-12)
    draws = model.generate(200, seed=0).numpy().reshape(200, d) - x.mean(0)
    q, _ = np.linalg.qr(basis.T)  # orthonormal basis of the subspace
    assert np.abs(draws - draws @ q @ q.T).max() < 1e-10
    assert np.abs(draws).max() > 1.0


def test_a_linear_conditional_family_is_reproduced_exactly():
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 1.0, 16)
    params = rng.uniform(0.5, 2.0, size=(30, 2))
    x = params[:, :1] * np.sin(np.pi * t) + params[:, 1:] * t**2  # x = B p, rank 2
    ds = xr.Dataset({"u": (("sample", "t"), x), "a": ("sample", params[:, 0]), "b": ("sample", params[:, 1])})
    model = GaussianPCA().fit(ds, variable="u", params=["a", "b"])
    assert model.param_names == ("a", "b")
    new = torch.tensor([[1.0, 1.0], [0.7, 1.9]], dtype=torch.float64)
    expected = new[:, :1] * torch.sin(torch.pi * torch.from_numpy(t)) + new[:, 1:] * torch.from_numpy(t) ** 2
    torch.testing.assert_close(model.history_mean(new), expected, rtol=0, atol=1e-10)
    assert float(model.history_covariance(new).abs().max()) < 1e-10
    draws = model.predict(GenerationRequest(5, params=new, seed=3)).draws
    assert draws.shape == (5, 2, 16)
    torch.testing.assert_close(draws, expected.expand(5, 2, 16), rtol=0, atol=1e-8)


def test_the_surrogate_contract_and_seeds():
    x, _, _ = _gaussian(n=300, d=8)
    model = GaussianPCA().fit(torch.from_numpy(x))
    posterior = check_surrogate(model, 500)
    assert posterior.draws.shape == (500, 8)
    assert torch.equal(model.generate(10, seed=4), model.generate(10, seed=4))
    assert not torch.equal(model.generate(10, seed=4), model.generate(10, seed=5))
    params = np.random.default_rng(0).normal(size=(300, 1))
    conditional = GaussianPCA(n_draws=300).fit(x + params, params=params)
    assert check_surrogate(conditional, torch.tensor([[0.0], [1.5]])).draws.shape == (300, 2, 8)


def test_bad_input_is_refused():
    x, _, _ = _gaussian(n=20, d=5)
    with pytest.raises(HistoryInputError, match="call fit"):
        GaussianPCA().predict(3)
    with pytest.raises(ConfigError, match=r"n_components must be an integer in \[1, 5\]"):
        GaussianPCA(n_components=6).fit(x)
    with pytest.raises(ConfigError, match="n_draws"):
        GaussianPCA(n_draws=0)
    with pytest.raises(HistoryInputError, match="non-finite"):
        GaussianPCA().fit(np.where(np.arange(5) == 2, np.nan, x))
    with pytest.raises(HistoryInputError, match=r"shape \(N >= 2"):
        GaussianPCA().fit(x[0])
    with pytest.raises(HistoryInputError, match=r"parameters must have shape \(N, P\) = \(20"):
        GaussianPCA().fit(x, params=np.zeros((19, 1)))
    model = GaussianPCA().fit(x, params=np.arange(20.0)[:, None])
    with pytest.raises(HistoryInputError, match="conditioned on 1 parameter"):
        model.predict(5)
    with pytest.raises(HistoryInputError, match=r"shape \(B, 1\)"):
        model.predict(torch.zeros(3, 2))
    with pytest.raises(HistoryInputError, match="unconditional"):
        GaussianPCA().fit(x).predict(torch.zeros(3, 1))
    with pytest.raises(HistoryInputError, match="variable 'v' is not in the Dataset"):
        GaussianPCA().fit(xr.Dataset({"u": (("sample", "t"), x)}), variable="v")
