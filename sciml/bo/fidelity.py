"""A fidelity variable: its levels or range in physical units and its rescaling to ``[0, 1]``.

BoTorch's multi-fidelity kernels (``SingleTaskMultiFidelityGP``) assume a fidelity column in
``[0, 1]`` with ``1`` = the target (the truth); :meth:`Fidelity.to_unit` and
:meth:`Fidelity.from_unit` map between physical fidelities (e.g. ``n_cells``) and that
column, the target to ``1`` and the other end of the range (the lowest fidelity) to ``0``.
Everything is ``torch.float64`` on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ConfigError, ParameterError

__all__ = ["DTYPE", "REL_TOL", "Fidelity", "FidelityInput", "as_float64"]

DTYPE = torch.float64
#: Relative tolerance when checking that a value lies in a range or on a discrete level.
REL_TOL = 1e-9

FidelityInput = float | int | Sequence[float] | np.ndarray | Tensor


def as_float64(value: Any, what: str) -> Tensor:
    """Convert ``value`` to a float64 CPU tensor or raise :class:`ParameterError` naming ``what``."""
    try:
        if isinstance(value, Tensor):
            return value.detach().to(device="cpu", dtype=DTYPE)
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=DTYPE)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what} must be numbers, got {value!r}: {exc}") from None


@dataclass(frozen=True)
class Fidelity:
    """A fidelity variable and its rescaling to BoTorch's unit interval.

    Attributes
    ----------
    name : str
        Name of the fidelity (for :class:`~sciml.bo.sources.SimulatorSource`, the simulator
        constructor argument it sets, e.g. ``"n_cells"``).
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
        t = as_float64(s, f"fidelity {self.name!r}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"fidelity values must be finite, got {t.tolist()}; accepted: {self.describe()}")
        span = self.hi - self.lo
        if self.kind == "continuous":
            tol = REL_TOL * span
            bad = (t < self.lo - tol) | (t > self.hi + tol)
            if bool(bad.any()):
                raise ParameterError(f"fidelity value(s) {t[bad].tolist()} out of range; "
                                     f"accepted: {self.describe()}")
            return t.clamp(self.lo, self.hi)
        levels = torch.tensor(self.values, dtype=DTYPE)
        dist = (t.reshape(-1, 1) - levels).abs()
        idx = dist.argmin(dim=1)
        tol = REL_TOL * torch.clamp(levels[idx].abs(), min=1.0)
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
        t = as_float64(z, f"unit fidelity of {self.name!r}")
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"unit fidelity values must be finite, got {t.tolist()}")
        bad = (t < -REL_TOL) | (t > 1.0 + REL_TOL)
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

