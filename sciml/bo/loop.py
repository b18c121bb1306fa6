"""A resumable, cost-aware multi-fidelity Bayesian-optimisation loop (:class:`BOLoop`).

::

    loop = BOLoop(forrester(), method="mfmes", n_init=6, seed=0, state_dir="runs/bo")
    result = loop.run(budget=60.0)                  # until the cumulative cost reaches 60

or ask/tell: ``X = loop.initial_design(6)``, ``loop.observe(X, values)``, ``X = loop.propose(2)``.

Candidates handed out and taken in are **physical**: ``(n, d + 1)``, the design in the problem's
units and the fidelity in its own units as last column (``(n, d)`` without a fidelity); inside,
everything is in model coordinates and models are fitted to ``problem.sign * y``. The cost of an
evaluation is the problem's declared cost, or the measured wall-clock seconds with
``use_measured_cost=True`` (the cost-aware acquisitions always weigh candidates with the
declared cost model); the budget is checked between batches. BO iteration ``k`` (``0`` is the
initial design) fits its model with seed ``seed + k`` and runs the acquisition with seed
``seed + k``, so its candidates depend only on the data observed before it; with ``state_dir``
the loop saves its state (:mod:`sciml.bo.state`) after every proposal and every observation, and
a resumed loop proposes exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from torch import Tensor

import sciml.bo.models as models
from sciml.bo.acquisition import AcquisitionFailedError, propose_candidates, recommend
from sciml.bo.candidates import method_mismatch
from sciml.bo.fidelity import DTYPE
from sciml.bo.fitting import InitMismatchError, hyperparameters
from sciml.bo.history import History
from sciml.bo.names import DEFAULT_METHOD, DEFAULT_MODEL, METHODS, QLOGNEI
from sciml.bo.problem import MultiFidelityProblem, as_problem
from sciml.bo.result import BOResult, jsonable, timing_record
from sciml.bo.settings import FAST, AcquisitionSettings
from sciml.bo.state import BOLoopError, read_state, warm_start_of, write_state
from sciml.errors import ConfigError, ParameterError
from sciml.executors import Executor, InProcessExecutor
from sciml.progress import progress

__all__ = ["BOLoop", "BOLoopError"]

logger = logging.getLogger(__name__)


def _evaluate_task(task: tuple[MultiFidelityProblem, list[float], float | None]) -> tuple[float, float, str | None]:
    """Evaluate one point: ``(problem, x, s) -> (value, seconds, failure message)`` (picklable)."""
    problem, x, s = task
    X = torch.tensor([x], dtype=DTYPE)
    values, seconds = problem.evaluate_timed(X, None if s is None else [s], safe=True)
    msg = problem.last_failures.get(0)
    value = float(values[0])
    if msg is None and not math.isfinite(value):
        msg = f"non-finite value {value}"
    return value, float(seconds[0]), msg


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_method(method: str, problem: MultiFidelityProblem) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; accepted: {list(METHODS)}")
    why = method_mismatch(method, problem)
    if why is not None:
        raise ConfigError(f"method {why}")


def _check_model_options(options: Mapping[str, Any], model: Any, label: str) -> bool:
    """Validate ``model_options`` against the model; return ``warm_start``."""
    reserved = sorted(set(options) & (models.LOOP_SET_OPTIONS - {"X", "Y"}))
    if reserved:
        raise ConfigError(f"model_options cannot set {reserved}: the loop sets them")
    accepted = models.model_options(model)
    unknown = sorted(set(options) - {"warm_start"} - (accepted if accepted is not None else set(options)))
    if unknown:
        raise ConfigError(f"model_options {unknown} are not options of model_kind {label!r}; accepted: "
                          f"{sorted((accepted or frozenset()) | {'warm_start'})}")
    warm = options.get("warm_start", False)
    if not isinstance(warm, bool):
        raise ConfigError(f"model_options['warm_start'] must be True or False, got {warm!r}")
    if warm and not models.takes_init(model):
        raise ConfigError(f"model_options['warm_start'] needs a model that takes init=; {label} does not")
    return warm


def changed_entries(saved: Any, now: Any, key: str) -> str:
    """``"key.sub: saved X, now Y"`` for every leaf of nested dicts that differs."""
    if isinstance(saved, Mapping) and isinstance(now, Mapping):
        return "; ".join(changed_entries(saved.get(k), now.get(k), f"{key}.{k}")
                         for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k))
    return f"{key}: saved {saved!r}, now {now!r}"


class BOLoop:
    """Cost-aware (multi-fidelity) Bayesian optimisation with ask/tell, a budgeted run and resume.

    Parameters
    ----------
    problem : BOProblem
        What to optimise: a :class:`~sciml.bo.problem.MultiFidelityProblem` or any object with
        the attributes of :class:`~sciml.bo.problem.BOProblem` (wrapped by
        :func:`~sciml.bo.problem.as_problem`).
    method : {"mfmes", "mfkg", "qlognei", "ar1-ei"}
        Acquisition (:func:`sciml.bo.acquisition.propose_candidates`). The multi-fidelity
        methods need a problem with a fidelity, ``ar1-ei`` a discrete one.
    model_kind : str or callable, optional
        Surrogate: a kind of :data:`sciml.bo.models.MODELS` (``"mfgp"``, ``"ar1"``,
        ``"multitask"``, ``"singletask"``) or a model factory ``(train_X, train_Y, *, seed, bounds,
        fidelity, **options) -> botorch Model`` (:mod:`sciml.bo.models`); default
        :data:`~sciml.bo.names.DEFAULT_MODEL` of the method.
    settings : AcquisitionSettings
        Acquisition effort and default batch size ``settings.q`` (:data:`~sciml.bo.settings.FAST`);
        its ``seed`` is replaced by ``seed + iteration``.
    n_init : int, optional
        Size of the initial design (default ``max(4, 2 (d + 1))``): a scrambled Sobol sequence
        (seed ``seed``) over the design box.
    init_fidelities : sequence of float, optional
        Physical fidelities the initial design cycles through; default every discrete level
        from the target down, unit ``1, 0.5, 0`` for a continuous fidelity, the target only for
        ``qlognei``.
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
        Further keyword arguments of the model (JSON-able, e.g. ``{"n_restarts": 2}`` for
        ``ar1``), and ``"warm_start"`` (bool, default False): start each fit after the first
        from the hyperparameters of the previous iteration's fit (saved with the state, so a
        resumed loop fits exactly as an uninterrupted one; a fit whose model changed structure
        starts cold).
    show_progress : bool, optional
        Progress bar of :meth:`run` (default: when stderr is a terminal).

    Raises
    ------
    ConfigError
        Unknown method or model kind (the message lists the accepted ones), a model that does
        not serve the method on the problem (:func:`sciml.bo.models.check_model`), a factory
        with the wrong signature, ``n_init < 1``, bad settings or model options.
    """

    def __init__(self, problem: Any, *, method: str = DEFAULT_METHOD, model_kind: Any = None,
                 settings: AcquisitionSettings = FAST, n_init: int | None = None,
                 init_fidelities: Sequence[float] | None = None, seed: int = 0, state_dir: str | Path | None = None,
                 use_measured_cost: bool = False, evaluate_recommendations: bool | None = None,
                 model_options: Mapping[str, Any] | None = None, show_progress: bool | None = None) -> None:
        problem = as_problem(problem)
        _check_method(method, problem)
        model = DEFAULT_MODEL[method] if model_kind is None else model_kind  # type: ignore[index]
        models.check_model(model, problem, method)
        if not isinstance(settings, AcquisitionSettings):
            raise ConfigError(f"settings must be AcquisitionSettings, got {type(settings).__name__}")
        if not _is_int(seed):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        n_init = max(4, 2 * (problem.dim + 1)) if n_init is None else n_init
        if not _is_int(n_init) or n_init < 1:
            raise ConfigError(f"n_init must be an integer >= 1, got {n_init!r}")
        self.problem = problem
        self.method = method
        self._model = model
        self.model_kind = models.model_label(model)
        self.settings = settings
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.init_fidelities = self._check_init_fidelities(init_fidelities)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.use_measured_cost = bool(use_measured_cost)
        self.evaluate_recommendations = (problem.optimum_value is not None if evaluate_recommendations is None
                                         else bool(evaluate_recommendations))
        self.model_options = dict(model_options or {})
        self._warm_start = _check_model_options(self.model_options, model, self.model_kind)
        self.show_progress = show_progress
        self._width = problem.dim + (problem.fidelity is not None)
        self._history = History(self._width)
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
    def _check_init_fidelities(self, init: Sequence[float] | None) -> list[float] | None:
        f = self.problem.fidelity
        if f is None:
            if init is not None:
                raise ConfigError(f"problem {self.problem.name!r} has no fidelity; init_fidelities must be None")
            return None
        if init is None:
            if self.method == QLOGNEI:
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
                "model_options": jsonable(self.model_options), "problem_definition": self.problem.definition()}

    # ------------------------------------------------------------------ properties
    @property
    def iteration(self) -> int:
        """Number of BO batches proposed so far (0 during the initial design)."""
        return self._iteration

    @property
    def n_observations(self) -> int:
        """Number of observed evaluations (failed ones included)."""
        return self._history.n_observations

    @property
    def total_cost(self) -> float:
        """Cumulative cost of the observed evaluations."""
        return float(self._history.costs.sum())

    @property
    def pending(self) -> Tensor:
        """Proposed but not yet observed points, physical ``(m, d + 1)``."""
        return self._to_physical(self._history.pending)

    def training_data(self) -> tuple[Tensor, Tensor]:
        """The successful observations ``(Z, values)``, model coordinates, in canonical order
        (:meth:`sciml.bo.history.History.training_data`)."""
        return self._history.training_data()

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
        if not _is_int(n) or n < 1:
            raise ConfigError(f"the initial design needs n >= 1 points, got {n!r}")
        Z = self._sobol(int(n))
        self._history.add_pending(Z, 0)
        if 0 not in self._open:  # one timing record for the design, reopened when it grows
            closed = [t for t in self._timings if t["iteration"] == 0]
            if closed:
                self._timings.remove(closed[0])
            self._open[0] = closed[0] if closed else timing_record(0, 0.0, 0.0, 0.0, 0)
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
            No successful observation yet, or the model cannot be fitted to the data.
        ModelFitError
            Every fitting strategy failed (the message lists what was tried).
        ConfigError
            A model factory that does not return a BoTorch model.
        """
        k = self._iteration + 1 if iteration is None else int(iteration)
        ok = self._history.ok
        if not bool(ok.any()):
            raise BOLoopError(f"no successful evaluation to fit a model to ({self.n_observations} observed, "
                              f"{int((~ok).sum())} failed); run the initial design first")
        Z, values = self.training_data()
        Y = (self.problem.sign * values).unsqueeze(-1)
        options = {key: v for key, v in self.model_options.items() if key != "warm_start"}
        init = self._warm if self._warm_start and self._warm_iteration < k else None

        def fit(init: dict[str, Tensor] | None) -> Model:
            extra = {} if init is None else {"init": init}
            return models.fit_surrogate(self._model, Z, Y, seed=self.seed + k, bounds=self.problem.model_bounds,
                                        fidelity=self.problem.fidelity, **options, **extra)

        try:
            try:
                return fit(init)
            except InitMismatchError as exc:
                logger.info("%s: iteration %d: cold fit, the previous hyperparameters do not fit the model (%s)",
                            self.problem.name, k, exc)
                return fit(None)
        except ConfigError:
            raise
        except ValueError as exc:
            raise BOLoopError(f"cannot fit the {self.model_kind!r} model: {exc}") from exc

    # ------------------------------------------------------------------ ask
    def _acq_settings(self, k: int, q: int) -> AcquisitionSettings:
        return self.settings.replace(q=int(q), seed=self.seed + k)

    def _recommend(self, model: Model, k: int) -> dict[str, Any]:
        """Recommendation after ``k - 1`` iterations from the model fitted for iteration ``k``."""
        t0 = time.perf_counter()
        x, mean = recommend(model, self.problem, self._acq_settings(k, 1), X_observed=self.training_data()[0])
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
        pending = self._history.pending if self._history.pending.shape[0] else None
        try:
            cands, info = propose_candidates(self.method, model, self.problem, settings=self._acq_settings(k, q),
                                             pending=pending, X_observed=self.training_data()[0])
        except AcquisitionFailedError as exc:
            logger.warning("%s: iteration %d: %s; evaluating %d space-filling (Sobol) points instead",
                           self.problem.name, k, exc, q)
            cands = self._sobol(q)
            info = {"kind": self.method, "q": q, "fallback": "sobol", "error": str(exc)}
        acq_s = time.perf_counter() - t0
        self._iteration = k
        if self._warm_start:
            self._warm, self._warm_iteration = hyperparameters(model), k
        self._acquisitions.append(jsonable({"iteration": k, **info}))
        self._open[k] = timing_record(k, fit_s, rec_s, acq_s, int(cands.shape[0]))
        self._history.add_pending(cands, k)
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
        if not _is_int(q) or q < 1:
            raise ConfigError(f"propose needs n >= 1, got {n!r}")
        return self._to_physical(self._propose(int(q)))

    # ------------------------------------------------------------------ tell
    @staticmethod
    def _check_costs(costs: Any, n: int, what: str) -> Tensor:
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

    def _record(self, Z: Tensor, values: Tensor, costs: Tensor, messages: Sequence[str | None] | None = None,
                seconds: float = 0.0) -> None:
        h = self._history
        span = self.problem.model_bounds[1] - self.problem.model_bounds[0]
        for i in range(Z.shape[0]):
            j = h.match_pending(Z[i], span, self.problem.name)
            z, tag, pos = h.pop_pending(j) if j is not None else (Z[i], self._iteration, -1)
            idx = self.n_observations
            h.append(z, values[i:i + 1], costs[i:i + 1], tag, pos)
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
    def _evaluate_pending(self, executor: Executor, bar: Any) -> None:
        Z = self._history.pending.clone()
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
            if not bool((self._history.pending_tags == tag).any()):
                self._timings.append(self._open.pop(tag))

    @staticmethod
    def _check_run_args(budget: Any, batch_size: Any, max_iterations: Any) -> None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(budget)) or budget <= 0:
            raise ConfigError(f"budget must be a finite number > 0, got {budget!r}")
        if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if max_iterations is not None and (not isinstance(max_iterations, (int, np.integer)) or max_iterations < 0):
            raise ConfigError(f"max_iterations must be an integer >= 0, got {max_iterations!r}")

    def run(self, budget: float, *, executor: Executor | None = None, batch_size: int | None = None,
            resume: bool = False, max_iterations: int | None = None) -> BOResult:
        """Optimise until the cumulative cost reaches ``budget``.

        Each iteration: fit the model, record the recommendation (argmax of the target-fidelity
        posterior mean; with ``evaluate_recommendations`` its true value, not counted in the
        cost), propose ``batch_size`` points, evaluate them through ``executor``
        (``problem.evaluate_timed(safe=True)`` per point) and observe each one as it completes.
        A failed evaluation (NaN/inf or an exception) is kept with status ``"failed"`` and its
        cost counted, but left out of the fit. A failed acquisition is replaced by the next
        Sobol points. A last fit after the final batch gives the final recommendation.

        Parameters
        ----------
        budget : float
            Total cost (declared units, or seconds with ``use_measured_cost``), ``> 0``; the
            initial design counts.
        executor : Executor, optional
            :mod:`sciml.executors` executor (default: in-process); the problem is shipped to
            its workers (it must pickle).
        batch_size : int, optional
            Points per iteration. Default: the batch size of the run whose state this loop
            resumed (saved in the state), else ``settings.q``.
        resume : bool
            Load the state in ``state_dir`` (if any) and continue from it: pending points are
            evaluated first, an observed point is never evaluated again.
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
        self._check_run_args(budget, batch_size, max_iterations)
        if resume and self.state_dir is not None and self._history.empty and (self.state_dir / "state.json").exists():
            self._load()
        q = int(batch_size if batch_size is not None else self._batch_size or self.settings.q)
        self._batch_size = q
        executor = executor if executor is not None else InProcessExecutor(show_progress=False)
        budget = float(budget)
        with progress(total=budget, desc=f"BO {self.method} on {self.problem.name}", unit="cost",
                      enabled=self.show_progress) as bar:
            bar.update(min(self.total_cost, budget))
            if self._history.empty:
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
            if bool(self._history.ok.any()) and not self._has_recommendation(self._iteration):
                model = self.fit_model(self._iteration + 1)
                self._maybe_recommend(model, self._iteration + 1)
        return self.result()

    def _has_recommendation(self, after: int) -> bool:
        return any(r["after_iteration"] == after for r in self._recommendations)

    def _maybe_recommend(self, model: Model, k: int) -> float:
        if self._has_recommendation(k - 1):
            return 0.0
        rec = self._recommend(model, k)
        self._recommendations.append(jsonable(rec))
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
        """The history so far as a :class:`~sciml.bo.result.BOResult`."""
        h = self._history
        n = self.n_observations
        if n:
            X, s = self.problem.from_model_input(h.Z, snap=True)
            fid = torch.full((n,), math.nan, dtype=DTYPE) if s is None else s
        else:
            X, fid = torch.empty(0, self.problem.dim, dtype=DTYPE), torch.empty(0, dtype=DTYPE)
        return BOResult(
            problem=self.problem.name, method=self.method, model_kind=self.model_kind, seed=self.seed,
            X=X, fidelities=fid, values=h.values.clone(), costs=h.costs.clone(),
            cumulative_cost=torch.cumsum(h.costs, 0), status=["ok" if bool(o) else "failed" for o in h.ok],
            iteration=h.tags.clone(), recommendations=[dict(r) for r in self._recommendations],
            timings=sorted((dict(t) for t in self._timings), key=lambda t: t["iteration"]),
            acquisitions=[dict(a) for a in self._acquisitions],
            optimum_value=self.problem.optimum_value,
            failures={int(i): str(m) for i, m in sorted(self._failures.items(), key=lambda kv: int(kv[0]))})

    # ------------------------------------------------------------------ state
    def _save(self) -> None:
        if self.state_dir is None:
            return
        if not self._state_owned:
            if (self.state_dir / "state.json").exists():
                raise ConfigError(f"{self.state_dir} already holds a BO state; resume it with BOLoop.resume(...) "
                                  "or run(..., resume=True), or use an empty folder")
            self._state_owned = True
        tensors: dict[str, Any] = {**self._history.tensors(),
                                   "counters": torch.tensor([self._iteration, self._n_sobol], dtype=torch.long)}
        if self._warm is not None:
            tensors["warm"] = {key: v.clone() for key, v in self._warm.items()}
            tensors["warm_iteration"] = torch.tensor(self._warm_iteration, dtype=torch.long)
        write_state(self.state_dir, tensors, {
            "config": self.config(), "iteration": self._iteration, "n_observations": self.n_observations,
            "total_cost": self.total_cost, "n_sobol": self._n_sobol, "batch_size": self._batch_size,
            "open_iterations": self._open, "recommendations": self._recommendations,
            "timings": self._timings, "acquisitions": self._acquisitions, "failures": self._failures})

    def _load(self) -> None:
        assert self.state_dir is not None
        state, t = read_state(self.state_dir)
        mine, theirs = self.config(), state.get("config", {})
        if "problem_definition" not in theirs:  # written before problems had a definition
            mine.pop("problem_definition")
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        if diff:
            raise ConfigError(f"the state in {self.state_dir} was written with a different configuration: "
                              + "; ".join(changed_entries(theirs.get(k), mine[k], k) for k in diff))
        n = int(t["values"].shape[0])
        if t["Z"].shape != (n, self._width) or t["pending"].shape[1:] != (self._width,):
            raise BOLoopError(f"{self.state_dir / 'tensors.pt'} has inconsistent shapes")
        self._history.load(t)
        self._iteration, self._n_sobol = (int(v) for v in t["counters"].tolist())
        self._warm, self._warm_iteration = warm_start_of(t, self.state_dir / "tensors.pt")
        self._load_metadata(state)
        self._state_owned = True

    def _load_metadata(self, state: Mapping[str, Any]) -> None:
        # a state written before the metadata moved into tensors.pt: state.json (written second)
        # may lag the tensors by one observation
        self._recommendations = [r for r in state.get("recommendations", [])
                                 if int(r["after_iteration"]) < self._iteration + 1]
        self._timings = list(state.get("timings", []))
        self._acquisitions = [a for a in state.get("acquisitions", []) if int(a["iteration"]) <= self._iteration]
        self._failures = dict(state.get("failures", {}))
        batch = state.get("batch_size")
        self._batch_size = int(batch) if _is_int(batch) and batch >= 1 else None
        opened = {int(k): dict(v) for k, v in (state.get("open_iterations") or {}).items()}
        done = {int(r["iteration"]) for r in self._timings}
        pending_tags = self._history.pending_tags
        self._open = {}
        for tag in sorted(set(pending_tags.tolist())):
            if tag in opened and tag not in done:
                self._open[tag] = opened[tag]
            else:  # proposed just before a crash that kept state.json from being written
                self._open[tag] = timing_record(tag, None, None, None, int((pending_tags == tag).sum()))

    @classmethod
    def resume(cls, state_dir: str | Path, problem: Any, **overrides: Any) -> BOLoop:
        """Rebuild a loop from ``state_dir`` (written by an earlier loop on the same problem).

        Parameters
        ----------
        state_dir : path
            Folder with ``state.json`` and ``tensors.pt``.
        problem : BOProblem
            The same problem (name, dimension and fidelity are checked).
        **overrides
            ``show_progress``, and ``model_kind`` for a loop whose model was a factory (it is
            saved by name only; the same factory must be given again).

        Raises
        ------
        BOLoopError
            Missing or unreadable state.
        ConfigError
            The problem does not match the saved one, another override, or a model that is
            not the saved one.
        """
        path = Path(state_dir)
        bad = sorted(set(overrides) - {"show_progress", "model_kind"})
        if bad:
            raise ConfigError(f"BOLoop.resume takes the configuration from the state; cannot override {bad}")
        problem = as_problem(problem)
        state, _ = read_state(path)
        cfg = state.get("config", {})
        f = problem.fidelity
        if (cfg.get("problem"), cfg.get("dim"), cfg.get("fidelity")) != (
                problem.name, problem.dim, None if f is None else f.describe()):
            raise ConfigError(f"the state in {path} is for problem {cfg.get('problem')!r} (d={cfg.get('dim')}, "
                              f"fidelity {cfg.get('fidelity')}), not {problem.name!r} (d={problem.dim}, "
                              f"fidelity {None if f is None else f.describe()})")
        model = overrides.pop("model_kind", cfg["model_kind"])
        if model == cfg["model_kind"] and str(model).startswith("callable:"):
            raise ConfigError(f"the state in {path} was written with the model factory {model[9:]}: pass it again "
                              "as model_kind=")
        if models.model_label(model) != cfg["model_kind"]:
            raise ConfigError(f"the state in {path} was written with model {cfg['model_kind']!r}, not "
                              f"{models.model_label(model)!r}")
        loop = cls(problem, method=cfg["method"], model_kind=model,
                   settings=AcquisitionSettings.from_dict(cfg["settings"]), n_init=cfg["n_init"],
                   init_fidelities=cfg["init_fidelities"], seed=cfg["seed"], state_dir=path,
                   use_measured_cost=cfg["use_measured_cost"],
                   evaluate_recommendations=cfg["evaluate_recommendations"],
                   model_options=cfg.get("model_options") or None, **overrides)
        loop._load()
        return loop
