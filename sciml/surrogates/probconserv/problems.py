"""ProbConserv's problem suite: parameterised conservation laws with exact solutions.

Hansen et al. (2023), "Learning Physical Models that Can Respect Conservation Laws" (ICML),
train an Attentive Neural Process (ANP) on solutions of a family of PDEs indexed by one
physical parameter, observed at random space-time points (the *context*), and predict the
solution on a dense space-time grid (the *target*); at test time they evaluate the
prediction at one time ``eval_time`` and for a few parameter values. This module is the data
side of that set-up: one :class:`ConservationProblem` per PDE, each with

* its exact solution :meth:`~ConservationProblem.exact` ``u(x, t; p)`` and the exact
  conserved quantity :meth:`~ConservationProblem.conserved` ``b(t) = int u(x, t) dx``
  (the right-hand side of ProbConserv's constraint ``G u(t) = b(t)``);
* its differential residual :meth:`~ConservationProblem.pde_residual` (the penalty of the
  SoftC / PINN-style baseline);
* samplers of parameters and of ANP batches (:meth:`~ConservationProblem.sample_params`,
  :meth:`~ConservationProblem.sample_batch`), the space-time target grid
  (:meth:`~ConservationProblem.target_grid`, :func:`grid_points`) and the constraint
  (:meth:`~ConservationProblem.constraint`).

The problems (registry :data:`PROBLEMS`, :func:`get_problem`)
--------------------------------------------------------------

* ``heat``: ``u_t = k u_xx``; ``k`` in ``[1, 5]``, test ``k`` in ``{1, 5}``; ``t in [0, 1]``,
  evaluated at ``t = 0.5``.
* ``pme``: ``u_t = (u^m u_x)_x``; ``m`` in ``[1, 6]``, test ``{1, 3, 6}``; ``t in [0, 1]``,
  evaluated at ``t = 0.5``.
* ``stefan``: ``u_t = (k(u) u_x)_x``, ``k(u) = 1[u >= u*]``; ``u_star`` in ``[0.55, 0.7]``,
  test ``0.6`` (in-domain) and ``0.5`` (out-of-domain); ``t in [0, 0.1]``, evaluated at
  ``t = 0.05``.
* ``advection``: ``u_t + beta u_x = 0``, step initial state; ``beta`` in ``[1, 5]``, test
  ``{1, 3, 5}``; ``t in [0, 0.1]``, evaluated at ``t = 0.05``.
* ``burgers``: ``u_t + (u^2 / 2)_x = 0``, Riemann initial state with a shock; ``u_left`` in
  ``[1, 2]``, test ``{1, 1.5, 2}``; ``t in [0, 0.5]``, evaluated at ``t = 0.25``.

All registered problems are set on ``x in [0, 1]``; see each class for the boundary data,
exact solution and ``b(t)``. The default target grid is ProbConserv's ``201 x 201``
(``n_t x n_x``, uniform, including the end points); smaller grids via
``target_grid(n_t, n_x)``, ``grid=(n_t, n_x)`` or :meth:`ConservationProblem.with_grid`.

The exact solutions are closed forms written out here (they agree with
:class:`~sciml.simulators.pde.porous_medium.HeatSimulator`,
:class:`~sciml.simulators.pde.porous_medium.PorousMediumSimulator` (``problem="front"``) and
:class:`~sciml.simulators.pde.stefan.StefanSimulator`, whose parameter spaces are the
*training* ranges; here any physically admissible value is accepted, e.g. the
out-of-domain Stefan test value ``u* = 0.5``). Each closed form holds while a front or shock
is inside the domain; :meth:`ConservationProblem.valid_until` gives that time, and times
beyond it raise :class:`~sciml.errors.ParameterError`.

Conventions
-----------
* Points are ``(t, x)`` pairs (time first), as ProbConserv's ANP inputs.
* Space-time grids are **time-major**: :func:`grid_points` row ``i * n_x + j`` is
  ``(t_i, x_j)``, so values at the points reshape to ``(n_t, n_x)`` (C order) and row ``i`` is
  the profile ``u(t_i, .)`` on which ``G`` acts.
* Units: everything is dimensionless (``x`` and ``t`` in the units of the PDE).
* Randomness only through a ``numpy.random.Generator`` or ``torch.Generator`` passed in.
* Bad input raises :class:`~sciml.errors.ParameterError` (a ``ValueError``) that names the
  accepted values.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from scipy.special import erf
from torch import Tensor

from sciml.errors import ParameterError
from sciml.simulators.pde.stefan import stefan_alpha
from sciml.surrogates.probconserv.constraints import constraint_matrix, heat_mass, pme_mass, stefan_mass

__all__ = [
    "PROBLEMS",
    "AdvectionProblem",
    "BurgersProblem",
    "ConservationProblem",
    "HeatProblem",
    "PMEProblem",
    "ProblemBatch",
    "StefanProblem",
    "evaluation_slice",
    "get_problem",
    "grid_points",
    "nearest_time_index",
]

Split = Literal["train", "test"]
Rng = np.random.Generator | torch.Generator

_T_TOL = 1e-12  # relative slack on time limits (round-off of linspace end points)


# =========================================================================== helpers
def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _as_1d_float(a: Any, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 1:
        raise ParameterError(f"{name} must be a non-empty 1D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be finite")
    return arr


def _params_array(params: Any) -> np.ndarray:
    """``(B,)`` float64 from a scalar, ``(B,)`` or ``(B, 1)`` array / tensor."""
    if isinstance(params, Tensor):
        params = params.detach().cpu().numpy()
    try:
        arr = np.asarray(params, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"params must be real numbers, shape (B,) or (B, 1), got {params!r}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1 or arr.size < 1:
        raise ParameterError(f"params must have shape (B,) or (B, 1) with B >= 1, got {arr.shape}")
    return arr


@lru_cache(maxsize=1024)
def _stefan_alpha(u_star: float) -> float:
    return stefan_alpha(u_star)


def grid_points(t: Any, x: Any) -> np.ndarray:
    """All ``(t, x)`` pairs of a tensor-product space-time grid, time-major.

    Parameters
    ----------
    t : array_like, shape ``(n_t,)``
        Times.
    x : array_like, shape ``(n_x,)``
        Positions.

    Returns
    -------
    ndarray, shape ``(n_t * n_x, 2)``
        Row ``i * n_x + j`` is ``(t[i], x[j])``; values ``v`` at these points satisfy
        ``v.reshape(n_t, n_x)[i, j] = v(t[i], x[j])``.
    """
    ts = _as_1d_float(t, "t")
    xs = _as_1d_float(x, "x")
    tt, xx = np.meshgrid(ts, xs, indexing="ij")
    return np.stack([tt.ravel(), xx.ravel()], axis=-1)


def nearest_time_index(t: Any, eval_time: float) -> int:
    """Index of the time in ``t`` nearest to ``eval_time`` (the first one on a tie).

    Parameters
    ----------
    t : array_like, shape ``(n_t,)``
        Increasing times.
    eval_time : float
        Must lie in ``[t[0], t[-1]]``.

    Returns
    -------
    int
    """
    ts = _as_1d_float(t, "t")
    if not (isinstance(eval_time, (int, float, np.floating, np.integer)) and math.isfinite(eval_time)):
        raise ParameterError(f"eval_time must be a finite number, got {eval_time!r}")
    if not ts[0] - 1e-12 * max(1.0, abs(ts[0])) <= eval_time <= ts[-1] + 1e-12 * max(1.0, abs(ts[-1])):
        raise ParameterError(
            f"eval_time = {eval_time:g} lies outside the time grid [{ts[0]:g}, {ts[-1]:g}]")
    return int(np.argmin(np.abs(ts - eval_time)))


def evaluation_slice(u_grid: Any, t: Any, eval_time: float) -> Any:
    """The profile at the grid time nearest to ``eval_time``.

    Parameters
    ----------
    u_grid : ndarray or Tensor, shape ``(..., n_t, n_x)``
        Values on a space-time grid (time axis second to last).
    t : array_like, shape ``(n_t,)``
        The grid's times.
    eval_time : float
        Evaluation time (e.g. ``problem.eval_time``), inside ``[t[0], t[-1]]``.

    Returns
    -------
    ndarray or Tensor, shape ``(..., n_x)``
        ``u_grid[..., i, :]`` with ``i = nearest_time_index(t, eval_time)`` (a view).
    """
    ts = _as_1d_float(t, "t")
    if u_grid.ndim < 2 or u_grid.shape[-2] != ts.size:
        raise ParameterError(
            f"u_grid must have shape (..., n_t, n_x) with n_t = len(t) = {ts.size}, got {tuple(u_grid.shape)}")
    return u_grid[..., nearest_time_index(ts, eval_time), :]


# =========================================================================== batch
@dataclass(frozen=True)
class ProblemBatch:
    """One batch of ANP data: random context observations and grid targets.

    Attributes
    ----------
    context_x : Tensor, shape ``(B, n_context, 2)``
        Context inputs ``(t, x)``, drawn without replacement from the space-time grid.
    context_y : Tensor, shape ``(B, n_context, 1)``
        Exact solution at the context points (plus Gaussian noise of std ``noise_std``).
    target_x : Tensor, shape ``(B, N, 2)``
        Target inputs ``(t, x)``: the whole grid in time-major order (``N = n_t n_x``) or a
        random subset of ``N = n_target`` grid points (sorted by grid index).
    target_y : Tensor, shape ``(B, N, 1)``
        Exact solution at the target points (noise-free).
    params : Tensor, shape ``(B, 1)``
        The physical parameter of each batch element.
    t : Tensor, shape ``(n_t,)``
        Times of the grid.
    x : Tensor, shape ``(n_x,)``
        Positions of the grid.
    context_index : Tensor of int64, shape ``(B, n_context)``
        Flat grid indices of the context points (``i * n_x + j``), increasing.
    target_index : Tensor of int64, shape ``(B, N)``, optional
        Flat grid indices of the targets; ``None`` for the dense grid.
    """

    context_x: Tensor
    context_y: Tensor
    target_x: Tensor
    target_y: Tensor
    params: Tensor
    t: Tensor
    x: Tensor
    context_index: Tensor
    target_index: Tensor | None = None

    @property
    def dense(self) -> bool:
        """Whether the targets are the whole grid (then ``target_y.reshape(B, n_t, n_x)`` works)."""
        return self.target_index is None

    @property
    def grid_shape(self) -> tuple[int, int]:
        """``(n_t, n_x)``."""
        return int(self.t.numel()), int(self.x.numel())

    def to(self, device: torch.device | str) -> ProblemBatch:
        """A copy with every tensor moved to ``device``."""
        return dataclasses.replace(self, **{
            f.name: (getattr(self, f.name).to(device) if getattr(self, f.name) is not None else None)
            for f in dataclasses.fields(self)})


# =========================================================================== base
@dataclass(frozen=True, kw_only=True)
class ConservationProblem(ABC):
    """A one-parameter family of 1D conservation laws with an exact solution.

    Attributes
    ----------
    name : str
        Registry key.
    param_name : str
        Name of the physical parameter ``p``.
    train_range : (float, float)
        ``p`` is drawn uniformly from ``[lo, hi]`` for training.
    test_values : tuple of float
        The paper's test parameters (in-domain and, for some problems, out-of-domain).
    x_range : (float, float)
        Spatial domain.
    t_range : (float, float)
        Time interval of the target grid.
    eval_time : float
        ProbConserv's evaluation time (inside ``t_range``).
    n_t, n_x : int
        Default target grid size (ProbConserv: 201 x 201), each ``>= 2``.
    description : str
        The PDE and set-up in words.
    """

    name: str
    param_name: str
    train_range: tuple[float, float]
    test_values: tuple[float, ...]
    x_range: tuple[float, float] = (0.0, 1.0)
    t_range: tuple[float, float] = (0.0, 1.0)
    eval_time: float = 0.5
    n_t: int = 201
    n_x: int = 201
    description: str = ""

    #: Whether the closed form is written for the unit domain ``x_range = (0, 1)`` only.
    UNIT_DOMAIN: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.UNIT_DOMAIN and tuple(self.x_range) != (0.0, 1.0):
            raise ParameterError(
                f"{self.name}: {type(self).__name__} is set on x_range (0, 1), got {self.x_range}")
        _positive_int(self.n_t, "n_t", 2)
        _positive_int(self.n_x, "n_x", 2)
        lo, hi = self.train_range
        if not lo <= hi:
            raise ParameterError(f"{self.name}: train_range must satisfy lo <= hi, got {self.train_range}")
        for rng_, what in ((self.x_range, "x_range"), (self.t_range, "t_range")):
            if len(rng_) != 2 or not (math.isfinite(rng_[0]) and math.isfinite(rng_[1]) and rng_[0] < rng_[1]):
                raise ParameterError(f"{self.name}: {what} must be a finite pair (lo, hi) with lo < hi, got {rng_}")
        if self.t_range[0] < 0:
            raise ParameterError(f"{self.name}: t_range must start at t >= 0, got {self.t_range}")
        if not self.t_range[0] <= self.eval_time <= self.t_range[1]:
            raise ParameterError(f"{self.name}: eval_time {self.eval_time} outside t_range {self.t_range}")
        for p in (lo, hi, *self.test_values):
            self.check_param(p)
            self._check_times(np.asarray(self.t_range), float(p))

    # ------------------------------------------------------------ physics (subclasses)
    @property
    @abstractmethod
    def admissible(self) -> str:
        """The physically admissible parameter values, as text for error messages."""

    @abstractmethod
    def _param_ok(self, p: float) -> bool:
        """Whether ``p`` is physically admissible (the text is :attr:`admissible`)."""

    @abstractmethod
    def valid_until(self, p: float) -> float:
        """Last time at which the closed form is exact on the domain (``inf`` if always)."""

    @abstractmethod
    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        """Closed form on broadcast float64 arrays (validated)."""

    @abstractmethod
    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        """Closed-form mass on a float64 array of validated times."""

    @abstractmethod
    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        """Residual of the differential form, zero for a smooth solution.

        Parameters
        ----------
        u, u_t, u_x, u_xx : Tensor
            The field and its derivatives at the same points (e.g. autograd derivatives of
            a model's mean), mutually broadcastable.
        p : float or Tensor
            The physical parameter, broadcastable against ``u`` (e.g. shape ``(B, 1, 1)``).

        Returns
        -------
        Tensor, shape ``broadcast(u, u_t, u_x, u_xx, p)``
        """

    def front_position(self, t: Any, p: float) -> np.ndarray | None:
        """Position of the front / shock at times ``t`` (``None`` if the solution is smooth)."""
        return None

    # ------------------------------------------------------------ validation
    def check_param(self, p: Any) -> float:
        """``p`` as a float, or :class:`~sciml.errors.ParameterError` naming the admissible range."""
        if isinstance(p, Tensor):
            p = p.detach().cpu().numpy()
        arr = np.asarray(p)
        if arr.size != 1 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ParameterError(f"{self.name}: {self.param_name} must be a real number, got {p!r}")
        val = float(arr.reshape(()))
        if not (math.isfinite(val) and self._param_ok(val)):
            raise ParameterError(
                f"{self.name}: {self.param_name} = {val!r} is not admissible; accepted: {self.admissible}")
        return val

    def _check_times(self, t: np.ndarray, p: float) -> None:
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ParameterError(f"{self.name}: times must be finite and >= 0")
        t_max = self.valid_until(p)
        if t.size and float(t.max()) > t_max * (1.0 + _T_TOL):
            raise ParameterError(
                f"{self.name}: the exact solution for {self.param_name} = {p:g} holds for 0 <= t <= {t_max:.6g} "
                f"(front inside the domain {self.x_range}), got t = {float(t.max()):.6g}")

    def _check_x(self, x: np.ndarray) -> None:
        lo, hi = self.x_range
        tol = 1e-12 * max(1.0, abs(lo), abs(hi))
        if not np.all(np.isfinite(x)) or np.any(x < lo - tol) or np.any(x > hi + tol):
            raise ParameterError(f"{self.name}: positions must lie in the domain x in [{lo:g}, {hi:g}]")

    # ------------------------------------------------------------ exact solution and mass
    def exact(self, x: Any, t: Any, p: float) -> np.ndarray:
        """Exact solution ``u(x, t; p)``.

        Parameters
        ----------
        x : array_like
            Positions in ``x_range``.
        t : array_like
            Times in ``[0, valid_until(p)]``, broadcastable with ``x`` (e.g. ``t[:, None]``
            and ``x[None, :]`` for a ``(n_t, n_x)`` grid).
        p : float
            The physical parameter (any admissible value, not only the training range).

        Returns
        -------
        ndarray, shape ``broadcast(x, t).shape``, float64
        """
        p = self.check_param(p)
        xb, tb = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
        self._check_x(xb)
        self._check_times(tb, p)
        return np.asarray(self._exact(xb, tb, p), dtype=np.float64)

    def conserved(self, t: Any, p: float) -> np.ndarray:
        """Exact conserved quantity ``b(t) = int_{x_range} u(x, t; p) dx``.

        Parameters
        ----------
        t : array_like, shape ``(n_t,)`` (any shape works)
            Times in ``[0, valid_until(p)]``.
        p : float
            The physical parameter.

        Returns
        -------
        ndarray, shape of ``t``, float64
        """
        p = self.check_param(p)
        ts = np.asarray(t, dtype=np.float64)
        self._check_times(ts, p)
        return np.asarray(self._conserved(ts, p), dtype=np.float64)

    def conserved_for(self, t: Any, params: Any) -> np.ndarray:
        """``b(t)`` for a batch of parameters, as a constraint right-hand side.

        Parameters
        ----------
        t : array_like, shape ``(n_t,)``
        params : array_like or Tensor, shape ``(B,)`` or ``(B, 1)``

        Returns
        -------
        ndarray, shape ``(B, n_t, 1)``, float64
        """
        ts = _as_1d_float(t, "t")
        return np.stack([self.conserved(ts, p) for p in _params_array(params)])[..., None]

    def solution_on_grid(self, params: Any, t: Any, x: Any) -> np.ndarray:
        """Exact solution on a space-time grid for a batch of parameters.

        Returns
        -------
        ndarray, shape ``(B, n_t, n_x)``, float64 (``[b, i, j] = u(x_j, t_i; params_b)``)
        """
        ts, xs = _as_1d_float(t, "t"), _as_1d_float(x, "x")
        return np.stack([self.exact(xs[None, :], ts[:, None], p) for p in _params_array(params)])

    # ------------------------------------------------------------ grids and constraint
    def with_grid(self, n_t: int, n_x: int) -> ConservationProblem:
        """The same problem with another default target grid size."""
        return dataclasses.replace(self, n_t=_positive_int(n_t, "n_t", 2), n_x=_positive_int(n_x, "n_x", 2))

    def target_grid(self, n_t: int | None = None, n_x: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Uniform target grid (end points included).

        Parameters
        ----------
        n_t, n_x : int, optional
            Numbers of times and positions (``>= 2``); default :attr:`n_t`, :attr:`n_x`.

        Returns
        -------
        t : ndarray, shape ``(n_t,)``
            ``linspace(*t_range, n_t)``.
        x : ndarray, shape ``(n_x,)``
            ``linspace(*x_range, n_x)``.
        """
        n_t = self.n_t if n_t is None else _positive_int(n_t, "n_t", 2)
        n_x = self.n_x if n_x is None else _positive_int(n_x, "n_x", 2)
        return np.linspace(*self.t_range, n_t), np.linspace(*self.x_range, n_x)

    @staticmethod
    def grid_points(t: Any, x: Any) -> np.ndarray:
        """Time-major ``(t, x)`` pairs, shape ``(n_t * n_x, 2)``; see :func:`grid_points`."""
        return grid_points(t, x)

    def constraint(self, t: Any, x: Any) -> tuple[np.ndarray, Callable[[Any], np.ndarray]]:
        """ProbConserv's constraint ``G u(t) = b(t)`` on a space-time grid.

        Parameters
        ----------
        t : array_like, shape ``(n_t,)``
            Times.
        x : array_like, shape ``(n_x,)``
            Strictly increasing positions spanning the whole domain (``x[0]``, ``x[-1]`` = the
            ends of ``x_range``; otherwise ``G u`` is not the total mass).

        Returns
        -------
        G : ndarray, shape ``(1, n_x)``
            Trapezoid weights, :func:`~sciml.surrogates.probconserv.constraints.constraint_matrix`.
        b_fn : callable
            ``b_fn(params)`` -> ndarray ``(B, n_t, 1)``: :meth:`conserved_for` ``(t, params)``.
        """
        ts, xs = _as_1d_float(t, "t"), _as_1d_float(x, "x")
        lo, hi = self.x_range
        tol = 1e-9 * max(1.0, hi - lo)
        if xs.size < 2 or abs(xs[0] - lo) > tol or abs(xs[-1] - hi) > tol:
            raise ParameterError(
                f"{self.name}: the constraint grid x must run from {lo:g} to {hi:g} (the whole domain), got "
                f"[{xs[0]:g}, {xs[-1]:g}] with {xs.size} points")
        g = constraint_matrix(xs, "trapezoid")

        def b_fn(params: Any) -> np.ndarray:
            return self.conserved_for(ts, params)

        return g, b_fn

    # ------------------------------------------------------------ sampling
    def sample_params(self, n: int, rng: np.random.Generator, *, split: Split = "train") -> np.ndarray:
        """Draw ``n`` parameter values.

        Parameters
        ----------
        n : int
            Number of values, ``>= 1``.
        rng : numpy.random.Generator
        split : {"train", "test"}
            ``"train"``: uniform on :attr:`train_range`; ``"test"``: uniform choice among
            :attr:`test_values`.

        Returns
        -------
        ndarray, shape ``(n,)``, float64
        """
        n = _positive_int(n, "n")
        if not isinstance(rng, np.random.Generator):
            raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if split == "train":
            return rng.uniform(*self.train_range, size=n)
        if split == "test":
            return rng.choice(np.asarray(self.test_values, dtype=np.float64), size=n)
        raise ParameterError(f"split must be 'train' or 'test', got {split!r}")

    def sample_batch(
        self,
        params: Any,
        *,
        n_context: int = 100,
        n_target: int | None = None,
        rng: Rng,
        grid: tuple[int, int] | None = None,
        noise_std: float = 0.0,
        dtype: torch.dtype = torch.float32,
    ) -> ProblemBatch:
        """ANP data for a batch of parameters: random context points and grid targets.

        For each parameter, ``n_context`` distinct points of the ``(n_t, n_x)`` space-time grid
        are drawn uniformly at random as the context (ProbConserv's observations of the
        solution); the targets are the whole grid (``n_target=None``) or ``n_target`` distinct
        random grid points drawn independently of the context.

        Parameters
        ----------
        params : array_like or Tensor, shape ``(B,)`` or ``(B, 1)``
            Physical parameters (e.g. from :meth:`sample_params`).
        n_context : int
            Context points per element, ``1 <= n_context <= n_t * n_x``.
        n_target : int, optional
            Random target points per element (``<= n_t * n_x``); ``None``: the dense grid.
        rng : numpy.random.Generator or torch.Generator
            Source of the random points and the noise.
        grid : (int, int), optional
            ``(n_t, n_x)``, default ``(self.n_t, self.n_x)``.
        noise_std : float
            Standard deviation of Gaussian noise added to ``context_y`` (``>= 0``; targets are
            noise-free).
        dtype : torch.dtype
            Floating dtype of the returned tensors.

        Returns
        -------
        ProblemBatch
        """
        ps = np.array([self.check_param(p) for p in _params_array(params)])
        if grid is None:
            grid = (self.n_t, self.n_x)
        if not (isinstance(grid, (tuple, list)) and len(grid) == 2):
            raise ParameterError(f"grid must be a pair (n_t, n_x), got {grid!r}")
        t, x = self.target_grid(*grid)
        n_pts = t.size * x.size
        n_context = _positive_int(n_context, "n_context")
        if n_context > n_pts:
            raise ParameterError(
                f"n_context = {n_context} exceeds the {n_pts} points of the {t.size} x {x.size} grid; "
                f"accepted: 1 <= n_context <= {n_pts}")
        if n_target is not None:
            n_target = _positive_int(n_target, "n_target")
            if n_target > n_pts:
                raise ParameterError(
                    f"n_target = {n_target} exceeds the {n_pts} points of the {t.size} x {x.size} grid; "
                    f"accepted: 1 <= n_target <= {n_pts} or None (dense grid)")
        if not (isinstance(noise_std, (int, float, np.floating)) and math.isfinite(noise_std) and noise_std >= 0):
            raise ParameterError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ParameterError(f"dtype must be a floating torch dtype, got {dtype!r}")
        if not isinstance(rng, (np.random.Generator, torch.Generator)):
            raise ParameterError(
                f"rng must be a numpy.random.Generator or a torch.Generator, got {type(rng).__name__}")

        u = self.solution_on_grid(ps, t, x).reshape(ps.size, n_pts)  # (B, N) time-major
        pts = grid_points(t, x)  # (N, 2)

        def draw(k: int) -> np.ndarray:
            if isinstance(rng, np.random.Generator):
                idx = np.stack([rng.choice(n_pts, size=k, replace=False) for _ in range(ps.size)])
            else:
                idx = np.stack([torch.randperm(n_pts, generator=rng)[:k].numpy() for _ in range(ps.size)])
            return np.sort(idx, axis=1)

        c_idx = draw(n_context)
        c_y = np.take_along_axis(u, c_idx, axis=1)
        if noise_std > 0:
            if isinstance(rng, np.random.Generator):
                eps = rng.standard_normal(c_y.shape)
            else:
                eps = torch.randn(c_y.shape, generator=rng, dtype=torch.float64).numpy()
            c_y = c_y + noise_std * eps
        if n_target is None:
            t_idx = None
            t_x = np.broadcast_to(pts, (ps.size, n_pts, 2))
            t_y = u
        else:
            t_idx = draw(n_target)
            t_x = pts[t_idx]
            t_y = np.take_along_axis(u, t_idx, axis=1)

        def tt(a: np.ndarray) -> Tensor:
            return torch.tensor(np.asarray(a), dtype=dtype)  # a copy (``a`` may be a read-only view)

        return ProblemBatch(
            context_x=tt(pts[c_idx]),
            context_y=tt(c_y[..., None]),
            target_x=tt(t_x),
            target_y=tt(t_y[..., None]),
            params=tt(ps[:, None]),
            t=tt(t),
            x=tt(x),
            context_index=torch.as_tensor(c_idx, dtype=torch.int64),
            target_index=None if t_idx is None else torch.as_tensor(t_idx, dtype=torch.int64),
        )


def _gpme_residual(u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, k: Tensor | float, dk: Tensor | float) -> Tensor:
    """``u_t - (k(u) u_x)_x = u_t - k'(u) u_x^2 - k(u) u_xx``."""
    return u_t - dk * u_x**2 - k * u_xx


# =========================================================================== heat
@dataclass(frozen=True, kw_only=True)
class HeatProblem(ConservationProblem):
    """Heat equation ``u_t = k u_xx`` on ``[0, 1]``, ``u(0, t) = u(1, t) = 0``, ``u0 = sin(pi x)``.

    ProbConserv's "easy" GPME member (``k(u) = k``). Exact solution
    ``u = exp(-pi^2 k t) sin(pi x)`` (:class:`~sciml.simulators.pde.porous_medium.HeatSimulator`);
    mass ``b(t) = (2 / pi) exp(-pi^2 k t)`` (:func:`~sciml.surrogates.probconserv.constraints.heat_mass`),
    which decays through the boundary fluxes. Parameter ``k`` (admissible ``k > 0``): train
    range ``[1, 5]``, test ``k`` in ``{1, 5}``; ``t in [0, 1]``, evaluation at ``t = 0.5``.
    Residual ``u_t - k u_xx``.
    """

    @property
    def admissible(self) -> str:
        return "k > 0"

    def _param_ok(self, p: float) -> bool:
        return p > 0

    def valid_until(self, p: float) -> float:
        return math.inf

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        return np.exp(-(math.pi**2) * p * t) * np.sin(math.pi * x)

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return heat_mass(t, p)

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
    (:func:`~sciml.surrogates.probconserv.constraints.pme_mass`). Parameter ``m`` (admissible
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
        return np.maximum(p * (t - x), 0.0) ** (1.0 / p)

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
    ``c1 = (1 - u*) / erf(alpha)`` (:func:`~sciml.surrogates.probconserv.constraints.stefan_mass`),
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
        """Similarity constant ``alpha(u*)``."""
        return _stefan_alpha(self.check_param(p))

    def valid_until(self, p: float) -> float:
        return 1.0 / (4.0 * _stefan_alpha(p) ** 2 * self.k_max)

    def front_position(self, t: Any, p: float) -> np.ndarray:
        """``x*(t) = 2 alpha sqrt(k_max t)``."""
        return 2.0 * self.alpha(p) * np.sqrt(self.k_max * np.asarray(t, dtype=np.float64))

    def _exact(self, x: np.ndarray, t: np.ndarray, p: float) -> np.ndarray:
        a = _stefan_alpha(p)
        c = 2.0 * np.sqrt(self.k_max * t)
        safe_c = np.where(c > 0, c, 1.0)
        inside = 1.0 - (1.0 - p) * erf(x / safe_c) / math.erf(a)
        inside = np.where(c > 0, inside, np.where(x <= 0, 1.0, 0.0))
        return np.where(x <= a * c, inside, 0.0)

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
        xf = self.x0 + self._speed(p) * t
        # the mean value exactly on the discontinuity (what makes the trapezoid rule exact there)
        return np.where(x < xf, ul, np.where(x > xf, ur, 0.5 * (ul + ur)))

    def _mass0(self, p: float) -> float:
        ul, ur = self._states(p)
        return (self.x0 - self.x_range[0]) * ul + (self.x_range[1] - self.x0) * ur


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
        return self._mass0(p) + p * t * (self.u_left - self.u_right)

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
        return 0.5 * (p + self.u_right)

    def _states(self, p: float) -> tuple[float, float]:
        return p, self.u_right

    def shock_speed(self, p: float) -> float:
        """Rankine–Hugoniot speed ``s = (u_L + u_R) / 2``."""
        return self._speed(self.check_param(p))

    def _conserved(self, t: np.ndarray, p: float) -> np.ndarray:
        return self._mass0(p) + t * 0.5 * (p**2 - self.u_right**2)

    def pde_residual(self, u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, p: float | Tensor) -> Tensor:
        return u_t + u * u_x


# =========================================================================== registry
PROBLEMS: dict[str, ConservationProblem] = {
    "heat": HeatProblem(
        name="heat", param_name="k", train_range=(1.0, 5.0), test_values=(1.0, 5.0),
        t_range=(0.0, 1.0), eval_time=0.5,
        description="u_t = k u_xx, u0 = sin(pi x), u = 0 at x = 0, 1"),
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


def get_problem(name: str) -> ConservationProblem:
    """The registered problem ``name`` (one of :data:`PROBLEMS`).

    Raises
    ------
    ParameterError
        For an unknown name; the message lists the accepted names.
    """
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown ProbConserv problem {name!r}; accepted: {sorted(PROBLEMS)}") from None
