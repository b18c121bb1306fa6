"""A potential with weight samples is a Surrogate: its force posterior passes check_surrogate,
with and without the learned force noise, and its moments are those of the draws."""

from __future__ import annotations

import pytest
import torch

from sciml.surrogates.potentials import ForceMatchingModel, SchNetPotential, predicted_forces
from sciml.surrogates.sgmcmc import GaussianNoise, SampledSurrogate, WeightSamples
from sciml.testing import check_surrogate

F64 = torch.float64


def _model(seed: int) -> ForceMatchingModel:
    torch.manual_seed(seed)
    pot = SchNetPotential([18], 2.0, hidden_channels=8, num_filters=8, num_interactions=1, num_gaussians=8)
    return ForceMatchingModel(pot, GaussianNoise(0.3)).double()


def _frames() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(*[torch.arange(3.0)] * 3, indexing="ij"), -1).reshape(-1, 3).double() * 1.4
    pos = torch.stack([grid + 0.1 * torch.randn(27, 3, generator=g, dtype=F64) for _ in range(2)])
    return {"numbers": torch.full((2, 27), 18), "positions": pos, "cell": torch.eye(3, dtype=F64).expand(2, 3, 3) * 4.2,
            "pbc": torch.ones(2, 3, dtype=torch.bool)}


@pytest.mark.parametrize("with_noise", [True, False])
def test_weight_samples_of_a_potential_are_a_surrogate(with_noise):
    samples = WeightSamples([_model(s).state_dict() for s in range(3)], [0, 1, 2], [0, 0, 0])
    if with_noise:
        surrogate = SampledSurrogate(_model(9), samples, output=predicted_forces, enable_grad=True)
    else:
        surrogate = SampledSurrogate(_model(9), samples, output=lambda m, b: predicted_forces(m, b)[0],
                                     enable_grad=True)
    frames = _frames()
    post = check_surrogate(surrogate, frames)
    draws = torch.stack([predicted_forces(_model(s), frames)[0].detach() for s in range(3)])
    assert post.mean.shape == (2, 27, 3)
    assert torch.allclose(post.mean, draws.mean(0), atol=1e-12)
    spread = draws.var(0, unbiased=False)
    assert torch.allclose(post.variance, spread + (0.09 if with_noise else 0.0), atol=1e-12)
