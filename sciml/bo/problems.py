"""Multi-fidelity optimisation problems: the object a Bayesian-optimisation loop talks to.

A :class:`MultiFidelityProblem` bundles the design box, an optional :class:`Fidelity`, the
direction of optimisation, a declared cost model and (where known) the optimum::

    problem.bounds                        # (2, d) float64, design variables in physical units
    problem.evaluate(X, s)                # (n,) objective values; NaN/inf may come back
    problem.evaluate_safe(X, s)           # (values, ok): exceptions and non-finite flagged per point
    problem.evaluate_timed(X, s)          # (values, seconds): measured wall-clock cost per point
    problem.cost(s)                       # (n,) declared cost of one evaluation at fidelity s
    problem.to_model_input(X, s)          # (n, d + 1): fidelity rescaled to [0, 1] as last column

Conventions
-----------
* **Fidelity units.** ``s`` is always in the fidelity's *physical* units (e.g. ``n_cells``).
  BoTorch's multi-fidelity kernels (``SingleTaskMultiFidelityGP``) assume a fidelity column
  in ``[0, 1]`` with ``1`` = target (the truth); :meth:`Fidelity.to_unit` /
  :meth:`Fidelity.from_unit` map between the two, the target to ``1.0`` and the other end
  of the range (the lowest fidelity) to ``0.0``.
* **Direction.** Values are returned in the problem's own sense; ``problem.maximize`` says
  whether larger is better and ``problem.sign`` is ``+1`` (maximise) or ``-1`` (minimise).
  BoTorch maximises, so a loop fits its models to ``problem.sign * y``.
  ``optimum_value`` is the best value at the target fidelity in the problem's own sense
  (the minimum for a minimisation problem).
* **dtype.** Everything is ``torch.float64`` on the CPU.

Built-in problems (target fidelity ``s = 1`` unless noted; two-level problems have the
low-fidelity function at ``s = 0``):

=====================================  =  ========  ===========================================  ========
factory                                d  sense     fidelity (default)                           optimum
=====================================  =  ========  ===========================================  ========
:func:`forrester`                      1  minimise  continuous [0, 1], linear mix of low/high    -6.02074
:func:`currin`                         2  maximise  discrete {0, 1}                              13.79872
:func:`park91a`                        4  maximise  discrete {0, 1}                              25.58925
:func:`park91b`                        4  maximise  discrete {0, 1}                              5.926037
:func:`borehole`                       8  maximise  discrete {0, 1}                              309.5756
:func:`augmented_branin`               2  minimise  continuous [0, 1] (BoTorch)                  0.397887
:func:`augmented_hartmann`             6  minimise  continuous [0, 1] (BoTorch)                  -3.32237
:func:`burgers_shock_time_problem`     1  maximise  discrete ``n_cells`` in (64, 128, 256, 512)  0
:func:`burgers_shock_time_2d_problem`  2  maximise  discrete ``n_cells`` in (64, 128, 256, 512)  0
=====================================  =  ========  ===========================================  ========

Two-level problems declare the cost ``1`` at ``s = 0`` and ``cost_ratio`` (default 10) at
``s = 1`` (affine in ``s``); the BoTorch problems use the MF-KG tutorial's ``5 + s``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ConfigError, ParameterError

if TYPE_CHECKING:
    import xarray as xr

    from sciml.simulators.base import Simulator

__all__ = [
    "PROBLEMS",
    "AffineFidelityCost",
    "Fidelity",
    "MultiFidelityProblem",
    "PowerFidelityCost",
    "SimulatorSource",
    "TableFidelityCost",
    "augmented_branin",
    "augmented_hartmann",
    "borehole",
    "borehole_high",
    "borehole_low",
    "burgers_shock_time_2d_problem",
    "burgers_shock_time_problem",
    "currin",
    "currin_high",
    "currin_low",
    "forrester",
    "forrester_high",
    "forrester_low",
    "get_problem",
    "park91a",
    "park91a_high",
    "park91a_low",
    "park91b",
    "park91b_high",
    "park91b_low",
    "shock_time",
]

logger = logging.getLogger(__name__)

DTYPE = torch.float64
#: Relative tolerance when checking that a value lies in a range or on a discrete level.
_REL_TOL = 1e-9

FidelityInput = float | int | Sequence[float] | np.ndarray | Tensor
CostModel = Callable[[Tensor], Tensor]


def _as_tensor(value: Any, what: str) -> Tensor:
    """Convert ``value`` to a float64 CPU tensor or raise :class:`ParameterError`."""
    try:
        if isinstance(value, Tensor):
            return value.detach().to(device="cpu", dtype=DTYPE)
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=DTYPE)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what} must be numbers, got {value!r}: {exc}") from None


# ===================================================================== fidelity
@dataclass(frozen=True)
class Fidelity:
    """A fidelity variable and its rescaling to BoTorch's unit interval.

    Attributes
    ----------
    name : str
        Name of the fidelity (for :class:`SimulatorSource`, the simulator constructor
        argument it sets, e.g. ``"n_cells"``).
    kind : {"continuous", "discrete"}
        ``"continuous"``: any value in ``[values[0], values[1]]``; ``"discrete"``: one of
        ``values``.
    values : tuple of float
        ``(lo, hi)`` for a continuous fidelity; the accepted levels, sorted increasingly
        and distinct, for a discrete one (at least two).
    target : float or None
        The highest fidelity (the truth), an end of the range: ``lo`` or ``hi``
        (``None``: ``hi``). Use ``target = lo`` for a fidelity where smaller is more
        accurate, such as a time step.
    log_scale : bool
        Rescale ``log(s)`` instead of ``s`` (needs positive values); natural for grid
        sizes, where ``(64, 128, 256, 512)`` maps to ``(0, 1/3, 2/3, 1)``.

    Notes
    -----
    ``to_unit(s) = (g(s) - g(s_low)) / (g(target) - g(s_low))`` with ``g = identity`` or
    ``log`` and ``s_low`` the end opposite to the target, so ``to_unit(target) = 1`` and
    ``to_unit(s_low) = 0``.
    """

    name: str
    kind: Literal["continuous", "discrete"]
    values: tuple[float, ...]
    target: float | None = None
    log_scale: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "discrete"):
            raise ConfigError(f"fidelity {self.name!r}: kind must be 'continuous' or 'discrete', "
                              f"got {self.kind!r}")
        try:
            vals = tuple(float(v) for v in self.values)
        except (TypeError, ValueError):
            raise ConfigError(f"fidelity {self.name!r}: values must be numbers, got {self.values!r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise ConfigError(f"fidelity {self.name!r}: values must be finite, got {vals}")
        if self.kind == "continuous":
            if len(vals) != 2 or not vals[0] < vals[1]:
                raise ConfigError(f"fidelity {self.name!r}: a continuous fidelity needs values "
                                  f"(lo, hi) with lo < hi, got {vals}")
        else:
            vals = tuple(sorted(vals))
            if len(vals) < 2 or len(set(vals)) != len(vals):
                raise ConfigError(f"fidelity {self.name!r}: a discrete fidelity needs at least two "
                                  f"distinct values, got {self.values!r}")
        if self.log_scale and vals[0] <= 0:
            raise ConfigError(f"fidelity {self.name!r}: log_scale needs positive values, got {vals}")
        target = vals[-1] if self.target is None else float(self.target)
        if target not in (vals[0], vals[-1]):
            raise ConfigError(f"fidelity {self.name!r}: target={self.target!r} must be an end of the "
                              f"range, {vals[0]:g} or {vals[-1]:g}")
        object.__setattr__(self, "values", vals)
        object.__setattr__(self, "target", target)

    # ----------------------------------------------------------- constructors
    @classmethod
    def continuous(cls, name: str, lo: float, hi: float, *, target: float | None = None,
                   log_scale: bool = False) -> Fidelity:
        """A continuous fidelity on ``[lo, hi]`` (target ``hi`` unless given)."""
        return cls(name, "continuous", (lo, hi), target, log_scale)

    @classmethod
    def discrete(cls, name: str, values: Sequence[float], *, target: float | None = None,
                 log_scale: bool = False) -> Fidelity:
        """A discrete fidelity with the given levels (target the largest unless given)."""
        return cls(name, "discrete", tuple(values), target, log_scale)

    # ----------------------------------------------------------- properties
    @property
    def lo(self) -> float:
        """Smallest accepted value."""
        return self.values[0]

    @property
    def hi(self) -> float:
        """Largest accepted value."""
        return self.values[-1]

    @property
    def lowest(self) -> float:
        """The lowest fidelity: the end of the range opposite to :attr:`target` (unit 0)."""
        return self.values[0] if self.target == self.values[-1] else self.values[-1]

    @property
    def unit_values(self) -> tuple[float, ...]:
        """Discrete levels in unit coordinates, in the order of :attr:`values`.

        Raises
        ------
        ConfigError
            For a continuous fidelity.
        """
        if self.kind != "discrete":
            raise ConfigError(f"fidelity {self.name!r} is continuous: it has no unit levels")
        return tuple(float(z) for z in self._unit(torch.tensor(self.values, dtype=DTYPE)))

    def describe(self) -> str:
        """``name in [lo, hi]`` or ``name in {v1, v2, ...}`` and the target, for messages."""
        if self.kind == "continuous":
            rng = f"[{self.lo:g}, {self.hi:g}]"
        else:
            rng = "{" + ", ".join(f"{v:g}" for v in self.values) + "}"
        return f"{self.name} in {rng} (target {self.target:g})"

    # ----------------------------------------------------------- mapping
    def _g(self, s: Tensor) -> Tensor:
        return torch.log(s) if self.log_scale else s

    def _unit(self, s: Tensor) -> Tensor:
        g = self._g(torch.tensor([self.lowest, self.target], dtype=DTYPE))
        return (self._g(s) - g[0]) / (g[1] - g[0])

    def validate(self, s: FidelityInput) -> Tensor:
        """Check fidelity values and return them as a float64 tensor of the same shape.

        Continuous values within a relative ``1e-9`` of the range are clamped into it;
        discrete values within ``1e-9`` (relative) of a level are replaced by that level.

        Raises
        ------
        ParameterError
            Non-finite values, values outside the range, or not on a discrete level.
        """
        t = _as_tensor(s, f"fidelity {self.name!r}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"fidelity values must be finite, got {t.tolist()}; accepted: {self.describe()}")
        span = self.hi - self.lo
        if self.kind == "continuous":
            tol = _REL_TOL * span
            bad = (t < self.lo - tol) | (t > self.hi + tol)
            if bool(bad.any()):
                raise ParameterError(f"fidelity value(s) {t[bad].tolist()} out of range; "
                                     f"accepted: {self.describe()}")
            return t.clamp(self.lo, self.hi)
        levels = torch.tensor(self.values, dtype=DTYPE)
        dist = (t.reshape(-1, 1) - levels).abs()
        idx = dist.argmin(dim=1)
        tol = _REL_TOL * torch.clamp(levels[idx].abs(), min=1.0)
        bad = dist.gather(1, idx[:, None])[:, 0] > tol
        if bool(bad.any()):
            raise ParameterError(f"fidelity value(s) {t.reshape(-1)[bad].tolist()} are not levels "
                                 f"of the discrete fidelity; accepted: {self.describe()}")
        return levels[idx].reshape(t.shape)

    @overload
    def to_unit(self, s: float) -> float: ...
    @overload
    def to_unit(self, s: Tensor | np.ndarray | Sequence[float]) -> Tensor: ...

    def to_unit(self, s: FidelityInput) -> float | Tensor:
        """Map physical fidelity values to ``[0, 1]`` (target -> 1, lowest -> 0).

        Parameters
        ----------
        s : float or array-like
            Fidelity values in physical units, any shape.

        Returns
        -------
        float or Tensor (float64, same shape as ``s``)
            A Python float for a scalar number input.

        Raises
        ------
        ParameterError
            Values outside the range, or not a level of a discrete fidelity.
        """
        z = self._unit(self.validate(s)).clamp(0.0, 1.0)
        return float(z) if isinstance(s, (int, float)) else z

    @overload
    def from_unit(self, z: float, *, snap: bool = False) -> float: ...
    @overload
    def from_unit(self, z: Tensor | np.ndarray | Sequence[float], *, snap: bool = False) -> Tensor: ...

    def from_unit(self, z: FidelityInput, *, snap: bool = False) -> float | Tensor:
        """Map unit-interval fidelity values back to physical units (inverse of :meth:`to_unit`).

        Parameters
        ----------
        z : float or array-like
            Values in ``[0, 1]`` (a relative ``1e-9`` outside is clamped).
        snap : bool
            Discrete fidelity only: return the nearest level instead of raising when ``z`` is
            not within ``1e-6`` of a level's unit value.

        Returns
        -------
        float or Tensor (float64, same shape as ``z``)
            Exactly one of :attr:`values` for a discrete fidelity.

        Raises
        ------
        ParameterError
            ``z`` outside ``[0, 1]``, or (discrete, ``snap=False``) not on a level.
        """
        t = _as_tensor(z, f"unit fidelity of {self.name!r}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"unit fidelity values must be finite, got {t.tolist()}")
        bad = (t < -_REL_TOL) | (t > 1.0 + _REL_TOL)
        if bool(bad.any()):
            raise ParameterError(f"unit fidelity value(s) {t[bad].tolist()} outside [0, 1] "
                                 f"for {self.describe()}")
        t = t.clamp(0.0, 1.0)
        if self.kind == "discrete":
            units = torch.tensor(self.unit_values, dtype=DTYPE)
            dist = (t.reshape(-1, 1) - units).abs()
            idx = dist.argmin(dim=1)
            if not snap:
                far = dist.gather(1, idx[:, None])[:, 0] > 1e-6
                if bool(far.any()):
                    raise ParameterError(
                        f"unit fidelity value(s) {t.reshape(-1)[far].tolist()} are not levels of "
                        f"{self.describe()}; accepted unit values: {list(self.unit_values)} "
                        "(or pass snap=True)")
            out = torch.tensor(self.values, dtype=DTYPE)[idx].reshape(t.shape)
        else:
            g = self._g(torch.tensor([self.lowest, self.target], dtype=DTYPE))
            gs = g[0] + t * (g[1] - g[0])
            out = (torch.exp(gs) if self.log_scale else gs).clamp(self.lo, self.hi)
        return float(out) if isinstance(z, (int, float)) else out


# ===================================================================== cost models
@dataclass(frozen=True)
class AffineFidelityCost:
    """Declared cost ``fixed_cost + weight * s`` (``s`` in physical fidelity units).

    With ``s`` in ``[0, 1]``, ``AffineFidelityCost(5, 1)`` is the cost model of BoTorch's
    multi-fidelity knowledge-gradient tutorial.
    """

    fixed_cost: float = 1.0
    weight: float = 1.0

    def __call__(self, s: Tensor) -> Tensor:
        return self.fixed_cost + self.weight * s


@dataclass(frozen=True)
class PowerFidelityCost:
    """Declared cost ``scale * (s / reference) ** exponent``.

    E.g. an explicit 1D solver on ``n`` cells under a CFL condition costs ``~ n^2``:
    ``PowerFidelityCost(reference=512, exponent=2)`` gives cost 1 at ``n = 512``.
    """

    reference: float = 1.0
    exponent: float = 1.0
    scale: float = 1.0

    def __call__(self, s: Tensor) -> Tensor:
        return self.scale * (s / self.reference) ** self.exponent


@dataclass(frozen=True)
class TableFidelityCost:
    """Declared cost per level of a discrete fidelity, ``{level: cost}``."""

    costs: Mapping[float, float]

    def __call__(self, s: Tensor) -> Tensor:
        levels = torch.tensor([float(k) for k in self.costs], dtype=DTYPE)
        values = torch.tensor([float(v) for v in self.costs.values()], dtype=DTYPE)
        dist = (s.reshape(-1, 1) - levels).abs()
        idx = dist.argmin(dim=1)
        missing = dist.gather(1, idx[:, None])[:, 0] > _REL_TOL * torch.clamp(levels[idx].abs(), min=1.0)
        if bool(missing.any()):
            raise ParameterError(f"no declared cost for fidelity value(s) {s.reshape(-1)[missing].tolist()}; "
                                 f"costs are declared for {sorted(float(k) for k in self.costs)}")
        return values[idx].reshape(s.shape)


# ===================================================================== problem
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
    ) -> None:
        self.name = str(name)
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
            opt = _as_tensor(optimizers, f"problem {self.name!r}: optimizers").reshape(-1, d)
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
        t = _as_tensor(X, f"{self.name}: X")
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise ParameterError(f"{self.name}: X must have shape (n, {self.dim}) "
                                 f"({', '.join(self.design_names)}), got {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"{self.name}: X has NaN or infinite entries")
        span = self.bounds[1] - self.bounds[0]
        lo, hi = self.bounds[0] - _REL_TOL * span, self.bounds[1] + _REL_TOL * span
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
        y = _as_tensor(y, f"{self.name}: objective values")
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
            c = _as_tensor(self._cost(arg), f"{self.name}: cost")
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
        return self.cost(self.from_unit_fidelity(_as_tensor(z, "z").reshape(-1), snap=True))

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
        t = _as_tensor(Z, f"{self.name}: model input")
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
        b = _as_tensor(bounds, f"problem {name!r}: bounds")
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


# ===================================================================== test functions
def forrester_high(X: Tensor) -> Tensor:
    """Forrester et al. (2008): ``f(x) = (6x - 2)^2 sin(12x - 4)`` on ``x in [0, 1]``; X ``(n, 1)``."""
    x = X[..., 0]
    return (6.0 * x - 2.0) ** 2 * torch.sin(12.0 * x - 4.0)


def forrester_low(X: Tensor) -> Tensor:
    """Forrester low fidelity ``A f(x) + B (x - 0.5) - C`` with ``A = 0.5, B = 10, C = -5``."""
    x = X[..., 0]
    return 0.5 * forrester_high(X) + 10.0 * (x - 0.5) + 5.0


def _currin_raw(x1: Tensor, x2: Tensor) -> Tensor:
    # 1 - exp(-1 / (2 x2)) -> 1 as x2 -> 0+ (torch gives 1/(2*0) = inf, exp(-inf) = 0)
    factor = 1.0 - torch.exp(-1.0 / (2.0 * x2))
    num = 2300.0 * x1**3 + 1900.0 * x1**2 + 2092.0 * x1 + 60.0
    den = 100.0 * x1**3 + 500.0 * x1**2 + 4.0 * x1 + 20.0
    return factor * num / den


def currin_high(X: Tensor) -> Tensor:
    """Currin et al. (1988) exponential function on ``[0, 1]^2``; X ``(n, 2)``.

    ``f(x) = [1 - exp(-1 / (2 x2))] (2300 x1^3 + 1900 x1^2 + 2092 x1 + 60)
    / (100 x1^3 + 500 x1^2 + 4 x1 + 20)`` (the bracket is 1 at ``x2 = 0``).
    """
    return _currin_raw(X[..., 0], X[..., 1])


def currin_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013) low fidelity of :func:`currin_high`: mean of four shifted values.

    ``f_L(x) = [f(x1 + h, x2 + h) + f(x1 + h, max(0, x2 - h)) + f(x1 - h, x2 + h)
    + f(x1 - h, max(0, x2 - h))] / 4`` with ``h = 0.05``.
    """
    h = 0.05
    x1, x2 = X[..., 0], X[..., 1]
    x2m = torch.clamp(x2 - h, min=0.0)
    return 0.25 * (_currin_raw(x1 + h, x2 + h) + _currin_raw(x1 + h, x2m)
                   + _currin_raw(x1 - h, x2 + h) + _currin_raw(x1 - h, x2m))


def park91a_high(X: Tensor) -> Tensor:
    """Park (1991) function 1 on ``[0, 1]^4``; X ``(n, 4)``.

    ``f(x) = x1/2 [sqrt(1 + (x2 + x3^2) x4 / x1^2) - 1] + (x1 + 3 x4) exp(1 + sin x3)``,
    computed as ``[sqrt(x1^2 + (x2 + x3^2) x4) - x1] / 2 + ...`` (equal for ``x1 > 0``;
    the continuous extension at ``x1 = 0``).
    """
    x1, x2, x3, x4 = X[..., 0], X[..., 1], X[..., 2], X[..., 3]
    term1 = 0.5 * (torch.sqrt(x1**2 + (x2 + x3**2) * x4) - x1)
    return term1 + (x1 + 3.0 * x4) * torch.exp(1.0 + torch.sin(x3))


def park91a_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013): ``f_L = (1 + sin(x1)/10) f(x) - 2 x1 + x2^2 + x3^2 + 0.5``."""
    x1, x2, x3 = X[..., 0], X[..., 1], X[..., 2]
    return (1.0 + torch.sin(x1) / 10.0) * park91a_high(X) - 2.0 * x1 + x2**2 + x3**2 + 0.5


def park91b_high(X: Tensor) -> Tensor:
    """Park (1991) function 2 on ``[0, 1]^4``: ``f = 2/3 exp(x1 + x2) - x4 sin(x3) + x3``."""
    x1, x2, x3, x4 = X[..., 0], X[..., 1], X[..., 2], X[..., 3]
    return 2.0 / 3.0 * torch.exp(x1 + x2) - x4 * torch.sin(x3) + x3


def park91b_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013): ``f_L = 1.2 f(x) - 1``."""
    return 1.2 * park91b_high(X) - 1.0


#: Borehole design variables, units and bounds (Harper & Gupta 1983; VLSE).
BOREHOLE_VARIABLES: tuple[tuple[str, float, float, str], ...] = (
    ("rw", 0.05, 0.15, "m"),        # radius of the borehole
    ("r", 100.0, 50000.0, "m"),     # radius of influence
    ("Tu", 63070.0, 115600.0, "m2/yr"),  # transmissivity of the upper aquifer
    ("Hu", 990.0, 1110.0, "m"),     # potentiometric head of the upper aquifer
    ("Tl", 63.1, 116.0, "m2/yr"),   # transmissivity of the lower aquifer
    ("Hl", 700.0, 820.0, "m"),      # potentiometric head of the lower aquifer
    ("L", 1120.0, 1680.0, "m"),     # length of the borehole
    ("Kw", 9855.0, 12045.0, "m/yr"),  # hydraulic conductivity of the borehole
)


def _borehole(X: Tensor, numerator: float, one: float) -> Tensor:
    rw, r, tu, hu, tl, hl, length, kw = (X[..., i] for i in range(8))
    log_ratio = torch.log(r / rw)
    den = log_ratio * (one + 2.0 * length * tu / (log_ratio * rw**2 * kw) + tu / tl)
    return numerator * tu * (hu - hl) / den


def borehole_high(X: Tensor) -> Tensor:
    """Borehole water flow rate (m^3/yr); X ``(n, 8)`` = (rw, r, Tu, Hu, Tl, Hl, L, Kw).

    ``f = 2 pi Tu (Hu - Hl) / (ln(r/rw) [1 + 2 L Tu / (ln(r/rw) rw^2 Kw) + Tu / Tl])``.
    """
    return _borehole(X, 2.0 * math.pi, 1.0)


def borehole_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013) / VLSE low fidelity: ``2 pi -> 5`` and the ``1`` in the bracket ``-> 1.5``.

    ``f_L = 5 Tu (Hu - Hl) / (ln(r/rw) [1.5 + 2 L Tu / (ln(r/rw) rw^2 Kw) + Tu / Tl])``.
    """
    return _borehole(X, 5.0, 1.5)


def _two_level(
    high: Callable[[Tensor], Tensor], low: Callable[[Tensor], Tensor]
) -> Callable[[Tensor, Tensor | None], Tensor]:
    """``f(X, s) = s f_H + (1 - s) f_L``; exactly ``f_H`` at ``s = 1`` and ``f_L`` at ``s = 0``."""

    def function(X: Tensor, s: Tensor | None) -> Tensor:
        fh = high(X)
        if s is None:
            return fh
        fl = low(X)
        mixed = torch.where(s == 0.0, fl, s * fh + (1.0 - s) * fl)
        return torch.where(s == 1.0, fh, mixed)

    return function


def _two_level_problem(
    name: str, high: Callable[[Tensor], Tensor], low: Callable[[Tensor], Tensor], *, bounds: Any,
    design_names: Sequence[str], maximize: bool, optimum_value: float, optimizers: Any,
    fidelity: str, cost_ratio: float,
) -> MultiFidelityProblem:
    if fidelity == "discrete":
        fid = Fidelity.discrete("s", (0.0, 1.0))
    elif fidelity == "continuous":
        fid = Fidelity.continuous("s", 0.0, 1.0)
    else:
        raise ConfigError(f"{name}: fidelity must be 'discrete' or 'continuous', got {fidelity!r}")
    if not (isinstance(cost_ratio, (int, float)) and math.isfinite(cost_ratio) and cost_ratio > 0):
        raise ConfigError(f"{name}: cost_ratio must be a finite number > 0, got {cost_ratio!r}")
    return MultiFidelityProblem(
        name=name, bounds=bounds, function=_two_level(high, low), fidelity=fid, maximize=maximize,
        cost=AffineFidelityCost(1.0, float(cost_ratio) - 1.0), design_names=design_names,
        optimum_value=optimum_value, optimizers=optimizers)


def forrester(*, fidelity: Literal["continuous", "discrete"] = "continuous",
              cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Forrester 1D function, minimised on ``x in [0, 1]``.

    ``f(x, s) = s f_H(x) + (1 - s) f_L(x)`` (:func:`forrester_high`, :func:`forrester_low`);
    minimum ``f_H(0.757249) = -6.020740``. Declared cost ``1 + (cost_ratio - 1) s``.

    Parameters
    ----------
    fidelity : {"continuous", "discrete"}
        ``s in [0, 1]`` or ``s in {0, 1}``.
    cost_ratio : float
        Cost of the target over the lowest fidelity.
    """
    return _two_level_problem(
        "forrester", forrester_high, forrester_low, bounds=[[0.0], [1.0]], design_names=("x",),
        maximize=False, optimum_value=-6.020740055767083, optimizers=[[0.7572487585]],
        fidelity=fidelity, cost_ratio=cost_ratio)


def currin(*, fidelity: Literal["continuous", "discrete"] = "discrete",
           cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Currin exponential function, maximised on ``[0, 1]^2``; max ``13.798722`` at ``(13/60, 0)``.

    Low fidelity :func:`currin_low` at ``s = 0``, high :func:`currin_high` at ``s = 1``.
    """
    return _two_level_problem(
        "currin", currin_high, currin_low, bounds=[[0.0, 0.0], [1.0, 1.0]], design_names=("x1", "x2"),
        maximize=True, optimum_value=13.798722044728434, optimizers=[[13.0 / 60.0, 0.0]],
        fidelity=fidelity, cost_ratio=cost_ratio)


def park91a(*, fidelity: Literal["continuous", "discrete"] = "discrete",
            cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Park91a, maximised on ``[0, 1]^4``; max ``25.589254`` at ``(1, 1, 1, 1)``.

    Low fidelity :func:`park91a_low` at ``s = 0`` (declared cost 1), high
    :func:`park91a_high` at ``s = 1`` (declared cost ``cost_ratio``, default 10).
    """
    return _two_level_problem(
        "park91a", park91a_high, park91a_low, bounds=[[0.0] * 4, [1.0] * 4],
        design_names=("x1", "x2", "x3", "x4"), maximize=True, optimum_value=25.589254158606547,
        optimizers=[[1.0, 1.0, 1.0, 1.0]], fidelity=fidelity, cost_ratio=cost_ratio)


def park91b(*, fidelity: Literal["continuous", "discrete"] = "discrete",
            cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Park91b, maximised on ``[0, 1]^4``; max ``2/3 e^2 + 1 = 5.926037`` at ``(1, 1, 1, 0)``."""
    return _two_level_problem(
        "park91b", park91b_high, park91b_low, bounds=[[0.0] * 4, [1.0] * 4],
        design_names=("x1", "x2", "x3", "x4"), maximize=True, optimum_value=2.0 / 3.0 * math.exp(2.0) + 1.0,
        optimizers=[[1.0, 1.0, 1.0, 0.0]], fidelity=fidelity, cost_ratio=cost_ratio)


def borehole(*, fidelity: Literal["continuous", "discrete"] = "discrete",
             cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Borehole flow rate (m^3/yr), maximised on its physical box (:data:`BOREHOLE_VARIABLES`).

    Max ``309.5756`` at the corner ``rw = 0.15, r = 100, Tu = 115600, Hu = 1110, Tl = 116,
    Hl = 700, L = 1120, Kw = 12045`` (the flow increases or decreases monotonically in
    every variable). Low fidelity :func:`borehole_low` at ``s = 0`` (declared cost 1),
    high :func:`borehole_high` at ``s = 1`` (declared cost ``cost_ratio``, default 10).
    """
    lo = [v[1] for v in BOREHOLE_VARIABLES]
    hi = [v[2] for v in BOREHOLE_VARIABLES]
    opt = [0.15, 100.0, 115600.0, 1110.0, 116.0, 700.0, 1120.0, 12045.0]
    return _two_level_problem(
        "borehole", borehole_high, borehole_low, bounds=[lo, hi],
        design_names=tuple(v[0] for v in BOREHOLE_VARIABLES), maximize=True,
        optimum_value=309.5755876604079, optimizers=[opt], fidelity=fidelity, cost_ratio=cost_ratio)


def _botorch_problem(name: str, test_function: Any, *, d: int, design_names: Sequence[str],
                     optimum_value: float, optimizers: Any, fixed_cost: float,
                     weight: float) -> MultiFidelityProblem:
    lo = [b[0] for b in test_function._bounds[:d]]
    hi = [b[1] for b in test_function._bounds[:d]]

    def function(X: Tensor, s: Tensor | None) -> Tensor:
        s = torch.ones(X.shape[0], dtype=DTYPE) if s is None else s
        return test_function.evaluate_true(torch.cat([X, s.reshape(-1, 1)], dim=1))

    return MultiFidelityProblem(
        name=name, bounds=[lo, hi], function=function, fidelity=Fidelity.continuous("s", 0.0, 1.0),
        maximize=False, cost=AffineFidelityCost(fixed_cost, weight), design_names=design_names,
        optimum_value=optimum_value, optimizers=optimizers)


def augmented_branin(*, fixed_cost: float = 5.0, weight: float = 1.0) -> MultiFidelityProblem:
    """BoTorch's ``AugmentedBranin``, minimised on ``[-5, 10] x [0, 15]``, fidelity ``s in [0, 1]``.

    ``B(x, s) = (x2 - (5.1/(4 pi^2) - 0.1 (1 - s)) x1^2 + 5 x1/pi - 6)^2
    + 10 (1 - 1/(8 pi)) cos x1 + 10``; at ``s = 1`` the standard Branin, minimum
    ``5/(4 pi) = 0.397887`` at ``(-pi, 12.275), (pi, 2.275), (3 pi, 2.475)``.
    Declared cost ``fixed_cost + weight * s`` (default: the MF-KG tutorial's ``5 + s``).
    """
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    return _botorch_problem(
        "augmented_branin", AugmentedBranin(dtype=DTYPE), d=2, design_names=("x1", "x2"),
        optimum_value=5.0 / (4.0 * math.pi),
        optimizers=[[-math.pi, 12.275], [math.pi, 2.275], [3.0 * math.pi, 2.475]],
        fixed_cost=fixed_cost, weight=weight)


def augmented_hartmann(*, fixed_cost: float = 5.0, weight: float = 1.0) -> MultiFidelityProblem:
    """BoTorch's ``AugmentedHartmann`` (Hartmann-6), minimised on ``[0, 1]^6``, fidelity ``s in [0, 1]``.

    The first term's weight is ``alpha_1 - 0.1 (1 - s)``; at ``s = 1`` the standard
    Hartmann-6, minimum ``-3.32237`` at ``(0.20169, 0.150011, 0.476874, 0.275332, 0.311652,
    0.6573)``. Declared cost ``fixed_cost + weight * s`` (default ``5 + s``).
    """
    from botorch.test_functions.multi_fidelity import AugmentedHartmann

    # BoTorch builds the constants A, P, ALPHA with torch's default dtype; build them in
    # float64 so that entries such as A = 0.05 are not rounded to float32 (1e-8 relative).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        test_function = AugmentedHartmann(dtype=DTYPE)
    finally:
        torch.set_default_dtype(previous)
    return _botorch_problem(
        "augmented_hartmann", test_function, d=6,
        design_names=tuple(f"x{i + 1}" for i in range(6)), optimum_value=-3.32237,
        optimizers=[[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]],
        fixed_cost=fixed_cost, weight=weight)


# ===================================================================== simulator source
class _SimulatorCost:
    """Declared cost from the simulator itself: ``simulator(s).cost(centre of the design box)``."""

    def __init__(self, source: SimulatorSource) -> None:
        self.source = source

    def __call__(self, s: Tensor) -> Tensor:
        centre = self.source.params_of(0.5 * (self.source.bounds[0] + self.source.bounds[1]))
        return torch.tensor([float(self.source.simulator(float(v)).cost(centre)) for v in s.reshape(-1)],
                            dtype=DTYPE)


class SimulatorSource(MultiFidelityProblem):
    """A sciml :class:`~sciml.simulators.base.Simulator` as a multi-fidelity information source.

    The fidelity is a constructor argument of the simulator (``fidelity.name``, e.g.
    ``"n_cells"``); the design variables are physical parameters of :meth:`Simulator.run`.
    One evaluation builds (and caches) the simulator at the requested fidelity, runs it with
    the design's parameters and the fixed ``seed``, and reduces the dataset to a number with
    ``objective``.

    Parameters
    ----------
    build : callable
        ``build(**simulator_kwargs, **{fidelity.name: value}) -> Simulator``, e.g. the
        simulator class. Integer-valued discrete levels are passed as ``int``.
    objective : callable
        ``objective(dataset) -> float``; NaN/inf are allowed (recorded as failures).
    fidelity : Fidelity or None
        The fidelity (``None``: a single simulator built from ``simulator_kwargs``).
    simulator_kwargs : mapping, optional
        Other constructor arguments, shared by all fidelities.
    parameters : sequence of str or mapping of str to (low, high), optional
        Design variables: parameter names of the simulator's ``parameter_space``, with
        bounds (physical units) taken from it or given here (within it). Default: every
        parameter not in ``fixed``.
    fixed : mapping, optional
        Parameter values held fixed (others not designed take their defaults).
    log_scale : sequence of str
        Parameters designed in ``log10``: the design variable is ``log10_<name>`` with
        bounds ``log10(low), log10(high)``.
    seed : int
        Seed of every run (common random numbers across designs and fidelities).
    n_samples : int
        Samples per run (passed to :meth:`Simulator.run`).
    maximize : bool
        Direction of ``objective``.
    cost : callable or float, optional
        Declared cost model of the fidelity; default: ``simulator(s).cost(params)`` at the
        centre of the design box.
    name, optimum_value, optimizers
        As for :class:`MultiFidelityProblem` (``optimizers`` in design coordinates).

    Raises
    ------
    ParameterError
        Unknown parameter names (the message lists the accepted ones), bounds outside the
        parameter space, invalid fixed values.
    ConfigError
        ``build`` fails or does not return a :class:`Simulator`; bad cost.
    """

    def __init__(
        self,
        build: Callable[..., Simulator],
        objective: Callable[[xr.Dataset], float],
        fidelity: Fidelity | None,
        *,
        simulator_kwargs: Mapping[str, Any] | None = None,
        parameters: Sequence[str] | Mapping[str, tuple[float, float]] | None = None,
        fixed: Mapping[str, float] | None = None,
        log_scale: Sequence[str] = (),
        seed: int = 0,
        n_samples: int = 1,
        maximize: bool = True,
        cost: CostModel | float | None = None,
        name: str | None = None,
        optimum_value: float | None = None,
        optimizers: Any = None,
    ) -> None:
        from sciml.simulators.base import Simulator, check_n_samples

        self._build = build
        self.objective = objective
        self.fidelity = fidelity
        self.simulator_kwargs = dict(simulator_kwargs or {})
        self.seed = int(seed)
        self.n_samples = check_n_samples(n_samples)
        self._simulators: dict[float, Simulator] = {}
        sim = self.simulator(None if fidelity is None else fidelity.target)
        if not isinstance(sim, Simulator):
            raise ConfigError(f"build returned {type(sim).__name__}, which is not a sciml Simulator")
        space = sim.parameter_space
        label = name or getattr(sim, "name", type(sim).__name__)
        self.fixed = dict(fixed or {})
        unknown = sorted(set(self.fixed) - set(space.names))
        if unknown:
            raise ParameterError(f"{label}: unknown fixed parameter(s) {unknown}; accepted: {space.describe()}")
        if parameters is None:
            parameters = [n for n in space.names if n not in self.fixed]
        given = dict(parameters) if isinstance(parameters, Mapping) else {str(p): None for p in parameters}
        unknown = sorted(set(given) - set(space.names))
        if unknown:
            raise ParameterError(f"{label}: unknown parameter(s) {unknown}; accepted: {space.describe()}")
        both = sorted(set(given) & set(self.fixed))
        if both:
            raise ParameterError(f"{label}: parameter(s) {both} are both designed and fixed")
        bad_log = sorted(set(log_scale) - set(given))
        if bad_log:
            raise ParameterError(f"{label}: log_scale names {bad_log} are not design parameters {sorted(given)}")
        if not given:
            raise ParameterError(f"{label}: no design parameters; accepted: {space.describe()}")
        self.parameter_names: tuple[str, ...] = tuple(given)
        self.log_scale: frozenset[str] = frozenset(log_scale)
        lows, highs, names = [], [], []
        for pname, rng in given.items():
            p = space[pname]
            lo, hi = (p.low, p.high) if rng is None else (float(rng[0]), float(rng[1]))
            if not p.low <= lo < hi <= p.high:
                raise ParameterError(f"{label}: bounds ({lo:g}, {hi:g}) of {pname!r} must satisfy "
                                     f"low < high inside the parameter space; accepted: {p.describe()}")
            if pname in self.log_scale:
                if lo <= 0:
                    raise ParameterError(f"{label}: log_scale needs positive bounds for {pname!r}, got {lo:g}")
                lo, hi = math.log10(lo), math.log10(hi)
                names.append(f"log10_{pname}")
            else:
                names.append(pname)
            lows.append(lo)
            highs.append(hi)
        self._space = space
        self._label = label
        bounds = torch.tensor([lows, highs], dtype=DTYPE)
        self.bounds = bounds
        # fail early on missing required parameters or bad fixed values
        space.validate(self.params_of(0.5 * (bounds[0] + bounds[1])), source=label)
        super().__init__(
            name=label, bounds=bounds, fidelity=fidelity, maximize=maximize,
            cost=_SimulatorCost(self) if cost is None else cost, design_names=names,
            optimum_value=optimum_value, optimizers=optimizers, vectorized=False)

    def simulator(self, s: float | None) -> Simulator:
        """The simulator at physical fidelity ``s`` (built once, then cached)."""
        key = math.nan if s is None else float(s)
        for k, sim in self._simulators.items():
            if k == key or (math.isnan(k) and math.isnan(key)):
                return sim
        kwargs = dict(self.simulator_kwargs)
        if self.fidelity is not None:
            if s is None:
                raise ParameterError(f"a fidelity value is needed; accepted: {self.fidelity.describe()}")
            value: float | int = float(s)
            if self.fidelity.kind == "discrete" and all(float(v).is_integer() for v in self.fidelity.values):
                value = int(round(value))
            kwargs[self.fidelity.name] = value
        try:
            sim = self._build(**kwargs)
        except (ParameterError, ConfigError):
            raise
        except Exception as exc:
            raise ConfigError(f"building the simulator with {kwargs} failed: {type(exc).__name__}: {exc}") from exc
        self._simulators[key] = sim
        return sim

    def params_of(self, x: Tensor) -> dict[str, float]:
        """Simulator parameters of one design vector ``x`` ``(d,)`` (plus the fixed ones).

        ``log10`` design variables are exponentiated; values are clamped into the
        parameter space to absorb round-off.
        """
        out = dict(self.fixed)
        for pname, v in zip(self.parameter_names, x.tolist(), strict=True):
            p = self._space[pname]
            value = 10.0 ** v if pname in self.log_scale else v
            out[pname] = min(max(value, p.low), p.high)
        return out

    def run(self, x: Any, s: float | None = None) -> xr.Dataset:
        """Run the simulator at one design ``x`` ``(d,)`` and fidelity ``s`` (default: target)."""
        X = self.check_X(_as_tensor(x, "x").reshape(1, -1))
        st = self.check_s(s, 1)
        sim = self.simulator(None if st is None else float(st[0]))
        return sim.run(self.params_of(X[0]), seed=self.seed, n_samples=self.n_samples)

    def _evaluate(self, X: Tensor, s: Tensor | None) -> Tensor:
        out = torch.empty(X.shape[0], dtype=DTYPE)
        for i in range(X.shape[0]):
            sim = self.simulator(None if s is None else float(s[i]))
            ds = sim.run(self.params_of(X[i]), seed=self.seed, n_samples=self.n_samples)
            out[i] = float(self.objective(ds))
        return out


def shock_time(ds: xr.Dataset, *, field: str = "u") -> float:
    """Time of the steepest gradient: ``argmax_t max_x |du/dx|``, refined between frames.

    The per-frame maximum of the periodic one-sided difference ``|u[i+1] - u[i]| / dx``
    is maximised over frames; the maximiser is refined by the vertex of the parabola through
    it and its two neighbours (a frame at either end is returned as is). With several
    samples, the mean of their shock times.

    Parameters
    ----------
    ds : xarray.Dataset
        Simulator output with ``field`` of shape ``(sample, t, x)`` on a uniform periodic grid.

    Returns
    -------
    float
        Time in the dataset's ``t`` units.
    """
    u = np.asarray(ds[field].values, dtype=np.float64)
    t = np.asarray(ds["t"].values, dtype=np.float64)
    x = np.asarray(ds["x"].values, dtype=np.float64)
    dx = float(x[1] - x[0])
    grad = np.abs(np.roll(u, -1, axis=-1) - u).max(axis=-1) / dx  # (sample, t)
    times = []
    for g in grad.reshape(-1, t.size):
        k = int(np.argmax(g))
        offset = 0.0
        if 0 < k < t.size - 1:
            a, b, c = g[k - 1], g[k], g[k + 1]
            curv = a - 2.0 * b + c
            if curv < 0:
                offset = float(np.clip(0.5 * (a - c) / curv, -0.5, 0.5))
        times.append(t[k] + offset * (t[1] - t[0]))
    return float(np.mean(times))


def _shock_time_objective(t_target: float, t_final: float) -> Callable[[xr.Dataset], float]:
    """``-(shock_time(ds) - t_target)^2`` (maximised), after checking ``0 < t_target < t_final``."""
    if not (math.isfinite(t_target) and 0.0 < t_target < t_final):
        raise ConfigError(f"t_target must lie in (0, t_final={t_final:g}), got {t_target!r}")
    target = float(t_target)

    def objective(ds: xr.Dataset) -> float:
        return -((shock_time(ds) - target) ** 2)

    return objective


def burgers_shock_time_problem(
    *,
    t_target: float = 0.2,
    n_cells: Sequence[int] = (64, 128, 256, 512),
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude: float = 1.0,
    t_final: float = 0.5,
    n_frames: int = 51,
    seed: int = 0,
) -> SimulatorSource:
    """Choose the Burgers viscosity so that the shock forms at ``t_target``.

    Viscous Burgers (:class:`~sciml.simulators.pde.burgers.BurgersSimulator`, diffusion
    ``nu / pi``) from ``u0 = amplitude sin(2 pi x)`` on the periodic unit interval; the
    objective ``-(shock_time - t_target)^2`` (:func:`shock_time`) is maximised over
    ``log10(nu)``. Fidelity: ``n_cells`` (discrete, target the largest, rescaled in
    ``log``), declared cost ``(n_cells / max(n_cells))^2`` (the CFL time step makes the
    work quadratic in ``n_cells``); measured costs come from :meth:`evaluate_timed`.

    For ``amplitude = 1`` the shock time rises from ~0.245 (``nu = 1e-3``) to ~0.273
    (``nu ~ 0.03``), then falls to 0 (``nu >~ 0.5``: the gradient only decays). The
    default ``t_target = 0.2`` is reached once, near ``nu ~ 0.09``; targets in
    ``(0.245, 0.273)`` are reached twice. ``optimum_value = 0`` assumes ``t_target`` is
    reachable within ``nu_bounds``.

    Parameters
    ----------
    t_target : float
        Wanted shock time (time units of the simulator), in ``(0, t_final)``.
    n_cells : sequence of int
        Grid sizes (fidelity levels).
    nu_bounds : (float, float)
        Range of ``nu`` (inside the simulator's ``[1e-4, 10]``).
    amplitude : float
        Amplitude of the initial sine (not a design variable).
    t_final, n_frames : float, int
        Simulated time and saved frames (the shock time is refined between frames).
    seed : int
        Seed of every run.
    """
    from sciml.simulators.pde.burgers import BurgersSimulator
    from sciml.simulators.pde.initial_conditions import SineIC

    objective = _shock_time_objective(t_target, t_final)
    fid = Fidelity.discrete("n_cells", tuple(int(n) for n in n_cells), log_scale=True)
    return SimulatorSource(
        BurgersSimulator, objective, fid,
        simulator_kwargs={"t_final": float(t_final), "n_frames": int(n_frames),
                          "initial_condition": SineIC(amplitude=float(amplitude))},
        parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1]))}, log_scale=("nu",),
        seed=seed, maximize=True, cost=PowerFidelityCost(reference=fid.hi, exponent=2.0),
        name="burgers_shock_time", optimum_value=0.0)


@functools.cache
def _amplitude_burgers_class() -> type:
    """:class:`~sciml.simulators.pde.burgers.BurgersSimulator` with ``amplitude`` as a run parameter.

    The initial state is ``amplitude`` times the initial condition's draw, so that a BO
    problem can design it (:func:`burgers_shock_time_2d_problem`). Built on first use (the
    simulators are imported lazily).
    """
    from sciml.simulators.base import Parameter, ParameterSpace
    from sciml.simulators.pde.burgers import BurgersSimulator

    class AmplitudeBurgers(BurgersSimulator):
        name = "burgers1d_amplitude"
        PARAMETERS = ParameterSpace((
            *BurgersSimulator.PARAMETERS,
            Parameter("amplitude", 0.05, 20.0, units="u", default=1.0,
                      description="factor on the initial condition's draw"),
        ))

        def initial_state(self, rng: np.random.Generator, n_samples: int, params: Mapping[str, float]
                          ) -> np.ndarray:
            return float(params["amplitude"]) * super().initial_state(rng, n_samples, params)

        def n_steps(self, params: dict[str, float]) -> int:
            amp = float(params.get("amplitude", 1.0))
            per_frame = max(1, math.ceil(amp * self._speed_bound() * self.frame_dt / (self.cfl * self.dx)))
            return per_frame * (self.n_frames - 1)

    return AmplitudeBurgers


def _amplitude_burgers(**kwargs: Any) -> Simulator:
    """An instance of :func:`_amplitude_burgers_class` (the ``build`` of a :class:`SimulatorSource`)."""
    return _amplitude_burgers_class()(**kwargs)


def burgers_shock_time_2d_problem(
    *,
    t_target: float = 0.2,
    n_cells: Sequence[int] = (64, 128, 256, 512),
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude_bounds: tuple[float, float] = (0.5, 2.0),
    t_final: float = 0.5,
    n_frames: int = 51,
    seed: int = 0,
) -> SimulatorSource:
    """Choose the Burgers viscosity *and* initial amplitude so that the shock forms at ``t_target``.

    As :func:`burgers_shock_time_problem`, with ``u0 = A sin(2 pi x)`` and the design
    ``(log10 nu, A)``. Burgers' scaling ``u(x, t; nu, A) = A u(x, A t; nu / A, 1)`` gives the
    shock time ``t_s(nu, A) = t_s(nu / A, 1) / A``: for ``A = 1`` it lies in ``[0.245, 0.273]``
    for ``nu <~ 0.03`` (see :func:`burgers_shock_time_problem`), so with the default bounds
    ``t_target = 0.2`` is reached along a curve ``A ~ 1.2-1.4`` for small ``nu`` and
    continues to ``A = 1``, ``nu ~ 0.09``: a set of optima (value 0) rather than one narrow
    peak. Fidelity and declared cost as in :func:`burgers_shock_time_problem`.

    Parameters
    ----------
    amplitude_bounds : (float, float)
        Range of ``A`` (inside ``[0.05, 20]``).
    t_target, n_cells, nu_bounds, t_final, n_frames, seed
        As for :func:`burgers_shock_time_problem`.
    """
    from sciml.simulators.pde.initial_conditions import SineIC

    objective = _shock_time_objective(t_target, t_final)
    fid = Fidelity.discrete("n_cells", tuple(int(n) for n in n_cells), log_scale=True)
    return SimulatorSource(
        _amplitude_burgers, objective, fid,
        simulator_kwargs={"t_final": float(t_final), "n_frames": int(n_frames),
                          "initial_condition": SineIC(amplitude=1.0)},
        parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1])),
                    "amplitude": (float(amplitude_bounds[0]), float(amplitude_bounds[1]))},
        log_scale=("nu",), seed=seed, maximize=True, cost=PowerFidelityCost(reference=fid.hi, exponent=2.0),
        name="burgers_shock_time_2d", optimum_value=0.0)


#: Problem factories by name (see :func:`get_problem`).
PROBLEMS: dict[str, Callable[..., MultiFidelityProblem]] = {
    "forrester": forrester,
    "currin": currin,
    "park91a": park91a,
    "park91b": park91b,
    "borehole": borehole,
    "augmented_branin": augmented_branin,
    "augmented_hartmann": augmented_hartmann,
    "burgers_shock_time": burgers_shock_time_problem,
    "burgers_shock_time_2d": burgers_shock_time_2d_problem,
}


def get_problem(name: str, **kwargs: Any) -> MultiFidelityProblem:
    """Build a registered problem by name (:data:`PROBLEMS`) with factory keyword arguments.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the accepted ones) or bad keyword arguments.
    """
    if name not in PROBLEMS:
        raise ConfigError(f"unknown problem {name!r}; accepted: {sorted(PROBLEMS)}")
    try:
        return PROBLEMS[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for problem {name!r}: {exc}") from None
