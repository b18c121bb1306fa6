"""Stefan problem: the degenerate, discontinuous-diffusivity member of the GPME family.

ProbConserv's "hard" GPME problem (Hansen et al., 2023):

.. math::  u_t = (k(u) u_x)_x,\\qquad k(u) = k_{max}\\ \\text{if } u \\ge u^*,\\ 0 \\text{ otherwise},

on ``x in [0, 1]``, with ``u0 = 0``, ``u(0, t) = 1``, ``u(1, t) = 0``. In Kirchhoff form
``u_t = Phi(u)_xx`` with ``Phi(u) = k_max (u - u*)_+``: ``u`` plays the role of an enthalpy
and ``Phi`` of a temperature, and ``u*`` is the latent heat. Behind the front ``x*(t)`` the
solution diffuses; ahead of it ``u = 0``; at the front ``u`` jumps from ``u*`` to 0 (a
shock-like discontinuity).

**Exact solution** (similarity variable ``xi = x / (2 sqrt(k_max t))``):

.. math::  u(x, t) = 1 - (1 - u^*) \\frac{\\mathrm{erf}(x / (2\\sqrt{k_{max} t}))}{\\mathrm{erf}(\\alpha)}
           \\ \\text{for } x \\le x^*(t) = 2 \\alpha \\sqrt{k_{max} t},\\qquad u = 0 \\text{ beyond},

which is ``1`` at ``x = 0`` and ``u*`` at the front. **Stefan condition**: the front moves
at ``x*' = alpha sqrt(k_max / t)``; the Rankine–Hugoniot condition of ``u_t + F_x = 0`` with
``F = -k(u) u_x`` across the jump ``[u] = u* - 0`` is ``x*' u* = F(x*^-) - 0
= -k_max u_x(x*^-)``, and ``-k_max u_x(x*^-) = sqrt(k_max / (pi t)) (1 - u*) e^{-alpha^2} / erf(alpha)``,
so alpha solves

.. math::  u^* \\alpha \\sqrt{\\pi}\\, \\mathrm{erf}(\\alpha)\\, e^{\\alpha^2} = 1 - u^*

(unique root; the left side increases from 0 to infinity); see :func:`stefan_alpha`.
Total mass ``M(t) = 2 sqrt(k_max t) [u* alpha + (1 - u*)(1 - e^{-alpha^2}) / (sqrt(pi) erf(alpha))]``,
equal (by the Stefan condition) to the time integral of the inflow
``F(0, t) = sqrt(k_max / (pi t)) (1 - u*) / erf(alpha)``. The solution is that of the half
line, hence exact on ``[0, 1]`` while ``x*(t) < 1``, i.e. ``t < 1 / (4 alpha^2 k_max)``
(:func:`stefan_valid_until`).

**Accepted range of** ``u*``. The physics needs ``0 < u* < 1`` (the boundary value 1 above the
threshold, the initial state 0 below it), and the scheme runs for any such value.
:class:`StefanSimulator` accepts the closed interval ``[0.42, 0.99]``: ``0.42`` is the smallest
two-decimal ``u*`` for which the front is still inside ``[0, 1]`` at the default
``t_final = 0.5`` with ``k_max = 1`` (``stefan_valid_until(u*) >= 0.5`` needs ``alpha <= 1/sqrt(2)``,
i.e. ``u* >= 0.4149``), so that the exact solution, mass and fluxes hold on every frame; near
``u* = 1`` the front barely moves (``alpha -> 0``), and ``0.99`` keeps it several cells wide
on the default grid. This contains ProbConserv's training range ``[0.55, 0.7]`` and its
out-of-distribution test value ``u* = 0.5``; the training range is a property of the design
(:data:`sciml.surrogates.probconserv.CONSERVATION_PROBLEMS`), not of the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.pde._implicit_diffusion import Boundary, Diffusivity
from sciml.simulators.pde.porous_medium import GPMESimulator1D, _check_times, _NamedIC

__all__ = [
    "StefanSimulator",
    "stefan_alpha",
    "stefan_front",
    "stefan_mass",
    "stefan_solution",
    "stefan_valid_until",
]


@lru_cache(maxsize=1024)
def _alpha(u_star: float) -> float:
    def f(a: float) -> float:
        return u_star * a * math.sqrt(math.pi) * math.erf(a) * math.exp(a * a) - (1.0 - u_star)

    hi = 1.0
    while f(hi) < 0.0:
        hi *= 2.0
    return float(brentq(f, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))


def stefan_alpha(u_star: float) -> float:
    """Root ``alpha > 0`` of ``u* alpha sqrt(pi) erf(alpha) exp(alpha^2) = 1 - u*``.

    Parameters
    ----------
    u_star : float
        Threshold (latent heat), in ``(0, 1)``.

    Returns
    -------
    float
        The similarity constant; the front is at ``x* = 2 alpha sqrt(k_max t)``.
    """
    u_star = float(u_star)
    if not 0.0 < u_star < 1.0:
        raise ParameterError(f"stefan_alpha needs 0 < u_star < 1, got {u_star!r}")
    return _alpha(u_star)


def stefan_front(t: Any, u_star: float, k_max: float = 1.0) -> np.ndarray:
    """Exact front ``x*(t) = 2 alpha sqrt(k_max t)`` (:func:`stefan_alpha`), shape of ``t``."""
    return 2.0 * stefan_alpha(u_star) * np.sqrt(k_max * np.asarray(t, dtype=np.float64))


def stefan_valid_until(u_star: float, k_max: float = 1.0) -> float:
    """Last time of the half-line solution on ``[0, 1]``: the front reaches ``x = 1`` at ``1 / (4 alpha^2 k_max)``."""
    return 1.0 / (4.0 * stefan_alpha(u_star) ** 2 * k_max)


def stefan_solution(x: Any, t: Any, u_star: float, k_max: float = 1.0) -> np.ndarray:
    """Similarity solution ``u = 1 - (1 - u*) erf(x / (2 sqrt(k_max t))) / erf(alpha)`` behind the front, 0 beyond.

    At ``t = 0``: ``u = 1`` at ``x <= 0`` and 0 elsewhere. Exact on ``[0, 1]`` while
    ``t <= stefan_valid_until(u_star, k_max)``.

    Parameters
    ----------
    x, t : array_like
        Broadcastable positions and times ``>= 0``.
    u_star : float
        Threshold ``u*`` in ``(0, 1)``.
    k_max : float
        Diffusivity above the threshold, ``> 0``.

    Returns
    -------
    ndarray, shape ``broadcast(x, t).shape``
    """
    a = stefan_alpha(u_star)
    x, t = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(t, np.float64))
    c = 2.0 * np.sqrt(k_max * t)
    safe_c = np.where(c > 0, c, 1.0)
    inside = 1.0 - (1.0 - u_star) * erf(x / safe_c) / math.erf(a)
    inside = np.where(c > 0, inside, np.where(x <= 0, 1.0, 0.0))
    return np.where(x <= a * c, inside, 0.0)


def stefan_mass(t: Any, u_star: float, k_max: float = 1.0) -> np.ndarray:
    """Mass ``b(t) = 2 c1 sqrt(k_max t / pi)``, ``c1 = (1 - u*) / erf(alpha)``, of :func:`stefan_solution`.

    ``u_t = (k(u) u_x)_x``, ``k(u) = k_max 1[u >= u*]`` on ``[0, 1]``, ``u0 = 0``,
    ``u(0, t) = 1``; the inflow is ``F(0, t) = c1 sqrt(k_max / (pi t))`` and ``b(t)`` is its
    time integral. By the Stefan condition this equals the integral of the exact profile,
    ``2 sqrt(k_max t) [u* alpha + c1 (1 - e^{-alpha^2}) / sqrt(pi)]``. Valid while the front
    ``2 alpha sqrt(k_max t)`` is inside the domain, ``t <= 1 / (4 alpha^2 k_max)``.

    Parameters
    ----------
    t : array_like
        Times ``>= 0``.
    u_star : float
        Threshold ``u*`` in ``(0, 1)``.
    k_max : float
        Diffusivity above the threshold, ``> 0``.

    Returns
    -------
    ndarray, shape of ``t``

    Raises
    ------
    ParameterError
        ``u_star`` outside ``(0, 1)``, ``k_max <= 0``, or a time outside ``[0, valid_until]``.
    """
    if not (0.0 < u_star < 1.0):
        raise ParameterError(f"stefan_mass: u_star must lie in (0, 1), got {u_star!r}")
    if not (np.isfinite(k_max) and k_max > 0):
        raise ParameterError(f"stefan_mass: k_max must be > 0, got {k_max!r}")
    alpha = stefan_alpha(u_star)
    ts = _check_times(t, 1.0 / (4.0 * alpha**2 * k_max), "stefan_mass")
    c1 = (1.0 - u_star) / math.erf(alpha)
    return 2.0 * c1 * np.sqrt(k_max * ts / math.pi)


class StefanSimulator(GPMESimulator1D):
    """Stefan problem ``u_t = (k(u) u_x)_x``, ``k(u) = k_max 1[u >= u*]``; see the module docstring.

    Physical parameter: ``u_star`` in ``[0.42, 0.99]`` (see the module docstring: physically
    any ``0 < u* < 1``; the lower bound keeps the front inside ``[0, 1]`` up to the default
    ``t_final = 0.5`` for ``k_max = 1``; a larger ``t_final`` or ``k_max`` shortens that window,
    see :meth:`valid_until`). It contains ProbConserv's training range ``[0.55, 0.7]`` and its
    out-of-distribution value ``0.5``. Initial state ``u0 = 0`` (deterministic: all samples
    are identical); ``u(0, t) = 1``, ``u(1, t) = 0``.

    Numerics: the finite-volume / backward-Euler / semismooth-Newton scheme of
    :mod:`sciml.simulators.pde.porous_medium` with the exact Kirchhoff flux; it is the classical
    enthalpy method, which tracks the front without front fitting. The front position of a
    numerical solution is estimated from the latent heat absorbed (:meth:`front_position_numeric`).

    Parameters
    ----------
    k_max : float
        Diffusivity above the threshold (``k = 0`` below it).
    n_cells, t_final, n_frames, dt, theta, dtype
        See :class:`~sciml.simulators.pde.porous_medium.GPMESimulator1D`; ``t_final``
        defaults to 0.5.
    """

    name: ClassVar[str] = "stefan1d"
    version: ClassVar[str] = "1"
    PARAMETERS: ClassVar[ParameterSpace] = ParameterSpace((
        # physically 0 < u* < 1; bounds chosen so the front stays inside [0, 1] up to the default
        # t_final = 0.5 (k_max = 1) and still moves at the top; see the module docstring
        Parameter("u_star", 0.42, 0.99, units="1", description="threshold u* of k(u)", default=None),
    ))

    def __init__(
        self,
        *,
        n_cells: int = 256,
        t_final: float = 0.5,
        n_frames: int = 51,
        dt: float | None = None,
        theta: float | None = None,
        k_max: float = 1.0,
        dtype: str = "float64",
    ) -> None:
        if not (isinstance(k_max, (int, float)) and math.isfinite(k_max) and k_max > 0):
            raise ParameterError(f"k_max must be a positive number, got {k_max!r}")
        super().__init__(n_cells=n_cells, t_final=t_final, n_frames=n_frames, dt=dt, theta=theta,
                         dtype=dtype, initial_condition=_NamedIC("stefan_zero"))
        self.k_max = float(k_max)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        del cfg["initial_condition"]  # always u0 = 0
        cfg["k_max"] = self.k_max
        return cfg

    def diffusivity(self, params: Mapping[str, float]) -> Diffusivity:
        return Diffusivity.step(params["u_star"], k_max=self.k_max, k_min=0.0)

    def boundaries(self, params: Mapping[str, float]) -> tuple[Boundary, Boundary]:
        return Boundary("dirichlet", 1.0), Boundary("dirichlet", 0.0)

    def describe_pde(self, params: Mapping[str, float]) -> str:
        return (f"u_t = (k(u) u_x)_x on x in [0, 1], k(u) = {self.k_max:g} if u >= u_star else 0 "
                "(Stefan problem)")

    def initial_state(self, rng: np.random.Generator, n_samples: int, params: Mapping[str, float]) -> np.ndarray:
        """Zeros, shape ``(n_samples, n_cells)``."""
        return np.zeros((n_samples, self.n_cells))

    # ------------------------------------------------------------ exact solution
    def alpha(self, params: Mapping[str, float]) -> float:
        """Similarity constant :func:`stefan_alpha` of ``params["u_star"]``."""
        p = self.parameter_space.validate(params, source=self.name)
        return stefan_alpha(p["u_star"])

    def front_position(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact front :func:`stefan_front`, shape of ``t``."""
        p = self.parameter_space.validate(params, source=self.name)
        return stefan_front(t, p["u_star"], self.k_max)

    def valid_until(self, params: Mapping[str, float]) -> float:
        """Last time at which the half-line solution is exact on ``[0, 1]`` (:func:`stefan_valid_until`)."""
        p = self.parameter_space.validate(params, source=self.name)
        return stefan_valid_until(p["u_star"], self.k_max)

    def exact_solution(self, x: np.ndarray, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact ``u(x, t)`` (:func:`stefan_solution`), shape ``broadcast(x, t).shape``."""
        p = self.parameter_space.validate(params, source=self.name)
        return stefan_solution(x, t, p["u_star"], self.k_max)

    def _exact_antiderivative(self, x, t, params):
        us, a = params["u_star"], stefan_alpha(params["u_star"])
        x, t = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(t, np.float64))
        c = 2.0 * np.sqrt(self.k_max * t)
        y = np.minimum(x, a * c)  # u = 0 beyond the front
        safe_c = np.where(c > 0, c, 1.0)
        # int_0^y erf(s / c) ds = y erf(y / c) + c / sqrt(pi) (exp(-y^2 / c^2) - 1)
        ierf = y * erf(y / safe_c) + safe_c / math.sqrt(math.pi) * (np.exp(-(y / safe_c) ** 2) - 1.0)
        return np.where(c > 0, y - (1.0 - us) / math.erf(a) * ierf, 0.0)

    def boundary_flux(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """``(F(0, t), F(1, t))``: ``F(0, t) = sqrt(k_max / (pi t)) (1 - u*) / erf(alpha)``, ``F(1, t) = 0``.

        Valid while the front is inside the domain; ``F(0, 0)`` is infinite (integrable
        ``t^{-1/2}`` singularity). Shape ``(*t.shape, 2)``.
        """
        p = self.parameter_space.validate(params, source=self.name)
        us, a = p["u_star"], stefan_alpha(p["u_star"])
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(t.shape + (2,))
        with np.errstate(divide="ignore"):
            out[..., 0] = np.sqrt(self.k_max / (math.pi * t)) * (1.0 - us) / math.erf(a)
        return out

    def conserved_quantity(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact mass :func:`stefan_mass` (while the front is inside the domain)."""
        p = self.parameter_space.validate(params, source=self.name)
        return stefan_mass(t, p["u_star"], self.k_max)

    def front_position_numeric(self, u: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Front position of cell averages from the latent heat absorbed.

        ``x_f = dx * sum_i min(u_i / u*, 1)``: cells behind the front count fully, the
        partially melted ("mushy") front cell by its fraction ``u_i / u*``. Applied to the
        exact cell averages it returns ``x*(t)`` up to ``O(dx^2)`` (the front cell holds
        ``u >= u*`` on its melted part).

        Parameters
        ----------
        u : ndarray, shape ``(..., n_cells)``
            Cell averages (e.g. ``ds.u.values``).
        params : mapping
            ``{"u_star": ...}``.

        Returns
        -------
        ndarray, shape ``u.shape[:-1]``
        """
        p = self.parameter_space.validate(params, source=self.name)
        u = np.asarray(u, dtype=np.float64)
        if u.shape[-1] != self.n_cells:
            raise ParameterError(f"u must have n_cells={self.n_cells} values along its last axis, got {u.shape}")
        return self.x_min + self.dx * np.minimum(np.maximum(u, 0.0) / p["u_star"], 1.0).sum(axis=-1)
