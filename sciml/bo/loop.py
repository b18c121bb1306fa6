"""A resumable, cost-aware multi-fidelity Bayesian-optimisation loop.

:class:`BOLoop` ties a :class:`~sciml.bo.problems.MultiFidelityProblem`, a surrogate
(:mod:`sciml.bo.models`) and an acquisition (:mod:`sciml.bo.acquisition`) together::

    loop = BOLoop(forrester(), method="mfmes", n_init=6, seed=0, state_dir="runs/bo")
    result = loop.run(budget=60.0)                  # until the cumulative cost reaches 60
    plot_best_vs_cost(result, "runs/bo/regret.png")

or, ask/tell::

    X0 = loop.initial_design(6)                     # (6, d + 1): designs + physical fidelity
    loop.observe(X0, my_simulator(X0))
    X = loop.propose(2)                             # (2, d + 1)
    loop.observe(X, my_simulator(X))

Conventions
-----------
* Candidates handed out and taken in are **physical**: ``(n, d + 1)`` with the design in the
  problem's units and the fidelity ``s`` in its own units as last column (``(n, d)`` for a
  problem without fidelity). Internally everything is kept in model coordinates
  (:meth:`MultiFidelityProblem.to_model_input`) and models are fitted to ``problem.sign * y``.
* **Cost** of an evaluation: the problem's declared cost (:meth:`MultiFidelityProblem.cost`),
  or the measured wall-clock seconds with ``use_measured_cost=True``. The budget is checked
  between batches, so the last batch may overshoot it. The cost-aware acquisitions always
  weigh candidates with the *declared* cost model.
* **Acquisition failures**: when the acquisition optimisation fails numerically even with
  raised Cholesky jitter (:class:`~sciml.bo.acquisition.AcquisitionFailedError`), the batch is
  filled with the next points of the Sobol sequence (logged, ``fallback`` in the acquisition
  summary) and the loop goes on.
* **Failures**: a NaN/inf value (or an exception in the objective, caught by
  :meth:`MultiFidelityProblem.evaluate_timed`) is recorded with status ``"failed"``, kept in the
  history and its cost counted, but left out of the model fit.
* **Initial design**: a scrambled Sobol sequence (seeded with ``seed``) over the design box;
  the fidelities cycle through ``init_fidelities``: by default every discrete level from the
  target down (target, next lower, ..., lowest), ``unit 1, 0.5, 0`` for a continuous
  fidelity, and the target only for ``qlognei``. So the first point is at the target, and
  each level gets every ``L``-th Sobol point.

Reproducibility and resuming
----------------------------
BO iteration ``k`` (``k = 1, 2, ...``; ``0`` is the initial design) fits its model with seed
``seed + k`` and runs the acquisition with ``settings.seed = seed + k``, so its candidates
depend only on the data observed before it (and, with warm starts, on the fit of iteration
``k - 1``, which is saved). With ``state_dir`` the loop writes, atomically,
after every proposal and every single observation:

* ``tensors.pt``: a ``torch.save``'d dict of plain tensors -- observed points (model
  coordinates), values, costs, iteration tags, the proposed but unobserved (pending) points,
  the iteration counter and, with ``model_options["warm_start"]``, the hyperparameters the next
  fit starts from, and a copy of the metadata below (as JSON text); loaded with
  ``weights_only=True``;
* ``state.json``: the metadata, readable: the configuration, the batch size of the latest
  ``run``, recommendations, timings, acquisition summaries and failure messages.

Everything a resume reads is in ``tensors.pt``, written in one atomic step, so a crash at any
moment leaves either the old or the new state, never a half-recorded point nor metadata that
disagrees with the data (``state.json``, written second, may lag by one step). :meth:`BOLoop.resume` (or
``run(..., resume=True)``) first evaluates the pending points not yet observed (it never
re-evaluates an observed one), then continues; it proposes exactly what the uninterrupted run
would have proposed.

Recommendations
---------------
Before proposing batch ``k`` the loop records the recommendation after ``k - 1`` iterations
(argmax of the target-fidelity posterior mean of the model it just fitted,
:func:`~sciml.bo.acquisition.recommend`) and, when ``evaluate_recommendations`` (default: the
problem's optimum is known, i.e. a test function), its true target-fidelity value, which is
*not* counted in the cost. A last fit after the final batch gives the final recommendation.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from torch import Tensor

from sciml.bo.acquisition import (
    ACQUISITION_KINDS,
    FAST,
    AcquisitionFailedError,
    MULTI_FIDELITY_KINDS,
    AcquisitionSettings,
    propose_candidates,
    recommend,
)
from sciml.bo.models import (
    MODEL_KINDS,
    InitMismatchError,
    fit_singletask_gp,
    fix_fidelity_power,
    hyperparameters,
    model_for,
)
from sciml.bo.problems import MultiFidelityProblem
from sciml.data.atomic import atomic_path, atomic_write_text
from sciml.viz.figures import save_figure
from sciml.errors import ConfigError, ParameterError, SciMLError
from sciml.progress import progress

__all__ = [
    "DEFAULT_MODEL",
    "METHODS",
    "BOLoop",
    "BOLoopError",
    "BOResult",
    "bare_botorch_iteration",
    "plot_best_vs_cost",
]

logger = logging.getLogger(__name__)

DTYPE = torch.float64
STATE_FORMAT = "sciml.bo.loop"
STATE_VERSION = 1

METHODS: tuple[str, ...] = ACQUISITION_KINDS
"""Optimisation methods of :class:`BOLoop` (the acquisition kinds)."""

PENDING_MATCH_TOL = 1e-6
"""An observed point is the pending point it is within this fraction of each coordinate's range of
(float32 round trips through a simulator stay well inside it)."""

DEFAULT_MODEL: dict[str, str] = {"mfkg": "mfgp", "mfmes": "mfgp", "qlognei": "singletask", "ar1-ei": "ar1"}
"""Default surrogate kind (:data:`sciml.bo.models.MODEL_KINDS`) of each method."""


class BOLoopError(SciMLError, RuntimeError):
    """The loop cannot go on: no successful evaluation to fit a model, unreadable state ..."""


# =============================================================================== result
@dataclass
class BOResult:
    """History of a :class:`BOLoop` run.

    Attributes
    ----------
    problem, method, model_kind : str
    seed : int
    X : Tensor, shape (n, d)
        Evaluated designs (physical units), in the order observed.
    fidelities : Tensor, shape (n,)
        Physical fidelities (NaN for a problem without fidelity).
    values : Tensor, shape (n,)
        Objective values in the problem's own sense (NaN/inf for failures).
    costs, cumulative_cost : Tensor, shape (n,)
        Cost of each evaluation and the running total.
    status : list of str
        ``"ok"`` or ``"failed"`` per evaluation.
    iteration : Tensor, shape (n,), long
        ``0`` for the initial design, ``k`` for BO batch ``k``.
    recommendations : list of dict
        One per completed iteration count: ``after_iteration``, ``n_observations``,
        ``cumulative_cost``, ``x`` (list, physical), ``posterior_mean`` (problem's sense),
        ``true_value`` and ``regret`` (``None`` when not evaluated / optimum unknown).
    timings : list of dict
        Per iteration: ``iteration``, ``fit_s``, ``recommend_s``, ``acquisition_s``,
        ``evaluation_s``, ``n_points``, ``cost``.
    acquisitions : list of dict
        Summary of each acquisition call (``acq_value``, optimizer ...).
    optimum_value : float or None
        The problem's known optimum.
    failures : dict of int to str
        Why each failed evaluation failed, keyed by its index in the history (the objective's
        exception, or the non-finite value).
    """

    problem: str
    method: str
    model_kind: str
    seed: int
    X: Tensor
    fidelities: Tensor
    values: Tensor
    costs: Tensor
    cumulative_cost: Tensor
    status: list[str]
    iteration: Tensor
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)
    acquisitions: list[dict[str, Any]] = field(default_factory=list)
    optimum_value: float | None = None
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def n_evaluations(self) -> int:
        """Number of evaluations (failed ones included)."""
        return int(self.values.shape[0])

    @property
    def n_failed(self) -> int:
        """Number of failed evaluations."""
        return sum(s == "failed" for s in self.status)

    @property
    def total_cost(self) -> float:
        """Cumulative cost of all evaluations."""
        return float(self.costs.sum())

    @property
    def recommendation(self) -> dict[str, Any] | None:
        """The last recommendation (``None`` before any)."""
        return self.recommendations[-1] if self.recommendations else None

    def recommendation_curve(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(cumulative cost, true value, regret)`` of the recommendations, each ``(r,)`` (NaN if unknown)."""
        def col(key: str) -> Tensor:
            return torch.tensor([math.nan if r.get(key) is None else float(r[key]) for r in self.recommendations],
                                dtype=DTYPE)
        return col("cumulative_cost"), col("true_value"), col("regret")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN -> ``None``)."""
        return _jsonable({
            "problem": self.problem, "method": self.method, "model_kind": self.model_kind, "seed": self.seed,
            "X": self.X, "fidelities": self.fidelities, "values": self.values, "costs": self.costs,
            "cumulative_cost": self.cumulative_cost, "status": self.status, "iteration": self.iteration,
            "recommendations": self.recommendations, "timings": self.timings,
            "acquisitions": self.acquisitions, "optimum_value": self.optimum_value,
            "failures": self.failures,
        })


_LOOP_SET_MODEL_OPTIONS = frozenset({"bounds", "seed", "fidelity_dim", "data_fidelity_dim", "task_column",
                                     "n_levels", "init", "X", "Y"})


def _model_option_names(kind: str) -> frozenset[str]:
    """Keyword arguments of the ``fit_*`` function of model ``kind`` a user may set in ``model_options``."""
    import inspect

    from sciml.bo.models import fit_ar1_gp, fit_multifidelity_gp, fit_multitask_gp, fit_singletask_gp

    fit = {"mfgp": fit_multifidelity_gp, "ar1": fit_ar1_gp, "multitask": fit_multitask_gp,
           "singletask": fit_singletask_gp}[kind]
    return frozenset(inspect.signature(fit).parameters) - _LOOP_SET_MODEL_OPTIONS


def _timing(iteration: int, fit_s: float | None, recommend_s: float | None, acquisition_s: float | None,
            n_points: int) -> dict[str, Any]:
    """A per-iteration timing record (``evaluation_s`` and ``cost`` accumulate as points are observed)."""
    return {"iteration": iteration, "fit_s": fit_s, "recommend_s": recommend_s, "acquisition_s": acquisition_s,
            "evaluation_s": 0.0, "n_points": n_points, "cost": 0.0}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


# =============================================================================== evaluation task
def _evaluate_task(task: tuple[MultiFidelityProblem, list[float], float | None]) -> tuple[float, float, str | None]:
    """Evaluate one point: ``(problem, x, s) -> (value, seconds, failure message)`` (picklable for Dask)."""
    problem, x, s = task
    X = torch.tensor([x], dtype=DTYPE)
    values, seconds = problem.evaluate_timed(X, None if s is None else [s], safe=True)
    msg = problem.last_failures.get(0)
    value = float(values[0])
    if msg is None and not math.isfinite(value):
        msg = f"non-finite value {value}"
    return value, float(seconds[0]), msg


# =============================================================================== loop
class BOLoop:
    """Cost-aware (multi-fidelity) Bayesian optimisation with ask/tell, a budgeted run and resume.

    Parameters
    ----------
    problem : MultiFidelityProblem
        What to optimise.
    method : {"mfmes", "mfkg", "qlognei", "ar1-ei"}
        Acquisition (:func:`sciml.bo.acquisition.propose_candidates`). The multi-fidelity
        methods need a problem with a fidelity, ``ar1-ei`` a discrete one.
    model_kind : {"mfgp", "ar1", "multitask", "singletask"}, optional
        Surrogate; default :data:`DEFAULT_MODEL` of the method.
    settings : AcquisitionSettings
        Acquisition effort and default batch size ``settings.q`` (:data:`FAST`); its ``seed``
        is replaced by ``seed + iteration``.
    n_init : int, optional
        Size of the initial design (default ``max(4, 2 (d + 1))``).
    init_fidelities : sequence of float, optional
        Physical fidelities the initial design cycles through (see the module docstring).
    seed : int
        Seed of the initial design, the model fits and the acquisitions.
    state_dir : path, optional
        Folder of the resumable state (``state.json``, ``tensors.pt``).
    use_measured_cost : bool
        Count the measured wall-clock seconds of each evaluation instead of the declared cost.
    evaluate_recommendations : bool, optional
        Evaluate each recommendation at the target fidelity to track its true value (not
        counted in the cost); default: when ``problem.optimum_value`` is known.
    model_options : mapping, optional
        Further keyword arguments of the model's ``fit_*`` function (JSON-able, e.g.
        ``{"n_restarts": 2}`` for ``ar1``), and ``"warm_start"`` (bool, default False): start
        each fit after the first from the hyperparameters of the previous iteration's fit
        (its first starting point; further ``n_restarts`` redraw the hyperparameters that have
        priors, and ``ar1`` draws all of them). The hyperparameters
        are part of the saved state, so a resumed loop fits exactly as an uninterrupted one.
        If the model's structure changed (a multi-task GP that saw a new source) the fit
        starts cold.
    show_progress : bool, optional
        Progress bar of :meth:`run` (default: when stderr is a terminal).

    Raises
    ------
    ConfigError
        Unknown method or model kind (the message lists the accepted ones), a multi-fidelity
        method on a problem without fidelity, ``ar1`` on a continuous fidelity or on levels
        that are not equally spaced in unit coordinates, ``n_init < 1``, bad settings.
    """

    def __init__(
        self,
        problem: MultiFidelityProblem,
        *,
        method: str = "mfmes",
        model_kind: str | None = None,
        settings: AcquisitionSettings = FAST,
        n_init: int | None = None,
        init_fidelities: Sequence[float] | None = None,
        seed: int = 0,
        state_dir: str | Path | None = None,
        use_measured_cost: bool = False,
        evaluate_recommendations: bool | None = None,
        model_options: Mapping[str, Any] | None = None,
        show_progress: bool | None = None,
    ) -> None:
        if not isinstance(problem, MultiFidelityProblem):
            raise ConfigError(f"problem must be a MultiFidelityProblem, got {type(problem).__name__}")
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; accepted: {list(METHODS)}")
        if method in MULTI_FIDELITY_KINDS and problem.fidelity is None:
            raise ConfigError(f"method {method!r} is multi-fidelity but problem {problem.name!r} has no "
                              "fidelity; use method='qlognei'")
        if method == "ar1-ei" and problem.fidelity is not None and problem.fidelity.kind != "discrete":
            raise ConfigError(f"method 'ar1-ei' needs discrete fidelity levels; problem {problem.name!r} has "
                              f"{problem.fidelity.describe()}; use 'mfmes' or 'mfkg'")
        kind = DEFAULT_MODEL[method] if model_kind is None else model_kind
        if kind not in MODEL_KINDS:
            raise ConfigError(f"unknown model_kind {kind!r}; accepted: {list(MODEL_KINDS)}")
        if problem.fidelity is None and kind != "singletask":
            raise ConfigError(f"problem {problem.name!r} has no fidelity: only model_kind='singletask' applies")
        if kind == "ar1":
            self._check_ar1_levels(problem)
        if kind == "singletask" and method in MULTI_FIDELITY_KINDS:
            raise ConfigError(f"method {method!r} with model_kind='singletask' cannot work: that model fits the "
                              "target-level rows only, so the cheaper levels the method pays for never inform "
                              "it; use model_kind 'mfgp', 'ar1' or 'multitask' (or method 'qlognei')")
        if kind == "multitask" and problem.fidelity is not None and problem.fidelity.kind != "discrete":
            raise ConfigError(f"model_kind='multitask' treats each fidelity value as a source, so it needs "
                              f"discrete levels; problem {problem.name!r} has {problem.fidelity.describe()}; "
                              "use model_kind 'mfgp'")
        if not isinstance(settings, AcquisitionSettings):
            raise ConfigError(f"settings must be AcquisitionSettings, got {type(settings).__name__}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        if n_init is None:
            n_init = max(4, 2 * (problem.dim + 1))
        if not isinstance(n_init, (int, np.integer)) or isinstance(n_init, bool) or n_init < 1:
            raise ConfigError(f"n_init must be an integer >= 1, got {n_init!r}")
        self.problem = problem
        self.method = method
        self.model_kind = kind
        self.settings = settings
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.init_fidelities = self._check_init_fidelities(init_fidelities)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.use_measured_cost = bool(use_measured_cost)
        self.evaluate_recommendations = (problem.optimum_value is not None if evaluate_recommendations is None
                                         else bool(evaluate_recommendations))
        self.model_options = dict(model_options or {})
        reserved = sorted(set(self.model_options) & (_LOOP_SET_MODEL_OPTIONS - {"X", "Y"}))
        if reserved:
            raise ConfigError(f"model_options cannot set {reserved}: the loop sets them")
        unknown = sorted(set(self.model_options) - {"warm_start"} - _model_option_names(kind))
        if unknown:
            raise ConfigError(f"model_options {unknown} are not options of model_kind {kind!r}; accepted: "
                              f"{sorted(_model_option_names(kind) | {'warm_start'})}")
        warm = self.model_options.get("warm_start", False)
        if not isinstance(warm, bool):
            raise ConfigError(f"model_options['warm_start'] must be True or False, got {warm!r}")
        self._warm_start = warm
        self.show_progress = show_progress
        w = problem.dim + (problem.fidelity is not None)
        self._width = w
        self._Z = torch.empty(0, w, dtype=DTYPE)
        self._values = torch.empty(0, dtype=DTYPE)
        self._costs = torch.empty(0, dtype=DTYPE)
        self._tags = torch.empty(0, dtype=torch.long)
        self._pos = torch.empty(0, dtype=torch.long)  # position in its batch (-1: not proposed here)
        self._pending = torch.empty(0, w, dtype=DTYPE)
        self._pending_tags = torch.empty(0, dtype=torch.long)
        self._pending_pos = torch.empty(0, dtype=torch.long)
        self._iteration = 0
        self._n_sobol = 0
        self._recommendations: list[dict[str, Any]] = []
        self._timings: list[dict[str, Any]] = []
        self._acquisitions: list[dict[str, Any]] = []
        self._failures: dict[str, str] = {}
        self._open: dict[int, dict[str, Any]] = {}  # timing records of batches not fully observed
        # hyperparameters of the fit that proposed iteration _warm_iteration (warm starts)
        self._warm: dict[str, Tensor] | None = None
        self._warm_iteration = 0
        self._batch_size: int | None = None  # points per iteration of the latest run() (kept on resume)
        self._state_owned = False

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _check_ar1_levels(problem: MultiFidelityProblem) -> None:
        f = problem.fidelity
        if f is None or f.kind != "discrete":
            raise ConfigError(f"model_kind='ar1' needs a discrete fidelity; problem {problem.name!r} has "
                              f"{'none' if f is None else f.describe()}")
        units = torch.tensor(f.unit_values, dtype=DTYPE)
        grid = torch.linspace(0.0, 1.0, len(units), dtype=DTYPE)
        if float((units - grid).abs().max()) > 1e-6:
            raise ConfigError(f"model_kind='ar1' needs levels equally spaced in unit coordinates "
                              f"(l / (L - 1)); {f.describe()} maps to {units.tolist()}")

    def _check_init_fidelities(self, init: Sequence[float] | None) -> list[float] | None:
        f = self.problem.fidelity
        if f is None:
            if init is not None:
                raise ConfigError(f"problem {self.problem.name!r} has no fidelity; init_fidelities must be None")
            return None
        if init is None:
            if self.method == "qlognei":
                return [float(f.target)]
            if f.kind == "discrete":
                return [float(v) for v in sorted(f.values, key=lambda v: -f.to_unit(float(v)))]
            return [float(f.from_unit(z)) for z in (1.0, 0.5, 0.0)]
        try:
            values = [float(v) for v in init]
        except (TypeError, ValueError):
            raise ConfigError(f"init_fidelities must be numbers, got {init!r}") from None
        if not values:
            raise ConfigError("init_fidelities must not be empty")
        try:
            return [float(v) for v in f.validate(torch.tensor(values, dtype=DTYPE))]
        except ParameterError as exc:
            raise ConfigError(f"init_fidelities: {exc}") from None

    def config(self) -> dict[str, Any]:
        """The configuration stored in ``state.json`` (and checked on resume)."""
        f = self.problem.fidelity
        return {"problem": self.problem.name, "dim": self.problem.dim,
                "fidelity": None if f is None else f.describe(), "method": self.method,
                "model_kind": self.model_kind, "settings": self.settings.to_dict(), "n_init": self.n_init,
                "init_fidelities": self.init_fidelities, "seed": self.seed,
                "use_measured_cost": self.use_measured_cost,
                "evaluate_recommendations": self.evaluate_recommendations,
                "model_options": _jsonable(self.model_options)}

    # ------------------------------------------------------------------ properties
    @property
    def iteration(self) -> int:
        """Number of BO batches proposed so far (0 during the initial design)."""
        return self._iteration

    @property
    def n_observations(self) -> int:
        """Number of observed evaluations (failed ones included)."""
        return int(self._values.shape[0])

    @property
    def total_cost(self) -> float:
        """Cumulative cost of the observed evaluations."""
        return float(self._costs.sum())

    @property
    def pending(self) -> Tensor:
        """Proposed but not yet observed points, physical ``(m, d + 1)``."""
        return self._to_physical(self._pending)

    @property
    def _ok(self) -> Tensor:
        return torch.isfinite(self._values)

    # ------------------------------------------------------------------ coordinates
    def _to_physical(self, Z: Tensor) -> Tensor:
        if Z.shape[0] == 0:
            return torch.empty(0, self._width, dtype=DTYPE)
        X, s = self.problem.from_model_input(Z, snap=True)
        return X if s is None else torch.cat([X, s.reshape(-1, 1)], dim=1)

    def _to_model(self, candidates: Any) -> Tensor:
        try:
            t = candidates.detach().to(DTYPE) if isinstance(candidates, Tensor) else torch.as_tensor(
                np.asarray(candidates, dtype=np.float64), dtype=DTYPE)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"candidates must be numbers: {exc}") from None
        if t.ndim == 1 and t.shape[0] == self._width:
            t = t.reshape(1, -1)
        if t.ndim != 2 or t.shape[1] != self._width:
            what = "design + physical fidelity" if self.problem.fidelity is not None else "design"
            raise ParameterError(f"candidates must have shape (n, {self._width}) ({what}), got {tuple(t.shape)}")
        if self.problem.fidelity is None:
            return self.problem.to_model_input(t)
        return self.problem.to_model_input(t[:, :-1], t[:, -1])

    # ------------------------------------------------------------------ initial design
    def initial_design(self, n: int | None = None) -> Tensor:
        """Seeded scrambled-Sobol design over the box, fidelities cycling through ``init_fidelities``.

        The points become pending (observe them with :meth:`observe`; :meth:`run` evaluates
        them). Successive calls continue the same Sobol sequence and the same cycle of
        fidelities (as do the Sobol points that replace a failed acquisition).

        Parameters
        ----------
        n : int, optional
            Number of points (default ``n_init``).

        Returns
        -------
        Tensor, shape (n, d + 1)
            Physical designs and fidelities (``(n, d)`` without fidelity).
        """
        n = self.n_init if n is None else n
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"the initial design needs n >= 1 points, got {n!r}")
        Z = self._sobol(int(n))
        self._add_pending(Z, 0)
        if 0 not in self._open:  # one timing record for the design, reopened when it grows
            closed = [t for t in self._timings if t["iteration"] == 0]
            if closed:
                self._timings.remove(closed[0])
            self._open[0] = closed[0] if closed else _timing(0, 0.0, 0.0, 0.0, 0)
        self._open[0]["n_points"] += int(n)
        self._save()
        return self._to_physical(Z)

    def _sobol(self, n: int) -> Tensor:
        """The next ``n`` points of the seeded Sobol sequence, fidelities cycling ``init_fidelities``."""
        engine = torch.quasirandom.SobolEngine(self.problem.dim, scramble=True, seed=self.seed)
        if self._n_sobol:
            engine.fast_forward(self._n_sobol)
        u = engine.draw(n, dtype=DTYPE)
        b = self.problem.bounds
        X = b[0] + (b[1] - b[0]) * u
        first, self._n_sobol = self._n_sobol, self._n_sobol + n
        if self.init_fidelities is None:
            return self.problem.to_model_input(X)
        levels = self.init_fidelities  # the cycle continues with the sequence (Sobol point i: level i mod L)
        s = torch.tensor([levels[i % len(levels)] for i in range(first, first + n)], dtype=DTYPE)
        return self.problem.to_model_input(X, s)

    # ------------------------------------------------------------------ model
    def fit_model(self, iteration: int | None = None) -> Model:
        """Fit the surrogate (float64) to the successful observations, seed ``seed + iteration``.

        With ``model_options["warm_start"]`` the fit starts from the hyperparameters of the fit
        behind the latest proposal if that proposal is for an iteration before ``iteration``,
        otherwise from the defaults (calling this method changes no state).

        Raises
        ------
        BOLoopError
            No successful observation yet (or none at the target fidelity for ``singletask``).
        ModelFitError
            Every fitting strategy failed (the message lists what was tried).
        """
        k = self._iteration + 1 if iteration is None else int(iteration)
        ok = self._ok
        if not bool(ok.any()):
            raise BOLoopError(f"no successful evaluation to fit a model to ({self.n_observations} observed, "
                              f"{int((~ok).sum())} failed); run the initial design first")
        Z, values = self._training_data()
        Y = (self.problem.sign * values).unsqueeze(-1)
        seed = self.seed + k
        f = self.problem.fidelity
        options = {key: v for key, v in self.model_options.items() if key != "warm_start"}
        init = self._warm if self._warm_start and self._warm_iteration < k else None

        def fit(init: dict[str, Tensor] | None) -> Model:
            extra = {} if init is None else {"init": init}
            if f is None:
                return fit_singletask_gp(Z, Y, fidelity_dim=None, bounds=self.problem.bounds, seed=seed,
                                         **options, **extra)
            kw: dict[str, Any] = {"bounds": self.problem.model_bounds, **options, **extra}
            if self.model_kind == "ar1":
                kw["n_levels"] = len(f.values)
            return model_for(self.model_kind, Z, Y, fidelity_dim=-1, seed=seed, **kw)

        try:
            try:
                return fit(init)
            except InitMismatchError as exc:
                logger.info("%s: iteration %d: cold fit, the previous hyperparameters do not fit the model (%s)",
                            self.problem.name, k, exc)
                return fit(None)
        except ValueError as exc:
            raise BOLoopError(f"cannot fit the {self.model_kind!r} model: {exc}") from exc

    def _training_data(self) -> tuple[Tensor, Tensor]:
        """Successful observations ``(Z, values)`` in a canonical order: by batch, then position in it.

        The order in which a parallel executor completes a batch does not change the fitted
        model or the acquisition (exact reproducibility on resume).
        """
        ok = self._ok
        key = self._tags[ok].to(DTYPE) * 1e7 + self._pos[ok].to(DTYPE)
        order = torch.argsort(key, stable=True)
        return self._Z[ok][order], self._values[ok][order]

    # ------------------------------------------------------------------ ask
    def _acq_settings(self, k: int, q: int) -> AcquisitionSettings:
        return self.settings.replace(q=int(q), seed=self.seed + k)

    def _recommend(self, model: Model, k: int) -> dict[str, Any]:
        """Recommendation after ``k - 1`` iterations from the model fitted for iteration ``k``."""
        t0 = time.perf_counter()
        x, mean = recommend(model, self.problem, self._acq_settings(k, 1), X_observed=self._training_data()[0])
        true_value = regret = None
        if self.evaluate_recommendations:
            try:
                v = float(self.problem.evaluate(x.reshape(1, -1))[0])
                true_value = v if math.isfinite(v) else None
            except Exception:  # the truth of a recommendation is diagnostics only
                true_value = None
            if true_value is not None and self.problem.optimum_value is not None:
                regret = float(self.problem.simple_regret(true_value))
        return {"after_iteration": k - 1, "n_observations": self.n_observations,
                "cumulative_cost": self.total_cost, "x": x.tolist(), "posterior_mean": mean,
                "true_value": true_value, "regret": regret, "seconds": time.perf_counter() - t0}

    def _propose(self, q: int, model: Model | None = None, *, fit_s: float = 0.0,
                 rec_s: float = 0.0) -> Tensor:
        k = self._iteration + 1
        if model is None:
            t0 = time.perf_counter()
            model = self.fit_model(k)
            fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pending = self._pending if self._pending.shape[0] else None
        try:
            cands, info = propose_candidates(self.method, model, self.problem, settings=self._acq_settings(k, q),
                                             pending=pending, X_observed=self._training_data()[0])
        except AcquisitionFailedError as exc:
            logger.warning("%s: iteration %d: %s; evaluating %d space-filling (Sobol) points instead",
                           self.problem.name, k, exc, q)
            cands = self._sobol(q)
            info = {"kind": self.method, "q": q, "fallback": "sobol", "error": str(exc)}
        acq_s = time.perf_counter() - t0
        self._iteration = k
        if self._warm_start:
            self._warm, self._warm_iteration = hyperparameters(model), k
        self._acquisitions.append(_jsonable({"iteration": k, **info}))
        self._open[k] = _timing(k, fit_s, rec_s, acq_s, int(cands.shape[0]))
        self._add_pending(cands, k)
        self._save()
        return cands

    def propose(self, n: int | None = None) -> Tensor:
        """Fit the model and propose ``n`` new points (default ``settings.q``).

        Points proposed earlier and not yet observed are passed to the acquisition as pending.

        Returns
        -------
        Tensor, shape (n, d + 1)
            Physical designs with the physical fidelity as last column (``(n, d)`` without
            fidelity); they stay pending until observed.
        """
        q = self.settings.q if n is None else n
        if not isinstance(q, (int, np.integer)) or isinstance(q, bool) or q < 1:
            raise ConfigError(f"propose needs n >= 1, got {n!r}")
        return self._to_physical(self._propose(int(q)))

    def _add_pending(self, Z: Tensor, tag: int) -> None:
        start = int((self._tags == tag).sum()) + int((self._pending_tags == tag).sum())
        self._pending = torch.cat([self._pending, Z.to(DTYPE)], dim=0)
        self._pending_tags = torch.cat([self._pending_tags, torch.full((Z.shape[0],), tag, dtype=torch.long)])
        self._pending_pos = torch.cat([self._pending_pos, torch.arange(start, start + Z.shape[0])])

    # ------------------------------------------------------------------ tell
    def _check_costs(self, costs: Any, n: int, what: str) -> Tensor:
        try:
            c = torch.as_tensor(np.asarray(costs.detach() if isinstance(costs, Tensor) else costs,
                                           dtype=np.float64), dtype=DTYPE).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{what} must be numbers: {exc}") from None
        if c.shape[0] != n:
            raise ParameterError(f"{what} must have shape ({n},), got {tuple(c.shape)}")
        bad = ~(torch.isfinite(c) & (c > 0))
        if bool(bad.any()):
            raise ParameterError(f"{what} must be finite and > 0, got {c[bad].tolist()}")
        return c

    def _declared_cost(self, Z: Tensor) -> Tensor:
        if self.problem.fidelity is None:
            return self.problem.cost().expand(Z.shape[0]).clone()
        return self.problem.cost_unit(Z[:, -1])

    def _match_pending(self, z: Tensor) -> int | None:
        if self._pending.shape[0] == 0:
            return None
        span = (self.problem.model_bounds[1] - self.problem.model_bounds[0])
        dist = ((self._pending - z) / span).abs().max(dim=1).values
        i = int(dist.argmin())
        if float(dist[i]) <= PENDING_MATCH_TOL:
            return i
        logger.warning("%s: an observed point matches none of the %d pending points (closest differs by %.3g of "
                       "the range); recorded as an extra observation, the pending points stay pending",
                       self.problem.name, self._pending.shape[0], float(dist[i]))
        return None

    def _record(self, Z: Tensor, values: Tensor, costs: Tensor, messages: Sequence[str | None] | None = None,
                seconds: float = 0.0) -> None:
        for i in range(Z.shape[0]):
            j = self._match_pending(Z[i])
            if j is not None:
                z, tag, pos = self._pending[j].clone(), int(self._pending_tags[j]), int(self._pending_pos[j])
                keep = torch.arange(self._pending.shape[0]) != j
                self._pending, self._pending_tags = self._pending[keep], self._pending_tags[keep]
                self._pending_pos = self._pending_pos[keep]
            else:
                z, tag, pos = Z[i], self._iteration, -1
            idx = self.n_observations
            self._Z = torch.cat([self._Z, z.reshape(1, -1)], dim=0)
            self._values = torch.cat([self._values, values[i:i + 1]])
            self._costs = torch.cat([self._costs, costs[i:i + 1]])
            self._tags = torch.cat([self._tags, torch.tensor([tag], dtype=torch.long)])
            self._pos = torch.cat([self._pos, torch.tensor([pos], dtype=torch.long)])
            if not math.isfinite(float(values[i])):
                self._failures[str(idx)] = (messages[i] if messages and messages[i] else
                                            f"non-finite value {float(values[i])}")
            if tag in self._open:
                self._open[tag]["cost"] += float(costs[i])
                self._open[tag]["evaluation_s"] += seconds
            self._close_iterations()
            self._save()

    def observe(self, candidates: Any, values: Any, costs: Any = None) -> None:
        """Record evaluations.

        Parameters
        ----------
        candidates : array-like, shape (n, d + 1)
            Physical designs and fidelities (as returned by :meth:`propose`); ``(n, d)``
            without fidelity. Rows matching pending points are removed from the pending set.
        values : array-like, shape (n,)
            Objective values in the problem's own sense; NaN/inf mark failed evaluations
            (kept with status ``"failed"``, excluded from the model fit).
        costs : array-like, shape (n,), optional
            Measured costs (finite, ``> 0``); default: the declared cost. Required with
            ``use_measured_cost=True``.

        Raises
        ------
        ParameterError
            Bad shapes, points outside the bounds or fidelities off the levels, non-positive
            costs, missing costs with ``use_measured_cost``.
        """
        Z = self._to_model(candidates)
        try:
            v = torch.as_tensor(np.asarray(values.detach() if isinstance(values, Tensor) else values,
                                           dtype=np.float64), dtype=DTYPE).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"values must be numbers (NaN for failures): {exc}") from None
        if v.shape[0] != Z.shape[0]:
            raise ParameterError(f"values must have shape ({Z.shape[0]},), got {tuple(v.shape)}")
        if costs is None:
            if self.use_measured_cost:
                raise ParameterError("use_measured_cost=True: pass the measured costs to observe()")
            c = self._declared_cost(Z)
        else:
            c = self._check_costs(costs, Z.shape[0], "costs")
        self._record(Z, v, c)

    # ------------------------------------------------------------------ run
    def _evaluate_pending(self, executor: Any, bar: Any) -> None:
        Z = self._pending.clone()
        if Z.shape[0] == 0:
            return
        P = self._to_physical(Z)
        fid = self.problem.fidelity is not None
        tasks = [(self.problem, P[i, :self.problem.dim].tolist(), float(P[i, -1]) if fid else None)
                 for i in range(Z.shape[0])]
        declared = self._declared_cost(Z)
        t0 = time.perf_counter()
        for i, (value, seconds, msg) in executor.map(_evaluate_task, tasks, desc=f"evaluations ({self.method})"):
            now = time.perf_counter()
            if self.use_measured_cost:
                cost = self._check_costs([seconds], 1, f"measured cost of evaluation {i} (seconds)")
            else:
                cost = declared[i:i + 1]
            self._record(Z[i:i + 1], torch.tensor([value], dtype=DTYPE), cost, [msg], seconds=now - t0)
            t0 = time.perf_counter()
            bar.update(float(cost[0]))

    def _close_iterations(self) -> None:
        """Move the timing records of fully observed batches to the timings."""
        for tag in sorted(self._open):
            if not bool((self._pending_tags == tag).any()):
                self._timings.append(self._open.pop(tag))

    def run(self, budget: float, *, executor: Any = None, batch_size: int | None = None, resume: bool = False,
            max_iterations: int | None = None) -> BOResult:
        """Optimise until the cumulative cost reaches ``budget``.

        Each iteration: fit the model, record the recommendation, propose ``batch_size``
        points, evaluate them through ``executor`` (``problem.evaluate_timed(safe=True)`` per
        point) and observe each one as it completes (state saved after each).

        Parameters
        ----------
        budget : float
            Total cost (declared units, or seconds with ``use_measured_cost``), ``> 0``; the
            initial design counts.
        executor : Executor, optional
            :mod:`sciml.executors` executor (default: in-process). A Dask executor
            evaluates a batch in parallel (the problem is shipped with cloudpickle).
        batch_size : int, optional
            Points per iteration. Default: the batch size of the run whose state this loop
            resumed (saved in the state), else ``settings.q``.
        resume : bool
            Load the state in ``state_dir`` (if any) and continue from it.
        max_iterations : int, optional
            Stop after this many BO iterations in total (counting resumed ones).

        Returns
        -------
        BOResult

        Raises
        ------
        ConfigError
            A bad ``budget``, ``batch_size`` or ``max_iterations``, or a state in ``state_dir``
            written with another configuration.
        ModelFitError
            The surrogate could not be fitted even with the fallbacks (the state so far is saved).
        """
        if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(budget)) or budget <= 0:
            raise ConfigError(f"budget must be a finite number > 0, got {budget!r}")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool)
                                       or batch_size < 1):
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if max_iterations is not None and (not isinstance(max_iterations, (int, np.integer)) or max_iterations < 0):
            raise ConfigError(f"max_iterations must be an integer >= 0, got {max_iterations!r}")
        if resume and self.state_dir is not None and self._empty and (self.state_dir / "state.json").exists():
            self._load()
        q = int(batch_size if batch_size is not None else self._batch_size or self.settings.q)
        self._batch_size = q
        if executor is None:
            from sciml.executors import InProcessExecutor

            executor = InProcessExecutor(show_progress=False)
        budget = float(budget)
        with progress(total=budget, desc=f"BO {self.method} on {self.problem.name}", unit="cost",
                      enabled=self.show_progress) as bar:
            bar.update(min(self.total_cost, budget))
            if self._empty:
                self.initial_design(self.n_init)
            while True:
                self._evaluate_pending(executor, bar)
                if self.total_cost >= budget or (max_iterations is not None and self._iteration >= max_iterations):
                    break
                k = self._iteration + 1
                t0 = time.perf_counter()
                model = self.fit_model(k)
                fit_s = time.perf_counter() - t0
                rec_s = self._maybe_recommend(model, k)
                self._propose(int(q), model, fit_s=fit_s, rec_s=rec_s)
                bar.set_postfix(self._postfix())
            if bool(self._ok.any()) and not self._has_recommendation(self._iteration):
                model = self.fit_model(self._iteration + 1)
                self._maybe_recommend(model, self._iteration + 1)
        return self.result()

    @property
    def _empty(self) -> bool:
        return self.n_observations == 0 and self._pending.shape[0] == 0

    def _has_recommendation(self, after: int) -> bool:
        return any(r["after_iteration"] == after for r in self._recommendations)

    def _maybe_recommend(self, model: Model, k: int) -> float:
        if self._has_recommendation(k - 1):
            return 0.0
        rec = self._recommend(model, k)
        self._recommendations.append(_jsonable(rec))
        self._save()
        return float(rec["seconds"])

    def _postfix(self) -> dict[str, str]:
        if not self._recommendations:
            return {}
        r = self._recommendations[-1]
        key = "regret" if r.get("regret") is not None else "posterior_mean"
        return {key: f"{r[key]:.4g}" if r.get(key) is not None else "?"}

    # ------------------------------------------------------------------ result
    def result(self) -> BOResult:
        """The history so far as a :class:`BOResult`."""
        n = self.n_observations
        if n:
            X, s = self.problem.from_model_input(self._Z, snap=True)
            fid = torch.full((n,), math.nan, dtype=DTYPE) if s is None else s
        else:
            X, fid = torch.empty(0, self.problem.dim, dtype=DTYPE), torch.empty(0, dtype=DTYPE)
        return BOResult(
            problem=self.problem.name, method=self.method, model_kind=self.model_kind, seed=self.seed,
            X=X, fidelities=fid, values=self._values.clone(), costs=self._costs.clone(),
            cumulative_cost=torch.cumsum(self._costs, 0), status=["ok" if bool(o) else "failed" for o in self._ok],
            iteration=self._tags.clone(), recommendations=[dict(r) for r in self._recommendations],
            timings=sorted((dict(t) for t in self._timings), key=lambda t: t["iteration"]),
            acquisitions=[dict(a) for a in self._acquisitions],
            optimum_value=self.problem.optimum_value,
            failures={int(i): str(m) for i, m in sorted(self._failures.items(), key=lambda kv: int(kv[0]))})

    # ------------------------------------------------------------------ state
    def _save(self) -> None:
        if self.state_dir is None:
            return
        state_json = self.state_dir / "state.json"
        if not self._state_owned:
            if state_json.exists():
                raise ConfigError(f"{self.state_dir} already holds a BO state; resume it with BOLoop.resume(...) "
                                  "or run(..., resume=True), or use an empty folder")
            self._state_owned = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tensors = {"Z": self._Z.clone(), "values": self._values.clone(), "costs": self._costs.clone(),
                   "tags": self._tags.clone(), "pending": self._pending.clone(),
                   "pending_tags": self._pending_tags.clone(), "pos": self._pos.clone(),
                   "pending_pos": self._pending_pos.clone(),
                   "counters": torch.tensor([self._iteration, self._n_sobol], dtype=torch.long)}
        if self._warm is not None:
            tensors["warm"] = {key: v.clone() for key, v in self._warm.items()}
            tensors["warm_iteration"] = torch.tensor(self._warm_iteration, dtype=torch.long)
        state = {"format": STATE_FORMAT, "version": STATE_VERSION, "config": self.config(),
                 "iteration": self._iteration, "n_observations": self.n_observations,
                 "total_cost": self.total_cost, "n_sobol": self._n_sobol, "batch_size": self._batch_size,
                 "open_iterations": self._open, "recommendations": self._recommendations,
                 "timings": self._timings, "acquisitions": self._acquisitions, "failures": self._failures}
        text = json.dumps(_jsonable(state), indent=1)
        # the metadata also travels inside tensors.pt (one atomic write holds everything the loop
        # resumes from); state.json is a readable copy, written second
        tensors["meta"] = text
        with atomic_path(self.state_dir / "tensors.pt") as tmp:
            torch.save(tensors, tmp)
        atomic_write_text(state_json, text)

    @staticmethod
    def _read_state(state_dir: Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
        try:
            state = json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
            tensors = torch.load(state_dir / "tensors.pt", weights_only=True)
            if isinstance(tensors, dict) and isinstance(tensors.get("meta"), str):
                # written with the tensors in one atomic step, so it is never behind them
                state = json.loads(tensors.pop("meta"))
        except FileNotFoundError as exc:
            raise BOLoopError(f"{state_dir} holds no BO state ({exc.filename} is missing)") from None
        except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise BOLoopError(f"cannot read the BO state in {state_dir}: {type(exc).__name__}: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise BOLoopError(f"{state_dir / 'state.json'} is not a {STATE_FORMAT} state")
        if state.get("version") != STATE_VERSION:
            raise BOLoopError(f"{state_dir / 'state.json'} has version {state.get('version')!r}; "
                              f"this sciml reads version {STATE_VERSION}")
        keys = {"Z", "values", "costs", "tags", "pos", "pending", "pending_tags", "pending_pos", "counters"}
        if not isinstance(tensors, dict) or not keys <= set(tensors):
            raise BOLoopError(f"{state_dir / 'tensors.pt'} lacks entries {sorted(keys - set(tensors or {}))}")
        return state, tensors

    def _load(self) -> None:
        assert self.state_dir is not None
        state, t = self._read_state(self.state_dir)
        mine, theirs = self.config(), state.get("config", {})
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        if diff:
            raise ConfigError(f"the state in {self.state_dir} was written with a different configuration: "
                              + "; ".join(f"{k}: saved {theirs.get(k)!r}, now {mine[k]!r}" for k in diff))
        n = int(t["values"].shape[0])
        if t["Z"].shape != (n, self._width) or t["pending"].shape[1:] != (self._width,):
            raise BOLoopError(f"{self.state_dir / 'tensors.pt'} has inconsistent shapes")
        self._Z, self._values, self._costs = t["Z"].to(DTYPE), t["values"].to(DTYPE), t["costs"].to(DTYPE)
        self._tags, self._pos = t["tags"].to(torch.long), t["pos"].to(torch.long)
        self._pending, self._pending_tags = t["pending"].to(DTYPE), t["pending_tags"].to(torch.long)
        self._pending_pos = t["pending_pos"].to(torch.long)
        self._iteration, self._n_sobol = (int(v) for v in t["counters"].tolist())
        warm = t.get("warm")
        if (warm is None) != ("warm_iteration" not in t) or (
                warm is not None and not (isinstance(warm, dict) and all(isinstance(v, Tensor) for v in warm.values()))):
            raise BOLoopError(f"{self.state_dir / 'tensors.pt'}: 'warm' (a dict of tensors) and 'warm_iteration' "
                              "must be both present or both absent")
        self._warm = None if warm is None else {str(key): v.to(DTYPE) for key, v in warm.items()}
        self._warm_iteration = int(t["warm_iteration"]) if warm is not None else 0
        # a state written before the metadata moved into tensors.pt: state.json (written second)
        # may lag the tensors by one observation
        self._recommendations = [r for r in state.get("recommendations", [])
                                 if int(r["after_iteration"]) < self._iteration + 1]
        self._timings = list(state.get("timings", []))
        self._acquisitions = [a for a in state.get("acquisitions", []) if int(a["iteration"]) <= self._iteration]
        self._failures = dict(state.get("failures", {}))
        batch = state.get("batch_size")
        self._batch_size = int(batch) if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else None
        opened = {int(k): dict(v) for k, v in (state.get("open_iterations") or {}).items()}
        done = {int(r["iteration"]) for r in self._timings}
        self._open = {}
        for tag in sorted(set(self._pending_tags.tolist())):
            if tag in opened and tag not in done:
                self._open[tag] = opened[tag]
            else:  # proposed just before a crash that kept state.json from being written
                self._open[tag] = _timing(tag, None, None, None, int((self._pending_tags == tag).sum()))
        self._state_owned = True

    @classmethod
    def resume(cls, state_dir: str | Path, problem: MultiFidelityProblem, **overrides: Any) -> BOLoop:
        """Rebuild a loop from ``state_dir`` (written by an earlier loop on the same problem).

        Parameters
        ----------
        state_dir : path
            Folder with ``state.json`` and ``tensors.pt``.
        problem : MultiFidelityProblem
            The same problem (name, dimension and fidelity are checked).
        **overrides
            ``show_progress`` only; the optimisation configuration comes from the state.

        Raises
        ------
        BOLoopError
            Missing or unreadable state.
        ConfigError
            The problem does not match the saved one, or an override other than
            ``show_progress``.
        """
        path = Path(state_dir)
        bad = sorted(set(overrides) - {"show_progress"})
        if bad:
            raise ConfigError(f"BOLoop.resume takes the configuration from the state; cannot override {bad}")
        state, _ = cls._read_state(path)
        cfg = state.get("config", {})
        f = problem.fidelity
        if (cfg.get("problem"), cfg.get("dim"), cfg.get("fidelity")) != (
                problem.name, problem.dim, None if f is None else f.describe()):
            raise ConfigError(f"the state in {path} is for problem {cfg.get('problem')!r} (d={cfg.get('dim')}, "
                              f"fidelity {cfg.get('fidelity')}), not {problem.name!r} (d={problem.dim}, "
                              f"fidelity {None if f is None else f.describe()})")
        loop = cls(problem, method=cfg["method"], model_kind=cfg["model_kind"],
                   settings=AcquisitionSettings.from_dict(cfg["settings"]), n_init=cfg["n_init"],
                   init_fidelities=cfg["init_fidelities"], seed=cfg["seed"], state_dir=path,
                   use_measured_cost=cfg["use_measured_cost"],
                   evaluate_recommendations=cfg["evaluate_recommendations"],
                   model_options=cfg.get("model_options") or None, **overrides)
        loop._load()
        return loop


# =============================================================================== plot
def plot_best_vs_cost(result: BOResult | Sequence[BOResult], path: str | Path, *, dpi: int = 110,
                      title: str | None = None) -> Path:
    """Plot the recommendation's quality against the cumulative cost (matplotlib, Agg).

    The inference regret (log scale) when the optimum is known and the recommendations were
    evaluated; else the recommendation's true value; else its posterior mean.

    Parameters
    ----------
    result : BOResult or sequence of BOResult
        One curve per result (labelled by method).
    path : path
        Output image (format from the suffix, default PNG), written atomically.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    results = [result] if isinstance(result, BOResult) else list(result)
    if not results or not all(isinstance(r, BOResult) for r in results):
        raise ParameterError("plot_best_vs_cost needs one or more BOResult")
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    ylabel = "recommended value"
    log = False
    for r in results:
        cost, true, regret = r.recommendation_curve()
        if cost.numel() == 0:
            continue
        if bool(torch.isfinite(regret).any()):
            y, ylabel, log = regret.clamp_min(1e-12), "inference regret", True
        elif bool(torch.isfinite(true).any()):
            y, ylabel = true, "true value of the recommendation"
        else:
            y = torch.tensor([float(x["posterior_mean"]) for x in r.recommendations], dtype=DTYPE)
            ylabel = "posterior mean of the recommendation"
        ax.step(cost.numpy(), y.numpy(), where="post", marker="o", markersize=3, label=f"{r.method} ({r.model_kind})")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("cumulative cost")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{results[0].problem}")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=dpi)


# =============================================================================== benchmark helper
def bare_botorch_iteration(problem: MultiFidelityProblem, X: Tensor, Y: Tensor, method: str,
                           settings: AcquisitionSettings = FAST, *, acquisition_model: Any = None) -> dict[str, Any]:
    """One fit + acquisition with plain BoTorch calls, to measure the loop's per-iteration overhead.

    What BoTorch's tutorials do, without sciml's fitting fallbacks, bookkeeping or state:
    ``SingleTaskMultiFidelityGP`` + ``fit_gpytorch_mll`` and the tutorial's cost-aware MF-KG
    (``mfkg``) or BoTorch's ``qMultiFidelityLowerBoundMaxValueEntropy`` (``mfmes``);
    ``SingleTaskGP`` on the target rows + ``qLogNoisyExpectedImprovement`` (``qlognei``).
    The multi-fidelity GP has the fidelity kernel's power fixed to 1 as in the loop
    (:func:`~sciml.bo.models.fix_fidelity_power`), so that both sides fit the same model.
    ``ar1-ei`` has no BoTorch counterpart: it times :func:`~sciml.bo.models.fit_ar1_gp` and
    :func:`~sciml.bo.acquisition.propose_candidates` directly. The same ``settings`` as the
    loop's: restarts, raw samples, ``maxiter``, ``batch_limit``, qLogNEI's ``mc_samples`` (a Sobol
    sampler seeded with ``settings.seed``), and for MF-KG the fantasies
    (a Sobol sampler seeded with ``settings.seed``) and the one-shot initialisation's inner
    restarts / raw samples (``settings.options``: the tutorial's BoTorch defaults, 20 and 1024,
    for :data:`~sciml.bo.acquisition.TUTORIAL`), so that a timing difference is the loop's own.

    ``acquisition_model``: the bare fit is still made and timed, but the acquisition runs on this
    model instead (e.g. the loop's own fit of the same data). The two fits agree only to about
    1e-5 in the hyperparameters (sciml's input transforms differ in the order of operations),
    and from there the acquisition optimisers, MF-KG's above all, take different paths whose
    times differ by tens of per cent either way. On the same model the bare calls return the
    loop's candidates for ``qlognei`` and ``mfkg`` (same seeded samplers); not for ``mfmes``,
    whose max-value candidate set BoTorch draws from the global torch generator and extends
    with the training inputs.

    Parameters
    ----------
    problem : MultiFidelityProblem
    X : Tensor, shape (n, d + 1)
        Observed points in model coordinates.
    Y : Tensor, shape (n,) or (n, 1)
        ``problem.sign * values`` (maximised), finite.
    method : str
        One of :data:`METHODS`.
    settings : AcquisitionSettings
    acquisition_model : botorch Model, optional
        Model the acquisition runs on (default: the bare fit).

    Returns
    -------
    dict
        ``fit_s``, ``acquisition_s``, ``total_s`` and ``candidates`` ``(q, d + 1)``.
    """
    from botorch.acquisition import (
        FixedFeatureAcquisitionFunction,
        PosteriorMean,
        qLogNoisyExpectedImprovement,
        qMultiFidelityKnowledgeGradient,
        qMultiFidelityLowerBoundMaxValueEntropy,
    )
    from botorch.acquisition.cost_aware import InverseCostWeightedUtility
    from botorch.acquisition.utils import project_to_target_fidelity
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
    from botorch.models.transforms.input import Normalize
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf, optimize_acqf_mixed
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from sciml.bo.acquisition import cost_model_for

    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; accepted: {list(METHODS)}")
    X = torch.as_tensor(X, dtype=DTYPE)
    Y = torch.as_tensor(Y, dtype=DTYPE).reshape(-1, 1)
    d = problem.dim
    opts = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        t0 = time.perf_counter()
        if method == "ar1-ei":
            from sciml.bo.models import fit_ar1_gp

            model = fit_ar1_gp(X, Y, bounds=problem.model_bounds, n_levels=len(problem.fidelity.values),
                               seed=settings.seed)
            t1 = time.perf_counter()
            model = model if acquisition_model is None else acquisition_model
            cands, _ = propose_candidates("ar1-ei", model, problem, settings=settings, X_observed=X)
        elif method == "qlognei":
            rows = (X[:, -1] - 1.0).abs() < 1e-9 if problem.fidelity is not None else torch.ones(len(X), dtype=bool)
            Xt = X[rows][:, :d]
            model = SingleTaskGP(Xt, Y[rows], input_transform=Normalize(d, bounds=problem.bounds),
                                 outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            t1 = time.perf_counter()
            model = model if acquisition_model is None else acquisition_model
            sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.mc_samples]), seed=settings.seed)
            acqf = qLogNoisyExpectedImprovement(model, X_baseline=Xt, sampler=sampler, prune_baseline=True)
            cands, _ = optimize_acqf(acqf, bounds=problem.bounds, q=settings.q, num_restarts=settings.num_restarts,
                                     raw_samples=settings.raw_samples, options=opts, sequential=True)
            if problem.fidelity is not None:
                cands = torch.cat([cands, torch.ones(cands.shape[0], 1, dtype=DTYPE)], dim=1)
        else:
            bounds = problem.model_bounds
            model = SingleTaskMultiFidelityGP(X, Y, data_fidelities=[d],
                                              input_transform=Normalize(d + 1, indices=list(range(d)), bounds=bounds),
                                              outcome_transform=Standardize(m=1))
            fix_fidelity_power(model, 1)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            t1 = time.perf_counter()
            model = model if acquisition_model is None else acquisition_model
            cost_model, _ = cost_model_for(problem)
            utility = InverseCostWeightedUtility(cost_model=cost_model)

            def project(Z: Tensor) -> Tensor:
                return project_to_target_fidelity(X=Z, target_fidelities={d: 1.0}, d=d + 1)

            discrete = problem.fidelity.kind == "discrete"
            if method == "mfkg":
                cur = FixedFeatureAcquisitionFunction(PosteriorMean(model), d=d + 1, columns=[d], values=[1.0])
                _, current = optimize_acqf(cur, bounds=bounds[:, :-1], q=1, num_restarts=settings.num_restarts,
                                           raw_samples=settings.raw_samples, options=opts)
                sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.num_fantasies]), seed=settings.seed)
                acqf = qMultiFidelityKnowledgeGradient(model, num_fantasies=settings.num_fantasies, sampler=sampler,
                                                       current_value=current, cost_aware_utility=utility,
                                                       project=project)
            else:
                cand_set = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(settings.candidate_set_size, d + 1,
                                                                            dtype=DTYPE)
                acqf = qMultiFidelityLowerBoundMaxValueEntropy(model, cand_set, cost_aware_utility=utility,
                                                               project=project)
            # the one-shot KG's initial conditions take the same inner restarts / raw samples as
            # sciml's (settings.options); BoTorch's defaults (20, 1024) would time different work
            acq_opts = settings.options if method == "mfkg" else opts
            if discrete:
                cands, _ = optimize_acqf_mixed(acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
                                               raw_samples=settings.raw_samples,
                                               fixed_features_list=problem.fidelity_fixed_features(),
                                               options=acq_opts, return_acq_values=method == "mfkg")
            else:
                cands, _ = optimize_acqf(acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
                                         raw_samples=settings.raw_samples, options=acq_opts,
                                         sequential=method == "mfmes")
        t2 = time.perf_counter()
    return {"fit_s": t1 - t0, "acquisition_s": t2 - t1, "total_s": t2 - t0, "candidates": cands.detach()}
