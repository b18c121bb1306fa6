"""The finite-element Simulator base: mesh, Lagrange space, assemble-once solve, sampling.

A concrete FE problem subclasses :class:`FESimulator` and implements two hooks:

* :meth:`FESimulator.create_mesh` ``(comm)`` — a 2-D mesh of triangles (ghosted by shared
  facet, so that it runs under ``mpirun``);
* :meth:`FESimulator.solve` ``(mesh, params, rngs, **inputs)`` — assemble (once:
  :meth:`FESimulator.linear_solver`), solve, and record frames with a :class:`Recorder`
  (regular grid and named points); one :class:`FEResult` per random generator.

A problem with inputs beyond the physical parameters (the submodel's interface history)
takes them as extra keyword arguments of :meth:`FESimulator.run`: the hook
:meth:`FESimulator.check_inputs` validates them (before the mesh is built) and returns the
keyword arguments ``solve`` receives and the dataset attributes that record them; a problem
without such inputs rejects any (the Simulator protocol's ``run(params, *, seed, n_samples)``
is unchanged).

:meth:`FESimulator.run` validates the parameters, builds the mesh, calls ``solve`` and
returns a dataset in the sciml field layout: fields over ``(sample, t, x, y)`` (a steady
problem has one frame, ``t = [0]``; vector fields are split into ``<name>_x``, ``<name>_y``),
named-point histories ``<field>_at_<point>`` over ``(sample, t)``, scalar quantities of interest
over ``sample`` (``role = "qoi"``), the parameters over ``sample`` (``role = "parameter"``) and
provenance. A deterministic problem (``STOCHASTIC = False``) is solved once and repeated for
every sample; a stochastic one draws sample ``i`` from ``np.random.default_rng([seed, i])``.

Grid points and named points outside the mesh get the recorder's ``fill_value`` (default NaN,
which ``run`` rejects as non-finite output): a domain that does not cover its grid box (a plate
with a hole) records with ``self.recorder(mesh, fill_value=0.0)``.

Mesh ``resolution`` (cells per unit length) is the fidelity: :meth:`FESimulator.cost` grows
with the number of degrees of freedom and time steps.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sciml.data.schema import field_dataset, provenance_attrs
from sciml.errors import ParameterError, SimulationError
from sciml.simulators.base import ParameterSpace, check_finite, check_n_samples
from sciml.simulators.fem.backend import import_dolfinx, resolve_comm
from sciml.simulators.fem.sampling import GridSampler, PointSampler, regular_grid
from sciml.simulators.fem.solver import LinearSolver, SolverOptions

__all__ = ["COMPONENTS", "FEResult", "FESimulator", "Recorder", "require_positive"]

#: Suffixes of the components of a 2-D vector field on the grid and at points.
COMPONENTS: tuple[str, ...] = ("x", "y")


def require_positive(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number ``> 0``; otherwise :class:`ParameterError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, low: int, accepted: Sequence[int] | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (accepted is not None and value not in accepted):
        allowed = f"one of {list(accepted)}" if accepted is not None else f"an integer >= {low}"
        raise ParameterError(f"{name} must be {allowed}; got {value!r}")
    return int(value)


@dataclass
class FEResult:
    """One sample's output, on every rank.

    Attributes
    ----------
    times : ndarray, shape ``(n_t,)``
        Frame times (``[0.0]`` for a steady problem).
    fields : dict of str to ndarray, shape ``(n_t, n_x, n_y)``
        Scalar fields on the regular grid.
    series : dict of str to ndarray, shape ``(n_t,)``
        Histories at named points.
    qois : dict of str to float
        Scalar quantities of interest.
    """

    times: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)
    qois: dict[str, float] = field(default_factory=dict)


class Recorder:
    """Samples Functions frame by frame on the grid and at the named points.

    ``record(t, {"u": u})`` stores ``u`` on the grid (a vector ``u`` as ``u_x``, ``u_y``) and at
    each named point ``p`` as the series ``u_at_p`` (``u_x_at_p``, ``u_y_at_p``);
    :meth:`result` stacks the frames into an :class:`FEResult`.
    """

    def __init__(self, grid: GridSampler, points: PointSampler | None = None) -> None:
        self.grid = grid
        self.points = points
        self.times: list[float] = []
        self._fields: dict[str, list[np.ndarray]] = {}
        self._series: dict[str, list[float]] = {}

    def record(self, t: float, functions: Mapping[str, Any]) -> None:
        """Sample every Function of ``functions`` (name -> dolfinx Function) at time ``t``."""
        self.times.append(float(t))
        for name, u in functions.items():
            for key, values in _components(name, self.grid(u)).items():
                self._fields.setdefault(key, []).append(values)
            if self.points is None:
                continue
            for point, value in self.points(u).items():
                for key, v in _components(name, np.asarray(value)[None, None]).items():
                    self._series.setdefault(f"{key}_at_{point}", []).append(float(v[0, 0]))

    def result(self, qois: Mapping[str, float] | None = None) -> FEResult:
        """The recorded frames and the given quantities of interest."""
        return FEResult(times=np.asarray(self.times),
                        fields={k: np.stack(v) for k, v in self._fields.items()},
                        series={k: np.asarray(v) for k, v in self._series.items()},
                        qois={k: float(v) for k, v in (qois or {}).items()})


def _components(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """Grid values ``(n_x, n_y[, 2])`` as scalar fields: ``{name: ...}`` or ``{name_x: ..., name_y: ...}``."""
    if values.ndim == 2:
        return {name: values}
    if values.ndim == 3 and values.shape[2] == len(COMPONENTS):
        return {f"{name}_{c}": values[..., i] for i, c in enumerate(COMPONENTS)}
    raise ValueError(f"field {name!r}: cannot record values of shape {values.shape} (scalar or 2-vector)")


class FESimulator(ABC):
    """Base of the FEniCSx simulators (2-D triangle meshes, Lagrange P1/P2, scalar or vector).

    Parameters
    ----------
    resolution : int
        Mesh cells per unit length (``>= 1``); the fidelity.
    degree : {1, 2}
        Lagrange degree.
    grid : int
        Points per side of the regular output grid over :meth:`grid_bounds` (``>= 2``).
    solver : mapping, optional
        :class:`~sciml.simulators.fem.solver.SolverOptions` fields (default: direct LU).
    points : mapping of str to (x, y), optional
        Named points whose histories are recorded.

    Raises
    ------
    ParameterError
        Resolution below 1 or not an integer, degree not 1 or 2, bad grid or solver options.

    Notes
    -----
    Subclasses set ``name``, ``version``, ``PARAMETERS``, ``VALUE_SHAPE`` (``()`` scalar,
    ``(2,)`` vector), ``STOCHASTIC``, and the attributes (``units``, ``long_name``) of their
    outputs in ``FIELD_ATTRS`` and ``QOI_ATTRS``; they extend :meth:`config` with their own
    constructor fields.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    PARAMETERS: ClassVar[ParameterSpace]
    VALUE_SHAPE: ClassVar[tuple[int, ...]] = ()
    STOCHASTIC: ClassVar[bool] = False
    FIELD_ATTRS: ClassVar[dict[str, dict[str, str]]] = {}
    QOI_ATTRS: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, *, resolution: int = 16, degree: int = 1, grid: int = 33,
                 solver: Mapping[str, Any] | None = None,
                 points: Mapping[str, Sequence[float]] | None = None) -> None:
        self.resolution = _check_int("mesh resolution", resolution, 1)
        self.degree = _check_int("degree", degree, 1, accepted=(1, 2))
        self.grid = _check_int("grid", grid, 2)
        self.solver_options = SolverOptions.from_config(dict(solver) if solver is not None else None)
        self.points = _check_points(points)

    # ------------------------------------------------------------------ protocol
    @property
    def parameter_space(self) -> ParameterSpace:
        return self.PARAMETERS

    def config(self) -> dict[str, Any]:
        """Constructor fields, JSON-ready; ``build_simulator(sim.config())`` rebuilds ``sim``."""
        return {"kind": self.name, "resolution": self.resolution, "degree": self.degree, "grid": self.grid,
                "solver": self.solver_options.config(),
                "points": {k: list(v) for k, v in self.points.items()}}

    def cost(self, params: Mapping[str, float]) -> float:
        """Relative cost: estimated degrees of freedom x time steps / 1000."""
        p = self.parameter_space.validate(params, source=self.name)
        return float(self.estimated_dofs() * self.n_time_steps(p)) / 1000.0

    def estimated_dofs(self) -> int:
        """Degrees of freedom of a unit square at this resolution and degree (times components)."""
        components = int(np.prod(self.VALUE_SHAPE)) if self.VALUE_SHAPE else 1
        return (self.degree * self.resolution + 1) ** 2 * components

    def n_time_steps(self, params: Mapping[str, float]) -> int:
        """Solves per sample (1 for a steady problem)."""
        return 1

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1, comm: Any = None,
            **inputs: Any) -> xr.Dataset:
        """Solve at ``params`` and return ``n_samples`` samples in the sciml field layout.

        Parameters
        ----------
        params : mapping
            Physical parameters (see :attr:`parameter_space`).
        seed : int
            Seed (``>= 0``) of the random parts of a stochastic problem; recorded.
        n_samples : int
            Number of samples.
        comm : None, "self", "world" or mpi4py communicator
            Where to solve (:func:`~sciml.simulators.fem.backend.resolve_comm`); every rank
            returns the same dataset.
        **inputs
            Extra inputs of the problem (e.g. the submodel's ``interface``), checked by
            :meth:`check_inputs` and forwarded to :meth:`solve`; none by default.

        Raises
        ------
        ParameterError
            Bad parameters, sample count, seed or extra inputs (an unknown one named), or a
            non-positive material parameter.
        SimulationError
            The linear solver did not converge (PETSc's reason named), or non-finite output.
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError(f"seed must be an integer >= 0; got {seed!r}")
        self.check_parameters(p)
        comm = resolve_comm(comm)
        solve_inputs, input_attrs = self.check_inputs(p, n, comm, **inputs)
        mesh = self.create_mesh(comm)
        rngs = [np.random.default_rng([int(seed), i]) for i in range(n if self.STOCHASTIC else 1)]
        results = list(self.solve(mesh, p, rngs, **solve_inputs))
        if not self.STOCHASTIC and len(results) == 1:
            results = results * n
        if len(results) != n:
            raise SimulationError(f"{self.name}: solve returned {len(results)} result(s) for n_samples={n}")
        ds = self._dataset(results, p, int(seed))
        ds.attrs.update(input_attrs)
        return ds

    # ------------------------------------------------------------------ hooks
    def check_parameters(self, params: Mapping[str, float]) -> None:
        """Check physical consistency beyond the bounds (e.g. with :func:`require_positive`); default none."""

    def check_inputs(self, params: Mapping[str, float], n_samples: int, comm: Any,
                     **inputs: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate the extra keyword inputs of :meth:`run` (called before the mesh is built).

        Parameters
        ----------
        params : dict
            The validated physical parameters.
        n_samples : int
            The validated sample count.
        comm : mpi4py communicator
            The resolved communicator of the run.
        **inputs
            The extra keyword arguments given to :meth:`run`.

        Returns
        -------
        (dict, dict)
            The keyword arguments :meth:`solve` receives, and the global attributes that record
            the inputs in the dataset (provenance). Default: ``({}, {})``.

        Raises
        ------
        ParameterError
            An input this simulator does not take (default: any), or a bad value.
        """
        if inputs:
            raise ParameterError(f"{self.name}: unexpected input(s) {sorted(inputs)} to run; "
                                 "accepted: params, seed, n_samples, comm")
        return {}, {}

    def grid_bounds(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the output grid; default the unit square."""
        return (0.0, 1.0, 0.0, 1.0)

    @abstractmethod
    def create_mesh(self, comm: Any) -> Any:
        """The mesh on ``comm`` at this resolution (triangles, ``GhostMode.shared_facet``)."""

    @abstractmethod
    def solve(self, mesh: Any, params: Mapping[str, float], rngs: Sequence[np.random.Generator],
              **inputs: Any) -> list[FEResult]:
        """One :class:`FEResult` per generator (assemble once, then solve for each).

        ``inputs`` are the keyword arguments returned by :meth:`check_inputs` (none by default).
        A deterministic problem gets one generator and returns one result (repeated for every
        sample) or one per sample (inputs that differ between samples).
        """

    # ------------------------------------------------------------------ helpers for subclasses
    def grid_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """``x``, ``y`` of the output grid, each of ``grid`` points."""
        return regular_grid(self.grid_bounds(), self.grid)

    def function_space(self, mesh: Any, degree: int | None = None) -> Any:
        """Lagrange space of ``degree`` (default the simulator's) and shape ``VALUE_SHAPE`` on ``mesh``."""
        m = import_dolfinx()
        deg = self.degree if degree is None else degree
        if self.VALUE_SHAPE:
            return m.fem.functionspace(mesh, ("Lagrange", deg, self.VALUE_SHAPE))
        return m.fem.functionspace(mesh, ("Lagrange", deg))

    def linear_solver(self, a: Any, bcs: Sequence[Any] = ()) -> LinearSolver:
        """An assemble-once :class:`LinearSolver` of ``a`` with this simulator's solver options."""
        return LinearSolver(a, bcs, options=self.solver_options)

    def recorder(self, mesh: Any, *, fill_value: float = np.nan) -> Recorder:
        """A :class:`Recorder` on the output grid and the named points (points located once)."""
        x, y = self.grid_coordinates()
        points = PointSampler(mesh, self.points, fill_value=fill_value) if self.points else None
        return Recorder(GridSampler(mesh, x, y, fill_value=fill_value), points)

    # ------------------------------------------------------------------ output
    def _dataset(self, results: Sequence[FEResult], params: dict[str, float], seed: int) -> xr.Dataset:
        first = results[0]
        x, y = self.grid_coordinates()
        fields = {k: np.stack([r.fields[k] for r in results]) for k in first.fields}
        series = {k: np.stack([r.series[k] for r in results]) for k in first.series}
        qois = {k: np.array([r.qois[k] for r in results]) for k in first.qois}
        check_finite({**fields, **series, **qois}, simulator=self.name, params=params, seed=seed)
        n = len(results)
        base = field_dataset(
            fields, coords={"t": first.times, "x": x, "y": y},
            parameters={k: np.full(n, v) for k, v in params.items()},
            field_attrs=self.FIELD_ATTRS, coord_attrs=self._coord_attrs(first.times),
            parameter_attrs={p.name: {"units": p.units, "long_name": p.description or p.name}
                             for p in self.parameter_space},
            attrs=provenance_attrs(generator=self.name, generator_version=self.version,
                                   parameters={"config": self.config(), "params": params}, seed=seed),
        )
        variables = {str(k): base.variables[k] for k in base.data_vars}
        for k, v in series.items():
            attrs = {"units": "1", "long_name": k, **self.FIELD_ATTRS.get(k.split("_at_")[0], {}), "role": "series"}
            variables[k] = xr.Variable(("sample", "t"), v, attrs=attrs)
        for k, v in qois.items():
            variables[k] = xr.Variable(("sample",), v, attrs={"units": "1", "long_name": k,
                                                              **self.QOI_ATTRS.get(k, {}), "role": "qoi"})
        return xr.Dataset(variables, coords={str(k): base.variables[k] for k in base.coords}, attrs=base.attrs)

    def _coord_attrs(self, times: np.ndarray) -> dict[str, dict[str, str]]:
        if times.size == 1:
            return {"t": {"long_name": "time (steady problem: one frame)"}}
        return {}


def _check_points(points: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, float]]:
    if points is None:
        return {}
    if not isinstance(points, Mapping):
        raise ParameterError(f"points must be a mapping of name to (x, y); got {type(points).__name__}")
    out = {}
    for name, xy in points.items():
        ok = isinstance(name, str) and name.isidentifier()
        try:
            coords = tuple(float(c) for c in xy)
        except (TypeError, ValueError):
            coords = ()
        if not ok or len(coords) != 2 or not all(math.isfinite(c) for c in coords):
            raise ParameterError(f"point {name!r}: expected an identifier name and finite (x, y); got {xy!r}")
        out[name] = coords
    return out
