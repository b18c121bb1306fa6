"""The generalised porous-medium equation (GPME) family of ProbConserv.

Hansen et al. (2023), "Learning Physical Models that Can Respect Conservation Laws", test
ProbConserv on the GPME

.. math::  u_t = \\partial_x ( k(u)\\, \\partial_x u ),   x \\in [0, 1],\\ t \\in [0, T],

with three choices of the diffusivity ``k(u)``:

* heat equation, ``k(u) = k`` constant (:class:`~sciml.simulators.pde.heat.HeatSimulator`,
  ``"heat1d"``, in :mod:`sciml.simulators.pde.heat`; its domain length is an option:
  ProbConserv's heat problem is ``u0 = sin x`` on ``[0, 2 pi]``);
* porous medium equation, ``k(u) = u^m`` (:class:`PorousMediumSimulator`, ``"pme1d"``);
* Stefan problem, ``k(u) = k_max 1[u >= u*]`` (:class:`~sciml.simulators.pde.stefan.StefanSimulator`,
  ``"stefan1d"``).

**Convention.** Throughout, ``k(u)`` multiplies the gradient: the flux is
``F = -k(u) u_x`` and the equation is ``u_t + F_x = 0``. With the Kirchhoff potential
``Phi(u) = int_0^u k(s) ds`` this is ``u_t = Phi(u)_xx``; for the PME
``Phi(u) = u^(m+1) / (m+1)``, i.e. in the usual notation ``v_t = Delta(v^n)`` the exponent is
``n = m + 1`` (and time is rescaled by ``1/n``). All exact solutions below are for *this*
convention.

The finite-volume numerics are described on :class:`GPMESimulator1D`; the closed forms
(:func:`~sciml.simulators.pde.heat.heat_series_solution`, :func:`pme_front_solution`, their
masses) are module functions.

**Conservation (ProbConserv's constraint ``G u = b``).** Integrating the equation over the
domain gives

.. math::  M(t) = \\int u(x, t)\\, dx = M(0) + \\int_0^t [F(x_{min}, s) - F(x_{max}, s)]\\, ds,

which every simulator here provides in closed form as :meth:`GPMESimulator1D.conserved_quantity`
(the right-hand side ``b``); :meth:`GPMESimulator1D.boundary_flux` gives
``(F(x_min, t), F(x_max, t))``. ``G`` is the quadrature row ``dx * ones(n_cells)`` acting on the
cell averages. The finite-volume scheme satisfies the discrete analogue exactly (to
round-off); with zero-flux boundaries ``sum(u) dx`` is constant.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from scipy.special import beta as beta_fn
from scipy.special import betainc

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.pde._implicit_diffusion import Boundary, Diffusivity, integrate, n_substeps
from sciml.simulators.pde.grid import PDESimulator1D

__all__ = [
    "GPMESimulator1D",
    "PorousMediumSimulator",
    "barenblatt_solution",
    "barenblatt_front",
    "barenblatt_mass",
    "pme_front_mass",
    "pme_front_solution",
    "pme_mass",
]


# =========================================================================== base
class GPMESimulator1D(PDESimulator1D):
    """Common machinery of the GPME simulators on ``x in [0, 1]``.

    Subclasses provide :meth:`diffusivity`, :meth:`boundaries`, :meth:`exact_solution`,
    :meth:`_exact_antiderivative` (for exact cell averages), :meth:`boundary_flux` and
    :meth:`conserved_quantity`.

    Cell-centred finite volumes on ``n_cells`` cells; the face flux is the exact Kirchhoff flux
    ``-(Phi(u_{i+1}) - Phi(u_i)) / dx``, Dirichlet data enter through a half-cell flux,
    zero-flux (Neumann) boundaries through ``F = 0``. Time integration is the theta scheme
    (backward Euler by default; Crank–Nicolson for the linear heat equation) with Newton's
    method and batched tridiagonal solves (see :mod:`sciml.simulators.pde._implicit_diffusion`).
    The stored values are cell averages, and the initial states are exact cell averages.

    Parameters
    ----------
    n_cells : int
        Number of cells on ``[0, length]``.
    t_final : float
        Final time (same units as ``t``, diffusivity units ``length^2 / time``).
    n_frames : int
        Number of saved frames, including ``t = 0``.
    dt : float, optional
        Largest time step. Default ``DEFAULT_DT_OVER_DX * dx``: ``dx / 2`` (the schemes are
        unconditionally stable; this balances the ``O(dt)`` time error of backward Euler with
        the ``O(dx)`` error at fronts) and ``dx / 4`` for the heat equation (Crank–Nicolson
        does not damp stiff modes, so ``k (j pi)^2 dt`` should stay ``O(1)`` for the modes
        present). Each frame interval is split into equal steps.
    theta : float
        ``1`` backward Euler (monotone, positivity preserving), ``0.5`` Crank–Nicolson.
    dtype : {"float64", "float32"}
        Type of the stored field (the integration is always float64).
    length : float
        Domain ``[0, length]`` (default 1; only :class:`HeatSimulator` exposes another value).
    """

    name: ClassVar[str] = "gpme1d"
    version: ClassVar[str] = "1"
    #: Default ``theta`` of the time integrator.
    DEFAULT_THETA: ClassVar[float] = 1.0
    #: Default largest time step as a multiple of ``dx``.
    DEFAULT_DT_OVER_DX: ClassVar[float] = 0.5

    def __init__(
        self,
        *,
        n_cells: int = 256,
        t_final: float = 1.0,
        n_frames: int = 101,
        dt: float | None = None,
        theta: float | None = None,
        dtype: str = "float64",
        initial_condition: Any = None,
        length: float = 1.0,
    ) -> None:
        if isinstance(length, bool) or not (isinstance(length, (int, float)) and math.isfinite(length)
                                            and length > 0):
            raise ParameterError(f"length must be a positive finite number, got {length!r}")
        super().__init__(n_cells=n_cells, t_final=t_final, n_frames=n_frames, x_min=0.0, x_max=float(length),
                         initial_condition=initial_condition, dtype=dtype)
        if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ParameterError(f"dt must be a positive number or None, got {dt!r}")
        theta = self.DEFAULT_THETA if theta is None else theta
        if not (isinstance(theta, (int, float)) and 0.5 <= theta <= 1.0):
            raise ParameterError(f"theta must lie in [0.5, 1], got {theta!r}")
        self.dt = float(dt) if dt is not None else self.DEFAULT_DT_OVER_DX * self.dx
        self.theta = float(theta)

    # ------------------------------------------------------------ configuration
    def config(self) -> dict[str, Any]:
        cfg = super().config()
        del cfg["x_min"], cfg["x_max"]  # the domain is [0, 1] (HeatSimulator records its length)
        cfg.update({"dt": self.dt, "theta": self.theta})
        return cfg

    def n_steps(self, params: Mapping[str, float]) -> int:
        """Number of time steps (without Newton-failure halvings)."""
        frame_dt = self.t_final / (self.n_frames - 1)
        return (self.n_frames - 1) * n_substeps(frame_dt, self.dt)

    @property
    def edges(self) -> np.ndarray:
        """Cell faces, shape ``(n_cells + 1,)``."""
        return self.x_min + np.arange(self.n_cells + 1) * self.dx

    # ------------------------------------------------------------ physics hooks
    @abstractmethod
    def diffusivity(self, params: Mapping[str, float]) -> Diffusivity:
        """``k(u)`` and its Kirchhoff potential for ``params``."""

    @abstractmethod
    def boundaries(self, params: Mapping[str, float]) -> tuple[Boundary, Boundary]:
        """Left and right boundary conditions for ``params``."""

    @abstractmethod
    def exact_solution(self, x: np.ndarray, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact point values ``u(x, t)``; ``x`` and ``t`` broadcast together."""

    @abstractmethod
    def _exact_antiderivative(self, x: np.ndarray, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """``int_0^x u(s, t) ds`` (any antiderivative in ``x``); ``x``, ``t`` broadcast."""

    @abstractmethod
    def boundary_flux(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact fluxes ``F = -k(u) u_x`` at ``x = 0`` and ``x = 1``, shape ``(*t.shape, 2)``."""

    @abstractmethod
    def conserved_quantity(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact total mass ``int_0^1 u(x, t) dx``, shape of ``t``."""

    def boundary_conditions(self, params: Mapping[str, float]) -> str:
        """Human-readable boundary conditions (stored as ``attrs["boundary_conditions"]``)."""
        left, right = self.boundaries(params)
        return f"{left.describe('x=0')}; {right.describe(f'x={self.x_max:g}')}"

    def describe_pde(self, params: Mapping[str, float]) -> str:
        """The equation and ``k(u)`` in words (stored as ``attrs["pde"]``)."""
        return "u_t = (k(u) u_x)_x on x in [0, 1]"

    # ------------------------------------------------------------ exact helpers
    def exact_cell_averages(self, t: np.ndarray | float, params: Mapping[str, float]) -> np.ndarray:
        """Exact cell averages on this simulator's grid.

        Parameters
        ----------
        t : float or ndarray
            Times.
        params : mapping
            Physical parameters.

        Returns
        -------
        ndarray, shape ``(*t.shape, n_cells)``
        """
        p = self.parameter_space.validate(params, source=self.name)
        t = np.asarray(t, dtype=np.float64)
        big = self._exact_antiderivative(self.edges, t[..., None], p)
        return np.diff(big, axis=-1) / self.dx

    # ------------------------------------------------------------ solver
    def _solve(self, u0: np.ndarray, params: dict[str, float]) -> np.ndarray:
        left, right = self.boundaries(params)
        u = integrate(u0, self.t, dx=self.dx, diffusivity=self.diffusivity(params), left=left,
                      right=right, dt_max=self.dt, theta=self.theta)
        return u.astype(self.dtype, copy=False)

    def to_dataset(self, u: np.ndarray, params: Mapping[str, float], *, seed: int | None) -> xr.Dataset:
        ds = super().to_dataset(u, params, seed=seed)
        ds.attrs["boundary_conditions"] = self.boundary_conditions(params)
        ds.attrs["pde"] = self.describe_pde(params)
        ds.attrs["conservation"] = (
            "d/dt int_0^1 u dx = F(0,t) - F(1,t), F = -k(u) u_x; cell values are cell averages"
        )
        return ds


# =========================================================================== closed-form time checks
def _check_times(t: Any, t_max: float | None, what: str) -> np.ndarray:
    """``t`` as float64, finite, ``>= 0`` and (with ``t_max``) ``<= t_max`` up to round-off.

    Raises
    ------
    ParameterError
        Naming ``what`` and the accepted range.
    """
    ts = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(ts)) or np.any(ts < 0):
        raise ParameterError(f"{what}: t must be finite and >= 0")
    if t_max is not None and np.any(ts > t_max * (1 + 1e-12)):
        raise ParameterError(
            f"{what}: the closed form holds for t <= {t_max:.6g} (the front is inside [0, 1]), got max t = "
            f"{float(ts.max()):.6g}")
    return ts


# =========================================================================== Barenblatt
def _barenblatt_alpha(m: float) -> float:
    return 1.0 / (m + 2.0)


def barenblatt_solution(x: np.ndarray, t: np.ndarray, m: float, *, C: float = 1.0, x0: float = 0.0) -> np.ndarray:
    """Barenblatt–Pattle source solution of ``u_t = (u^m u_x)_x`` (``k(u) = u^m``).

    .. math::  u(x, t) = t^{-\\alpha} \\big( C - \\tfrac{m \\alpha}{2} (x - x_0)^2 t^{-2\\alpha} \\big)_+^{1/m},
               \\quad \\alpha = \\frac{1}{m + 2}.

    (In the notation ``v_t = (v^n)_xx`` with ``n = m + 1`` this is the Barenblatt profile of
    ``v(x, t) = u(x, n t)``.) The support is ``|x - x0| <= barenblatt_front(t, m, C)`` and the
    mass ``barenblatt_mass(m, C)`` is independent of ``t``: it is the fundamental solution
    started from a Dirac mass at ``t = 0``.

    Parameters
    ----------
    x, t : array_like
        Positions and times (``t > 0``), broadcast together.
    m : float
        Exponent of ``k(u) = u^m``, ``m > 0``.
    C : float
        Positive constant fixing the mass (larger ``C``: more mass).
    x0 : float
        Centre.

    Returns
    -------
    ndarray, shape ``broadcast(x, t).shape``
    """
    if not (m > 0 and C > 0):
        raise ParameterError(f"barenblatt_solution needs m > 0 and C > 0, got m={m!r}, C={C!r}")
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if np.any(t <= 0):
        raise ParameterError("barenblatt_solution needs t > 0")
    a = _barenblatt_alpha(m)
    inner = C - 0.5 * m * a * (x - x0) ** 2 * t ** (-2.0 * a)
    return t ** (-a) * np.maximum(inner, 0.0) ** (1.0 / m)


def barenblatt_front(t: np.ndarray, m: float, C: float = 1.0) -> np.ndarray:
    """Half-width of the support, ``r(t) = sqrt(2 C / (m alpha)) t^alpha``, shape of ``t``."""
    a = _barenblatt_alpha(m)
    return np.sqrt(2.0 * C / (m * a)) * np.asarray(t, dtype=np.float64) ** a


def barenblatt_mass(m: float, C: float = 1.0) -> float:
    """Total mass ``int u dx = C^(1/m + 1/2) (m alpha / 2)^(-1/2) B(1/2, 1/m + 1)``."""
    a = _barenblatt_alpha(m)
    return float(C ** (1.0 / m + 0.5) / math.sqrt(0.5 * m * a) * beta_fn(0.5, 1.0 / m + 1.0))


def _barenblatt_antiderivative(x: np.ndarray, t: np.ndarray, m: float, C: float, x0: float) -> np.ndarray:
    """``int_{x0}^x u(s, t) ds`` in closed form (incomplete beta function)."""
    a = _barenblatt_alpha(m)
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    r = barenblatt_front(t, m, C)
    z = np.clip((x - x0) / r, -1.0, 1.0)
    p = 1.0 / m
    # u = t^-a C^p (1 - z^2)^p,  dx = r dz,  int_0^z (1-s^2)^p ds = B(1/2, p+1) I_{z^2}(1/2, p+1) / 2
    return np.sign(z) * 0.5 * beta_fn(0.5, p + 1.0) * betainc(0.5, p + 1.0, z * z) * C**p * r * t ** (-a)


# =========================================================================== PME
def pme_front_solution(x: Any, t: Any, m: float) -> np.ndarray:
    """Travelling front of ``u_t = (u^m u_x)_x``: ``u = (m (t - x))_+^(1/m)``, front at ``x = t``.

    The solution on ``[0, 1]`` of ``u0 = 0``, ``u(0, t) = (m t)^(1/m)`` (exact for ``t <= 1``).

    Parameters
    ----------
    x, t : array_like
        Broadcastable positions and times.
    m : float
        Exponent of ``k(u) = u^m``, ``m > 0``.

    Returns
    -------
    ndarray, shape ``broadcast(x, t).shape``
    """
    return np.maximum(m * (np.asarray(t, np.float64) - np.asarray(x, np.float64)), 0.0) ** (1.0 / m)


def pme_front_mass(t: Any, m: float) -> np.ndarray:
    """``int_0^1`` of :func:`pme_front_solution` ``= int_0^t (m s)^(1/m) ds = m^(1 + 1/m) t^(1 + 1/m) / (m + 1)``.

    Valid for ``0 <= t <= 1`` (not checked; see :func:`pme_mass`). Shape of ``t``.
    """
    return m ** (1.0 + 1.0 / m) * np.maximum(np.asarray(t, np.float64), 0.0) ** (1.0 + 1.0 / m) / (m + 1.0)


def pme_mass(t: Any, m: float) -> np.ndarray:
    """Mass of ProbConserv's PME problem, :func:`pme_front_mass`, with its inputs checked.

    ``u_t = (u^m u_x)_x`` on ``[0, 1]``, ``u0 = 0``, ``u(0, t) = (m t)^(1/m)``,
    ``u(1, t) = 0``; exact solution ``u = (m (t - x))_+^(1/m)`` (front at ``x = t``), so
    ``b(t) = int_0^t (m s)^(1/m) ds``. Valid for ``0 <= t <= 1``.

    Parameters
    ----------
    t : array_like
        Times in ``[0, 1]``.
    m : float
        Exponent ``m > 0``.

    Returns
    -------
    ndarray, shape of ``t``

    Raises
    ------
    ParameterError
        ``m <= 0``, or a time outside ``[0, 1]``.
    """
    if not (np.isfinite(m) and m > 0):
        raise ParameterError(f"pme_mass: m must be > 0, got {m!r}")
    return pme_front_mass(_check_times(t, 1.0, "pme_mass"), m)


class PorousMediumSimulator(GPMESimulator1D):
    """Porous medium equation ``u_t = (u^m u_x)_x`` on ``[0, 1]`` (``k(u) = u^m``).

    Two set-ups (``problem``):

    ``"front"`` (default, ProbConserv's PME benchmark)
        ``u0 = 0``, ``u(0, t) = (m t)^(1/m)``, ``u(1, t) = 0``. Exact travelling-front
        solution ``u(x, t) = (m (t - x))_+^(1/m)``: the front ``x = t`` moves at unit speed,
        so the solution is exact for ``t <= 1`` (``t_final`` defaults to 1). Flux in at
        ``x = 0``: ``F(0, t) = (m t)^(1/m)``; mass ``M(t) = m^(1/m) t^(1 + 1/m) m / (m + 1)``.

    ``"barenblatt"``
        Zero-flux (Neumann) boundaries, initial state the Barenblatt profile
        :func:`barenblatt_solution` centred at ``x0 = 1/2`` at Barenblatt time ``t0``; the
        simulation time ``t`` corresponds to Barenblatt time ``t0 + t``. The constant ``C`` is
        chosen per ``m`` so that the support half-width at ``t0 + t_final`` is
        ``support_fraction / 2``: the support stays inside ``[0, 1]``, the boundaries see no
        flux, and the mass is conserved exactly.

    Physical parameter: ``m`` in ``[1, 6]``. Integrator: backward Euler + Newton.

    Parameters
    ----------
    problem : {"front", "barenblatt"}
        The set-up, see above.
    t0 : float
        Barenblatt start time (``problem="barenblatt"``).
    support_fraction : float
        Support width at ``t_final`` as a fraction of the domain, in ``(0, 1)``.
    **kwargs
        ``n_cells``, ``t_final``, ``n_frames``, ``dt``, ``theta``, ``dtype`` of
        :class:`GPMESimulator1D`.
    """

    name: ClassVar[str] = "pme1d"
    version: ClassVar[str] = "1"
    PARAMETERS: ClassVar[ParameterSpace] = ParameterSpace((
        Parameter("m", 1.0, 6.0, units="1", description="exponent m of k(u) = u^m", default=None),
    ))
    PROBLEMS: ClassVar[tuple[str, ...]] = ("front", "barenblatt")

    def __init__(
        self,
        *,
        problem: str = "front",
        n_cells: int = 256,
        t_final: float = 1.0,
        n_frames: int = 101,
        dt: float | None = None,
        theta: float | None = None,
        t0: float = 0.1,
        support_fraction: float = 0.8,
        dtype: str = "float64",
    ) -> None:
        if problem not in self.PROBLEMS:
            raise ParameterError(f"problem must be one of {list(self.PROBLEMS)}, got {problem!r}")
        if not (isinstance(t0, (int, float)) and math.isfinite(t0) and t0 > 0):
            raise ParameterError(f"t0 must be a positive number, got {t0!r}")
        if not (isinstance(support_fraction, (int, float)) and 0 < support_fraction < 1):
            raise ParameterError(f"support_fraction must lie in (0, 1), got {support_fraction!r}")
        super().__init__(n_cells=n_cells, t_final=t_final, n_frames=n_frames, dt=dt, theta=theta,
                         dtype=dtype, initial_condition=_NamedIC(problem))
        self.problem = problem
        self.t0 = float(t0)
        self.support_fraction = float(support_fraction)
        self.x0 = 0.5 * (self.x_min + self.x_max)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        del cfg["initial_condition"]  # fixed by ``problem``
        cfg.update({"problem": self.problem, "t0": self.t0, "support_fraction": self.support_fraction})
        return cfg

    # ------------------------------------------------------------ set-up
    def barenblatt_constant(self, params: Mapping[str, float]) -> float:
        """``C`` such that the support half-width at ``t0 + t_final`` is ``support_fraction / 2``."""
        m = float(params["m"])
        a = _barenblatt_alpha(m)
        r = 0.5 * self.support_fraction * self.length
        return r**2 * m * a / (2.0 * (self.t0 + self.t_final) ** (2.0 * a))

    def diffusivity(self, params: Mapping[str, float]) -> Diffusivity:
        return Diffusivity.power(params["m"])

    def boundaries(self, params: Mapping[str, float]) -> tuple[Boundary, Boundary]:
        if self.problem == "barenblatt":
            return Boundary("neumann"), Boundary("neumann")
        m = float(params["m"])
        return Boundary("dirichlet", lambda t: (m * t) ** (1.0 / m)), Boundary("dirichlet", 0.0)

    def boundary_conditions(self, params: Mapping[str, float]) -> str:
        if self.problem == "barenblatt":
            return "x=0: zero flux (Neumann); x=1: zero flux (Neumann)"
        return "x=0: Dirichlet u = (m t)^(1/m); x=1: Dirichlet u = 0"

    def describe_pde(self, params: Mapping[str, float]) -> str:
        return (f"u_t = (k(u) u_x)_x on x in [0, 1], k(u) = u^m (porous medium, problem={self.problem!r}"
                + (f", Barenblatt time = t + {self.t0:g})" if self.problem == "barenblatt" else ")"))

    def initial_state(self, rng: np.random.Generator, n_samples: int, params: Mapping[str, float]) -> np.ndarray:
        """Deterministic: zeros (``"front"``) or Barenblatt cell averages at ``t0``; ``(n_samples, n_cells)``."""
        u0 = self.exact_cell_averages(0.0, params)
        return np.broadcast_to(u0, (n_samples, self.n_cells)).copy()

    # ------------------------------------------------------------ exact solution
    def exact_solution(self, x: np.ndarray, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact ``u(x, t)`` (simulation time ``t``), shape ``broadcast(x, t).shape``.

        ``"front"``: ``(m (t - x))_+^(1/m)``; ``"barenblatt"``:
        ``barenblatt_solution(x, t0 + t, m, C=barenblatt_constant(params), x0=1/2)``.
        """
        p = self.parameter_space.validate(params, source=self.name)
        m = p["m"]
        x = np.asarray(x, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        if self.problem == "barenblatt":
            return barenblatt_solution(x, self.t0 + t, m, C=self.barenblatt_constant(p), x0=self.x0)
        return pme_front_solution(x, t, m)

    def _exact_antiderivative(self, x, t, params):
        m = float(params["m"])
        if self.problem == "barenblatt":
            return _barenblatt_antiderivative(x, self.t0 + np.asarray(t, np.float64), m,
                                              self.barenblatt_constant(params), self.x0)
        # d/dx [ -(m (t - x))_+^((m+1)/m) / (m + 1) ] = (m (t - x))_+^(1/m)
        return -np.maximum(m * (np.asarray(t, np.float64) - np.asarray(x, np.float64)), 0.0) ** (
            (m + 1.0) / m) / (m + 1.0)

    def boundary_flux(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact ``(F(0, t), F(1, t))``, ``F = -u^m u_x``; shape ``(*t.shape, 2)``.

        ``"front"``: ``F(0, t) = (m t)^(1/m)`` (on the front solution ``u^m u_x = -u``),
        ``F(1, t) = 0`` for ``t <= 1``. ``"barenblatt"``: both zero.
        """
        p = self.parameter_space.validate(params, source=self.name)
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(t.shape + (2,))
        if self.problem == "front":
            m = p["m"]
            out[..., 0] = np.maximum(m * t, 0.0) ** (1.0 / m)
            out[..., 1] = np.maximum(m * (t - 1.0), 0.0) ** (1.0 / m)
        return out

    def conserved_quantity(self, t: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Exact mass ``int_0^1 u dx``, shape of ``t``.

        ``"front"``: :func:`pme_front_mass` (for ``t <= 1``);
        ``"barenblatt"``: the constant :func:`barenblatt_mass` ``(m, C)``.
        """
        p = self.parameter_space.validate(params, source=self.name)
        t = np.asarray(t, dtype=np.float64)
        m = p["m"]
        if self.problem == "barenblatt":
            return np.full(t.shape, barenblatt_mass(m, self.barenblatt_constant(p)))
        return pme_front_mass(t, m)


@dataclass(frozen=True)
class _NamedIC:
    """Placeholder initial condition of deterministic set-ups (recorded in the config)."""

    kind: str

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        raise NotImplementedError("deterministic set-up: the simulator overrides initial_state")

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind}
