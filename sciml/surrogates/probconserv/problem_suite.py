"""ProbConserv's five conservation laws (Hansen et al., ICML 2023) and their registry.

=============  =====================================  ==========  ===============  ============
name           PDE on ``x in [0, 1]`` (heat: 2 pi)    parameter   train / test     eval time
=============  =====================================  ==========  ===============  ============
``heat``       ``u_t = k u_xx``, ``u0 = sin x``       ``k``       [1, 5] / 1, 5    0.5
``pme``        ``u_t = (u^m u_x)_x``, front at x = t  ``m``       [1, 6] / 1, 3, 6 0.5
``stefan``     ``u_t = (k(u) u_x)_x``, k = 1[u>=u*]   ``u_star``  [0.55, 0.7] /    0.05
                                                                  0.6, 0.5
``advection``  ``u_t + beta u_x = 0``, step at 0.25   ``beta``    [1, 5] / 1, 3, 5 0.05
``burgers``    ``u_t + (u^2/2)_x = 0``, shock         ``u_left``  [1, 2] / 1, 1.5, 2  0.25
=============  =====================================  ==========  ===============  ============

The closed forms and conserved quantities are those of the simulators
(:mod:`sciml.simulators.pde.porous_medium`, :mod:`sciml.simulators.pde.stefan`,
:mod:`sciml.simulators.pde.riemann`); a problem adds the admissible parameter values, the
validity window and the residual of the differential form (the SoftC penalty). Registry:
:data:`CONSERVATION_PROBLEMS`, :func:`conservation_problem`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ParameterError
from sciml.simulators.pde.heat import heat_series_mass, heat_series_solution
from sciml.simulators.pde.porous_medium import pme_front_solution, pme_mass
from sciml.simulators.pde.riemann import (
    advection_step_mass,
    burgers_shock_mass,
    burgers_shock_speed,
    riemann_step_mass0,
    riemann_step_solution,
)
from sciml.simulators.pde.stefan import stefan_alpha, stefan_front, stefan_mass, stefan_solution, stefan_valid_until
from sciml.surrogates.probconserv.problems import ConservationProblem

__all__ = [
    "CONSERVATION_PROBLEMS",
    "AdvectionProblem",
    "BurgersProblem",
    "HeatProblem",
    "PMEProblem",
    "StefanProblem",
    "conservation_problem",
]

def _gpme_residual(u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, k: Tensor | float, dk: Tensor | float) -> Tensor:
    """``u_t - (k(u) u_x)_x = u_t - k'(u) u_x^2 - k(u) u_xx``."""
    return u_t - dk * u_x**2 - k * u_xx


# =========================================================================== heat
@dataclass(frozen=True, kw_only=True)
class HeatProblem(ConservationProblem):
    """Heat equation ``u_t = k u_xx`` on ``[0, 2 pi]``, ``u0 = sin x``, ``u = 0`` at both ends.

    ProbConserv's "easy" GPME member (``k(u) = k``; reference ``deep_pdes.datasets.pme.HeatEquation``
    with ``conf/experiments/3b_heat_var_c.yaml``: ``x_range = (0, 2 pi)``, ``u0 = sin(x + theta)``
    with ``theta = 0``, solved spectrally as a periodic problem, which for ``sin x`` is the same
    solution as zero Dirichlet ends). Exact solution ``u = exp(-k t) sin x``
    (:meth:`~sciml.simulators.pde.heat.HeatSimulator.probconserv`); conserved mass
    ``b(t) = int_0^{2 pi} u dx = 0`` (the boundary fluxes ``-k u_x`` are equal at both ends).
    Parameter ``k`` (admissible ``k > 0``): train range ``[1, 5]``, test ``k`` in ``{1, 5}``;
    ``t in [0, 1]``, evaluation at ``t = 0.5``. Residual ``u_t - k u_xx``.

    More generally ``u0 = sin(mode pi (x - x_lo) / L)`` on ``x_range = (x_lo, x_lo + L)``
    (``mode=1``, ``x_range=(0, 1)``: ``sin(pi x)`` on ``[0, 1]``, mass ``(2 / pi) e^{-pi^2 k t}``).
    """

    x_range: tuple[float, float] = (0.0, 2.0 * math.pi)
    mode: int = 2
    UNIT_DOMAIN: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.mode, bool) or not isinstance(self.mode, int) or self.mode < 1:
            raise ParameterError(f"{self.name}: mode must be a positive integer, got {self.mode!r}")
        super().__post_init__()

    @property
    def admissible(self) -> str:
        return "k > 0"

    def _param_ok(self, p: float) -> bool:
        return p > 0

    def valid_until(self, p: float) -> float:
        return math.inf

    @property
    def _coefficients(self) -> np.ndarray:
        a = np.zeros(self.mode)
        a[-1] = 1.0
        return a

    @property
    def _length(self) -> float:
        return self.x_range[1] - self.x_range[0]

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        return heat_series_solution(x - self.x_range[0], t, p, self._coefficients, length=self._length)

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return heat_series_mass(t, p, self._coefficients, length=self._length)

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        return _gpme_residual(u, u_t, u_x, u_xx, p, 0.0)


# =========================================================================== PME
@dataclass(frozen=True, kw_only=True)
class PMEProblem(ConservationProblem):
    """Porous medium equation ``u_t = (u^m u_x)_x`` on ``[0, 1]`` (``k(u) = u^m``), the "front" set-up.

    ``u0 = 0``, ``u(0, t) = (m t)^(1/m)``, ``u(1, t) = 0``; exact travelling front
    ``u = (m (t - x))_+^(1/m)`` with the front at ``x = t`` (degenerate diffusion: sharp front,
    infinite slope there for ``m > 1``), exact for ``t <= 1``
    (:class:`~sciml.simulators.pde.porous_medium.PorousMediumSimulator` ``problem="front"``).
    Mass ``b(t) = m^(1 + 1/m) t^(1 + 1/m) / (m + 1)``
    (:func:`~sciml.simulators.pde.porous_medium.pme_mass`). Parameter ``m`` (admissible
    ``m > 0``): train range ``[1, 6]``, test ``m`` in ``{1, 3, 6}``; ``t in [0, 1]``,
    evaluation at ``t = 0.5``.

    Residual ``u_t - m u_+^(m-1) u_x^2 - u_+^m u_xx`` with ``u_+ = max(u, 0)`` (so that a model
    mean undershooting 0 gives a finite residual for non-integer ``m``; for ``m < 1`` the
    coefficient ``u_+^(m-1)`` is singular at ``u = 0``).
    """

    @property
    def admissible(self) -> str:
        return "m > 0"

    def _param_ok(self, p: float) -> bool:
        return p > 0

    def valid_until(self, p: float) -> float:
        return 1.0  # the front x = t reaches x = 1

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        return pme_front_solution(x, t, p)

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return pme_mass(t, p)

    def front_position(self, t: Any, p: float) -> np.ndarray:
        """``x = t``: the front moves at unit speed for every ``m``."""
        self.check_param(p)
        return np.asarray(t, dtype=np.float64).copy()

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        up = torch.clamp(u, min=0.0)
        return _gpme_residual(u, u_t, u_x, u_xx, up**p, p * up ** (p - 1.0))


# =========================================================================== Stefan
@dataclass(frozen=True, kw_only=True)
class StefanProblem(ConservationProblem):
    """Stefan problem ``u_t = (k(u) u_x)_x``, ``k(u) = k_max 1[u >= u*]`` on ``[0, 1]``.

    ProbConserv's "hard" GPME member (:mod:`sciml.simulators.pde.stefan`): ``u0 = 0``,
    ``u(0, t) = 1``, ``u(1, t) = 0``; exact solution
    ``u = 1 - (1 - u*) erf(x / (2 sqrt(k_max t))) / erf(alpha)`` behind the front
    ``x*(t) = 2 alpha sqrt(k_max t)`` and 0 beyond (a jump from ``u*`` to 0), with ``alpha``
    from :func:`~sciml.simulators.pde.stefan.stefan_alpha`. Mass ``b(t) = 2 c1 sqrt(k_max t / pi)``,
    ``c1 = (1 - u*) / erf(alpha)`` (:func:`~sciml.simulators.pde.stefan.stefan_mass`),
    exact while the front is inside, ``t <= 1 / (4 alpha^2 k_max)``. Parameter ``u_star``
    (admissible ``0 < u* < 1``): train range ``[0.55, 0.7]``, test ``u* = 0.6`` (in-domain) and
    ``0.5`` (out-of-domain); ``t in [0, 0.1]``, evaluation at ``t = 0.05``.

    Residual ``u_t - k(u) u_xx`` (``k'(u) = 0`` away from the threshold).
    """

    k_max: float = 1.0

    @property
    def admissible(self) -> str:
        return "0 < u_star < 1 (with the front 2 alpha sqrt(k_max t) inside [0, 1] over t_range)"

    def _param_ok(self, p: float) -> bool:
        return 0.0 < p < 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k_max) and self.k_max > 0):
            raise ParameterError(f"{self.name}: k_max must be > 0, got {self.k_max!r}")
        super().__post_init__()

    def alpha(self, p: float) -> float:
        """Similarity constant ``alpha(u*)`` (:func:`~sciml.simulators.pde.stefan.stefan_alpha`)."""
        return stefan_alpha(self.check_param(p))

    def valid_until(self, p: float) -> float:
        return stefan_valid_until(p, self.k_max)

    def front_position(self, t: Any, p: float) -> np.ndarray:
        """``x*(t) = 2 alpha sqrt(k_max t)`` (:func:`~sciml.simulators.pde.stefan.stefan_front`)."""
        return stefan_front(t, self.check_param(p), self.k_max)

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        return stefan_solution(x, t, p, self.k_max)

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return stefan_mass(t, p, self.k_max)

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        k = self.k_max * (u >= p).to(u.dtype)
        return _gpme_residual(u, u_t, u_x, u_xx, k, 0.0)


# =========================================================================== hyperbolic: shared Riemann set-up
@dataclass(frozen=True, kw_only=True)
class _RiemannProblem(ConservationProblem):
    """A step ``u0 = u_left`` for ``x < x0``, ``u_right`` beyond, moving at a parameter-dependent speed."""

    x0: float = 0.25
    u_right: float = 0.0
    UNIT_DOMAIN: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.x_range[0] < self.x0 < self.x_range[1]:
            raise ParameterError(f"{self.name}: x0 must lie inside x_range {self.x_range}, got {self.x0!r}")
        super().__post_init__()

    @abstractmethod
    def _speed(self, p: float) -> float:
        """Front / shock speed."""

    @abstractmethod
    def _states(self, p: float) -> tuple[float, float]:
        """``(u_L, u_R)``."""

    def valid_until(self, p: float) -> float:
        return (self.x_range[1] - self.x0) / self._speed(p)

    def front_position(self, t: Any, p: float) -> np.ndarray:
        """``x0 + s t``."""
        return self.x0 + self._speed(self.check_param(p)) * np.asarray(t, dtype=np.float64)

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        ul, ur = self._states(p)
        return riemann_step_solution(x, t, x0=self.x0, speed=self._speed(p), u_left=ul, u_right=ur)

    def _mass0(self, p: float) -> float:
        ul, ur = self._states(p)
        return riemann_step_mass0(self.x_range, self.x0, ul, ur)


@dataclass(frozen=True, kw_only=True)
class AdvectionProblem(_RiemannProblem):
    """Linear advection ``u_t + beta u_x = 0`` on ``[0, 1]`` with a step (a moving contact discontinuity).

    ``u0 = u_left = 1`` for ``x < x0 = 0.25`` and ``u_right = 0`` beyond; inflow boundary
    value ``u(0, t) = u_left``. Exact solution: the step translated, front at
    ``x0 + beta t``. The step is chosen over a smooth bump because it gives the shock-like
    discontinuity on which ProbConserv's conservation step matters (``x0 = 0.25`` keeps the
    front inside the domain over the whole time range even for ``beta`` = 5, with margin
    for extrapolation: the solution is exact for ``t <= 0.75 / beta``). Mass
    ``b(t) = b(0) + beta t (u_left - u_right)``, ``b(0) = x0 u_left + (1 - x0) u_right``
    (inflow flux ``beta u_left`` minus outflow ``beta u_right``). Parameter ``beta``
    (admissible ``beta > 0``: the inflow is at ``x = 0``): train range ``[1, 5]``, test
    ``beta`` in ``{1, 3, 5}``; ``t in [0, 0.1]``, evaluation at ``t = 0.05``.

    Residual ``u_t + beta u_x``.
    """

    u_left: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.u_left) and math.isfinite(self.u_right)):
            raise ParameterError(f"{self.name}: u_left and u_right must be finite")
        super().__post_init__()

    @property
    def admissible(self) -> str:
        return "beta > 0 (inflow at x = 0, with the front x0 + beta t inside the domain over t_range)"

    def _param_ok(self, p: float) -> bool:
        return p > 0

    def _speed(self, p: float) -> float:
        return p

    def _states(self, p: float) -> tuple[float, float]:
        return self.u_left, self.u_right

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return advection_step_mass(t, p, self._mass0(p), self.u_left, self.u_right)

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        return u_t + p * u_x


@dataclass(frozen=True, kw_only=True)
class BurgersProblem(_RiemannProblem):
    """Inviscid Burgers ``u_t + (u^2 / 2)_x = 0`` on ``[0, 1]``, Riemann data with a shock.

    ``u0 = u_L`` for ``x < x0 = 0.25`` and ``u_R = 0`` beyond (``u_R`` is the field
    ``u_right``), with ``u_L > u_R``: a single shock moving at the Rankine–Hugoniot speed
    ``s = (u_L + u_R) / 2``, exact for ``t <= (1 - x0) / s``. Inflow boundary value
    ``u(0, t) = u_L`` (supersonic inflow). Mass ``b(t) = b(0) + t (u_L^2 - u_R^2) / 2``. Parameter
    ``u_left`` = ``u_L`` (admissible ``u_L > u_R``; ``u_L < u_R`` would be a rarefaction):
    train range ``[1, 2]``, test ``u_L`` in ``{1, 1.5, 2}``; ``t in [0, 0.5]`` (shock at most at
    ``x = 0.75``), evaluation at ``t = 0.25``.

    Residual ``u_t + u u_x``.
    """

    @property
    def admissible(self) -> str:
        return (f"u_left > u_right = {self.u_right:g} (a shock, with x0 + s t inside the domain "
                "over t_range)")

    def _param_ok(self, p: float) -> bool:
        return p > self.u_right

    def _speed(self, p: float) -> float:
        return burgers_shock_speed(p, self.u_right)

    def _states(self, p: float) -> tuple[float, float]:
        return p, self.u_right

    def shock_speed(self, p: float) -> float:
        """Rankine–Hugoniot speed ``s = (u_L + u_R) / 2``."""
        return self._speed(self.check_param(p))

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return burgers_shock_mass(t, self._mass0(p), p, self.u_right)

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        return u_t + u * u_x


# =========================================================================== registry
#: The five problems by name (ProbConserv's settings: parameter ranges, test values, time windows).
CONSERVATION_PROBLEMS: dict[str, ConservationProblem] = {
    "heat": HeatProblem(
        name="heat", param_name="k", train_range=(1.0, 5.0), test_values=(1.0, 5.0),
        x_range=(0.0, 2.0 * math.pi), mode=2, t_range=(0.0, 1.0), eval_time=0.5,
        description="u_t = k u_xx on [0, 2 pi], u0 = sin x, u = 0 at x = 0, 2 pi; u = exp(-k t) sin x, mass 0"),
    "pme": PMEProblem(
        name="pme", param_name="m", train_range=(1.0, 6.0), test_values=(1.0, 3.0, 6.0),
        t_range=(0.0, 1.0), eval_time=0.5,
        description="u_t = (u^m u_x)_x, u0 = 0, u(0, t) = (m t)^(1/m), front at x = t"),
    "stefan": StefanProblem(
        name="stefan", param_name="u_star", train_range=(0.55, 0.7), test_values=(0.6, 0.5),
        t_range=(0.0, 0.1), eval_time=0.05,
        description="u_t = (k(u) u_x)_x, k(u) = 1[u >= u*], u0 = 0, u(0, t) = 1"),
    "advection": AdvectionProblem(
        name="advection", param_name="beta", train_range=(1.0, 5.0), test_values=(1.0, 3.0, 5.0),
        t_range=(0.0, 0.1), eval_time=0.05,
        description="u_t + beta u_x = 0, u0 = 1[x < 0.25], inflow u(0, t) = 1"),
    "burgers": BurgersProblem(
        name="burgers", param_name="u_left", train_range=(1.0, 2.0), test_values=(1.0, 1.5, 2.0),
        t_range=(0.0, 0.5), eval_time=0.25,
        description="u_t + (u^2/2)_x = 0, u0 = u_L 1[x < 0.25], shock at 0.25 + u_L t / 2"),
}


def conservation_problem(name: str) -> ConservationProblem:
    """The registered problem ``name`` (one of :data:`CONSERVATION_PROBLEMS`).

    Raises
    ------
    ParameterError
        For an unknown name; the message lists the accepted names.
    """
    try:
        return CONSERVATION_PROBLEMS[name]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown ProbConserv problem {name!r}; accepted: {sorted(CONSERVATION_PROBLEMS)}") from None
