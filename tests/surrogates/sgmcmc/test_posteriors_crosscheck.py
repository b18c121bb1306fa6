"""Our SGLD against ``posteriors.sgmcmc.sgld`` (normal-computing, the same parameterisation):
identical trajectories without noise, the same Gaussian (mean, variance) with it."""

from __future__ import annotations

import warnings

import pytest
import torch

from sciml.surrogates.sgmcmc import SGLD

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    sgld_reference = pytest.importorskip("posteriors.sgmcmc.sgld")

DT = torch.float64
COV = torch.tensor([[1.0, 0.2], [0.2, 0.5]], dtype=DT)
PREC = torch.linalg.inv(COV)
MEAN = torch.tensor([1.0, -2.0], dtype=DT)
#: the documented SGLD step 0.1 / lambda_max(PREC)
LR = 0.1 / float(torch.linalg.eigvalsh(PREC).max())
STEPS, BURN, COPIES = 2000, 500, 400


def _log_posterior(params: torch.Tensor, batch: object) -> tuple[torch.Tensor, torch.Tensor]:
    d = params - MEAN
    value = -0.5 * ((d @ PREC) * d).sum()
    return value, value.detach()


def _start() -> torch.Tensor:
    return MEAN + 3 * torch.randn(COPIES, 2, generator=torch.Generator().manual_seed(5), dtype=DT)


def _ours(temperature: float, steps: int) -> torch.Tensor:
    theta = _start().requires_grad_()
    sampler = SGLD([theta], LR, temperature=temperature, generator=1)
    kept = []
    for t in range(steps):
        theta.grad = None
        (-_log_posterior(theta, None)[0]).backward()
        sampler.step()
        if t >= BURN:
            kept.append(theta.detach().clone())
    return torch.stack(kept) if kept else theta.detach()


def _theirs(temperature: float, steps: int) -> torch.Tensor:
    transform = sgld_reference.build(_log_posterior, lr=LR, temperature=temperature)
    state = transform.init(_start())
    kept = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)  # posteriors draws its noise from the global RNG
        for t in range(steps):
            state, _ = transform.update(state, None)
            if t >= BURN:
                kept.append(state.params.detach().clone())
    return torch.stack(kept) if kept else state.params.detach()


def test_without_noise_our_sgld_follows_the_reference_step_for_step(one_torch_thread) -> None:
    torch.testing.assert_close(_ours(0.0, 50), _theirs(0.0, 50), rtol=1e-12, atol=1e-12)


def test_our_sgld_and_the_reference_sample_the_same_gaussian(one_torch_thread) -> None:
    ours, theirs = _ours(1.0, STEPS).reshape(-1, 2), _theirs(1.0, STEPS).reshape(-1, 2)
    assert (ours.mean(0) - theirs.mean(0)).abs().max() < 0.05
    assert (ours.var(0) / theirs.var(0) - 1).abs().max() < 0.10
    for draws in (ours, theirs):  # both match the target too
        assert (draws.mean(0) - MEAN).abs().max() < 0.05
        assert (draws.var(0) / COV.diag() - 1).abs().max() < 0.10
