"""Chains on the one training loop: several chains through an executor reproduce a regression
posterior and mix (R-hat), samples round-trip through the checkpoint files, resume continues bit
for bit, divergence stops, and bad configurations are named."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sciml.errors import ConfigError, FileFormatError
from sciml.executors import InProcessExecutor
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.sgmcmc import (
    ChainConfig,
    GaussianPrior,
    LogPosterior,
    WeightSamples,
    effective_sample_size,
    run_chain,
    run_chains,
    split_rhat,
)
from sciml.surrogates.sgmcmc.chains import ChainJob
from sciml.surrogates.training import CHECKPOINT_FORMAT, CheckpointError, TrainingDivergedError, load_checkpoint

DT = torch.float64
N = 20


def _data() -> tuple[TensorDataset, torch.Tensor, torch.Tensor]:
    """20 points of y = 0.5 - x + N(0, 1); the closed-form posterior (bias, weight) under a N(0, I) prior."""
    x = torch.linspace(-1.5, 1.5, N, dtype=DT)
    y = 0.5 - x + torch.randn(N, generator=torch.Generator().manual_seed(0), dtype=DT)
    design = torch.stack([torch.ones(N, dtype=DT), x], 1)
    cov = torch.linalg.inv(design.T @ design + torch.eye(2, dtype=DT))
    return TensorDataset(x[:, None], y), cov @ design.T @ y, cov


def log_likelihood(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return -0.5 * (y - model(x).squeeze(-1)) ** 2


def line() -> nn.Module:
    return nn.Linear(1, 1).double()


def seeded_line(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return line()


POSTERIOR = LogPosterior(log_likelihood, GaussianPrior(1.0))
LR = 0.1 / 21.0  # SGLD's documented step: 0.1 / lambda_max of the posterior precision (21)


def _weights(samples: WeightSamples) -> torch.Tensor:
    return samples.by_chain(["bias", "weight"])


def test_chains_through_an_executor_reproduce_the_posterior_and_mix(one_torch_thread) -> None:
    data, mean, cov = _data()
    config = ChainConfig(lr=LR, n_steps=2500, burn_in=500, thin=5, seed=3)
    result = run_chains(line, POSTERIOR, config, n_chains=4, dataset=data, executor=InProcessExecutor())
    samples = result.samples
    assert len(samples) == 4 * 400 and sorted(set(samples.chains)) == [0, 1, 2, 3]
    assert samples.steps[:2] == [501, 506] and samples.steps[-1] == 2496
    draws = _weights(samples)
    assert draws.shape == (4, 400, 2)
    assert float(split_rhat(draws).max()) < 1.05
    assert float(effective_sample_size(draws).min()) > 200
    flat = draws.reshape(-1, 2)
    assert (flat.mean(0) - mean).abs().max() < 0.05
    assert (flat.std(0) / cov.diag().sqrt() - 1).abs().max() < 0.10
    # the chains started apart (own seeds -> own initial weights)
    assert len({float(r.history[0]["potential"]) for r in result.chains}) == 4


def test_samples_round_trip_through_the_checkpoint_files(tmp_path) -> None:
    data, _, _ = _data()
    config = ChainConfig(sampler="sghmc", lr=LR / 10, n_steps=60, burn_in=20, thin=10, batch_size=5, seed=1)
    on_disk = run_chains(line, POSTERIOR, config, n_chains=2, dataset=data, run_dir=tmp_path).samples
    in_memory = run_chains(line, POSTERIOR, config, n_chains=2, dataset=data).samples
    files = sorted((tmp_path / "chain_001" / "samples").glob("*.pt"))
    assert [f.name for f in files] == [f"step_{s:09d}.pt" for s in (21, 31, 41, 51)]
    raw = torch.load(files[0], weights_only=True)
    assert (raw["format"], raw["kind"], raw["family"], raw["chain"], raw["step"]) == (
        CHECKPOINT_FORMAT, "sample", "sgmcmc", 1, 21)
    assert raw["model_class"] == "torch.nn.modules.linear.Linear" and raw["train_config"]["seed"] == 2
    reloaded = WeightSamples.load([tmp_path / "chain_000", tmp_path / "chain_001"])
    for got in (on_disk, reloaded):
        assert got.chains == in_memory.chains and got.steps == in_memory.steps
        for a, b in zip(got.states, in_memory.states, strict=True):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a sample loads into a model and predicts; predict restores the model it borrowed
    model = line()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.tensor([[0.0], [1.0]], dtype=DT)
    posterior = reloaded.predict(model, x)
    assert isinstance(posterior, SamplePosterior) and posterior.draws.shape == (8, 2, 1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    reloaded.load_into(model, 3)
    torch.testing.assert_close(posterior.draws[3], model(x).detach(), rtol=0, atol=0)
    assert reloaded.stack()["weight"].shape == (8, 1, 1)


def test_sample_files_are_checked_when_read(tmp_path) -> None:
    data, _, _ = _data()
    with pytest.raises(FileFormatError, match="no samples in"):
        WeightSamples.load(tmp_path)
    run_chain(line(), POSTERIOR, ChainConfig(lr=LR, n_steps=3, seed=0), dataset=data, run_dir=tmp_path)
    (tmp_path / "samples" / "step_000000009.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError, match="not a readable checkpoint"):
        WeightSamples.load(tmp_path)
    with pytest.raises(CheckpointError, match="holds a torch.nn.modules.linear.Linear model"):
        run_chain(line(), POSTERIOR, ChainConfig(lr=LR, n_steps=2), dataset=data).samples.load_into(
            nn.Sequential(nn.Linear(1, 1)), 0)


@pytest.mark.parametrize("settings", [
    {"sampler": "sgld", "batch_size": 5},
    {"sampler": "psgld", "lr": LR / 5, "batch_size": 7},
    {"sampler": "sghmc", "lr": LR / 10, "schedule": "cyclical", "n_cycles": 2, "exploration": 0.3},
])
def test_an_interrupted_chain_resumes_bit_for_bit(tmp_path, settings) -> None:
    data, _, _ = _data()
    config = ChainConfig(**{"lr": LR, "n_steps": 40, "burn_in": 10, "thin": 3, "checkpoint_every": 7, "seed": 5,
                            **settings})
    straight = run_chain(seeded_line(), POSTERIOR, config, dataset=data, run_dir=tmp_path / "a")
    run_chain(seeded_line(), POSTERIOR, config, dataset=data, run_dir=tmp_path / "b", stop_after=17)
    # the weights come from last.pt, the noise from the sampler's saved generator
    resumed = run_chain(seeded_line(123), POSTERIOR, config, dataset=data, run_dir=tmp_path / "b", resume=True)
    assert resumed.loop.resumed_from == 17 and resumed.loop.completed == 40
    assert straight.samples.steps == resumed.samples.steps and len(straight.samples) > 3
    for a, b in zip(straight.samples.states, resumed.samples.states, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.loop.history == resumed.loop.history
    last_a, last_b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert all(torch.equal(last_a["model_state"][k], last_b["model_state"][k]) for k in last_a["model_state"])
    assert torch.equal(last_a["optimizer_state"]["sampler"]["generator"],
                       last_b["optimizer_state"]["sampler"]["generator"])


def test_a_resume_drops_samples_drawn_after_the_checkpoint_and_draws_them_again(tmp_path) -> None:
    data, _, _ = _data()
    config = ChainConfig(lr=LR, n_steps=12, thin=1, checkpoint_every=5, seed=2)
    run_chain(line(), POSTERIOR, config, dataset=data, run_dir=tmp_path, stop_after=5)
    stray = tmp_path / "samples" / "step_000000008.pt"
    stray.write_bytes(b"from a crash after the checkpoint")
    resumed = run_chain(line(), POSTERIOR, config, dataset=data, run_dir=tmp_path, resume=True)
    assert resumed.samples.steps == list(range(1, 13))
    load_checkpoint(stray)  # rewritten as a readable sample


def test_cyclical_chains_keep_samples_only_in_sampling_phases() -> None:
    config = ChainConfig(lr=LR, schedule="cyclical", n_steps=40, n_cycles=4, exploration=0.5, seed=0)
    data, _, _ = _data()
    steps = run_chain(line(), POSTERIOR, config, dataset=data).samples.steps
    # cycles of 10 steps; steps 5..9 of each (0-based) sample; a sample is named by steps completed
    assert steps == [c * 10 + r + 1 for c in range(4) for r in range(5, 10)]


def test_a_diverging_chain_stops_with_a_clear_message(tmp_path) -> None:
    data, _, _ = _data()
    config = ChainConfig(lr=5.0, n_steps=200, checkpoint_every=1, seed=0)
    with pytest.raises(TrainingDivergedError, match=r"(potential U|NaN/inf).*kept at"):
        run_chain(line(), POSTERIOR, config, dataset=data, run_dir=tmp_path)


def test_a_chain_resumed_with_another_configuration_is_refused(tmp_path) -> None:
    data, _, _ = _data()
    run_chain(line(), POSTERIOR, ChainConfig(lr=LR, n_steps=4), dataset=data, run_dir=tmp_path)
    with pytest.raises(CheckpointError, match="temperature: 1.0 -> 0.5"):
        run_chain(line(), POSTERIOR, ChainConfig(lr=LR, n_steps=4, temperature=0.5), dataset=data,
                  run_dir=tmp_path, resume=True)


@pytest.mark.parametrize(("fields", "message"), [
    ({"lr": -0.1}, r"field lr: Input should be greater than 0"),
    ({"temperature": -1.0}, r"field temperature: Input should be greater than or equal to 0"),
    ({"thin": 0}, r"field thin: Input should be greater than or equal to 1"),
    ({"burn_in": 100}, r"burn_in \(100\) must be smaller than n_steps \(100\)"),
    ({"sampler": "hmc"}, r"field sampler: Input should be 'sgld', 'psgld' or 'sghmc'"),
    ({"batch_sise": 3}, r"unknown field 'batch_sise'"),
])
def test_bad_chain_configurations_are_named(fields, message) -> None:
    with pytest.raises(ConfigError, match=message):
        run_chain(line(), POSTERIOR, {"lr": LR, "n_steps": 100, **fields})


def test_bad_chain_counts_and_seeds_are_named() -> None:
    config = ChainConfig(lr=LR, n_steps=2)
    with pytest.raises(ConfigError, match="n_chains must be an integer >= 1"):
        run_chains(line, POSTERIOR, config, n_chains=0)
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        run_chains(line, POSTERIOR, config, seeds=[1, 1])


def test_chain_jobs_pickle_for_process_executors() -> None:
    data, _, _ = _data()
    job = ChainJob(line, POSTERIOR, ChainConfig(lr=LR, n_steps=2), chain=0, dataset=data)
    assert pickle.loads(pickle.dumps(job)).config == job.config
