"""Exact solutions of 1D Riemann problems: a step moving as a contact discontinuity or a shock.

Initial state ``u0 = u_L`` for ``x < x0`` and ``u_R`` beyond, on ``[x_min, x_max]`` with the
inflow value ``u_L`` at ``x_min``:

* linear advection ``u_t + beta u_x = 0``: the step translated at speed ``beta``;
* inviscid Burgers ``u_t + (u^2 / 2)_x = 0`` with ``u_L > u_R``: one shock at the
  Rankine–Hugoniot speed ``s = (u_L + u_R) / 2``.

In both cases ``u = u_L`` behind the front ``x0 + s t``, ``u_R`` ahead, exact while the front is
inside the domain; the mass is ``b(0)`` plus the net inflow ``t (F(u_L) - F(u_R))``. Everything is
dimensionless (the units of the PDE).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "advection_step_mass",
    "burgers_shock_mass",
    "burgers_shock_speed",
    "riemann_step_mass0",
    "riemann_step_solution",
]


def riemann_step_solution(x: Any, t: Any, *, x0: float, speed: float, u_left: float, u_right: float) -> np.ndarray:
    """``u_L`` behind the front ``x0 + speed t``, ``u_R`` ahead, their mean exactly on it.

    The mean value on the discontinuity makes the trapezoid rule integrate the step exactly
    when the front falls on a grid point.

    Parameters
    ----------
    x, t : array_like
        Broadcastable positions and times.
    x0 : float
        Initial position of the step.
    speed : float
        Front speed (``beta`` for advection, :func:`burgers_shock_speed` for Burgers).
    u_left, u_right : float
        States behind and ahead of the front.

    Returns
    -------
    ndarray, shape ``broadcast(x, t).shape``
    """
    xf = x0 + speed * np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < xf, u_left, np.where(x > xf, u_right, 0.5 * (u_left + u_right)))


def riemann_step_mass0(x_range: tuple[float, float], x0: float, u_left: float, u_right: float) -> float:
    """Initial mass ``(x0 - x_min) u_L + (x_max - x0) u_R``."""
    return (x0 - x_range[0]) * u_left + (x_range[1] - x0) * u_right


def advection_step_mass(t: Any, beta: float, mass0: float, u_left: float, u_right: float) -> np.ndarray:
    """``b(t) = b(0) + beta t (u_L - u_R)``: inflow flux ``beta u_L`` minus outflow ``beta u_R``."""
    return mass0 + beta * np.asarray(t, dtype=np.float64) * (u_left - u_right)


def burgers_shock_speed(u_left: float, u_right: float) -> float:
    """Rankine–Hugoniot speed ``s = (u_L + u_R) / 2`` of a Burgers shock (``u_L > u_R``)."""
    return 0.5 * (u_left + u_right)


def burgers_shock_mass(t: Any, mass0: float, u_left: float, u_right: float) -> np.ndarray:
    """``b(t) = b(0) + t (u_L^2 - u_R^2) / 2``: the net Burgers flux ``u^2 / 2`` through the ends."""
    return mass0 + np.asarray(t, dtype=np.float64) * 0.5 * (u_left**2 - u_right**2)
