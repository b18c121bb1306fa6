"""Posteriors of the field models: draws with the per-time covariance, the mixture, the update's gain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.surrogates.probconserv import (
    ANPPosterior,
    FieldPosterior,
    conservation_gain,
    conservation_update,
    conservation_update_samples,
    conserve_posterior,
)
from sciml.surrogates.probconserv.posteriors import mixture_full_cov


def _structured(kind: str, seed: int = 0) -> FieldPosterior:
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    f = torch.randn(2, 3, 4, 2, generator=g, dtype=torch.float64)
    d = torch.rand(2, 3, 4, generator=g, dtype=torch.float64) + 0.1
    if kind == "diag":
        return FieldPosterior(mean, d, "diag", d)
    if kind == "lowrank":
        return FieldPosterior(mean, d + (f * f).sum(-1), "lowrank", (f, d))
    dense = f @ f.transpose(-1, -2) + torch.diag_embed(d)
    return FieldPosterior(mean, torch.diagonal(dense, dim1=-2, dim2=-1).clone(), "dense", dense)


def _empirical_cov(draws: torch.Tensor) -> torch.Tensor:
    """``(n, B, T, X)`` -> per-(B, T) covariance ``(B, T, X, X)``."""
    dev = draws - draws.mean(0)
    return torch.einsum("nbti,nbtj->btij", dev, dev) / (draws.shape[0] - 1)


@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
def test_field_posterior_draws_have_its_per_time_covariance(kind):
    post = _structured(kind)
    draws = post.sample(40_000, generator=0)
    assert draws.shape == (40_000, 2, 3, 4)
    torch.testing.assert_close(draws, post.sample(40_000, generator=0), rtol=0, atol=0)
    cov = torch.stack([post.cov_at(i) for i in range(3)], dim=1)
    torch.testing.assert_close(draws.mean(0), post.mean, rtol=0, atol=0.06)
    torch.testing.assert_close(_empirical_cov(draws), cov, rtol=0, atol=0.08)


def test_mixture_full_cov_by_hand():
    means = torch.tensor([[[0.0, 2.0]], [[2.0, 0.0]]], dtype=torch.float64)  # S=2, B=1, n_x=2
    variances = torch.tensor([[[1.0, 3.0]], [[3.0, 1.0]]], dtype=torch.float64)
    cov = mixture_full_cov(means, variances)
    # deviations +-(1, -1): outer product (1, -1; -1, 1); mean variance (2, 2)
    torch.testing.assert_close(cov, torch.tensor([[[3.0, -1.0], [-1.0, 3.0]]], dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        mixture_full_cov(means[0], variances[0])


@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
@pytest.mark.parametrize("sigma_g", [0.0, 0.3])
def test_gain_gives_the_updated_covariance_and_matheron_draws(kind, sigma_g):
    post = _structured(kind, seed=1)
    G = np.array([[0.25, 0.5, 0.5, 0.25], [1.0, 0.0, -1.0, 0.0]])
    b = torch.tensor([[1.0, 0.5]] * 3, dtype=torch.float64)
    full = conservation_update(post.mean, post.cov, G, b, cov_kind=kind, sigma_g=sigma_g, return_full_cov=True)
    k = conservation_gain(post.cov, G, cov_kind=kind, sigma_g=sigma_g)
    assert k.shape == (2, 3, 4, 2)
    sigma = torch.stack([post.cov_at(i) for i in range(3)], dim=1)
    # Sigma~ = Sigma - K G Sigma and mu~ = mu + K (b - G mu)
    torch.testing.assert_close(sigma - k @ torch.as_tensor(G) @ sigma, full.cov, rtol=0, atol=1e-12)
    torch.testing.assert_close(post.mean + (k @ (b - post.mean @ torch.as_tensor(G).T)[..., None]).squeeze(-1),
                               full.mean, rtol=0, atol=1e-12)
    conserved = conserve_posterior(post, G, b, sigma_g=sigma_g)
    draws = conserved.sample(40_000, generator=2)
    torch.testing.assert_close(draws.mean(0), full.mean, rtol=0, atol=0.06)
    torch.testing.assert_close(_empirical_cov(draws), full.cov, rtol=0, atol=0.08)


def test_anp_posterior_is_a_mixture_and_its_update_matches_the_samples_update():
    g = torch.Generator().manual_seed(3)
    means = torch.randn(5, 2, 3, 4, generator=g, dtype=torch.float64)
    variances = torch.rand(5, 2, 3, 4, generator=g, dtype=torch.float64) + 0.05
    post = ANPPosterior(means, variances, z=torch.zeros(5, 2, 1))
    torch.testing.assert_close(post.variance, variances.mean(0) + means.var(0, unbiased=False))
    G = np.full((1, 4), 0.25)
    b = torch.ones(3, 1, dtype=torch.float64)
    for hard in (False, True):
        ref = conservation_update_samples(means, variances, G, b, hard=hard)
        got = conserve_posterior(post, G, b, hard=hard)
        torch.testing.assert_close(got.mean, ref.mean, rtol=0, atol=0)
        torch.testing.assert_close(got.variance, ref.variance, rtol=0, atol=0)
        draws = got.sample(30_000, generator=0)
        torch.testing.assert_close(draws.mean(0), got.mean, rtol=0, atol=0.05)
        if not hard:  # every draw of an exactly conditioned component conserves
            assert float((draws @ torch.as_tensor(G).T - b).abs().max()) < 1e-12
