"""Deep ensembles on the one loop through an executor, MC dropout against its closed form, and
both behind the Surrogate contract as a SamplePosterior."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sciml.errors import ConfigError
from sciml.executors import InProcessExecutor
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.sgmcmc import (
    GaussianNoise,
    GaussianPrior,
    LogPosterior,
    MCDropoutSurrogate,
    MemberConfig,
    SampledSurrogate,
    WeightSamples,
    mc_dropout_posterior,
    train_ensemble,
)
from sciml.testing import check_surrogate

DT = torch.float64


def log_likelihood(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return -0.5 * (y - model(x).squeeze(-1)) ** 2


def line() -> nn.Module:
    return nn.Linear(1, 1).double()


class Net(nn.Module):
    """A small MLP with a learned noise scale."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
        self.noise = GaussianNoise(0.5, learn=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


def net_log_likelihood(model: Net, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return model.noise.log_prob(model(x), y)


def net_output(model: Net, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return model(x), model.noise.variance


def _line_data() -> tuple[TensorDataset, torch.Tensor]:
    x = torch.linspace(-1.5, 1.5, 20, dtype=DT)
    y = 0.5 - x + torch.randn(20, generator=torch.Generator().manual_seed(0), dtype=DT)
    design = torch.stack([torch.ones(20, dtype=DT), x], 1)
    return TensorDataset(x[:, None], y), torch.linalg.solve(design.T @ design + torch.eye(2, dtype=DT), design.T @ y)


def test_members_reach_the_map_from_their_own_starts(tmp_path, one_torch_thread) -> None:
    data, map_weights = _line_data()
    config = MemberConfig(lr=0.05, n_steps=400, seed=10)
    result = train_ensemble(line, LogPosterior(log_likelihood, GaussianPrior(1.0)), config, n_members=3,
                            dataset=data, executor=InProcessExecutor(), run_dir=tmp_path)
    samples = result.samples
    assert samples.chains == [0, 1, 2] and samples.steps == [400, 400, 400]
    assert len({r.history[0]["potential"] for r in result.members}) == 3  # different initial weights
    for state in samples.states:  # the MAP of a Gaussian posterior is its mean (closed form)
        torch.testing.assert_close(torch.cat([state["bias"], state["weight"].flatten()]), map_weights,
                                   rtol=0, atol=1e-4)
    on_disk = WeightSamples.load([tmp_path / f"member_{m:03d}" for m in range(3)])
    assert on_disk.chains == [0, 1, 2] and (tmp_path / "member_002" / "last.pt").is_file()
    again = train_ensemble(line, LogPosterior(log_likelihood, GaussianPrior(1.0)), config, n_members=3,
                           dataset=data, run_dir=tmp_path, resume=True)
    assert [r.resumed_from for r in again.members] == [400, 400, 400]


def test_an_ensemble_with_learned_noise_predicts_a_mixture_and_passes_the_contract(one_torch_thread) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(64, 1, generator=gen) * 4 - 2
    y = torch.sin(2 * x[:, 0]) + 0.1 * torch.randn(64, generator=gen)
    result = train_ensemble(Net, LogPosterior(net_log_likelihood, GaussianPrior(3.0)),
                            {"lr": 0.02, "n_steps": 150, "batch_size": 16, "seed": 0}, n_members=4,
                            dataset=TensorDataset(x, y))
    surrogate = SampledSurrogate(Net(), result.samples, output=net_output)
    grid = torch.linspace(-3, 3, 25)[:, None]
    posterior = check_surrogate(surrogate, grid)
    assert isinstance(posterior, SamplePosterior) and posterior.draws.shape == (4, 25)
    by_hand = []
    for i in range(4):
        member = result.samples.load_into(Net(), i)
        by_hand.append((member(grid).detach(), member.noise.variance))
    means = torch.stack([m for m, _ in by_hand])
    noise = torch.stack([v for _, v in by_hand])
    torch.testing.assert_close(posterior.mean, means.mean(0))
    torch.testing.assert_close(posterior.variance, means.var(0, unbiased=False) + noise.mean())
    assert float(means.var(0).max()) > 1e-4  # the members differ


class DropoutLinear(nn.Module):
    """``y = w . dropout(x)``, and a batch norm that must stay in eval mode during MC dropout."""

    def __init__(self, w: torch.Tensor, p: float) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(w.numel(), affine=False).double()
        self.drop = nn.Dropout(p)
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.norm(x)) @ self.w


def test_mc_dropout_matches_the_closed_form_of_a_dropped_linear_model() -> None:
    w, p = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=DT), 0.3
    model = DropoutLinear(w, p)
    model.train()
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, -1.0, 2.0, 0.0]], dtype=DT)
    state = torch.get_rng_state()
    posterior = mc_dropout_posterior(model, x, 20_000, seed=1)
    assert torch.equal(torch.get_rng_state(), state) and all(m.training for m in model.modules())
    # eval-mode batch norm with fresh running stats (mean 0, var 1) is x / sqrt(1 + eps)
    z = x / (1 + model.norm.eps) ** 0.5
    variance = p / (1 - p) * (z * w).square().sum(1)
    assert bool(((posterior.mean - z @ w).abs() < 4 * (variance / 20_000).sqrt()).all())  # 4 standard errors
    torch.testing.assert_close(posterior.variance, variance, rtol=0.05, atol=0)
    assert torch.equal(mc_dropout_posterior(model, x, 8, seed=4).draws, mc_dropout_posterior(model, x, 8, seed=4).draws)
    check_surrogate(MCDropoutSurrogate(model, n_samples=64), x)


def test_mc_dropout_bad_input() -> None:
    with pytest.raises(ConfigError, match="has no dropout layer"):
        mc_dropout_posterior(nn.Linear(2, 1), torch.zeros(1, 2), 4)
    with pytest.raises(ConfigError, match="n_samples must be an integer >= 1"):
        mc_dropout_posterior(nn.Sequential(nn.Dropout(0.1)), torch.zeros(1, 2), 0)
    with pytest.raises(ConfigError, match="n_members must be an integer >= 1"):
        train_ensemble(line, LogPosterior(log_likelihood), {"n_steps": 2}, n_members=0)
    with pytest.raises(ConfigError, match="field n_steps: field required"):
        train_ensemble(line, LogPosterior(log_likelihood), {"lr": 0.1}, n_members=2)
