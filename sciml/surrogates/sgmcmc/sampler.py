"""The base of sciml's SG-MCMC samplers: an optimiser whose step adds Gaussian noise.

A :class:`Sampler` is a ``torch.optim.Optimizer`` over any parameters (any shape, dtype and
device). It is driven like an optimiser: compute the *potential* ``U(theta)`` — the negative
log posterior, summed over the data set (or a minibatch scaled by ``N/n``, see
:mod:`sciml.surrogates.sgmcmc.log_posterior`) — call ``backward`` and :meth:`Sampler.step`.
With temperature ``T`` a sampler targets ``p_T(theta) ∝ exp(-U(theta) / T)``: the injected
noise is scaled by ``sqrt(T)``, so ``T = 0.5`` halves the variance of a Gaussian posterior
(a *cold* posterior, ``T < 1``) and ``T = 0`` is plain optimisation. The noise of a
minibatch gradient is not scaled by ``T``: with minibatches a cold chain is slightly warmer
than ``T`` (the samplers' documented step sizes, divided by ``N / n``, keep this small).

The noise comes from the sampler's own ``torch.Generator`` (never the global RNG); its state,
the step count and the per-parameter buffers are part of :meth:`Sampler.state_dict`, so a
chain restored from a checkpoint continues bit for bit. The step size follows a
:class:`~sciml.surrogates.sgmcmc.schedules.StepSchedule`; in a schedule's exploration steps
(cyclical schedules) no noise is added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.posterior import SeedLike
from sciml.surrogates.sgmcmc.schedules import StepSchedule, as_schedule

__all__ = ["Sampler", "check_temperature"]


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float, checked to be finite and >= 0.

    Raises
    ------
    ConfigError
        Not a finite number >= 0.
    """
    ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not ok or not math.isfinite(temperature) or temperature < 0:
        raise ConfigError(f"temperature must be a finite number >= 0; got {temperature!r}")
    return float(temperature)


def _device_of(params: list[Any]) -> torch.device:
    for item in params:
        tensors = item["params"] if isinstance(item, dict) else [item]
        for p in tensors:
            if isinstance(p, Tensor):
                return p.device
    return torch.device("cpu")


class Sampler(torch.optim.Optimizer):
    """An SG-MCMC sampler: an optimiser with a step-size schedule, a temperature and its own noise.

    Parameters
    ----------
    params : iterable of Tensor or of dicts
        The parameters to sample (or parameter groups), as for any ``torch.optim.Optimizer``.
    lr : float or StepSchedule
        Step size, constant or scheduled (> 0).
    temperature : float
        ``T >= 0``; the sampler targets ``exp(-U / T)``.
    generator : int or torch.Generator
        Source of the injected noise: a seed (a new generator on the parameters' device) or
        a generator (on the parameters' device, or on the CPU).
    defaults : dict
        The sampler's per-group hyperparameters.

    Raises
    ------
    ConfigError
        A step size <= 0, a negative temperature, a generator that is neither a seed nor a
        ``torch.Generator``.
    """

    def __init__(self, params: Iterable[Any], *, lr: float | StepSchedule, temperature: float,
                 generator: SeedLike, defaults: dict[str, Any]) -> None:
        params = list(params)
        self.schedule = as_schedule(lr)
        self.temperature = check_temperature(temperature)
        if isinstance(generator, torch.Generator):
            self.generator = generator
        elif isinstance(generator, int) and not isinstance(generator, bool):
            self.generator = torch.Generator(device=_device_of(params)).manual_seed(generator)
        else:
            raise ConfigError(f"generator must be an int seed or a torch.Generator; got {type(generator).__name__}")
        self.steps_taken = 0
        super().__init__(params, defaults)

    # -- the update ---------------------------------------------------------------------
    def update(self, p: Tensor, grad: Tensor, group: dict[str, Any], lr: float, noisy: bool) -> None:
        """Update parameter ``p`` in place from the gradient ``grad`` of ``U`` (subclasses)."""
        raise NotImplementedError

    def noise_like(self, p: Tensor) -> Tensor:
        """Standard normal noise of ``p``'s shape and dtype, on ``p``'s device, from the sampler's generator."""
        gen = self.generator
        draw = torch.randn(p.shape, generator=gen, dtype=p.dtype, device=gen.device)
        return draw.to(p.device)

    @property
    def lr(self) -> float:
        """The step size of the next step."""
        return self.schedule(self.steps_taken)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One sampler step from the parameters' gradients of ``U`` (``closure``: recompute ``U``
        and its gradients first, as for any optimiser); parameters without a gradient are left alone.

        Raises
        ------
        ConfigError
            A sparse gradient.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        t = self.steps_taken
        lr, noisy = self.schedule(t), self.schedule.sampling(t) and self.temperature > 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ConfigError(f"{type(self).__name__} does not take sparse gradients")
                self.update(p, p.grad, group, lr, noisy)
        self.steps_taken = t + 1
        return loss

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimiser state plus ``sampler``: the steps taken and the generator's state."""
        out = super().state_dict()
        out["sampler"] = {"steps_taken": int(self.steps_taken), "generator": self.generator.get_state()}
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the generator's state and the step count included)."""
        state_dict = dict(state_dict)
        own = state_dict.pop("sampler", None)
        if own is None:
            raise ConfigError(f"not a {type(self).__name__} state: it has no 'sampler' entry")
        super().load_state_dict(state_dict)
        self.steps_taken = int(own["steps_taken"])
        self.generator.set_state(own["generator"].cpu().to(torch.uint8))
