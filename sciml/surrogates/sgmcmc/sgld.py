"""Stochastic gradient Langevin dynamics (Welling & Teh 2011)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from sciml.surrogates.posterior import SeedLike
from sciml.surrogates.sgmcmc.sampler import Sampler
from sciml.surrogates.sgmcmc.schedules import StepSchedule

__all__ = ["SGLD"]


class SGLD(Sampler):
    r"""Stochastic gradient Langevin dynamics.

    With the step size ``lr_t``, the (minibatch) potential ``U`` (negative log posterior) and
    the temperature ``T``::

        theta_{t+1} = theta_t - lr_t grad U(theta_t) + sqrt(2 lr_t T) xi_t,   xi_t ~ N(0, I)

    the Euler–Maruyama step of ``d theta = -grad U dt + sqrt(2T) dW``, whose stationary
    law is ``exp(-U / T)``. This is Welling & Teh's update with their ``epsilon = 2 lr``
    (and the parameterisation of ``posteriors.sgmcmc.sgld`` with ``beta = 0``); the
    Metropolis correction is dropped, so a finite step size biases the variance by
    ``O(lr)``.

    Documented step size (the one the acceptance tests use): ``lr = 0.1 / lambda_max``,
    with ``lambda_max`` the largest eigenvalue of the Hessian of ``U`` (the posterior
    precision), full batch; with minibatches of ``n`` of ``N`` examples, divide it by
    ``N / n``. E.g. ``lr = 0.02`` for the 2-D Gaussian of covariance ``[[1, .8], [.8, 1]]``
    (``lambda_max = 5``).

    Parameters
    ----------
    params : iterable of Tensor or of dicts
    lr : float or StepSchedule
        Step size (> 0) or a schedule.
    temperature : float
        ``T >= 0`` (1: the posterior; 0: gradient descent).
    generator : int or torch.Generator
        Seed or generator of the injected noise.

    References
    ----------
    M. Welling, Y. W. Teh, "Bayesian learning via stochastic gradient Langevin dynamics",
    ICML 2011.
    """

    def __init__(self, params: Iterable[Any], lr: float | StepSchedule, *, temperature: float = 1.0,
                 generator: SeedLike = 0) -> None:
        super().__init__(params, lr=lr, temperature=temperature, generator=generator, defaults={})

    def update(self, p: Tensor, grad: Tensor, group: dict[str, Any], lr: float, noisy: bool) -> None:
        p.add_(grad, alpha=-lr)
        if noisy:
            p.add_(self.noise_like(p), alpha=(2.0 * lr * self.temperature) ** 0.5)
