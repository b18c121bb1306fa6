"""Each sampler reproduces an exact correlated 2-D Gaussian at its documented step size:
mean within 0.05, standard deviations within 10 %, correlation within 0.05, and T = 0.5
halves the variance (within 10 %)."""

from __future__ import annotations

import pytest
import torch

SAMPLERS = ["sgld", "psgld", "sghmc", "csgld"]


def _run(sample_copies, name, target, temperature):
    cyclical = name == "csgld"
    return sample_copies(name, target, copies=500, n_steps=6000 if cyclical else 3000,
                         burn_in=0 if cyclical else 1000, temperature=temperature, autograd=False)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_reproduces_a_correlated_gaussian_and_its_cold_posterior(
        name, correlated_gaussian, sample_copies, one_torch_thread) -> None:
    target = correlated_gaussian
    warm = _run(sample_copies, name, target, 1.0).reshape(-1, 2)
    std = target.cov.diag().sqrt()
    assert (warm.mean(0) - target.mean).abs().max() < 0.05
    assert (warm.std(0) / std - 1).abs().max() < 0.10
    assert abs(float(torch.corrcoef(warm.T)[0, 1]) - 0.8) < 0.05
    cold = _run(sample_copies, name, target, 0.5).reshape(-1, 2)
    assert (cold.mean(0) - target.mean).abs().max() < 0.05
    assert (cold.var(0) / (0.5 * target.cov.diag()) - 1).abs().max() < 0.10
    assert (cold.var(0) / warm.var(0) - 0.5).abs().max() < 0.05

