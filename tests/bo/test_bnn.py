"""The BNN surrogate for BO: exact posterior moments over the weight draws, BoTorch shapes and
samplers, the loop's model seam, reproducible fits and clear errors."""

from __future__ import annotations

import inspect
import math
import random

import numpy as np
import pytest
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.exceptions.errors import UnsupportedError
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.get_sampler import get_sampler
from botorch.sampling.index_sampler import IndexSampler

from sciml.bo import AcquisitionSettings, BOLoop, MultiFidelityProblem, forrester
from sciml.bo.bnn import (
    BNN_FACTORIES,
    BNNConfig,
    BNNModel,
    BNNRegressor,
    DrawPosterior,
    bnn_ensemble,
    bnn_sghmc,
    fit_bnn,
)
from sciml.bo.fitting import ModelInputError
from sciml.errors import ConfigError
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.sgmcmc import WeightSamples

F64 = torch.float64
TINY = AcquisitionSettings(num_restarts=2, raw_samples=16, q=1, mc_samples=32, maxiter=15, batch_limit=4)
#: a few hundred steps in all: enough to exercise every path, fast
SMALL = {"adam_steps": 60, "n_steps": 60, "burn_in": 30, "thin": 10, "n_chains": 2, "n_members": 3, "width": 16}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------ exact moments
def _known_samples(n_samples: int = 3, n_nets: int = 2) -> WeightSamples:
    """``n_samples`` states of a 2-input, one-hidden-layer BNNRegressor with distinct known weights."""
    states = []
    for i in range(n_samples):
        torch.manual_seed(100 + i)
        net = BNNRegressor(2, width=3, depth=1, activation="tanh", n_nets=n_nets)
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    return WeightSamples(states, [0] * n_samples, list(range(n_samples)))


def _by_hand(samples: WeightSamples, X: torch.Tensor, lower, span, y_mean, y_std) -> torch.Tensor:
    """Every (sample, net) function at ``X`` ``(..., d)``, written out: ``(M, ..., 1)``."""
    Z = (X - lower) / span
    out = []
    for s in samples.states:
        for k in range(s["weights.0"].shape[0]):
            h = torch.tanh(Z @ s["weights.0"][k] + s["biases.0"][k, 0])
            out.append(y_mean + y_std * (h @ s["weights.1"][k] + s["biases.1"][k, 0]))
    return torch.stack(out)


@pytest.mark.parametrize("shape", [(5, 2), (4, 3, 2), (2, 4, 3, 2)])
def test_posterior_mean_and_variance_are_those_of_the_draws(shape):
    samples = _known_samples()
    bounds = torch.tensor([[-1.0, 0.0], [3.0, 2.0]], dtype=F64)
    model = BNNModel(samples, bounds, activation="tanh", y_mean=1.5, y_std=2.0)
    X = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(*shape, generator=torch.Generator().manual_seed(0),
                                                         dtype=F64)
    draws = _by_hand(samples, X, bounds[0], bounds[1] - bounds[0], 1.5, 2.0)
    assert model.n_draws == 6 and model.num_outputs == 1 and draws.shape == (6, *shape[:-1], 1)
    post = model.posterior(X)
    assert isinstance(post, DrawPosterior) and post.mean.shape == (*shape[:-1], 1)
    torch.testing.assert_close(model.draws(X), draws.movedim(0, -3), rtol=0, atol=1e-13)
    torch.testing.assert_close(post.mean, draws.mean(0), rtol=0, atol=1e-13)
    torch.testing.assert_close(post.variance, draws.var(0, correction=0), rtol=0, atol=1e-13)
    # the same moments as the sample-based posterior of sciml.surrogates (population divisor M)
    reference = SamplePosterior(draws)
    torch.testing.assert_close(post.variance, reference.variance, rtol=0, atol=1e-13)


def test_normal_and_index_base_samples_pick_whole_draws():
    samples = _known_samples()
    model = BNNModel(samples, torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64))
    X = torch.rand(4, 3, 2, generator=torch.Generator().manual_seed(1), dtype=F64)  # b x q x d
    post = model.posterior(X)
    draws = model.draws(X)  # (4, M, 3, 1)
    normal = SobolQMCNormalSampler(torch.Size([60]), seed=0)(post)
    assert normal.shape == (60, 4, 3, 1)
    # each MC sample is one draw at all q points, the same draw in every t-batch; all M appear
    match = (normal.unsqueeze(2) == draws.unsqueeze(0)).all(-1).all(-1)  # (60, 4, M)
    assert bool((match.sum(-1) >= 1).all())
    picked = match.double().argmax(-1)
    assert bool((picked == picked[:, :1]).all()) and set(picked[:, 0].tolist()) == set(range(6))
    assert isinstance(get_sampler(post, torch.Size([8])), IndexSampler)
    assert IndexSampler(torch.Size([8]), seed=0)(post).shape == (8, 4, 3, 1)


def test_qlognei_on_b_x_q_x_d_inputs_has_finite_values_and_gradients():
    model = BNNModel(_known_samples(), torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64))
    baseline = torch.rand(6, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    acqf = qLogNoisyExpectedImprovement(model, baseline, sampler=SobolQMCNormalSampler(torch.Size([32]), seed=0))
    X = torch.rand(5, 2, 2, generator=torch.Generator().manual_seed(3), dtype=F64).requires_grad_(True)
    value = acqf(X)
    value.sum().backward()
    assert value.shape == (5,) and bool(torch.isfinite(value).all()) and bool(torch.isfinite(X.grad).all())
    assert float(X.grad.abs().sum()) > 0


# ------------------------------------------------------------------------------ fitting
def _data(n: int = 12):
    X = torch.rand(n, 1, generator=torch.Generator().manual_seed(4), dtype=F64) * 4.0 - 2.0
    return X, torch.sin(2.0 * X) + 10.0  # an offset the standardisation removes


def test_a_fit_is_reproducible_and_leaves_the_global_rng_alone():
    X, Y = _data()
    bounds = torch.tensor([[-2.0], [2.0]], dtype=F64)
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    a = fit_bnn(X, Y, seed=3, bounds=bounds, config=SMALL)
    after = (torch.rand(1), np.random.rand(), random.random())
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    assert after == (torch.rand(1), np.random.rand(), random.random())
    b = fit_bnn(X, Y, seed=3, bounds=bounds, config=SMALL)
    threads = torch.get_num_threads()
    c = fit_bnn(X, Y, seed=4, bounds=bounds, config={**SMALL, "num_threads": threads + 1})
    assert torch.get_num_threads() == threads  # the fit's thread count is restored
    Xt = torch.linspace(-2, 2, 7, dtype=F64).unsqueeze(-1)
    assert a.n_draws == 2 * 3  # 2 chains, a sample every 10 steps after 30 of 60
    assert torch.equal(a.draws(Xt), b.draws(Xt)) and not torch.equal(a.draws(Xt), c.draws(Xt))


@pytest.mark.parametrize("inference", ["sghmc", "psgld", "ensemble"])
def test_each_inference_fits_a_smooth_function(inference):
    X, Y = _data(16)
    cfg = {**SMALL, "inference": inference, "adam_steps": 300, "width": 32}
    model = fit_bnn(X, Y, seed=0, bounds=torch.tensor([[-2.0], [2.0]], dtype=F64), config=cfg)
    post = model.posterior(X)
    assert model.n_draws == (3 if inference == "ensemble" else 6)
    rmse = float((post.mean - Y).square().mean().sqrt())
    assert rmse < 0.25 * float(Y.std())  # the MAP start fits; the chains stay near the data
    assert bool((post.variance > 0).all())


# ------------------------------------------------------------------------------ in the loop
def _bowl() -> MultiFidelityProblem:
    return MultiFidelityProblem(name="bowl", bounds=[[0.0, 0.0], [1.0, 1.0]], maximize=True, optimum_value=0.0,
                                function=lambda X, s: -(X - 0.3).square().sum(-1), optimizers=[[0.3, 0.3]])


@pytest.mark.parametrize("factory", [bnn_sghmc, bnn_ensemble])
def test_bnn_models_run_in_the_loop(factory):
    loop = BOLoop(_bowl(), method="qlognei", model_kind=factory, settings=TINY, n_init=4, seed=1,
                  model_options=SMALL, show_progress=False)
    result = loop.run(1e9, max_iterations=2)
    assert result.model_kind == f"callable:sciml.bo.bnn.{factory.__name__}"
    assert result.iteration.tolist() == [0, 0, 0, 0, 1, 2] and result.status == ["ok"] * 6
    assert all("fallback" not in a for a in result.acquisitions)  # qLogNEI itself chose the points
    assert all(math.isfinite(r["regret"]) and r["regret"] >= 0 for r in result.recommendations)
    assert BNN_FACTORIES[f"bnn-{factory.__name__[4:]}"] is factory
    # the loop checks model_options against the factory's keywords: BNNConfig's fields
    assert set(inspect.signature(factory).parameters) == {"train_X", "train_Y", "seed", "bounds", "fidelity",
                                                          *BNNConfig.model_fields} - {"inference"}


def test_bad_configurations_and_inputs_are_clear_errors():
    p = _bowl()
    with pytest.raises(ConfigError, match=r"model_options \['n_chain'\] are not options of model_kind"):
        BOLoop(p, method="qlognei", model_kind=bnn_sghmc, model_options={"n_chain": 2})
    with pytest.raises(ConfigError, match="needs a model that takes init="):
        BOLoop(p, method="qlognei", model_kind=bnn_sghmc, model_options={"warm_start": True})
    with pytest.raises(ConfigError, match="n_chains"):
        fit_bnn(*_data(), config={"n_chains": 0})
    with pytest.raises(ConfigError, match=r"burn_in \(60\) must be smaller than n_steps \(60\)"):
        fit_bnn(*_data(), config={"n_steps": 60, "burn_in": 60})
    with pytest.raises(ModelInputError, match="NaN or infinite"):
        fit_bnn(torch.tensor([[0.0], [1.0]], dtype=F64), torch.tensor([[0.0], [math.nan]], dtype=F64))
    model = BNNModel(_known_samples(), torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64))
    with pytest.raises(ModelInputError, match=r"X must have shape \(\*batch, q, 2\)"):
        model.posterior(torch.zeros(3, 3, dtype=F64))
    with pytest.raises(UnsupportedError, match="latent function"):
        model.posterior(torch.zeros(3, 2, dtype=F64), observation_noise=torch.ones(3, 1, dtype=F64))
    with pytest.raises(ConfigError, match="not of a BNNRegressor"):
        BNNModel(WeightSamples([{"w": torch.zeros(1)}], [0], [0]), torch.tensor([[0.0], [1.0]], dtype=F64))


def test_a_multi_fidelity_problem_is_refused_with_the_way_out():
    loop = BOLoop(forrester(), method="mfkg", model_kind=bnn_sghmc, settings=TINY, n_init=3, show_progress=False)
    X = loop.initial_design()
    loop.observe(X, forrester().evaluate(X[:, :1], X[:, 1]))
    with pytest.raises(ConfigError, match="single-fidelity.*use method 'qlognei' on a problem without fidelity"):
        loop.propose()
