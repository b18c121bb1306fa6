"""Step-size schedules of the SG-MCMC samplers: ``lr(t)`` and whether step ``t`` samples.

A schedule maps the 0-based step ``t`` to a step size (:meth:`StepSchedule.__call__`) and says
whether the step belongs to a sampling phase (:meth:`StepSchedule.sampling`): a sampler adds
its noise only in sampling steps and a chain collects draws only after them. Schedules are
frozen dataclasses (picklable, comparable, saved in configs):

* :class:`ConstantStep` — ``lr(t) = lr``; every step samples;
* :class:`PolynomialDecay` — ``lr(t) = a (b + t)^-gamma`` (Welling & Teh 2011, with
  ``0.5 < gamma <= 1`` for their convergence result); every step samples;
* :class:`CyclicalCosine` — cyclical cosine step sizes with an exploration and a sampling
  phase in every cycle (Zhang et al. 2020, cSG-MCMC).

References
----------
M. Welling, Y. W. Teh, "Bayesian learning via stochastic gradient Langevin dynamics", ICML 2011.
R. Zhang, C. Li, J. Zhang, C. Chen, A. G. Wilson, "Cyclical stochastic gradient MCMC for
Bayesian deep learning", ICLR 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sciml.errors import ConfigError

__all__ = ["ConstantStep", "CyclicalCosine", "PolynomialDecay", "StepSchedule", "as_schedule"]


@runtime_checkable
class StepSchedule(Protocol):
    """A step size per 0-based step ``t`` and the sampling phases."""

    def __call__(self, t: int) -> float: ...

    def sampling(self, t: int) -> bool: ...


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _step(t: int) -> int:
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise ConfigError(f"the step t must be an integer >= 0; got {t!r}")
    return t


@dataclass(frozen=True)
class ConstantStep:
    """``lr(t) = lr`` at every step; every step samples.

    Raises
    ------
    ConfigError
        ``lr`` is not a finite number > 0.
    """

    lr: float

    def __post_init__(self) -> None:
        _positive("step size lr", self.lr)

    def __call__(self, t: int) -> float:
        _step(t)
        return float(self.lr)

    def sampling(self, t: int) -> bool:
        return True


@dataclass(frozen=True)
class PolynomialDecay:
    """``lr(t) = a (b + t)^-gamma`` (Welling & Teh 2011); every step samples.

    Attributes
    ----------
    a, b : float
        Scale and offset (> 0); ``lr(0) = a b^-gamma``.
    gamma : float
        Decay exponent in ``[0, 1]`` (Welling & Teh's conditions ask for ``0.5 < gamma <= 1``).

    Raises
    ------
    ConfigError
        ``a`` or ``b`` not > 0, ``gamma`` outside ``[0, 1]``.
    """

    a: float
    b: float = 1.0
    gamma: float = 0.55

    def __post_init__(self) -> None:
        _positive("a", self.a)
        _positive("b", self.b)
        if not (isinstance(self.gamma, (int, float)) and 0.0 <= self.gamma <= 1.0):
            raise ConfigError(f"gamma must lie in [0, 1]; got {self.gamma!r}")

    def __call__(self, t: int) -> float:
        return float(self.a * (self.b + _step(t)) ** (-self.gamma))

    def sampling(self, t: int) -> bool:
        return True


@dataclass(frozen=True)
class CyclicalCosine:
    """Cyclical cosine step sizes (Zhang et al. 2020, eq. 1) with exploration and sampling phases.

    With the cycle length ``L = ceil(n_steps / n_cycles)`` and the position in the cycle
    ``r(t) = (t mod L) / L``::

        lr(t) = lr0 / 2 * (cos(pi r(t)) + 1)

    Step ``t`` explores (optimisation: the sampler adds no noise, no draw is collected) while
    ``r(t) < exploration`` and samples otherwise. Each sampling phase starts near a mode and
    must last several relaxation times of the chain to reach the posterior's spread. The
    acceptance tests use ``lr0`` = the sampler's documented step size, 2 cycles and
    ``exploration = 0.25`` (6000 steps on the 2-D Gaussian of :class:`~sciml.surrogates.sgmcmc.SGLD`,
    2000 on a 20-point linear regression).

    Attributes
    ----------
    lr0 : float
        The initial (largest) step size of every cycle, > 0.
    n_steps : int
        Steps of the whole run, >= 1.
    n_cycles : int
        Cycles, in ``[1, n_steps]``.
    exploration : float
        Fraction ``beta`` of every cycle spent exploring, in ``[0, 1)``.

    Raises
    ------
    ConfigError
        Any attribute outside its range.
    """

    lr0: float
    n_steps: int
    n_cycles: int = 1
    exploration: float = 0.0

    def __post_init__(self) -> None:
        _positive("lr0", self.lr0)
        if isinstance(self.n_steps, bool) or not isinstance(self.n_steps, int) or self.n_steps < 1:
            raise ConfigError(f"n_steps must be an integer >= 1; got {self.n_steps!r}")
        cycles = self.n_cycles
        if isinstance(cycles, bool) or not isinstance(cycles, int) or not 1 <= cycles <= self.n_steps:
            raise ConfigError(f"n_cycles must be an integer in [1, n_steps={self.n_steps}]; got {self.n_cycles!r}")
        if not (isinstance(self.exploration, (int, float)) and 0.0 <= self.exploration < 1.0):
            raise ConfigError(f"exploration must lie in [0, 1); got {self.exploration!r}")

    @property
    def cycle_length(self) -> int:
        """``L = ceil(n_steps / n_cycles)``."""
        return math.ceil(self.n_steps / self.n_cycles)

    def position(self, t: int) -> float:
        """``r(t)``, the position of step ``t`` in its cycle, in ``[0, 1)``."""
        return (_step(t) % self.cycle_length) / self.cycle_length

    def __call__(self, t: int) -> float:
        return float(self.lr0 / 2.0 * (math.cos(math.pi * self.position(t)) + 1.0))

    def sampling(self, t: int) -> bool:
        return self.position(t) >= self.exploration


def as_schedule(lr: float | StepSchedule) -> StepSchedule:
    """A schedule from a number (:class:`ConstantStep`) or a schedule as is.

    Raises
    ------
    ConfigError
        ``lr`` is neither a number > 0 nor a schedule.
    """
    if isinstance(lr, StepSchedule):
        return lr
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        return ConstantStep(float(lr))
    raise ConfigError(f"lr must be a step size > 0 or a step schedule; got {type(lr).__name__}")
