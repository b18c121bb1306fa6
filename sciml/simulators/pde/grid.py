"""Shared machinery of the built-in 1D PDE simulators.

:class:`PDESimulator1D` turns a batched solver (``_solve``) into a :class:`Simulator`: it
validates parameters, draws the initial states from the seed, checks the result for
non-finite values and wraps it as a validated dataset with provenance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

import numpy as np
import xarray as xr

from sciml.data.schema import field_dataset, provenance_attrs, validate
from sciml.errors import ParameterError
from sciml.simulators.base import ParameterSpace, check_finite, check_n_samples
from sciml.simulators.pde.initial_conditions import INITIAL_CONDITIONS, InitialCondition, SineSumIC


class GridOptions(TypedDict, total=False):
    """The grid options of :class:`PDESimulator1D`, as keyword arguments of its subclasses."""

    n_cells: int
    t_final: float
    n_frames: int
    x_min: float
    x_max: float
    initial_condition: InitialCondition | None
    dtype: str


class PDESimulator1D(ABC):
    """Base class for batched 1D PDE simulators on a uniform grid of cell centres.

    Parameters
    ----------
    n_cells : int
        Number of grid cells; values are cell averages (finite volume) at cell centres
        ``x_i = x_min + (i + 1/2) dx``.
    t_final : float
        Final time; frames are saved at ``linspace(0, t_final, n_frames)``.
    n_frames : int
        Number of saved frames, including the initial state.
    x_min, x_max : float
        Domain bounds.
    initial_condition : InitialCondition, optional
        Family of initial states (default :class:`SineSumIC`).
    dtype : {"float64", "float32"}
        Floating type of the integration and of the stored field.
    """

    #: Short identifier, used as ``attrs["generator"]``.
    name: ClassVar[str] = "pde1d"
    #: Version of the numerical scheme; bump when results change.
    version: ClassVar[str] = "1"
    #: Physical parameters accepted by :meth:`run`.
    PARAMETERS: ClassVar[ParameterSpace] = ParameterSpace(())
    #: CF attributes of the field ``u``.
    FIELD_ATTRS: ClassVar[dict[str, str]] = {"units": "1", "long_name": "solution u"}

    def __init__(
        self,
        *,
        n_cells: int = 1024,
        t_final: float = 2.0,
        n_frames: int = 201,
        x_min: float = 0.0,
        x_max: float = 1.0,
        initial_condition: InitialCondition | None = None,
        dtype: str = "float64",
    ) -> None:
        if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 4:
            raise ParameterError(f"n_cells must be an integer >= 4, got {n_cells!r}")
        if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
            raise ParameterError(f"n_frames must be an integer >= 2, got {n_frames!r}")
        if not (np.isfinite(t_final) and t_final > 0):
            raise ParameterError(f"t_final must be a positive number, got {t_final!r}")
        if not (np.isfinite(x_min) and np.isfinite(x_max) and x_max > x_min):
            raise ParameterError(f"need finite x_min < x_max, got [{x_min!r}, {x_max!r}]")
        if dtype not in ("float64", "float32"):
            raise ParameterError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        self.n_cells = int(n_cells)
        self.t_final = float(t_final)
        self.n_frames = int(n_frames)
        self.x_min = float(x_min)
        self.x_max = float(x_max)
        _check_initial_condition(initial_condition)
        self.initial_condition: InitialCondition = initial_condition or SineSumIC()
        self.dtype = dtype

    # ----------------------------------------------------------------- geometry
    @property
    def length(self) -> float:
        """Domain length ``x_max - x_min``."""
        return self.x_max - self.x_min

    @property
    def dx(self) -> float:
        """Cell width."""
        return self.length / self.n_cells

    @property
    def x(self) -> np.ndarray:
        """Cell centres, shape ``(n_cells,)``."""
        return self.x_min + (np.arange(self.n_cells) + 0.5) * self.dx

    @property
    def t(self) -> np.ndarray:
        """Frame times, shape ``(n_frames,)``."""
        return np.linspace(0.0, self.t_final, self.n_frames)

    @property
    def parameter_space(self) -> ParameterSpace:
        """The physical parameters accepted by :meth:`run`."""
        return self.PARAMETERS

    def sample_nbytes(self, params: Mapping[str, float] | None = None) -> int:
        """Bytes of one sample's field in the output: ``n_frames * n_cells * itemsize``."""
        return self.n_frames * self.n_cells * np.dtype(self.dtype).itemsize

    # ----------------------------------------------------------------- protocol
    def config(self) -> dict[str, Any]:
        """Numerical configuration, JSON-serialisable (recorded in provenance).

        ``build_simulator(sim.config())`` rebuilds an identical simulator.
        """
        return {
            "kind": self.name,
            "n_cells": self.n_cells,
            "t_final": self.t_final,
            "n_frames": self.n_frames,
            "x_min": self.x_min,
            "x_max": self.x_max,
            "dtype": self.dtype,
            "initial_condition": self.initial_condition.config(),
        }

    def cost(self, params: Mapping[str, float]) -> float:
        """Relative cost of one sample: cell updates ``n_cells * n_steps`` / 1e6."""
        p = self.parameter_space.validate(params)
        return self.n_cells * self.n_steps(p) / 1e6

    def n_steps(self, params: Mapping[str, float]) -> int:
        """Number of time steps the solver takes for ``params`` (for cost and benchmarks)."""
        return self.n_frames - 1

    def initial_state(self, rng: np.random.Generator, n_samples: int, params: Mapping[str, float]) -> np.ndarray:
        """Draw the initial states, shape ``(n_samples, n_cells)``."""
        return self.initial_condition.sample(rng, self.x, n_samples, self.length)

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """Integrate ``n_samples`` random initial states drawn from ``seed``.

        Parameters
        ----------
        params : mapping
            Physical parameters; see :attr:`parameter_space`.
        seed : int
            Seed of the initial-condition draw (``numpy.random.default_rng``).
        n_samples : int
            Number of trajectories, integrated together.

        Returns
        -------
        xarray.Dataset
            Field ``u`` of shape ``(n_samples, n_frames, n_cells)`` plus one variable per
            parameter along ``sample``, in the validated sciml layout.

        Raises
        ------
        ParameterError
            Parameters outside :attr:`parameter_space`.
        SimulationError
            Non-finite values; the message names the samples, parameters and seed.
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        rng = np.random.default_rng(seed)
        u0 = np.asarray(self.initial_state(rng, n, p), dtype=self.dtype)
        u = self._solve(u0, p)
        check_finite({"u": u}, simulator=self.name, params=p, seed=seed)
        return self.to_dataset(u, p, seed=seed)

    def to_dataset(self, u: np.ndarray, params: Mapping[str, float], *, seed: int | None) -> xr.Dataset:
        """Wrap a solution array ``(n_samples, n_frames, n_cells)`` as a sciml dataset."""
        n = u.shape[0]
        ds = field_dataset(
            {"u": u},
            coords={"t": self.t, "x": self.x},
            parameters={k: np.full(n, v) for k, v in params.items()},
            field_attrs={"u": self.FIELD_ATTRS},
            parameter_attrs={
                q.name: {"units": q.units, "long_name": q.description or q.name}
                for q in self.parameter_space
            },
            attrs=provenance_attrs(
                generator=self.name,
                generator_version=self.version,
                parameters={"config": self.config(), "params": dict(params)},
                seed=seed,
            ),
        )
        return validate(ds, check_finite=False)

    @abstractmethod
    def _solve(self, u0: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Integrate initial states ``u0`` (``(n, n_cells)``) and return ``(n, n_frames, n_cells)``."""


def _check_initial_condition(ic: object) -> None:
    """Accept ``None`` (the default) or an initial-condition object; else raise ParameterError.

    An object qualifies when it has the :class:`InitialCondition` methods ``sample`` and
    ``config``. A configuration mapping (``{"kind": "sine", ...}``) is refused with a pointer
    to the functions that build the object from it.
    """
    if ic is None or all(callable(getattr(ic, method, None)) for method in ("sample", "config")):
        return
    hint = ("; build it from a mapping with initial_condition_from_config(mapping) (kind: one of "
            f"{sorted(INITIAL_CONDITIONS)}) or pass the mapping to build_simulator"
            if isinstance(ic, Mapping) else "")
    raise ParameterError(
        "initial_condition must be None or an initial-condition object with sample() and config() "
        f"methods, e.g. SineSumIC() or SineIC(amplitude=1.0); got {type(ic).__name__} {ic!r}{hint}")
