"""The problem a Bayesian-optimisation loop talks to: the :class:`BOProblem` protocol and
:class:`MultiFidelityProblem`, which implements it and the coordinates the loop needs.

::

    problem.bounds                        # (2, d) float64, design variables in physical units
    problem.evaluate(X, s)                # (n,) objective values; NaN/inf may come back
    problem.evaluate_safe(X, s)           # (values, ok): exceptions and non-finite flagged per point
    problem.evaluate_timed(X, s)          # (values, seconds): measured wall-clock cost per point
    problem.cost(s)                       # (n,) declared cost of one evaluation at fidelity s
    problem.to_model_input(X, s)          # (n, d + 1): fidelity rescaled to [0, 1] as last column

Conventions: ``s`` is always in the fidelity's *physical* units (:class:`~sciml.bo.fidelity.
Fidelity`); values are returned in the problem's own sense and ``problem.sign`` (``+1``
maximise, ``-1`` minimise) turns them into what BoTorch maximises; ``optimum_value`` is the
best value at the target fidelity in the problem's own sense; everything is ``torch.float64``
on the CPU. Any object with the attributes of :class:`BOProblem` becomes a
:class:`MultiFidelityProblem` through :func:`as_problem`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from sciml.bo.costs import CostModel
from sciml.bo.fidelity import DTYPE, REL_TOL, Fidelity, FidelityInput, as_float64
from sciml.bo.result import jsonable
from sciml.errors import ConfigError, ParameterError

__all__ = ["BOProblem", "MultiFidelityProblem", "as_problem"]

logger = logging.getLogger(__name__)


@runtime_checkable
class BOProblem(Protocol):
    """What :class:`~sciml.bo.loop.BOLoop` needs from a problem.

    Attributes
    ----------
    name : str
        Identifier (logs, saved state, tables).
    bounds : Tensor, shape (2, d)
        Lower then upper bounds of the design variables, physical units.
    fidelity : Fidelity or None
        The fidelity variable (``None``: a single-fidelity problem).
    maximize : bool
        Whether larger objective values are better.
    optimum_value : float or None
        Best value at the target fidelity, when known (regrets are then reported).

    Methods
    -------
    evaluate(X, s)
        Objective values ``(n,)`` at designs ``X`` ``(n, d)`` and physical fidelities ``s``
        ``(n,)`` (``None`` without a fidelity); NaN/inf or an exception mark a failure.
    cost(s)
        Declared cost ``(n,)`` of one evaluation at each fidelity (``s=None``: ``(1,)``).
    """

    name: str
    bounds: Tensor
    fidelity: Fidelity | None
    maximize: bool
    optimum_value: float | None

    def evaluate(self, X: Tensor, s: Tensor | None = None) -> Tensor: ...

    def cost(self, s: Tensor | None = None) -> Tensor: ...


class MultiFidelityProblem:
    """A (multi-fidelity) black-box objective on a box, as seen by a BO loop.

    Parameters
    ----------
    name : str
        Identifier (used in logs and benchmark tables).
    bounds : array-like, shape (2, d)
        Lower then upper bounds of the ``d`` design variables, physical units; every
        ``lower < upper``.
    function : callable, optional
        ``function(X, s) -> Tensor (n,)`` with ``X`` of shape ``(n, d)`` and ``s`` of shape
        ``(n,)`` (physical fidelity units; ``None`` without a fidelity), both float64.
        Subclasses may instead override :meth:`_evaluate`.
    fidelity : Fidelity, optional
        ``None`` for a single-fidelity problem.
    maximize : bool
        Whether larger values are better (see the module docstring).
    cost : callable or float
        Declared cost of one evaluation: ``cost(s) -> Tensor`` on physical fidelities of
        shape ``(n,)``, or a constant. Must be finite and positive over the fidelity range
        (checked on every discrete level or on 17 points of a continuous range).
    design_names : sequence of str, optional
        Names of the design variables (default ``x1, ..., xd``).
    optimum_value : float, optional
        Best objective value at the target fidelity, in the problem's own sense.
    optimizers : array-like, shape (k, d) or (d,), optional
        Known optimisers (at the target fidelity).
    vectorized : bool
        Whether ``function`` accepts batches; ``False`` makes :meth:`evaluate_safe` go point
        by point straight away (no batch attempt that may repeat expensive runs).
    options : mapping, optional
        JSON-able settings that determine the objective beyond the above (e.g.
        ``{"t_target": 0.2}``): part of :meth:`definition`, which a resumed BO loop checks.

    Raises
    ------
    ConfigError
        Bad bounds (shape, non-finite, ``lower >= upper``), bad names, non-positive or
        non-finite declared cost, optimisers outside the bounds.
    """

    def __init__(
        self,
        *,
        name: str,
        bounds: Any,
        function: Callable[[Tensor, Tensor | None], Tensor] | None = None,
        fidelity: Fidelity | None = None,
        maximize: bool = False,
        cost: CostModel | float = 1.0,
        design_names: Sequence[str] | None = None,
        optimum_value: float | None = None,
        optimizers: Any = None,
        vectorized: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = str(name)
        self.options: dict[str, Any] = dict(options or {})
        b = _as_bounds(bounds, self.name)
        self.bounds: Tensor = b
        d = b.shape[1]
        names = tuple(design_names) if design_names is not None else tuple(f"x{i + 1}" for i in range(d))
        if len(names) != d or len(set(names)) != d:
            raise ConfigError(f"problem {self.name!r}: need {d} distinct design names, got {list(names)}")
        self.design_names: tuple[str, ...] = names
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            raise ConfigError(f"problem {self.name!r}: fidelity must be a Fidelity or None, got {fidelity!r}")
        self.fidelity = fidelity
        self.maximize = bool(maximize)
        self._function = function
        self.vectorized = bool(vectorized)
        self._cost = cost
        self._check_cost()
        self.optimum_value = None if optimum_value is None else float(optimum_value)
        self.optimizers: Tensor | None = None
        if optimizers is not None:
            opt = as_float64(optimizers, f"problem {self.name!r}: optimizers").reshape(-1, d)
            lo, hi = b[0] - 1e-9 * (b[1] - b[0]), b[1] + 1e-9 * (b[1] - b[0])
            if not bool(((opt >= lo) & (opt <= hi)).all()):
                raise ConfigError(f"problem {self.name!r}: optimizers {opt.tolist()} lie outside the bounds")
            self.optimizers = opt
        #: Messages of the exceptions caught by the last :meth:`evaluate_safe` /
        #: ``evaluate_timed(safe=True)`` call, by row index.
        self.last_failures: dict[int, str] = {}

    # ----------------------------------------------------------- description
    @property
    def dim(self) -> int:
        """Number of design variables ``d``."""
        return int(self.bounds.shape[1])

    @property
    def sign(self) -> float:
        """``+1.0`` when maximising, ``-1.0`` when minimising: BoTorch maximises ``sign * y``."""
        return 1.0 if self.maximize else -1.0

    @property
    def optimizer(self) -> Tensor | None:
        """The first known optimiser, shape ``(d,)``, or ``None``."""
        return None if self.optimizers is None else self.optimizers[0]

    @property
    def fidelity_column(self) -> int | None:
        """Index of the unit-fidelity column in :meth:`to_model_input` (``d``), or ``None``."""
        return None if self.fidelity is None else self.dim

    @property
    def target_fidelities(self) -> dict[int, float]:
        """``{d: 1.0}`` for BoTorch's ``project_to_target_fidelity``; ``{}`` without fidelity."""
        return {} if self.fidelity is None else {self.dim: 1.0}

    @property
    def model_bounds(self) -> Tensor:
        """Bounds ``(2, d + 1)`` of :meth:`to_model_input` (fidelity column ``[0, 1]``)."""
        if self.fidelity is None:
            return self.bounds.clone()
        return torch.cat([self.bounds, torch.tensor([[0.0], [1.0]], dtype=DTYPE)], dim=1)

    def fidelity_fixed_features(self) -> list[dict[int, float]]:
        """One ``{d: z}`` per discrete level, for ``botorch.optim.optimize_acqf_mixed``."""
        if self.fidelity is None or self.fidelity.kind != "discrete":
            raise ConfigError(f"problem {self.name!r} has no discrete fidelity")
        return [{self.dim: z} for z in self.fidelity.unit_values]

    def __repr__(self) -> str:
        fid = "none" if self.fidelity is None else self.fidelity.describe()
        return (f"{type(self).__name__}(name={self.name!r}, d={self.dim}, "
                f"{'maximize' if self.maximize else 'minimize'}, fidelity: {fid})")

    # ----------------------------------------------------------- input checks
    def check_X(self, X: Any) -> Tensor:
        """Validate designs: float64 tensor ``(n, d)``, finite, inside :attr:`bounds`.

        Raises
        ------
        ParameterError
            Wrong shape, non-finite entries, or points outside the bounds (a relative
            ``1e-9`` of each range is tolerated and clamped).
        """
        t = as_float64(X, f"{self.name}: X")
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise ParameterError(f"{self.name}: X must have shape (n, {self.dim}) "
                                 f"({', '.join(self.design_names)}), got {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"{self.name}: X has NaN or infinite entries")
        span = self.bounds[1] - self.bounds[0]
        lo, hi = self.bounds[0] - REL_TOL * span, self.bounds[1] + REL_TOL * span
        bad = (t < lo) | (t > hi)
        if bool(bad.any()):
            row, col = (int(i) for i in bad.nonzero()[0])
            raise ParameterError(
                f"{self.name}: X[{row}, {col}] = {float(t[row, col]):g} ({self.design_names[col]}) is "
                f"outside the bounds; accepted: {self.describe_bounds()}")
        return torch.minimum(torch.maximum(t, self.bounds[0]), self.bounds[1])

    def check_s(self, s: FidelityInput | None, n: int) -> Tensor | None:
        """Validate fidelities for ``n`` points: ``(n,)`` float64 tensor, or ``None``.

        ``s=None`` means the target fidelity; a scalar is broadcast to all points.

        Raises
        ------
        ParameterError
            Fidelities given to a problem without fidelity, wrong length, out of range.
        """
        if self.fidelity is None:
            if s is not None:
                raise ParameterError(f"{self.name}: this problem has no fidelity; pass s=None")
            return None
        if s is None:
            return torch.full((n,), self.fidelity.target, dtype=DTYPE)
        t = self.fidelity.validate(s)
        if t.ndim == 0:
            t = t.expand(n).clone()
        if t.ndim != 1 or t.shape[0] != n:
            raise ParameterError(f"{self.name}: s must be a scalar or have shape ({n},), got {tuple(t.shape)}")
        return t

    def describe_bounds(self) -> str:
        """``name in [lo, hi], ...`` of every design variable."""
        return ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in
                         zip(self.design_names, self.bounds[0].tolist(), self.bounds[1].tolist(), strict=True))

    # ----------------------------------------------------------- evaluation
    def _evaluate(self, X: Tensor, s: Tensor | None) -> Tensor:
        """Objective values ``(n,)`` for validated ``X`` ``(n, d)`` and ``s`` ``(n,)`` or ``None``."""
        if self._function is None:
            raise NotImplementedError(f"{type(self).__name__} needs a function or an _evaluate override")
        return self._function(X, s)

    def _call(self, X: Tensor, s: Tensor | None) -> Tensor:
        y = self._evaluate(X, s)
        y = as_float64(y, f"{self.name}: objective values")
        if y.numel() != X.shape[0]:
            raise ValueError(f"{self.name}: objective returned shape {tuple(y.shape)} for {X.shape[0]} points")
        return y.reshape(X.shape[0])

    def evaluate(self, X: Any, s: FidelityInput | None = None) -> Tensor:
        """Objective values at designs ``X`` and fidelities ``s``.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Designs in physical units, inside :attr:`bounds`.
        s : float or array-like of shape (n,), optional
            Fidelities in physical units (default: the target). Must be ``None`` for a
            problem without fidelity.

        Returns
        -------
        Tensor, shape (n,), float64
            Values in the problem's own sense; may contain NaN or inf (failed points).

        Raises
        ------
        ParameterError
            Bad ``X`` or ``s`` (see :meth:`check_X`, :meth:`check_s`). Errors raised by
            the objective itself propagate; use :meth:`evaluate_safe` to catch them.
        """
        Xt = self.check_X(X)
        return self._call(Xt, self.check_s(s, Xt.shape[0]))

    def _point(self, Xt: Tensor, st: Tensor | None, i: int, safe: bool) -> float:
        try:
            return float(self._call(Xt[i:i + 1], None if st is None else st[i:i + 1])[0])
        except Exception as exc:
            if not safe:
                raise
            msg = f"{type(exc).__name__}: {exc}"
            self.last_failures[i] = msg
            logger.warning("%s: evaluation of point %d failed: %s", self.name, i, msg)
            return math.nan

    def evaluate_safe(self, X: Any, s: FidelityInput | None = None) -> tuple[Tensor, Tensor]:
        """Like :meth:`evaluate`, but failures are flagged per point instead of raised.

        A vectorised problem is first evaluated as one batch; if that raises, each point is
        evaluated on its own. Exceptions of single points are caught (their messages are
        kept in :attr:`last_failures`) and give NaN.

        Returns
        -------
        values : Tensor, shape (n,), float64
            NaN where the evaluation raised.
        ok : Tensor, shape (n,), bool
            ``True`` where the evaluation returned a finite value.

        Raises
        ------
        ParameterError
            Bad ``X`` or ``s``: a caller's mistake, not a failed evaluation.
        """
        Xt = self.check_X(X)
        st = self.check_s(s, Xt.shape[0])
        self.last_failures = {}
        y: Tensor | None = None
        if self.vectorized:
            try:
                y = self._call(Xt, st)
            except Exception as exc:  # retry point by point to keep the good ones
                logger.info("%s: batch evaluation failed (%s); retrying point by point", self.name, exc)
        if y is None:
            y = torch.tensor([self._point(Xt, st, i, True) for i in range(Xt.shape[0])], dtype=DTYPE)
        return y, torch.isfinite(y)

    def evaluate_timed(self, X: Any, s: FidelityInput | None = None, *, safe: bool = False) -> tuple[Tensor, Tensor]:
        """Evaluate point by point and measure the wall-clock time of each evaluation.

        Parameters
        ----------
        X, s
            As for :meth:`evaluate`.
        safe : bool
            Catch exceptions per point as :meth:`evaluate_safe` does (value NaN; a point
            is ok iff its value is finite).

        Returns
        -------
        values : Tensor, shape (n,), float64
        seconds : Tensor, shape (n,), float64
            Measured wall-clock time of each point (``time.perf_counter``), the measured
            cost a loop may use instead of :meth:`cost`.
        """
        Xt = self.check_X(X)
        st = self.check_s(s, Xt.shape[0])
        self.last_failures = {}
        values = torch.empty(Xt.shape[0], dtype=DTYPE)
        seconds = torch.empty(Xt.shape[0], dtype=DTYPE)
        for i in range(Xt.shape[0]):
            t0 = time.perf_counter()
            values[i] = self._point(Xt, st, i, safe)
            seconds[i] = time.perf_counter() - t0
        return values, seconds

    # ----------------------------------------------------------- cost
    def _raw_cost(self, s: Tensor | None, n: int) -> Tensor:
        if callable(self._cost):
            arg = s if s is not None else torch.ones(n, dtype=DTYPE)
            c = as_float64(self._cost(arg), f"{self.name}: cost")
            return c.expand(n).clone() if c.ndim == 0 else c.reshape(n)
        return torch.full((n,), float(self._cost), dtype=DTYPE)

    def _check_cost(self) -> None:
        if not callable(self._cost):
            try:
                value = float(self._cost)
            except (TypeError, ValueError):
                raise ConfigError(f"problem {self.name!r}: cost must be a callable or a number, "
                                  f"got {self._cost!r}") from None
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"problem {self.name!r}: cost must be finite and > 0, got {value}")
            self._declared_costs = [value]
            return
        if self.fidelity is None:
            probe = None
            c = self._raw_cost(None, 1)
        else:
            f = self.fidelity
            probe = (torch.tensor(f.values, dtype=DTYPE) if f.kind == "discrete"
                     else f.from_unit(torch.linspace(0.0, 1.0, 17, dtype=DTYPE)))
            try:
                c = self._raw_cost(probe, probe.shape[0])
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(f"problem {self.name!r}: declared cost failed on {f.describe()}: {exc}") from exc
        bad = ~(torch.isfinite(c) & (c > 0))
        if bool(bad.any()):
            fname = "" if self.fidelity is None else self.fidelity.name
            where = "" if probe is None else f" at {fname}={probe[bad].tolist()}"
            raise ConfigError(f"problem {self.name!r}: declared cost must be finite and > 0, got "
                              f"{c[bad].tolist()}{where}")
        self._declared_costs = c.tolist()

    def definition(self) -> dict[str, Any]:
        """What determines the problem beyond its name, dimension and fidelity (JSON): bounds,
        design names, direction, optimum, the declared cost at the probed fidelities and
        :attr:`options`. A BO loop stores it and refuses to resume under another one."""
        return {"bounds": self.bounds.tolist(), "design_names": list(self.design_names),
                "maximize": self.maximize, "optimum_value": self.optimum_value,
                "declared_cost": list(self._declared_costs), "options": jsonable(self.options)}

    def cost(self, s: FidelityInput | None = None) -> Tensor:
        """Declared cost of one evaluation at each fidelity.

        Parameters
        ----------
        s : float or array-like of shape (n,), optional
            Physical fidelities (default: the target). Must be ``None`` for a problem
            without fidelity.

        Returns
        -------
        Tensor, shape (n,) (``(1,)`` for a scalar or ``None``), float64, positive.
        """
        if self.fidelity is None:
            if s is not None:
                raise ParameterError(f"{self.name}: this problem has no fidelity; pass s=None")
            return self._raw_cost(None, 1)
        t = self.fidelity.validate(self.fidelity.target if s is None else s).reshape(-1)
        return self._raw_cost(t, t.shape[0])

    def cost_unit(self, z: FidelityInput) -> Tensor:
        """Declared cost at unit-interval fidelities ``z`` (BoTorch's model coordinates)."""
        return self.cost(self.from_unit_fidelity(as_float64(z, "z").reshape(-1), snap=True))

    # ----------------------------------------------------------- BoTorch coordinates
    def _need_fidelity(self) -> Fidelity:
        if self.fidelity is None:
            raise ConfigError(f"problem {self.name!r} has no fidelity")
        return self.fidelity

    def to_unit_fidelity(self, s: FidelityInput) -> float | Tensor:
        """:meth:`Fidelity.to_unit` of this problem's fidelity."""
        return self._need_fidelity().to_unit(s)

    def from_unit_fidelity(self, z: FidelityInput, *, snap: bool = False) -> float | Tensor:
        """:meth:`Fidelity.from_unit` of this problem's fidelity."""
        return self._need_fidelity().from_unit(z, snap=snap)

    def to_model_input(self, X: Any, s: FidelityInput | None = None) -> Tensor:
        """BoTorch input: designs with the unit fidelity appended as last column.

        Returns
        -------
        Tensor, shape (n, d + 1) (``(n, d)`` without fidelity), float64
        """
        Xt = self.check_X(X)
        st = self.check_s(s, Xt.shape[0])
        if st is None:
            return Xt
        return torch.cat([Xt, self.fidelity.to_unit(st).reshape(-1, 1)], dim=1)  # type: ignore[union-attr]

    def from_model_input(self, Z: Any, *, snap: bool = False) -> tuple[Tensor, Tensor | None]:
        """Split a BoTorch input ``(n, d + 1)`` into designs ``(n, d)`` and physical fidelities ``(n,)``."""
        t = as_float64(Z, f"{self.name}: model input")
        width = self.dim + (self.fidelity is not None)
        if t.ndim != 2 or t.shape[1] != width:
            raise ParameterError(f"{self.name}: model input must have shape (n, {width}), got {tuple(t.shape)}")
        if self.fidelity is None:
            return self.check_X(t), None
        return self.check_X(t[:, :-1]), self.fidelity.from_unit(t[:, -1], snap=snap)  # type: ignore[return-value]

    def simple_regret(self, value: float) -> float:
        """``|optimum - value|`` measured in the optimisation direction (``>= 0`` up to round-off).

        Raises
        ------
        ConfigError
            When :attr:`optimum_value` is unknown.
        """
        if self.optimum_value is None:
            raise ConfigError(f"problem {self.name!r} has no known optimum value")
        return self.sign * (self.optimum_value - float(value))


def _as_bounds(bounds: Any, name: str) -> Tensor:
    try:
        b = as_float64(bounds, f"problem {name!r}: bounds")
    except ParameterError as exc:
        raise ConfigError(str(exc)) from None
    if b.ndim != 2 or b.shape[0] != 2 or b.shape[1] < 1:
        raise ConfigError(f"problem {name!r}: bounds must have shape (2, d) with d >= 1, got {tuple(b.shape)}")
    if not bool(torch.isfinite(b).all()):
        raise ConfigError(f"problem {name!r}: bounds must be finite, got {b.tolist()}")
    bad = ~(b[0] < b[1])
    if bool(bad.any()):
        cols = bad.nonzero()[:, 0].tolist()
        raise ConfigError(f"problem {name!r}: need lower < upper for every design variable; columns {cols} "
                          f"have lower {b[0, cols].tolist()} >= upper {b[1, cols].tolist()}")
    return b



class _ProtocolCost:
    """The declared cost of a wrapped :class:`BOProblem` (``cost(None)`` without a fidelity)."""

    def __init__(self, inner: BOProblem) -> None:
        self.inner = inner

    def __call__(self, s: Tensor) -> Tensor:
        return self.inner.cost(None if self.inner.fidelity is None else s)


class _ProtocolProblem(MultiFidelityProblem):
    """A :class:`MultiFidelityProblem` around any object with the :class:`BOProblem` attributes."""

    def __init__(self, inner: BOProblem) -> None:
        self.inner = inner
        super().__init__(
            name=inner.name, bounds=inner.bounds, fidelity=inner.fidelity, maximize=inner.maximize,
            cost=_ProtocolCost(inner), design_names=getattr(inner, "design_names", None),
            optimum_value=inner.optimum_value, optimizers=getattr(inner, "optimizers", None),
            vectorized=bool(getattr(inner, "vectorized", True)), options=getattr(inner, "options", None))

    def _evaluate(self, X: Tensor, s: Tensor | None) -> Tensor:
        return self.inner.evaluate(X, s)


def as_problem(problem: Any) -> MultiFidelityProblem:
    """``problem`` itself if it is a :class:`MultiFidelityProblem`, else a wrapper around it.

    The wrapper checks designs and fidelities before they reach ``problem.evaluate`` and gives
    the loop its coordinates (:meth:`MultiFidelityProblem.to_model_input` ...). Optional
    attributes ``design_names``, ``optimizers``, ``vectorized`` and ``options`` are used when present.

    Raises
    ------
    ConfigError
        ``problem`` lacks an attribute of :class:`BOProblem` (the message names them), or its
        bounds, fidelity or declared cost are invalid.
    """
    if isinstance(problem, MultiFidelityProblem):
        return problem
    needed = ("name", "bounds", "fidelity", "maximize", "optimum_value", "evaluate", "cost")
    missing = [a for a in needed if not hasattr(problem, a)]
    if missing or not callable(problem.evaluate) or not callable(problem.cost):
        raise ConfigError(f"problem must satisfy sciml.bo.BOProblem ({', '.join(needed)}); "
                          f"{type(problem).__name__} lacks {missing or ['callable evaluate and cost']}")
    return _ProtocolProblem(problem)
