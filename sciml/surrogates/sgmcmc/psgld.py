"""Preconditioned SGLD with an RMSprop preconditioner (Li et al. 2016)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.posterior import SeedLike
from sciml.surrogates.sgmcmc.sampler import Sampler
from sciml.surrogates.sgmcmc.schedules import StepSchedule

__all__ = ["PSGLD"]


class PSGLD(Sampler):
    r"""Preconditioned stochastic gradient Langevin dynamics (pSGLD, RMSprop preconditioner).

    With ``g_t = grad U(theta_t)`` (elementwise operations)::

        V_t         = beta V_{t-1} + (1 - beta) g_t * g_t,        V_0 = 0
        G_t         = 1 / (eps + sqrt(V_t / (1 - beta^t)))
        theta_{t+1} = theta_t - lr_t G_t * g_t + sqrt(2 lr_t T G_t) * xi_t,   xi_t ~ N(0, I)

    Li et al.'s Algorithm 1 with their ``epsilon = 2 lr``, two choices made explicit: ``V`` is
    bias-corrected as in Adam (so the first steps are not taken with a near-zero ``V``), and the
    correction term ``Gamma(theta) = sum_j d G_ij / d theta_j`` is dropped, as in Li et al.'s
    experiments and most implementations: ``G`` depends on past gradients, not on the current
    ``theta``, and the term is ``O(1 - beta)``.

    Documented step size (the one the acceptance tests use): ``lr = 0.1 / lambda_max(G H)``
    with ``H`` the Hessian of ``U`` and ``G`` the stationary preconditioner, about
    ``diag(H)^{-1/2}`` on a Gaussian (so ``lr ≈ 0.1 / max_i sqrt(H_ii)`` when ``H`` is
    nearly diagonal), with ``beta = 0.999``; with minibatches of ``n`` of ``N`` examples,
    divide it by ``N / n``. E.g. ``lr = 0.1 / 3 ≈ 0.033`` for the 2-D Gaussian of covariance
    ``[[1, .8], [.8, 1]]`` (``G = 0.6``, ``lambda_max(G H) = 3``). ``V`` must average over
    many independent states (``1 / (1 - beta)`` well above the chain's autocorrelation time):
    a ``G`` that follows the current ``theta`` makes the dropped ``Gamma`` term matter and
    inflates the variance. A chain started where the gradient vanishes takes its first step
    with ``G = 1 / eps``: start it elsewhere or raise ``eps``.

    Parameters
    ----------
    params : iterable of Tensor or of dicts
    lr : float or StepSchedule
        Step size (> 0) or a schedule.
    beta : float
        Decay of the squared-gradient average, in ``[0, 1)`` (Li et al. use 0.99; the default
        0.999 keeps ``G`` nearly constant over a chain's autocorrelation time).
    eps : float
        Added to ``sqrt(V)`` (> 0); bounds the preconditioner by ``1 / eps``.
    temperature : float
        ``T >= 0``.
    generator : int or torch.Generator
        Seed or generator of the injected noise.

    Raises
    ------
    ConfigError
        ``beta`` outside ``[0, 1)``, ``eps <= 0``, and the base class's errors.

    References
    ----------
    C. Li, C. Chen, D. Carlson, L. Carin, "Preconditioned stochastic gradient Langevin
    dynamics for deep neural networks", AAAI 2016.
    """

    def __init__(self, params: Iterable[Any], lr: float | StepSchedule, *, beta: float = 0.999, eps: float = 1e-5,
                 temperature: float = 1.0, generator: SeedLike = 0) -> None:
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ConfigError(f"beta must lie in [0, 1); got {beta!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ConfigError(f"eps must be a finite number > 0; got {eps!r}")
        super().__init__(params, lr=lr, temperature=temperature, generator=generator,
                         defaults={"beta": float(beta), "eps": float(eps)})

    def update(self, p: Tensor, grad: Tensor, group: dict[str, Any], lr: float, noisy: bool) -> None:
        state = self.state[p]
        if not state:
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] = 0
        beta = group["beta"]
        state["step"] += 1
        square_avg = state["square_avg"]
        square_avg.mul_(beta).addcmul_(grad, grad, value=1.0 - beta)
        precond = (square_avg / (1.0 - beta ** state["step"])).sqrt_().add_(group["eps"]).reciprocal_()
        p.addcmul_(precond, grad, value=-lr)
        if noisy:
            p.addcmul_(precond.sqrt_(), self.noise_like(p), value=(2.0 * lr * self.temperature) ** 0.5)
