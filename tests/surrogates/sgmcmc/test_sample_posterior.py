"""SamplePosterior: moments of M draws (population spread, law of total variance with per-draw
noise), draws picked from them, the Surrogate contract suite, bad input."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from sciml.surrogates.posterior import GaussianMixturePosterior, Posterior, SamplePosterior
from sciml.testing import check_surrogate

DT = torch.float64


def test_moments_of_draws_use_the_population_spread() -> None:
    draws = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]], dtype=DT)
    p = SamplePosterior(draws)
    assert isinstance(p, Posterior) and p.n_draws == 3 and not p.is_deterministic
    torch.testing.assert_close(p.mean, torch.tensor([2.0, 2.0], dtype=DT))
    torch.testing.assert_close(p.variance, torch.tensor([8 / 3, 2.0], dtype=DT))


def test_per_draw_noise_adds_the_mean_variance_as_a_mixture_does() -> None:
    draws = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]], dtype=DT)
    noise = torch.tensor([[1.0, 0.5], [1.0, 0.5], [1.0, 2.0]], dtype=DT)
    p = SamplePosterior(draws, noise)
    mixture = GaussianMixturePosterior(draws, noise)
    torch.testing.assert_close(p.mean, mixture.mean)
    torch.testing.assert_close(p.variance, torch.tensor([1.0 + 8 / 3, 1.0 + 2.0], dtype=DT))
    torch.testing.assert_close(p.variance, mixture.variance)
    s = p.sample(200_000, generator=3)
    torch.testing.assert_close(s.mean(0), p.mean, rtol=0, atol=0.02)
    torch.testing.assert_close(s.var(0), p.variance, rtol=0.02, atol=0)
    per_draw = SamplePosterior(draws, torch.tensor([[0.25], [0.25], [0.25]], dtype=DT))  # broadcast per draw
    torch.testing.assert_close(per_draw.variance, torch.tensor([0.25 + 8 / 3, 0.25 + 2.0], dtype=DT))


def test_sample_picks_the_draws_uniformly_and_reproducibly() -> None:
    draws = torch.arange(8, dtype=DT).reshape(4, 2)
    p = SamplePosterior(draws)
    s = p.sample(40_000, generator=1)
    assert s.shape == (40_000, 2)
    assert set(s[:, 0].tolist()) == {0.0, 2.0, 4.0, 6.0} and torch.equal(s[:, 1], s[:, 0] + 1)
    counts = torch.bincount((s[:, 0] / 2).long(), minlength=4).double() / 40_000
    torch.testing.assert_close(counts, torch.full((4,), 0.25, dtype=DT), rtol=0, atol=0.01)
    assert torch.equal(p.sample(5, generator=7), p.sample(5, generator=torch.Generator().manual_seed(7)))


@dataclass
class Fixed:
    """A surrogate whose prediction is a fixed set of draws."""

    draws: torch.Tensor
    noise: torch.Tensor | None = None

    def predict(self, inputs: torch.Tensor) -> SamplePosterior:
        return SamplePosterior(self.draws * inputs, self.noise)


def test_sample_posteriors_pass_the_surrogate_contract() -> None:
    gen = torch.Generator().manual_seed(0)
    draws = torch.randn(16, 5, generator=gen, dtype=DT)
    check_surrogate(Fixed(draws), torch.ones(5, dtype=DT))
    check_surrogate(Fixed(draws, torch.rand(16, 5, generator=gen, dtype=DT)), torch.ones(5, dtype=DT))


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SamplePosterior(torch.zeros(0, 3)), r"shape \(M, \.\.\.\) with M >= 1"),
    (lambda: SamplePosterior(torch.tensor([[1.0, float("nan")]])), "draws must be finite"),
    (lambda: SamplePosterior(torch.zeros(2, 3), -torch.ones(2, 3)), "draw_variances must be finite and >= 0"),
    (lambda: SamplePosterior(torch.zeros(2, 3), torch.ones(3, 2)), r"do not broadcast to the draws \(2, 3\)"),
    (lambda: SamplePosterior(torch.zeros(2, 3)).sample(0), "n must be an integer >= 1"),
])
def test_bad_input_is_named(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()
