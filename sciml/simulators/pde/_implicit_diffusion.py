"""Batched implicit finite-volume solver for ``u_t = (k(u) u_x)_x`` in 1D.

The equation is written in *Kirchhoff* form ``u_t = Phi(u)_xx`` with the Kirchhoff
potential ``Phi(u) = int_0^u k(s) ds``. On a uniform grid of ``N`` cells of width ``dx`` the
finite-volume flux through the face between cells ``i`` and ``i+1`` is

``F_{i+1/2} = -(Phi(u_{i+1}) - Phi(u_i)) / dx``,

which is the exact flux of the Kirchhoff form for *any* ``k(u)`` (no averaging of ``k`` on
the face), and stays meaningful when ``k`` is degenerate (porous medium, ``k(0) = 0``) or
discontinuous (Stefan problem). Boundary faces:

* Dirichlet ``u = g``: half-cell flux ``F_{-1/2} = -(Phi(u_0) - Phi(g)) / (dx/2)`` (the
  ghost-cell value ``Phi_ghost = 2 Phi(g) - Phi(u_0)``);
* Neumann (zero flux): ``F = 0``.

The semi-discrete system ``du_i/dt = (F_{i-1/2} - F_{i+1/2}) / dx`` is integrated with the
theta scheme (``theta = 1``: backward Euler, monotone and positivity preserving;
``theta = 1/2``: Crank–Nicolson, second order for smooth linear problems). Each step solves
the nonlinear system with Newton's method on ``u`` (semismooth Newton where ``k`` jumps); the
Jacobian is tridiagonal and is solved with the Thomas algorithm. Because the discrete
operator is in flux form, every Newton iterate changes the total mass ``sum(u) dx`` only by
the boundary fluxes: with zero-flux boundaries the mass is conserved to round-off.

Steps whose Newton iteration fails (no convergence, non-finite values) are retried for the
failing samples with two half steps, recursively, before a
:class:`~sciml.errors.SimulationError` is raised.

This module is private; the public simulators are in
:mod:`sciml.simulators.pde.porous_medium` and :mod:`sciml.simulators.pde.stefan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from sciml.errors import SimulationError

#: ``k(u) = c0`` (constant), ``Phi(u) = c0 u``.
KIND_CONSTANT = 0
#: ``k(u) = |u|^c0``, ``Phi(u) = sign(u) |u|^(c0 + 1) / (c0 + 1)``.
KIND_POWER = 1
#: ``k(u) = c1`` for ``u >= c0`` else ``c2``; ``Phi`` piecewise linear, continuous.
KIND_STEP = 2

#: Boundary types.
BC_NEUMANN = 0
BC_DIRICHLET = 1


@dataclass(frozen=True)
class Diffusivity:
    """A nonlinear diffusivity ``k(u)`` and its Kirchhoff potential ``Phi(u)``.

    Build one with :meth:`constant`, :meth:`power` or :meth:`step`.

    Attributes
    ----------
    kind : int
        One of :data:`KIND_CONSTANT`, :data:`KIND_POWER`, :data:`KIND_STEP`.
    c0, c1, c2 : float
        Coefficients; their meaning depends on ``kind`` (see the constructors).
    """

    kind: int
    c0: float
    c1: float = 0.0
    c2: float = 0.0

    @classmethod
    def constant(cls, k: float) -> Diffusivity:
        """``k(u) = k``; ``Phi(u) = k u``."""
        return cls(KIND_CONSTANT, float(k))

    @classmethod
    def power(cls, m: float) -> Diffusivity:
        """``k(u) = |u|^m``; ``Phi(u) = sign(u) |u|^(m+1) / (m+1)`` (porous medium)."""
        return cls(KIND_POWER, float(m))

    @classmethod
    def step(cls, u_star: float, k_max: float = 1.0, k_min: float = 0.0) -> Diffusivity:
        """``k(u) = k_max`` for ``u >= u_star`` else ``k_min`` (Stefan problem).

        ``Phi(u) = k_min u`` for ``u < u_star`` and
        ``k_min u_star + k_max (u - u_star)`` otherwise.
        """
        return cls(KIND_STEP, float(u_star), float(k_max), float(k_min))

    @property
    def coefficients(self) -> np.ndarray:
        """``[c0, c1, c2]`` as float64, shape ``(3,)``."""
        return np.array([self.c0, self.c1, self.c2], dtype=np.float64)

    def k(self, u: np.ndarray) -> np.ndarray:
        """Diffusivity ``k(u)``, same shape as ``u``."""
        u = np.asarray(u, dtype=np.float64)
        if self.kind == KIND_CONSTANT:
            return np.full_like(u, self.c0)
        if self.kind == KIND_POWER:
            return np.abs(u) ** self.c0
        return np.where(u >= self.c0, self.c1, self.c2)

    def potential(self, u: np.ndarray) -> np.ndarray:
        """Kirchhoff potential ``Phi(u) = int_0^u k(s) ds``, same shape as ``u``."""
        u = np.asarray(u, dtype=np.float64)
        if self.kind == KIND_CONSTANT:
            return self.c0 * u
        if self.kind == KIND_POWER:
            return np.sign(u) * np.abs(u) ** (self.c0 + 1.0) / (self.c0 + 1.0)
        return np.where(u >= self.c0, self.c2 * self.c0 + self.c1 * (u - self.c0), self.c2 * u)


@dataclass(frozen=True)
class Boundary:
    """Boundary condition at one end of the interval.

    Attributes
    ----------
    kind : {"neumann", "dirichlet"}
        ``"neumann"`` is the zero-flux condition ``k(u) u_x = 0``.
    value : float or callable
        Dirichlet value ``g`` or a function ``g(t) -> float``; ignored for Neumann.
    """

    kind: str = "neumann"
    value: float | Callable[[float], float] = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("neumann", "dirichlet"):
            raise ValueError(f"boundary kind must be 'neumann' or 'dirichlet', got {self.kind!r}")

    @property
    def code(self) -> int:
        return BC_DIRICHLET if self.kind == "dirichlet" else BC_NEUMANN

    def at(self, t: float) -> float:
        """Boundary value at time ``t`` (0 for Neumann)."""
        if self.kind == "neumann":
            return 0.0
        v = self.value(t) if callable(self.value) else self.value
        return float(v)

    def describe(self, side: str) -> str:
        if self.kind == "neumann":
            return f"{side}: zero flux (Neumann)"
        v = "g(t)" if callable(self.value) else f"{float(self.value):g}"
        return f"{side}: Dirichlet u = {v}"


# --------------------------------------------------------------------------- kernels
@njit(cache=True)
def _phi(kind: int, c: np.ndarray, u: float) -> float:
    if kind == KIND_CONSTANT:
        return c[0] * u
    if kind == KIND_POWER:
        a = abs(u)
        v = a ** (c[0] + 1.0) / (c[0] + 1.0)
        return v if u >= 0.0 else -v
    if u >= c[0]:
        return c[2] * c[0] + c[1] * (u - c[0])
    return c[2] * u


@njit(cache=True)
def _kfun(kind: int, c: np.ndarray, u: float) -> float:
    if kind == KIND_CONSTANT:
        return c[0]
    if kind == KIND_POWER:
        return abs(u) ** c[0]
    if u >= c[0]:
        return c[1]
    return c[2]


@njit(cache=True)
def _divergence(phi: np.ndarray, phi_l: float, phi_r: float, bc_l: int, bc_r: int,
                inv_dx2: float, out: np.ndarray) -> None:
    """``out_i = (F_{i-1/2} - F_{i+1/2}) / dx`` from the potential values ``phi``."""
    n = phi.size
    for i in range(n):
        acc = 0.0
        if i > 0:
            acc += phi[i - 1] - phi[i]
        elif bc_l == BC_DIRICHLET:
            acc += 2.0 * (phi_l - phi[0])
        if i < n - 1:
            acc += phi[i + 1] - phi[i]
        elif bc_r == BC_DIRICHLET:
            acc += 2.0 * (phi_r - phi[n - 1])
        out[i] = acc * inv_dx2


@njit(cache=True)
def _residual(u: np.ndarray, rhs: np.ndarray, theta_dt: float, kind: int, c: np.ndarray,
              phil: float, phir: float, bc_l: int, bc_r: int, inv_dx2: float, phi: np.ndarray,
              div: np.ndarray, res: np.ndarray) -> float:
    """``res = u - rhs - theta dt D(u)``; returns ``||res||_2`` (``inf`` if not finite)."""
    n = u.size
    for i in range(n):
        phi[i] = _phi(kind, c, u[i])
    _divergence(phi, phil, phir, bc_l, bc_r, inv_dx2, div)
    acc = 0.0
    for i in range(n):
        res[i] = u[i] - rhs[i] - theta_dt * div[i]
        acc += res[i] * res[i]
    if not math.isfinite(acc):
        return math.inf
    return math.sqrt(acc)


@njit(cache=True)
def _explicit_rhs(u_old: np.ndarray, dt: float, theta: float, kind: int, c: np.ndarray, phil: float,
                  phir: float, bc_l: int, bc_r: int, inv_dx2: float, phi: np.ndarray, div: np.ndarray,
                  rhs: np.ndarray) -> None:
    """``rhs = u_old + (1 - theta) dt D(u_old)`` for one sample (the explicit part of the step)."""
    n = u_old.size
    for i in range(n):
        phi[i] = _phi(kind, c, u_old[i])
    if theta < 1.0:
        _divergence(phi, phil, phir, bc_l, bc_r, inv_dx2, div)
        for i in range(n):
            rhs[i] = u_old[i] + (1.0 - theta) * dt * div[i]
    else:
        for i in range(n):
            rhs[i] = u_old[i]


@njit(cache=True)
def _newton_direction(u: np.ndarray, res: np.ndarray, lam: float, kind: int, c: np.ndarray, bc_l: int,
                      bc_r: int, kk: np.ndarray, a: np.ndarray, cp: np.ndarray, dp: np.ndarray) -> float:
    """Solve ``J dp = -res`` with ``J = I - theta dt dD/du`` (tridiagonal, Thomas algorithm).

    Row ``i``: diagonal ``1 + lam w_i k_i``, sub-diagonal ``-lam k_{i-1}``, super-diagonal
    ``-lam k_{i+1}``. Returns ``max |dp|``, or ``inf`` if ``dp`` is not finite.
    """
    n = u.size
    for i in range(n):
        kk[i] = _kfun(kind, c, u[i])
    for i in range(n):
        w = 2.0
        if i == 0:
            w = 3.0 if bc_l == BC_DIRICHLET else 1.0
        elif i == n - 1:
            w = 3.0 if bc_r == BC_DIRICHLET else 1.0
        a[i] = 1.0 + lam * w * kk[i]
    cp[0] = (-lam * kk[1]) / a[0]
    dp[0] = -res[0] / a[0]
    for i in range(1, n):
        sub = -lam * kk[i - 1]
        den = a[i] - sub * cp[i - 1]
        if i < n - 1:
            cp[i] = (-lam * kk[i + 1]) / den
        dp[i] = (-res[i] - sub * dp[i - 1]) / den
    for i in range(n - 2, -1, -1):
        dp[i] -= cp[i] * dp[i + 1]
    finite = True
    dmax = 0.0
    for i in range(n):
        if not math.isfinite(dp[i]):
            finite = False
        dmax = max(dmax, abs(dp[i]))
    return dmax if finite else math.inf


@njit(cache=True)
def _newton_solve(u: np.ndarray, rhs: np.ndarray, tdt: float, lam: float, kind: int, c: np.ndarray,
                  phil: float, phir: float, bc_l: int, bc_r: int, inv_dx2: float, rtol: float,
                  scale: float, max_iter: int, work: np.ndarray) -> int:
    """Newton's method with backtracking on ``||res||_2`` for one sample, ``u`` in place.

    ``work`` is scratch space ``(8, n_cells)``. Returns the iterations, ``-1`` on failure.
    """
    phi, div, res, kk, a, cp, dp, trial = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    n = u.size
    rnorm = _residual(u, rhs, tdt, kind, c, phil, phir, bc_l, bc_r, inv_dx2, phi, div, res)
    it = 0
    while it < max_iter and math.isfinite(rnorm):
        it += 1
        dmax = _newton_direction(u, res, lam, kind, c, bc_l, bc_r, kk, a, cp, dp)
        if not math.isfinite(dmax):
            break
        step = 1.0
        while True:
            for i in range(n):
                trial[i] = u[i] + step * dp[i]
            tnorm = _residual(trial, rhs, tdt, kind, c, phil, phir, bc_l, bc_r, inv_dx2, phi, div, res)
            if tnorm <= (1.0 - 1e-4 * step) * rnorm or step < 1.0 / 64.0 or dmax * step <= rtol * scale:
                break
            step *= 0.5
        for i in range(n):
            u[i] = trial[i]
        rnorm = tnorm
        if step * dmax <= rtol * scale and math.isfinite(rnorm):
            return it
    return -1


@njit(cache=True)
def _theta_step(u_old: np.ndarray, dt: float, theta: float, dx: float, kind: int, c: np.ndarray,
                bc_l: int, bc_r: int, g_old: np.ndarray, g_new: np.ndarray, rtol: float,
                max_iter: int, u_new: np.ndarray) -> np.ndarray:
    """One theta step for every sample.

    ``u_old``, ``u_new``: ``(n_samples, n_cells)``; ``g_old``, ``g_new``: boundary values
    ``(2,)`` (left, right) at the old and new time. Newton's method with a backtracking line
    search on the 2-norm of the residual (a damped step keeps the discrete mass balance,
    since every column of the Jacobian sums to 1 with zero-flux boundaries). Returns the
    number of Newton iterations per sample, ``-1`` where Newton failed.
    """
    ns, n = u_old.shape
    inv_dx2 = 1.0 / (dx * dx)
    phil_new = _phi(kind, c, g_new[0])
    phir_new = _phi(kind, c, g_new[1])
    its = np.zeros(ns, dtype=np.int64)
    work = np.empty((8, n))
    rhs = np.empty(n)
    for s in range(ns):
        _explicit_rhs(u_old[s], dt, theta, kind, c, _phi(kind, c, g_old[0]), _phi(kind, c, g_old[1]),
                      bc_l, bc_r, inv_dx2, work[0], work[1], rhs)
        u = u_new[s]
        scale = 1.0
        for i in range(n):
            u[i] = u_old[s, i]
            scale = max(scale, abs(u_old[s, i]))
        its[s] = _newton_solve(u, rhs, theta * dt, theta * dt * inv_dx2, kind, c, phil_new, phir_new, bc_l,
                               bc_r, inv_dx2, rtol, scale, max_iter, work)
    return its


# --------------------------------------------------------------------------- driver
def integrate(
    u0: np.ndarray,
    t_frames: np.ndarray,
    *,
    dx: float,
    diffusivity: Diffusivity,
    left: Boundary,
    right: Boundary,
    dt_max: float,
    theta: float = 1.0,
    rtol: float = 1e-12,
    max_iter: int = 50,
    max_halvings: int = 12,
) -> np.ndarray:
    """Integrate ``u_t = (k(u) u_x)_x`` and return the solution at ``t_frames``.

    Parameters
    ----------
    u0 : ndarray, shape ``(n_samples, n_cells)``
        Cell averages at ``t_frames[0]``.
    t_frames : ndarray, shape ``(n_frames,)``
        Increasing output times; ``t_frames[0]`` is the time of ``u0``.
    dx : float
        Cell width.
    diffusivity : Diffusivity
        ``k(u)`` and ``Phi(u)``.
    left, right : Boundary
        Boundary conditions at ``x_min`` and ``x_max``.
    dt_max : float
        Largest time step; each frame interval is split into equal steps no larger.
    theta : float
        ``1`` backward Euler, ``0.5`` Crank–Nicolson (in ``[0.5, 1]``).
    rtol : float
        Newton stops when ``max|delta u| <= rtol * max(1, max|u_old|)``.
    max_iter : int
        Newton iterations per step before the step is halved.
    max_halvings : int
        How often a failing step may be halved before giving up.

    Returns
    -------
    ndarray, shape ``(n_samples, n_frames, n_cells)``, float64

    Raises
    ------
    SimulationError
        If Newton fails even after ``max_halvings`` halvings.
    """
    u = np.array(u0, dtype=np.float64, copy=True)
    if u.ndim != 2:
        raise ValueError(f"u0 must have shape (n_samples, n_cells), got {u.shape}")
    if not 0.5 <= theta <= 1.0:
        raise ValueError(f"theta must lie in [0.5, 1], got {theta}")
    t_frames = np.asarray(t_frames, dtype=np.float64)
    out = np.empty((u.shape[0], t_frames.size, u.shape[1]), dtype=np.float64)
    out[:, 0] = u
    step = _Stepper(dx, diffusivity, left, right, theta, rtol, max_iter, max_halvings)

    for f in range(1, t_frames.size):
        ta, tb = t_frames[f - 1], t_frames[f]
        n_sub = n_substeps(tb - ta, dt_max)
        h = (tb - ta) / n_sub
        for j in range(n_sub):
            u = step(u, ta + j * h, h)
        out[:, f] = u
    return out


@dataclass(frozen=True)
class _Stepper:
    """One theta step of every sample, halved recursively where Newton fails."""

    dx: float
    diffusivity: Diffusivity
    left: Boundary
    right: Boundary
    theta: float
    rtol: float
    max_iter: int
    max_halvings: int

    def __call__(self, v: np.ndarray, t0: float, h: float, depth: int = 0) -> np.ndarray:
        g_old = np.array([self.left.at(t0), self.right.at(t0)])
        g_new = np.array([self.left.at(t0 + h), self.right.at(t0 + h)])
        v_new = np.empty_like(v)
        its = _theta_step(v, h, self.theta, self.dx, int(self.diffusivity.kind), self.diffusivity.coefficients,
                          self.left.code, self.right.code, g_old, g_new, self.rtol, self.max_iter, v_new)
        bad = its < 0
        if bad.any():
            if depth >= self.max_halvings:
                raise SimulationError(
                    f"Newton did not converge for sample(s) {np.nonzero(bad)[0][:10].tolist()} "
                    f"at t={t0:g} even with time step {h:g}"
                )
            half = self(v[bad], t0, 0.5 * h, depth + 1)
            v_new[bad] = self(half, t0 + 0.5 * h, 0.5 * h, depth + 1)
        return v_new


def n_substeps(interval: float, dt_max: float) -> int:
    """Number of equal steps no longer than ``dt_max`` covering ``interval``."""
    return max(1, int(math.ceil(interval / dt_max - 1e-9)))
