"""The samplers' update equations, step by step against hand-written updates; their own noise
generator (never the global RNG); any parameter shape and dtype; state round-trips; bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from sciml.errors import ConfigError
from sciml.surrogates.sgmcmc import PSGLD, SGHMC, SGLD, ConstantStep, CyclicalCosine

DT = torch.float64


def _params() -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(3, 4, generator=gen, dtype=DT)),
            torch.nn.Parameter(torch.randn((), generator=gen).float()),
            torch.nn.Parameter(torch.randn(2, generator=gen, dtype=DT))]


def _grads(params: list[torch.nn.Parameter], step: int) -> None:
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, 0.5 + 0.1 * i) * (-1) ** step + 0.2 * p.detach()


def _noise(seed: int, params: list[torch.Tensor], steps: int) -> list[list[torch.Tensor]]:
    """The noise a sampler seeded ``seed`` draws: per step, per parameter in order."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params] for _ in range(steps)]


def test_sgld_is_gradient_descent_plus_scaled_gaussian_noise() -> None:
    params, lr, temp = _params(), 0.03, 0.7
    expected = [p.detach().clone() for p in params]
    noise = _noise(11, params, 3)
    sampler = SGLD(params, lr, temperature=temp, generator=11)
    for t in range(3):
        _grads(params, t)
        expected = [e - lr * p.grad + math.sqrt(2 * lr * temp) * n for e, p, n in zip(expected, params, noise[t])]
        sampler.step()
        for e, p in zip(expected, params, strict=True):
            torch.testing.assert_close(p.detach(), e)
    assert params[1].dtype == torch.float32 and sampler.steps_taken == 3


def test_psgld_follows_the_bias_corrected_rmsprop_preconditioner() -> None:
    params, lr, beta, eps = _params()[:1], 0.01, 0.9, 1e-3
    theta, v = params[0].detach().clone(), torch.zeros_like(params[0])
    noise = _noise(4, params, 3)
    sampler = PSGLD(params, lr, beta=beta, eps=eps, generator=4)
    for t in range(3):
        _grads(params, t)
        g = params[0].grad
        v = beta * v + (1 - beta) * g * g
        precond = 1 / (eps + (v / (1 - beta ** (t + 1))).sqrt())
        theta = theta - lr * precond * g + (2 * lr * precond).sqrt() * noise[t][0]
        sampler.step()
        torch.testing.assert_close(params[0].detach(), theta)


def test_sghmc_is_momentum_sgd_with_friction_matched_noise() -> None:
    params, lr, alpha, temp = _params()[:1], 0.02, 0.3, 0.5
    theta, v = params[0].detach().clone(), torch.zeros_like(params[0])
    noise = _noise(9, params, 4)
    sampler = SGHMC(params, lr, friction=alpha, temperature=temp, generator=9)
    for t in range(4):
        _grads(params, t)
        v = (1 - alpha) * v - lr * params[0].grad + math.sqrt(2 * alpha * lr * temp) * noise[t][0]
        theta = theta + v
        sampler.step()
        torch.testing.assert_close(params[0].detach(), theta)


@pytest.mark.parametrize("make", [
    lambda p: SGLD(p, 0.1, temperature=0.0),
    lambda p: PSGLD(p, 0.1, temperature=0.0),
    lambda p: SGHMC(p, 0.1, temperature=0.0),
])
def test_temperature_zero_draws_no_noise(make) -> None:
    a, b = _params(), _params()
    sa, sb = make(a), make(b)
    sb.generator.manual_seed(999)  # a different noise stream changes nothing without noise
    for t in range(3):
        _grads(a, t)
        _grads(b, t)
        sa.step()
        sb.step()
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_cyclical_exploration_steps_are_noise_free_and_sampling_steps_are_not() -> None:
    schedule = CyclicalCosine(0.1, n_steps=4, n_cycles=1, exploration=0.5)
    p = torch.nn.Parameter(torch.zeros(5, dtype=DT))
    sampler = SGLD([p], schedule, generator=0)
    for t in range(4):
        before = p.detach().clone()
        p.grad = torch.zeros_like(p)
        sampler.step()
        moved = not torch.equal(before, p.detach())
        assert moved == schedule.sampling(t)
    assert [schedule.sampling(t) for t in range(4)] == [False, False, True, True]


def test_noise_comes_from_the_sampler_generator_not_the_global_rng() -> None:
    params = _params()
    state = torch.get_rng_state()
    gen = torch.Generator().manual_seed(3)
    sampler = SGLD(params, 0.1, generator=gen)
    _grads(params, 0)
    sampler.step()
    assert torch.equal(torch.get_rng_state(), state)
    assert sampler.generator is gen
    again = _params()
    other = SGLD(again, 0.1, generator=3)
    _grads(again, 0)
    other.step()
    assert all(torch.equal(x, y) for x, y in zip(params, again, strict=True))


def test_parameters_without_gradients_are_left_alone() -> None:
    params = _params()
    frozen = params[2].detach().clone()
    sampler = SGHMC(params, 0.1, generator=0)
    _grads(params, 0)
    params[2].grad = None
    sampler.step()
    assert torch.equal(params[2].detach(), frozen)


@pytest.mark.parametrize("cls", [SGLD, PSGLD, SGHMC])
def test_a_restored_state_continues_identically(cls) -> None:
    a = _params()
    sa = cls(a, ConstantStep(0.05), generator=2)
    for t in range(3):
        _grads(a, t)
        sa.step()
    saved = copy.deepcopy(sa.state_dict())  # as through a checkpoint file: no tensor shared with sa
    b = [torch.nn.Parameter(x.detach().clone()) for x in a]
    sb = cls(b, 0.05, generator=77)
    sb.load_state_dict(saved)
    assert sb.steps_taken == 3
    for t in range(3, 6):
        _grads(a, t)
        _grads(b, t)
        sa.step()
        sb.step()
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ConfigError, match="has no 'sampler' entry"):
        sb.load_state_dict({"state": {}, "param_groups": saved["param_groups"]})


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: SGLD(p, -0.1), r"step size lr must be a finite number > 0; got -0.1"),
    (lambda p: SGLD(p, float("nan")), r"step size lr must be a finite number > 0"),
    (lambda p: SGLD(p, "fast"), r"lr must be a step size > 0 or a step schedule"),
    (lambda p: SGLD(p, 0.1, temperature=-0.5), r"temperature must be a finite number >= 0; got -0.5"),
    (lambda p: SGLD(p, 0.1, generator=1.5), r"generator must be an int seed or a torch.Generator"),
    (lambda p: PSGLD(p, 0.1, beta=1.0), r"beta must lie in \[0, 1\)"),
    (lambda p: PSGLD(p, 0.1, eps=0.0), r"eps must be a finite number > 0"),
    (lambda p: SGHMC(p, 0.1, friction=0.0), r"friction must lie in \(0, 1\]"),
])
def test_bad_sampler_arguments_are_named(make, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make(_params())


def test_sparse_gradients_are_refused() -> None:
    p = torch.nn.Parameter(torch.zeros(4))
    sampler = SGLD([p], 0.1)
    p.grad = torch.zeros(4).to_sparse()
    with pytest.raises(ConfigError, match="sparse"):
        sampler.step()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_samplers_run_on_a_cuda_device_with_a_cuda_generator() -> None:
    for cls in (SGLD, PSGLD, SGHMC):
        p = torch.nn.Parameter(torch.ones(1000, device="cuda"))
        sampler = cls([p], 0.01, generator=0)
        assert sampler.generator.device.type == "cuda"
        for _ in range(3):
            p.grad = p.detach().clone()
            sampler.step()
        state = sampler.state_dict()
        assert torch.isfinite(p).all() and state["sampler"]["steps_taken"] == 3
