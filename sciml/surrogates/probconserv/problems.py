"""The data side of ProbConserv: a conservation law with an exact solution, its grids and batches.

Hansen et al. (2023), "Learning Physical Models that Can Respect Conservation Laws" (ICML),
train an attentive neural process on solutions of a family of PDEs indexed by one physical
parameter, observed at random space-time points (the *context*), and predict the solution on
a dense space-time grid (the *target*). A :class:`ConservationProblem` holds one such family:
its exact solution :meth:`~ConservationProblem.exact`, the conserved quantity
:meth:`~ConservationProblem.conserved` ``b(t) = int u(x, t) dx`` (the right-hand side of the
constraint ``G u(t) = b(t)``, :meth:`~ConservationProblem.constraint`), the residual of the
differential form (the SoftC penalty) and the samplers of parameters and ANP batches
(:class:`ProblemBatch`). The five problems of the paper are in
:mod:`~sciml.surrogates.probconserv.problem_suite`.

Conventions: points are ``(t, x)`` pairs (time first); space-time grids are **time-major**
(:func:`grid_points` row ``i * n_x + j`` is ``(t_i, x_j)``, so values reshape to
``(n_t, n_x)`` and row ``i`` is the profile on which ``G`` acts); everything is dimensionless;
randomness only through a ``numpy.random.Generator`` or ``torch.Generator`` passed in; bad
input raises :class:`~sciml.errors.ParameterError` naming the accepted values.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ParameterError
from sciml.surrogates.probconserv.constraints import constraint_matrix

__all__ = [
    "ConservationProblem",
    "ProblemBatch",
    "evaluation_slice",
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
        t, x = self.target_grid(*self._check_grid(grid))
        n_pts = t.size * x.size
        n_context, n_target = _check_sampling(n_pts, t.size, x.size, n_context, n_target, noise_std, dtype, rng)
        u = self.solution_on_grid(ps, t, x).reshape(ps.size, n_pts)  # (B, N) time-major
        pts = grid_points(t, x)  # (N, 2)
        c_idx = _draw_indices(rng, n_pts, n_context, ps.size)
        c_y = np.take_along_axis(u, c_idx, axis=1)
        if noise_std > 0:
            c_y = c_y + noise_std * _standard_normal(rng, c_y.shape)
        if n_target is None:
            t_idx = None
            t_x = np.broadcast_to(pts, (ps.size, n_pts, 2))
            t_y = u
        else:
            t_idx = _draw_indices(rng, n_pts, n_target, ps.size)
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

    def _check_grid(self, grid: tuple[int, int] | None) -> tuple[int, int]:
        if grid is None:
            return self.n_t, self.n_x
        if not (isinstance(grid, (tuple, list)) and len(grid) == 2):
            raise ParameterError(f"grid must be a pair (n_t, n_x), got {grid!r}")
        return grid[0], grid[1]


def _check_sampling(n_pts: int, n_t: int, n_x: int, n_context: Any, n_target: Any, noise_std: Any,
                    dtype: Any, rng: Any) -> tuple[int, int | None]:
    """Validated ``(n_context, n_target)`` of :meth:`ConservationProblem.sample_batch` (and its other inputs)."""
    n_context = _positive_int(n_context, "n_context")
    if n_context > n_pts:
        raise ParameterError(
            f"n_context = {n_context} exceeds the {n_pts} points of the {n_t} x {n_x} grid; "
            f"accepted: 1 <= n_context <= {n_pts}")
    if n_target is not None:
        n_target = _positive_int(n_target, "n_target")
        if n_target > n_pts:
            raise ParameterError(
                f"n_target = {n_target} exceeds the {n_pts} points of the {n_t} x {n_x} grid; "
                f"accepted: 1 <= n_target <= {n_pts} or None (dense grid)")
    if not (isinstance(noise_std, (int, float, np.floating)) and math.isfinite(noise_std) and noise_std >= 0):
        raise ParameterError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ParameterError(f"dtype must be a floating torch dtype, got {dtype!r}")
    if not isinstance(rng, (np.random.Generator, torch.Generator)):
        raise ParameterError(
            f"rng must be a numpy.random.Generator or a torch.Generator, got {type(rng).__name__}")
    return n_context, n_target


def _draw_indices(rng: Rng, n_pts: int, k: int, n_rows: int) -> np.ndarray:
    """``(n_rows, k)`` sorted distinct grid indices per row, drawn row by row from ``rng``."""
    if isinstance(rng, np.random.Generator):
        idx = np.stack([rng.choice(n_pts, size=k, replace=False) for _ in range(n_rows)])
    else:
        idx = np.stack([torch.randperm(n_pts, generator=rng)[:k].numpy() for _ in range(n_rows)])
    return np.sort(idx, axis=1)


def _standard_normal(rng: Rng, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float64 draws of ``shape`` from a numpy or torch generator."""
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return torch.randn(shape, generator=rng, dtype=torch.float64).numpy()
