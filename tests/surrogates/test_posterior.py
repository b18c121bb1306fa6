"""Posterior objects returned by surrogates."""

from __future__ import annotations

import pytest
import torch

from sciml.surrogates.posterior import (
    DeterministicPosterior,
    GaussianMixturePosterior,
    GaussianPosterior,
    Posterior,
)


def test_deterministic_posterior_has_zero_variance_and_constant_samples():
    p = DeterministicPosterior(torch.arange(6.0).reshape(2, 3))
    assert isinstance(p, Posterior) and p.is_deterministic
    torch.testing.assert_close(p.variance, torch.zeros(2, 3), rtol=0, atol=0)
    s = p.sample(4)
    assert s.shape == (4, 2, 3)
    torch.testing.assert_close(s[3], p.mean, rtol=0, atol=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        p.sample(0)


def test_gaussian_posterior_samples_have_the_right_moments():
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    var = torch.tensor([0.25, 4.0], dtype=torch.float64)
    s = GaussianPosterior(mean, var).sample(200_000, generator=1)
    torch.testing.assert_close(s.mean(0), mean, rtol=0, atol=0.02)
    torch.testing.assert_close(s.var(0), var, rtol=0.02, atol=0)
    torch.testing.assert_close(GaussianPosterior(mean, var).sample(3, generator=7),
                               GaussianPosterior(mean, var).sample(3, generator=7), rtol=0, atol=0)
    gen = torch.Generator().manual_seed(7)
    torch.testing.assert_close(GaussianPosterior(mean, var).sample(3, generator=gen),
                               GaussianPosterior(mean, var).sample(3, generator=7), rtol=0, atol=0)


def test_gaussian_posterior_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        GaussianPosterior(torch.zeros(3), torch.ones(2))
    with pytest.raises(ValueError, match=">= 0"):
        GaussianPosterior(torch.zeros(2), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        GaussianPosterior(torch.zeros(2), torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match="int seed or a torch.Generator"):
        GaussianPosterior(torch.zeros(2), torch.ones(2)).sample(2, generator=1.5)


def test_mixture_moments_are_the_law_of_total_variance():
    means = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]], dtype=torch.float64)
    variances = torch.tensor([[1.0, 0.5], [1.0, 0.5], [1.0, 2.0]], dtype=torch.float64)
    p = GaussianMixturePosterior(means, variances)
    assert p.n_components == 3 and isinstance(p, Posterior)
    torch.testing.assert_close(p.mean, torch.tensor([2.0, 2.0], dtype=torch.float64))
    # E[var] + Var[mean]: [1 + 8/3, 1 + 2]
    torch.testing.assert_close(p.variance, torch.tensor([1.0 + 8.0 / 3.0, 3.0], dtype=torch.float64))
    s = p.sample(300_000, generator=2)
    torch.testing.assert_close(s.mean(0), p.mean, rtol=0, atol=0.02)
    torch.testing.assert_close(s.var(0), p.variance, rtol=0.02, atol=0)
    with pytest.raises(ValueError, match="share a shape"):
        GaussianMixturePosterior(means, variances[:2])
