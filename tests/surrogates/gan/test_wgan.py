"""WGAN-GP surrogate: the Surrogate contract, seeds, exact resume on the one training loop, the logged
Wasserstein estimate and loss composition, xarray input, and — on a non-Gaussian family (a sine
with a bimodal amplitude and a random phase) — a lower sliced Wasserstein distance to held-out
data than the Gaussian-PCA baseline (fast smoke check; three seeds in the slow test)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from sciml.errors import ConfigError
from sciml.surrogates.gan import (
    WGANGP,
    ConvGenerator,
    GaussianPCA,
    GenerationRequest,
    HistoryInputError,
    WGANConfig,
)
from sciml.surrogates.training import CheckpointError, load_checkpoint
from sciml.testing import check_surrogate
from sciml.uq import sliced_wasserstein_distance

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"n_steps": 6, "batch_size": 16, "noise_dim": 3, "hidden": 16, "n_layers": 2, "critic_hidden": 16,
        "critic_layers": 2, "progress": False}
#: the benchmark family's settings: a small fast-learning model
SMALL = {"batch_size": 64, "noise_dim": 4, "hidden": 64, "critic_hidden": 64, "lr": 1e-3, "progress": False}


def sine_family(n: int, seed: int, n_time: int = 32) -> np.ndarray:
    """``a sin(2 pi t + phi)``, ``a = +-1 (1 + 0.1 N(0, 1))`` (bimodal), ``phi ~ U(-pi/4, pi/4)``."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_time)
    a = rng.choice([-1.0, 1.0], n) * (1.0 + 0.1 * rng.standard_normal(n))
    phi = rng.uniform(-np.pi / 4, np.pi / 4, n)
    return a[:, None] * np.sin(2 * np.pi * t[None, :] + phi[:, None])


def test_defaults_follow_gulrajani_et_al():
    cfg = WGANConfig()
    assert (cfg.gp_weight, cfg.n_critic, cfg.lr, cfg.betas) == (10.0, 5, 1e-4, (0.0, 0.9))
    gan = WGANGP({**TINY, "n_steps": 0}).fit(sine_family(40, 0))
    critic = gan.modules.critic
    assert any(isinstance(m, nn.LayerNorm) for m in critic.modules())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in gan.modules.modules())


def test_the_surrogate_contract_unconditional_and_conditional():
    x = sine_family(64, 0)
    gan = WGANGP(TINY).fit(x)
    posterior = check_surrogate(gan, 200)
    assert posterior.draws.shape == (200, 32) and posterior.draws.dtype == torch.float32
    params = np.random.default_rng(1).uniform(size=(64, 2))
    conditional = WGANGP({**TINY, "n_draws": 150}).fit(x * params[:, :1], params=params)
    assert check_surrogate(conditional, torch.tensor([[0.2, 0.5], [0.9, 0.1]])).draws.shape == (150, 2, 32)
    with pytest.raises(HistoryInputError, match="conditioned on 2 parameter"):
        conditional.predict(10)


def test_same_seed_same_samples():
    x = sine_family(64, 0)
    a, b = WGANGP(TINY).fit(x), WGANGP(TINY).fit(x)
    assert torch.equal(a.generate(20, seed=3), b.generate(20, seed=3))
    assert torch.equal(a.predict(GenerationRequest(20, seed=3)).draws, a.generate(20, seed=3))
    assert not torch.equal(a.generate(20, seed=3), a.generate(20, seed=4))
    c = WGANGP({**TINY, "seed": 1}).fit(x)
    assert not torch.equal(a.generate(20, seed=3), c.generate(20, seed=3))


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    x = sine_family(64, 0)
    cfg = {**TINY, "n_steps": 9, "checkpoint_every": 2}
    straight = WGANGP(cfg).fit(x, run_dir=tmp_path / "a")
    WGANGP(cfg).fit(x, run_dir=tmp_path / "b", stop_after=4)
    resumed = WGANGP(cfg).fit(x, run_dir=tmp_path / "b", resume=True)
    assert resumed.loop.resumed_from == 4 and resumed.loop.completed == 9
    one, two = straight.modules.state_dict(), resumed.modules.state_dict()
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    assert straight.history == resumed.history and len(resumed.history) == 9
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 10))
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt", family="wgan_gp")  # weights_only=True
    assert ckpt["completed"] == 9 and ckpt["critic_optimizer_state"] is not None
    reloaded = WGANGP(cfg).fit(x, run_dir=tmp_path / "b", resume=True)  # a finished run: loaded, not retrained
    assert reloaded.loop.completed == 9 and torch.equal(reloaded.generate(5, seed=1), straight.generate(5, seed=1))
    with pytest.raises(CheckpointError, match="training data changed"):
        WGANGP({**cfg, "n_steps": 12}).fit(x[::-1].copy(), run_dir=tmp_path / "b", resume=True)
    with pytest.raises(CheckpointError, match="gp_weight"):
        WGANGP({**cfg, "gp_weight": 1.0}).fit(x, run_dir=tmp_path / "b", resume=True)
    with pytest.raises(CheckpointError, match="resume=True"):
        WGANGP(cfg).fit(x, run_dir=tmp_path / "b")


def test_the_wasserstein_estimate_is_logged_every_step_and_the_critic_loss_adds_the_penalty():
    gan = WGANGP({**TINY, "n_steps": 5}).fit(sine_family(64, 0))
    assert [h["step"] for h in gan.history] == [1, 2, 3, 4, 5]
    for h in gan.history:
        assert set(h) == {"step", "wasserstein", "critic_loss", "gradient_penalty", "generator_loss"}
        assert h["gradient_penalty"] >= 0
        assert h["critic_loss"] == pytest.approx(-h["wasserstein"] + h["gradient_penalty"], rel=1e-5, abs=1e-6)


def test_histories_from_a_dataset_with_channels_and_a_conv_generator():
    rng = np.random.default_rng(0)
    u = np.stack([sine_family(40, 1, 20), 0.5 * sine_family(40, 2, 20)], axis=2)  # (sample, t, component)
    params = rng.uniform(1.0, 2.0, 40)
    ds = xr.Dataset({"u_interface": (("sample", "t", "component"), u * params[:, None, None]),
                     "E": ("sample", params)})
    gan = WGANGP({**TINY, "generator": "conv", "conv_channels": 16, "n_upsample": 2, "n_draws": 7})
    gan.fit(ds, variable="u_interface", params=["E"])
    assert gan.event_shape == (2, 20) and gan.param_names == ("E",)  # time moved last
    assert isinstance(gan.modules.generator, ConvGenerator)
    assert gan.predict(np.array([[1.5], [1.2], [1.9]])).draws.shape == (7, 3, 2, 20)


def test_bad_input_is_refused():
    x = sine_family(20, 0)
    with pytest.raises(HistoryInputError, match="call fit"):
        WGANGP(TINY).predict(4)
    with pytest.raises(ConfigError, match="n_critic"):
        WGANGP({**TINY, "n_critic": 0})
    with pytest.raises(ConfigError, match="unknown field 'lambda'"):
        WGANGP({"lambda": 10})
    with pytest.raises(HistoryInputError, match="non-finite"):
        WGANGP(TINY).fit(np.where(np.arange(32) == 3, np.inf, x))
    with pytest.raises(HistoryInputError, match="'sample' dimension"):
        WGANGP(TINY).fit(xr.DataArray(x, dims=("run", "t")))
    with pytest.raises(ConfigError, match=r"n_components must be an integer in \[1, 19\]"):
        WGANGP({**TINY, "n_components": 20}).fit(x)
    gan = WGANGP(TINY).fit(x)
    with pytest.raises(HistoryInputError, match="unconditional"):
        gan.predict(torch.zeros(2, 1))
    with pytest.raises(HistoryInputError, match="integer >= 1"):
        gan.predict(0)


def _swd_to_held_out(draws: torch.Tensor, held_out: np.ndarray) -> float:
    return sliced_wasserstein_distance(draws, held_out, n_projections=256, seed=7)


def test_smoke_training_moves_the_generator_towards_the_data():
    train, held_out = sine_family(256, 1), sine_family(500, 2)
    untrained = WGANGP({**SMALL, "n_steps": 0}).fit(train)
    trained = WGANGP({**SMALL, "n_steps": 60}).fit(train)
    before = _swd_to_held_out(untrained.generate(500, seed=5), held_out)
    after = _swd_to_held_out(trained.generate(500, seed=5), held_out)
    assert after < 0.7 * before
    assert all(np.isfinite(h["wasserstein"]) for h in trained.history)


@pytest.mark.slow
def test_wgan_beats_gaussian_pca_on_a_bimodal_family_over_three_seeds():
    train, held_out = sine_family(512, 1), sine_family(1000, 2)
    baseline = _swd_to_held_out(GaussianPCA().fit(train).generate(1000, seed=5), held_out)
    floor = _swd_to_held_out(torch.from_numpy(sine_family(1000, 3)), held_out)  # same law, fresh draws
    swd = [_swd_to_held_out(WGANGP({**SMALL, "n_steps": 400, "seed": s}).fit(train).generate(1000, seed=5), held_out)
           for s in range(3)]
    print(f"\nSWD to held-out: WGAN-GP {np.mean(swd):.4f} +- {np.std(swd, ddof=1):.4f} (seeds {swd}), "
          f"Gaussian-PCA {baseline:.4f}, same-law floor {floor:.4f}")
    assert max(swd) < baseline and np.mean(swd) < 0.7 * baseline
