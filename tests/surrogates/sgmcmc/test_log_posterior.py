"""The log-posterior pieces against torch.distributions, the N/n scaling, and a learned noise
scale that a chain recovers from data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal
from torch.utils.data import TensorDataset

from sciml.errors import ConfigError
from sciml.surrogates.sgmcmc import (
    ChainConfig,
    GaussianNoise,
    GaussianPrior,
    LogPosterior,
    run_chain,
    scaled_log_likelihood,
)

DT = torch.float64


class NoisyLine(nn.Module):
    """A line and its learned observation noise."""

    def __init__(self, sigma: float = 1.0, learn: bool = True) -> None:
        super().__init__()
        self.line = nn.Linear(1, 1)
        self.noise = GaussianNoise(sigma, learn=learn, prior_log_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.line(x).squeeze(-1)


def noisy_log_likelihood(model: NoisyLine, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return model.noise.log_prob(model(x), y)


def test_scaled_log_likelihood_is_n_over_batch_times_the_sum() -> None:
    per = torch.tensor([[-1.0, -2.0, -3.0], [0.0, -1.0, -1.0]], dtype=DT)
    torch.testing.assert_close(scaled_log_likelihood(per, 30), torch.tensor([-60.0, -20.0], dtype=DT))
    torch.testing.assert_close(scaled_log_likelihood(per, 20, dim=0), torch.tensor([-10.0, -30.0, -40.0], dtype=DT))
    with pytest.raises(ConfigError, match="dataset_size must be an integer >= the batch size 3; got 2"):
        scaled_log_likelihood(per, 2)


def test_gaussian_prior_equals_independent_normals_with_group_scales() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    prior = GaussianPrior(2.0, {"0.": 0.5, "0.bias": 3.0, "2.bias": None})
    expected = (Normal(0, 0.5).log_prob(model[0].weight).sum() + Normal(0, 3.0).log_prob(model[0].bias).sum()
                + Normal(0, 2.0).log_prob(model[2].weight).sum())
    torch.testing.assert_close(prior.log_prob(model), expected)
    assert prior.std_of("0.bias") == 3.0 and prior.std_of("0.weight") == 0.5 and prior.std_of("2.bias") is None
    by_precision = GaussianPrior.from_precision(0.25, {"0.": 4.0, "0.bias": 1 / 9, "2.bias": None})
    torch.testing.assert_close(by_precision(model), expected)
    with pytest.raises(ConfigError, match="prior std must be a finite number > 0; got -1.0"):
        GaussianPrior(-1.0)
    with pytest.raises(ConfigError, match="prior std of group '0.' must be a finite number > 0"):
        GaussianPrior(1.0, {"0.": 0.0})


def test_gaussian_noise_likelihood_and_its_own_prior() -> None:
    pred = torch.tensor([[0.0, 1.0], [2.0, 2.0], [1.0, -1.0]], dtype=DT)
    target = torch.tensor([[0.5, 1.0], [1.0, 2.5], [1.0, 0.0]], dtype=DT)
    noise = GaussianNoise(0.7, learn=True, prior_median=0.5, prior_log_std=0.3).double()
    assert isinstance(noise.log_sigma, nn.Parameter)
    torch.testing.assert_close(noise.log_prob(pred, target), Normal(pred, 0.7).log_prob(target).sum(1))
    torch.testing.assert_close(noise.log_prior(), Normal(math.log(0.5), 0.3).log_prob(torch.tensor(math.log(0.7),
                                                                                                     dtype=DT)))
    torch.testing.assert_close(noise.variance, torch.tensor(0.49, dtype=DT))
    fixed = GaussianNoise(0.7)
    assert not list(fixed.parameters()) and "log_sigma" in dict(fixed.named_buffers())
    assert float(fixed.log_prior()) == 0.0
    # the weight prior leaves log_sigma to the noise's own prior, and adds that prior
    model = NoisyLine(0.7).double()
    model.noise = noise
    expected = Normal(0, 1.0).log_prob(torch.cat([model.line.weight.flatten(), model.line.bias])).sum()
    torch.testing.assert_close(GaussianPrior(1.0).log_prob(model), expected + noise.log_prior())
    with pytest.raises(ConfigError, match=r"prediction \(3, 2\) and target \(3,\) shapes differ"):
        noise.log_prob(pred, target[:, 0])
    with pytest.raises(ConfigError, match="sigma must be a finite number > 0"):
        GaussianNoise(0.0)


def test_log_posterior_potential_and_its_errors() -> None:
    model = NoisyLine(0.5, learn=False).double()
    x = torch.linspace(-1, 1, 4, dtype=DT)[:, None]
    y = torch.tensor([0.0, 1.0, 0.5, -0.5], dtype=DT)
    prior = GaussianPrior(1.0)
    posterior = LogPosterior(noisy_log_likelihood, prior)
    expected = -(10 / 4 * Normal(model(x), 0.5).log_prob(y).sum() + prior(model))
    torch.testing.assert_close(posterior.potential(model, (x, y), 10), expected)
    torch.testing.assert_close(LogPosterior(log_prior=prior).potential(model), -prior(model))
    with pytest.raises(ConfigError, match="needs a batch and the dataset size N"):
        posterior.potential(model, (x, y))
    with pytest.raises(ConfigError, match="needs a log_likelihood, a log_prior or both"):
        LogPosterior().potential(model)
    with pytest.raises(ConfigError, match=r"one value per example, shape \(n,\); got \(4, 1\)"):
        LogPosterior(lambda m, b: torch.zeros(4, 1)).potential(model, (x, y), 4)


def test_a_chain_recovers_a_learned_noise_scale(one_torch_thread) -> None:
    n, sigma = 200, 0.3
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, generator=gen, dtype=DT) * 2 - 1
    y = 2 * x[:, 0] - 0.5 + sigma * torch.randn(n, generator=gen, dtype=DT)
    torch.manual_seed(0)
    model = NoisyLine(1.0).double()
    config = ChainConfig(sampler="psgld", lr=2e-3, n_steps=3000, burn_in=1500, thin=5, seed=0)
    samples = run_chain(model, LogPosterior(noisy_log_likelihood, GaussianPrior(10.0)), config,
                        dataset=TensorDataset(x, y), progress=False).samples
    sigmas = torch.stack([s["noise.log_sigma"] for s in samples.states]).exp()
    fitted = torch.linalg.lstsq(torch.cat([x, torch.ones_like(x)], 1), y[:, None]).solution
    residual = float((y - (torch.cat([x, torch.ones_like(x)], 1) @ fitted)[:, 0]).pow(2).mean().sqrt())
    # posterior of sigma ~ residual rms, width ~ sigma / sqrt(2 n) = 0.015
    assert float(sigmas.mean()) == pytest.approx(residual, abs=0.02)
    assert 0.005 < float(sigmas.std()) < 0.03
