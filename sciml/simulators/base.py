"""The Simulator protocol and the parameter space it declares.

A simulator is a pure function of its physical parameters and a seed::

    sim.parameter_space        # names, bounds, units
    sim.cost(params)           # relative cost of one run (used by multi-fidelity BO)
    sim.run(params, seed=0, n_samples=8)  # -> xarray.Dataset in the sciml layout

Numerical configuration (grid size, final time, number of frames, initial-condition
family) is given to the simulator's constructor; the *physical* parameters (``nu``,
``beta``, ...) are given to :meth:`Simulator.run`. One call of ``run`` draws ``n_samples``
random initial conditions from ``seed`` and integrates them together (vectorised).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xarray as xr

from sciml.errors import ParameterError, SimulationError


@dataclass(frozen=True)
class Parameter:
    """One physical parameter of a simulator.

    Attributes
    ----------
    name : str
        Identifier, also the name of the per-sample data variable in the output.
    low, high : float
        Inclusive bounds of the accepted range.
    units : str
        UDUNITS string (``"1"`` for dimensionless).
    description : str
        Human-readable meaning, stored as the variable's ``long_name``.
    default : float or None
        Value used when the parameter is not given; ``None`` makes it required.
    log_scale : bool
        Whether designs should sample the parameter uniformly in log space.
    """

    name: str
    low: float
    high: float
    units: str = "1"
    description: str = ""
    default: float | None = None
    log_scale: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"parameter {self.name!r}: low={self.low} > high={self.high}")
        if self.log_scale and self.low <= 0:
            raise ValueError(f"parameter {self.name!r}: log_scale needs low > 0")

    def describe(self) -> str:
        """One line ``name in [low, high] units`` used in error messages."""
        return f"{self.name} in [{self.low:g}, {self.high:g}] ({self.units})"


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered collection of :class:`Parameter` with validation."""

    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in {names}")

    def __iter__(self):
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """Parameter names in declaration order."""
        return [p.name for p in self.parameters]

    @property
    def bounds(self) -> np.ndarray:
        """Array of shape ``(2, n_params)``: lower bounds then upper bounds."""
        return np.array([[p.low for p in self.parameters], [p.high for p in self.parameters]],
                        dtype=np.float64).reshape(2, len(self.parameters))

    def describe(self) -> str:
        """Comma-separated description of every parameter and its accepted range."""
        return ", ".join(p.describe() for p in self.parameters) or "(no parameters)"

    def validate(self, params: Mapping[str, Any], *, source: str = "") -> dict[str, float]:
        """Check names, types and ranges; fill defaults.

        Parameters
        ----------
        params : mapping
            Parameter values by name.
        source : str, optional
            Where the values come from (a file, a design row), prefixed to error messages.

        Returns
        -------
        dict of str to float
            Complete, validated parameter values in declaration order.

        Raises
        ------
        ParameterError
            On unknown names, missing required values, non-numeric or non-finite values, or
            values outside ``[low, high]``. The message names the accepted ranges.
        """
        where = f"{source}: " if source else ""
        unknown = sorted(set(params) - set(self.names))
        if unknown:
            raise ParameterError(
                f"{where}unknown parameter(s) {unknown}; accepted: {self.describe()}"
            )
        out: dict[str, float] = {}
        for p in self.parameters:
            if p.name in params:
                raw = params[p.name]
            elif p.default is not None:
                raw = p.default
            else:
                raise ParameterError(f"{where}parameter {p.name!r} is required; accepted: {p.describe()}")
            if isinstance(raw, bool) or not isinstance(raw, (int, float, np.integer, np.floating)):
                raise ParameterError(
                    f"{where}parameter {p.name!r} must be a number, got {type(raw).__name__} {raw!r}; "
                    f"accepted: {p.describe()}"
                )
            value = float(raw)
            if not math.isfinite(value):
                raise ParameterError(f"{where}parameter {p.name!r} is {value}; accepted: {p.describe()}")
            if not p.low <= value <= p.high:
                raise ParameterError(
                    f"{where}parameter {p.name}={value:g} is out of range; accepted: {p.describe()}"
                )
            out[p.name] = value
        return out


@runtime_checkable
class Simulator(Protocol):
    """What every sciml simulator provides. See the module docstring."""

    name: str
    version: str

    @property
    def parameter_space(self) -> ParameterSpace: ...

    def cost(self, params: Mapping[str, float]) -> float: ...

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset: ...

    def config(self) -> dict[str, Any]: ...


def check_finite(
    arrays: Mapping[str, np.ndarray], *, simulator: str, params: Mapping[str, float], seed: int
) -> None:
    """Raise :class:`SimulationError` if any array has NaN or inf values.

    The message names the simulator, the parameters, the seed and the offending samples
    (axis 0 of each array), so that the failing run can be reproduced.
    """
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            samples = np.unique(np.nonzero(bad)[0]).tolist()
            raise SimulationError(
                f"{simulator}: non-finite values in {name!r} for sample(s) "
                f"{samples[:10]}{' ...' if len(samples) > 10 else ''} with parameters "
                f"{dict(params)} and seed {seed}"
            )


def check_n_samples(n_samples: Any) -> int:
    """Validate a sample count and return it as ``int``."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ParameterError(f"n_samples must be a positive integer, got {n_samples!r}")
    return int(n_samples)
