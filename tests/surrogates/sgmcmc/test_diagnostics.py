"""Split R-hat and the effective sample size against closed forms: iid draws, AR(1) chains
with known autocorrelation, chains that have or have not mixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.errors import ConfigError
from sciml.surrogates.sgmcmc import SGLD, effective_sample_size, split_rhat

DT = torch.float64


def _ar1(phi: float, chains: int, n: int, k: int, seed: int) -> torch.Tensor:
    """Stationary AR(1) chains ``x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t``, shape (chains, n, k)."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, chains, k, generator=gen, dtype=DT)
    x = torch.empty_like(noise)
    x[0] = noise[0]
    scale = (1 - phi**2) ** 0.5
    for t in range(1, n):
        x[t] = phi * x[t - 1] + scale * noise[t]
    return x.permute(1, 0, 2)


def test_split_rhat_equals_the_bda3_formula() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(3, 11)) + np.array([[0.0], [0.3], [-0.2]])
    halves = np.concatenate([draws[:, :5], draws[:, 6:]])  # the middle draw of an odd chain is dropped
    n = halves.shape[1]
    w = halves.var(axis=1, ddof=1).mean()
    b = n * halves.mean(axis=1).var(ddof=1)
    expected = np.sqrt(((n - 1) / n * w + b / n) / w)
    assert float(split_rhat(draws)) == pytest.approx(expected, rel=1e-12)
    assert split_rhat(torch.as_tensor(draws).unsqueeze(-1).repeat(1, 1, 3)).shape == (3,)


def test_iid_draws_have_rhat_near_one_and_ess_near_n() -> None:
    draws = torch.randn(4, 1000, 200, generator=torch.Generator().manual_seed(1), dtype=DT)
    assert float(split_rhat(draws).max()) < 1.02
    assert float(split_rhat(draws, rank_normalized=True).max()) < 1.02
    ess = effective_sample_size(draws)
    assert ess.shape == (200,)
    assert float(ess.mean()) == pytest.approx(4000, rel=0.10)


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_ess_of_an_ar1_chain_is_n_one_minus_phi_over_one_plus_phi(phi) -> None:
    draws = _ar1(phi, chains=4, n=4000, k=40, seed=2)
    expected = 4 * 4000 * (1 - phi) / (1 + phi)
    assert float(effective_sample_size(draws).mean()) == pytest.approx(expected, rel=0.15)
    assert float(split_rhat(draws).max()) < 1.05


def test_rhat_flags_chains_that_disagree_in_location_or_only_in_scale() -> None:
    gen = torch.Generator().manual_seed(3)
    shifted = torch.randn(4, 500, generator=gen, dtype=DT) + torch.tensor([[0.0], [0.0], [0.0], [2.0]], dtype=DT)
    assert float(split_rhat(shifted)) > 1.1
    trend = torch.linspace(0, 3, 500, dtype=DT) + 0.1 * torch.randn(4, 500, generator=gen, dtype=DT)
    assert float(split_rhat(trend)) > 1.1  # the halves of a drifting chain disagree
    scaled = torch.randn(4, 2000, generator=gen, dtype=DT) * torch.tensor([[1.0], [1.0], [1.0], [4.0]], dtype=DT)
    assert float(split_rhat(scaled)) < 1.05  # the plain R-hat compares locations only
    assert float(split_rhat(scaled, rank_normalized=True)) > 1.1  # the folded one sees the scale


def _sgld_chains(start: torch.Tensor, steps: int, burn_in: int) -> torch.Tensor:
    """SGLD on N(0, [[1, .8], [.8, 1]]) at its documented step; one chain per row of ``start``: (C, kept, 2)."""
    prec = torch.linalg.inv(torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=DT))
    theta = start.clone().requires_grad_()
    sampler = SGLD([theta], 0.1 / float(torch.linalg.eigvalsh(prec).max()), generator=4)
    kept = []
    for t in range(steps):
        theta.grad = (theta.detach() @ prec)
        sampler.step()
        if t >= burn_in:
            kept.append(theta.detach().clone())
    return torch.stack(kept, dim=1)


def test_rhat_of_well_mixed_sgld_chains_is_below_1_05_and_of_early_stopped_far_chains_above_1_1(
        one_torch_thread) -> None:
    gen = torch.Generator().manual_seed(6)
    mixed = _sgld_chains(torch.randn(4, 2, generator=gen, dtype=DT) * 3, steps=6000, burn_in=1000)
    assert float(split_rhat(mixed).max()) < 1.05
    assert float(split_rhat(mixed, rank_normalized=True).max()) < 1.05
    far = torch.tensor([[-20.0, -20.0], [20.0, 20.0], [-20.0, 20.0], [20.0, -20.0]], dtype=DT)
    early = _sgld_chains(far, steps=150, burn_in=50)
    assert float(split_rhat(early).min()) > 1.1


def test_bad_input_is_named() -> None:
    with pytest.raises(ConfigError, match=r"shape \(chains, draws\) or \(chains, draws, K\)"):
        split_rhat(torch.zeros(10))
    with pytest.raises(ConfigError, match="at least 1 chain"):
        effective_sample_size(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="finite"):
        split_rhat(torch.tensor([[0.0, 1.0, float("nan"), 2.0, 3.0]]))
    assert torch.isnan(effective_sample_size(torch.ones(2, 10)))
