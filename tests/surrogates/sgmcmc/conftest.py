"""Exact Gaussian targets and a runner that samples many independent copies of a parameter at once.

A target's parameter has shape ``(C, 2)``: ``C`` independent copies of a 2-D parameter, each
with its own noise (and its own minibatches), so one run of ``S`` steps gives ``C`` chains.
Every sampler runs at the step size its docstring documents, computed from the target's
Hessian ``H`` (the posterior precision) and the minibatch ratio ``N / n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from sciml.surrogates.sgmcmc import PSGLD, SGHMC, SGLD, CyclicalCosine, Sampler, scaled_log_likelihood

DT = torch.float64


@dataclass(frozen=True)
class Target:
    """A Gaussian posterior (``mean``, ``cov``) and the potential of ``C`` copies: ``U(theta (C, 2), gen)``."""

    mean: Tensor
    cov: Tensor
    potential: Callable[[Tensor, torch.Generator], Tensor]
    ratio: float = 1.0  # N / n

    @property
    def precision(self) -> Tensor:
        return torch.linalg.inv(self.cov)


def _correlated_gaussian() -> Target:
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=DT)
    prec, mean = torch.linalg.inv(cov), torch.tensor([1.0, -2.0], dtype=DT)

    def potential(theta: Tensor, gen: torch.Generator) -> Tensor:
        d = theta - mean
        return 0.5 * ((d @ prec) * d).sum()

    return Target(mean, cov, potential)


def _linear_regression(batch_size: int | None) -> Target:
    """``y = w0 + w1 x + e``, ``e ~ N(0, 1)``, prior ``w ~ N(0, I)``, 20 points: closed-form posterior."""
    n_data, sigma = 20, 1.0
    x = torch.linspace(-1.5, 1.5, n_data, dtype=DT)
    design = torch.stack([torch.ones(n_data, dtype=DT), x], 1)
    y = design @ torch.tensor([0.5, -1.0], dtype=DT) + sigma * torch.randn(
        n_data, generator=torch.Generator().manual_seed(0), dtype=DT)
    cov = torch.linalg.inv(design.T @ design / sigma**2 + torch.eye(2, dtype=DT))
    mean = cov @ design.T @ y / sigma**2

    def potential(w: Tensor, gen: torch.Generator) -> Tensor:
        copies = w.shape[0]
        if batch_size is None:
            xb, yb = design.expand(copies, -1, -1), y.expand(copies, -1)
        else:  # each copy its own minibatch of batch_size distinct points
            idx = torch.rand(copies, n_data, generator=gen, dtype=DT).argsort(1)[:, :batch_size]
            xb, yb = design[idx], y[idx]
        per_example = -0.5 * ((yb - (xb * w.unsqueeze(-2)).sum(-1)) / sigma) ** 2   # (C, n)
        log_prior = -0.5 * w.square().sum()
        return -(scaled_log_likelihood(per_example, n_data).sum() + log_prior)

    return Target(mean, cov, potential, 1.0 if batch_size is None else n_data / batch_size)


def _documented_sampler(name: str, target: Target, theta: Tensor, *, temperature: float, seed: int,
                       n_steps: int) -> Sampler:
    """The sampler ``name`` at the step size of its docstring."""
    h = target.precision
    lam = float(torch.linalg.eigvalsh(h).max())
    if name == "sgld":
        return SGLD([theta], 0.1 / lam / target.ratio, temperature=temperature, generator=seed)
    if name == "psgld":
        g = h.diag().rsqrt().sqrt()
        lam_gh = float(torch.linalg.eigvalsh(g[:, None] * h * g[None, :]).max())
        return PSGLD([theta], 0.1 / lam_gh / target.ratio, temperature=temperature, generator=seed)
    if name == "sghmc":
        return SGHMC([theta], 0.01 / lam / target.ratio, friction=0.1, temperature=temperature, generator=seed)
    if name == "csgld":
        schedule = CyclicalCosine(0.1 / lam / target.ratio, n_steps, n_cycles=2, exploration=0.25)
        return SGLD([theta], schedule, temperature=temperature, generator=seed)
    raise ValueError(name)


def _sample_copies(name: str, target: Target, *, copies: int, n_steps: int, burn_in: int, temperature: float = 1.0,
                  seed: int = 0, autograd: bool = True) -> Tensor:
    """Draws ``(kept steps, copies, 2)`` of ``copies`` chains started overdispersed (3 posterior std
    around the mean), keeping the steps after ``burn_in`` that are sampling steps of the schedule."""
    gen = torch.Generator().manual_seed(seed + 1000)
    start = target.mean + 3 * target.cov.diag().sqrt() * torch.randn(copies, 2, generator=gen, dtype=DT)
    theta = start.requires_grad_()
    sampler = _documented_sampler(name, target, theta, temperature=temperature, seed=seed, n_steps=n_steps)
    kept = []
    for t in range(n_steps):
        if autograd:
            theta.grad = None
            target.potential(theta, gen).backward()
        else:
            with torch.no_grad():
                theta.grad = (theta - target.mean) @ target.precision
        sampler.step()
        if t >= burn_in and sampler.schedule.sampling(t):
            kept.append(theta.detach().clone())
    return torch.stack(kept)


@pytest.fixture(scope="session")
def correlated_gaussian() -> Target:
    """N([1, -2], [[1, .8], [.8, 1]])."""
    return _correlated_gaussian()


@pytest.fixture(scope="session")
def linear_regression() -> Callable[[int | None], Target]:
    """Bayesian linear regression, full batch (``None``) or minibatches of ``n`` of 20 points."""
    return _linear_regression


@pytest.fixture(scope="session")
def sample_copies() -> Callable[..., Tensor]:
    """The runner: ``sample_copies(name, target, *, copies, n_steps, burn_in, temperature, seed, autograd)``."""
    return _sample_copies


@pytest.fixture(scope="session")
def documented_sampler() -> Callable[..., Sampler]:
    return _documented_sampler
