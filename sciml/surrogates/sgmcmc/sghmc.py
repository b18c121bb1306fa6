"""Stochastic gradient Hamiltonian Monte Carlo (Chen et al. 2014)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.posterior import SeedLike
from sciml.surrogates.sgmcmc.sampler import Sampler
from sciml.surrogates.sgmcmc.schedules import StepSchedule

__all__ = ["SGHMC"]


class SGHMC(Sampler):
    r"""Stochastic gradient Hamiltonian Monte Carlo in its "SGD with momentum" form.

    With the learning rate ``lr_t = eta``, the friction (momentum decay) ``alpha`` and the
    temperature ``T`` (Chen et al. 2014, eq. 15 and section 3.3; ``v_0 = 0``)::

        v_{t+1}     = (1 - alpha) v_t - lr_t grad U(theta_t) + sqrt(2 alpha lr_t T) xi_t
        theta_{t+1} = theta_t + v_{t+1}

    In Chen et al.'s variables ``eta = epsilon^2 M^-1`` and ``alpha = epsilon M^-1 C``; the
    gradient-noise estimate ``beta_hat`` is taken as 0 (as in Springenberg et al. 2016 and
    most implementations), which is exact as ``lr -> 0``. Without noise (``T = 0`` or an
    exploration phase) it is SGD with momentum ``1 - alpha``. Chen et al.'s form is used
    rather than Springenberg et al.'s scale-adapted one (no mass adaptation here).

    Documented step size (the one the acceptance tests use): ``lr = 0.01 / lambda_max`` with
    ``alpha = 0.1``, ``lambda_max`` the largest eigenvalue of the Hessian of ``U``, full
    batch; with minibatches of ``n`` of ``N`` examples, divide it by ``N / n``. E.g.
    ``lr = 0.002`` for the 2-D Gaussian of covariance ``[[1, .8], [.8, 1]]``.

    Parameters
    ----------
    params : iterable of Tensor or of dicts
    lr : float or StepSchedule
        Learning rate ``eta`` (> 0) or a schedule.
    friction : float
        ``alpha`` in ``(0, 1]``.
    temperature : float
        ``T >= 0``.
    generator : int or torch.Generator
        Seed or generator of the injected noise.

    Raises
    ------
    ConfigError
        ``friction`` outside ``(0, 1]``, and the base class's errors.

    References
    ----------
    T. Chen, E. B. Fox, C. Guestrin, "Stochastic gradient Hamiltonian Monte Carlo", ICML 2014.
    J. T. Springenberg, A. Klein, S. Falkner, F. Hutter, "Bayesian optimization with robust
    Bayesian neural networks", NeurIPS 2016.
    """

    def __init__(self, params: Iterable[Any], lr: float | StepSchedule, *, friction: float = 0.1,
                 temperature: float = 1.0, generator: SeedLike = 0) -> None:
        if not (isinstance(friction, (int, float)) and 0.0 < friction <= 1.0):
            raise ConfigError(f"friction must lie in (0, 1]; got {friction!r}")
        super().__init__(params, lr=lr, temperature=temperature, generator=generator,
                         defaults={"friction": float(friction)})

    def update(self, p: Tensor, grad: Tensor, group: dict[str, Any], lr: float, noisy: bool) -> None:
        state = self.state[p]
        if not state:
            state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        alpha = group["friction"]
        v = state["velocity"]
        v.mul_(1.0 - alpha).add_(grad, alpha=-lr)
        if noisy:
            v.add_(self.noise_like(p), alpha=(2.0 * alpha * lr * self.temperature) ** 0.5)
        p.add_(v)
