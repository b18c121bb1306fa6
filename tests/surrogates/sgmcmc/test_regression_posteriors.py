"""Each sampler reproduces the closed-form posterior of a Bayesian linear regression (Gaussian
prior, known noise) at its documented step size, full batch and with minibatches of 5 of 20
points scaled by N/n: mean within 0.05, standard deviations within 10 %; and with
minibatches at T = 0.5 the variance halves (within 10 %)."""

from __future__ import annotations

import pytest
import torch

SAMPLERS = ["sgld", "psgld", "sghmc", "csgld"]


def _run(sample_copies, name, target, temperature=1.0):
    cyclical = name == "csgld"
    draws = sample_copies(name, target, copies=200, n_steps=2000 if cyclical else 1500,
                          burn_in=0 if cyclical else 500, temperature=temperature)
    return draws.reshape(-1, 2)


def _check(draws, target, temperature=1.0) -> None:
    assert (draws.mean(0) - target.mean).abs().max() < 0.05
    assert (draws.std(0) / (temperature * target.cov.diag()).sqrt() - 1).abs().max() < 0.10
    corr = target.cov[0, 1] / target.cov.diag().prod().sqrt()
    assert abs(float(torch.corrcoef(draws.T)[0, 1] - corr)) < 0.1


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_reproduces_the_regression_posterior_full_batch(name, linear_regression, sample_copies,
                                                               one_torch_thread) -> None:
    target = linear_regression(None)
    # the posterior is narrow enough that a 0.05 tolerance on the mean is a check (std ~ 0.23)
    assert float(target.cov.diag().sqrt().min()) > 0.2
    _check(_run(sample_copies, name, target), target)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_reproduces_the_regression_posterior_with_minibatches(name, linear_regression, sample_copies,
                                                                     one_torch_thread) -> None:
    target = linear_regression(5)
    _check(_run(sample_copies, name, target), target)
    _check(_run(sample_copies, name, target, temperature=0.5), target, temperature=0.5)


def test_minibatch_potential_is_unbiased_for_the_full_batch_one(linear_regression) -> None:
    """The N/n scaling: the mean over many minibatches equals the full-batch potential."""
    full, mini = linear_regression(None), linear_regression(5)
    w = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    estimates = torch.stack([mini.potential(w, gen) for _ in range(4000)])
    exact = full.potential(w, gen)
    assert abs(float(estimates.mean() - exact)) < 4 * float(estimates.std()) / 4000**0.5
    assert float(estimates.std()) > 0.1  # the minibatches differ
