"""Simulators as information sources of a BO problem, and an objective on their output.

:class:`SimulatorSource` builds one simulator per fidelity value (the fidelity is a constructor
argument, e.g. ``n_cells``); :class:`MultiSourceProblem` takes a list of :class:`Source`, each
any :class:`~sciml.simulators.base.Simulator` (a solver at one resolution, a trained surrogate
through :class:`~sciml.surrogates.neural_pde.as_simulator.NeuralSolverSimulator`, ...) with a
declared cost, the last one the truth. In both, one evaluation runs a simulator at the design's
parameters with a fixed seed and reduces the dataset to a number with ``objective(dataset)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import xarray as xr
from torch import Tensor

from sciml.bo.costs import CostModel, TableFidelityCost
from sciml.bo.fidelity import DTYPE, Fidelity, as_float64
from sciml.bo.problem import MultiFidelityProblem
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.base import Simulator, check_n_samples

__all__ = ["MultiSourceProblem", "Objective", "SimulatorSource", "Source"]

#: ``objective(dataset) -> float``: the number a BO problem optimises (NaN/inf: a failure).
Objective = Callable[[xr.Dataset], float]

ParameterRanges = Sequence[str] | Mapping[str, tuple[float, float]]


class _SimulatorCost:
    """Declared cost from the simulator itself: ``simulator(s).cost(centre of the design box)``,
    except at the levels of ``declared`` (``{level: cost}``)."""

    def __init__(self, source: SimulatorSource, declared: Mapping[float, float] | None = None) -> None:
        self.source = source
        self.declared = dict(declared or {})

    def _one(self, s: float, centre: dict[str, float]) -> float:
        if s in self.declared:
            return self.declared[s]
        return float(self.source.simulator(s).cost(centre))

    def __call__(self, s: Tensor) -> Tensor:
        centre = self.source.params_of(0.5 * (self.source.bounds[0] + self.source.bounds[1]))
        return torch.tensor([self._one(float(v), centre) for v in s.reshape(-1)], dtype=DTYPE)


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
        objective: Objective,
        fidelity: Fidelity | None,
        *,
        simulator_kwargs: Mapping[str, Any] | None = None,
        parameters: ParameterRanges | None = None,
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
        self._space = space
        self._label = label
        bounds, names = self._design_box(parameters, log_scale)
        self.bounds = bounds
        # fail early on missing required parameters or bad fixed values
        space.validate(self.params_of(0.5 * (bounds[0] + bounds[1])), source=label)
        self._check_design(bounds)
        options = {"simulators": self._simulator_configs(), "objective": describe_callable(objective),
                   "fixed": self.fixed, "log_scale": list(log_scale), "seed": self.seed, "n_samples": self.n_samples}
        super().__init__(
            name=label, bounds=bounds, fidelity=fidelity, maximize=maximize,
            cost=_SimulatorCost(self) if cost is None else cost, design_names=names,
            optimum_value=optimum_value, optimizers=optimizers, vectorized=False, options=options)

    def _design_box(self, parameters: ParameterRanges | None, log_scale: Sequence[str]
                    ) -> tuple[Tensor, list[str]]:
        """Check the designed parameters; set :attr:`parameter_names` and :attr:`log_scale`; return
        the bounds ``(2, d)`` and names of the design variables."""
        space, label = self._space, self._label
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
        return torch.tensor([lows, highs], dtype=DTYPE), names

    def _check_design(self, bounds: Tensor) -> None:
        """Further checks of the design box ``(2, d)`` before the declared cost is probed (none here)."""

    def _simulator_configs(self) -> dict[str, Any]:
        """``Simulator.config()`` at every discrete level (the target of a continuous fidelity)."""
        f = self.fidelity
        levels: list[float | None] = [None] if f is None else list(f.values) if f.kind == "discrete" else [f.target]
        return {str(s): self.simulator(s).config() for s in levels}

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
        X = self.check_X(as_float64(x, "x").reshape(1, -1))
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



@dataclasses.dataclass(frozen=True)
class Source:
    """One information source of a :class:`MultiSourceProblem`.

    Attributes
    ----------
    simulator : Simulator
        Any sciml simulator: a solver at one resolution, a trained surrogate through its
        adapter, another code.
    cost : float, optional
        Declared cost of one run (``> 0``, in the units of the problem's budget); default:
        ``simulator.cost(params)`` at the centre of the design box.
    fidelity : float, optional
        The source's level in the problem's fidelity (physical units, e.g. ``n_cells``);
        default: its index in the list of sources.
    """

    simulator: Simulator
    cost: float | None = None
    fidelity: float | None = None


class _SourcePicker:
    """``build(**{name: level}) -> simulator``: the source at a level (a :class:`SimulatorSource` build)."""

    def __init__(self, name: str, by_level: Mapping[float, Simulator]) -> None:
        self.name = name
        self.by_level = dict(by_level)

    def __call__(self, **kwargs: Any) -> Simulator:
        if self.name not in kwargs:  # a single source: no fidelity
            return next(iter(self.by_level.values()))
        return self.by_level[float(kwargs[self.name])]


def describe_callable(fn: Any) -> str:
    """A description of a callable that is stable across processes: a dataclass instance by its
    ``repr`` (its fields), a ``functools.partial`` by its function and arguments, a function or
    class by ``module.qualname``, another object by its type and ``repr``."""
    if dataclasses.is_dataclass(fn) and not isinstance(fn, type):
        return f"{type(fn).__module__}.{fn!r}"
    if isinstance(fn, functools.partial):
        return f"partial({describe_callable(fn.func)}, args={fn.args!r}, keywords={fn.keywords!r})"
    if hasattr(fn, "__qualname__"):
        return f"{getattr(fn, '__module__', '?')}.{fn.__qualname__}"
    return f"{type(fn).__module__}.{type(fn).__qualname__}: {fn!r}"


def _check_sources(sources: Sequence[Source]) -> list[float]:
    """Validate the sources; return their fidelity levels (default: the indices)."""
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence) or not sources:
        raise ConfigError(f"sources must be a non-empty list of Source, got {sources!r}")
    levels = []
    for i, src in enumerate(sources):
        if not isinstance(src, Source):
            raise ConfigError(f"sources[{i}] must be a Source(simulator, cost=..., fidelity=...), got "
                              f"{type(src).__name__}")
        if not isinstance(src.simulator, Simulator):
            raise ConfigError(f"sources[{i}].simulator must be a sciml Simulator, got {type(src.simulator).__name__}")
        c = src.cost
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0):
            raise ConfigError(f"sources[{i}].cost must be a finite number > 0 (or None), got {c!r}")
        level = float(i) if src.fidelity is None else float(src.fidelity)
        if not math.isfinite(level):
            raise ConfigError(f"sources[{i}].fidelity must be a finite number, got {src.fidelity!r}")
        levels.append(level)
    if len(set(levels)) != len(levels):
        raise ConfigError(f"the sources' fidelity levels must be distinct, got {levels}")
    return levels


class MultiSourceProblem(SimulatorSource):
    """A (multi-fidelity) problem from a list of information sources; the last one is the truth.

    The fidelity is discrete: its levels are the sources' ``fidelity`` values (default
    ``0, 1, ..., L - 1``), the target is the last source's, which must be the highest or the
    lowest level. One source gives a single-fidelity problem. Designs, the objective and the
    evaluation are those of :class:`SimulatorSource`: every source must accept the designed and
    fixed parameters.

    Parameters
    ----------
    sources : sequence of Source
        The information sources, the truth last.
    objective : callable
        ``objective(dataset) -> float`` on any source's output.
    parameters, fixed, log_scale, seed, n_samples, maximize, name, optimum_value, optimizers
        As for :class:`SimulatorSource`.
    fidelity_name : str
        Name of the fidelity variable (default ``"source"``).
    fidelity_log_scale : bool
        Rescale the levels in ``log`` (e.g. levels that are grid sizes).
    cost : callable or float, optional
        A declared cost model of the fidelity instead of the sources' costs.

    Raises
    ------
    ConfigError
        An empty or bad list of sources, repeated levels, a truth that is not at an end of the
        levels, a bad cost.
    ParameterError
        A source that does not accept the designed or fixed parameters.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        objective: Objective,
        *,
        parameters: ParameterRanges | None = None,
        fixed: Mapping[str, float] | None = None,
        log_scale: Sequence[str] = (),
        seed: int = 0,
        n_samples: int = 1,
        maximize: bool = True,
        fidelity_name: str = "source",
        fidelity_log_scale: bool = False,
        cost: CostModel | float | None = None,
        name: str | None = None,
        optimum_value: float | None = None,
        optimizers: Any = None,
    ) -> None:
        levels = _check_sources(sources)
        self.sources: tuple[Source, ...] = tuple(sources)
        fid = None
        if len(levels) > 1:
            try:
                fid = Fidelity.discrete(fidelity_name, levels, target=levels[-1], log_scale=fidelity_log_scale)
            except ConfigError as exc:
                raise ConfigError(f"sources: the last source is the truth, so its level must be the highest or "
                                  f"the lowest: {exc}") from None
        declared = {lvl: float(s.cost) for lvl, s in zip(levels, sources, strict=True) if s.cost is not None}
        if cost is None and len(declared) == len(levels):
            cost = TableFidelityCost(declared) if fid is not None else declared[levels[0]]
        build = _SourcePicker(fidelity_name, {lvl: s.simulator for lvl, s in zip(levels, sources, strict=True)})
        super().__init__(build, objective, fid, parameters=parameters, fixed=fixed, log_scale=log_scale,
                         seed=seed, n_samples=n_samples, maximize=maximize,
                         cost=_SimulatorCost(self, declared) if cost is None else cost, name=name,
                         optimum_value=optimum_value, optimizers=optimizers)

    def _check_design(self, bounds: Tensor) -> None:
        """Every source accepts the whole design box (its corners) and the fixed parameters."""
        corners = [self.params_of(x) for x in (bounds[0], bounds[1])]
        for i, src in enumerate(self.sources):
            for params in corners:
                src.simulator.parameter_space.validate(params, source=f"sources[{i}] ({src.simulator.name})")
