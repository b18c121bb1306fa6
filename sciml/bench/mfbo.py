"""``sciml bench mfbo``: multi-fidelity BO (MF-KG, MF-MES, AR1+MF-EI) against single-fidelity qLogNEI.

Every run is one :class:`~sciml.bo.loop.BOLoop` (``evaluate_recommendations=True``): its
recommendation after each iteration (argmax of the target-fidelity posterior mean) is
evaluated at the target fidelity, which is *not* counted in the cost. The **inference regret**
of a recommendation is ``problem.simple_regret(true value)`` (``>= 0``, in the objective's
units); as a function of the cumulative cost it is a right-continuous step function that
changes at each recorded recommendation (:func:`regret_curve`).

Problems (:class:`ProblemSpec`; :func:`settings_for` lists which run in which mode):

* ``augmented_hartmann`` -- BoTorch's MF-KG tutorial set-up: augmented Hartmann-6 (minimised,
  optimum -3.32237), cost ``5 + s``, 16 initial points whose fidelities are drawn uniformly in
  ``[0, 1]`` like the tutorial's ``torch.rand`` (seeded; the designs are scrambled Sobol
  points), then 6 rounds of ``q = 4``. qLogNEI starts from 16 target-fidelity points. The
  fidelity does not "pay" here (cheapest source only 1.2x cheaper): the problem checks the
  wiring and the speed. AR1+MF-EI needs discrete levels and does not run on it.
* ``park91a``, ``borehole`` -- two-level problems, cost 1 (low) and 10 (target), ``q = 1``, a
  fixed cumulative-cost budget (see the settings).
  On Borehole the two levels are nearly proportional (``f_L ~ 0.796 f_H``), which the AR(1)
  model represents with ``rho ~ 1.257`` while the linear-truncated kernel of MF-KG and MF-MES
  models the difference as an independent GP; and the flow rate hardly depends on ``Tu``,
  ``r`` and ``Tl`` near the optimal corner. Measured (full settings with the iteration cap
  40, 10 seeds, cold AR(1) fits): MF-MES's final regret 3.5 +- 0.5 (its recommendations left ``Tu``, ``r``
  and ``Tl`` off the corner, e.g. ``Tu = 66,658`` instead of 115,600), AR1+MF-EI's 0.034 +-
  0.034 (nine seeds below 0.001); two MF-KG runs stopped early still had regrets of ~100
  at a cost of ~115.
* ``burgers_shock_time`` -- :func:`~sciml.bo.problems.burgers_shock_time_problem`: the
  viscosity (``log10 nu``) for which the Burgers shock forms at ``t = 0.2``, solver resolution
  ``n_cells in {64, 128, 256, 512}`` as fidelity, declared cost ``(n_cells / 512)^2`` (the
  CFL time step makes the work quadratic; the declared cost is used, not the measured
  seconds, so that runs are reproducible and independent of the machine's load).
  Optimum: 0, i.e. the target shock time is attainable. Checked on a dense grid of the
  truth (801 values of ``log10 nu`` in ``[-3, log10 0.3]`` at 512 cells): the largest
  value is ``-6.7e-9`` at ``log10 nu = -1.043`` (the grid's spacing, 0.003, leaves a
  shock-time error of 8e-5 there), so 0 is the supremum, reached between grid points.
  The optimum is a narrow peak (``|t_s - 0.2| < 0.02`` for ``log10 nu`` within about
  ``+-0.04`` of -1.043) beside a broad plateau at ``-2.5e-3`` (``t_s ~ 0.25`` for small ``nu``):
  a deceptive local optimum. With BoTorch's learned power of the linear-truncated fidelity
  kernel, three of ten MF-MES runs ended on the plateau or worse, one of them because its
  model had become indefinite (:mod:`sciml.bo.models`); with the power fixed to 1, two of ten
  (and three of ten qLogNEI runs).
* ``burgers_shock_time_2d`` (full mode) --
  :func:`~sciml.bo.problems.burgers_shock_time_2d_problem`: the same with the initial
  amplitude ``A in [0.5, 2]`` designed too (the issue's "viscosity/initial amplitude");
  ``t_s(nu, A) = t_s(nu / A, 1) / A``, so the target is attained along a curve of designs.

Figures (rows of kind ``"regret"``, one per problem, method and acquisition settings):

* ``final_regret_mean`` / ``final_regret_se``: mean and standard error (``std(ddof=1) /
  sqrt(n)``) over seeds of the final recommendation's regret; ``final_cost_mean`` the mean
  cumulative cost at the end.
* ``curve``: the mean regret curve over seeds, exactly the mean of the step functions at
  the union of their breakpoints (:func:`mean_curve`); a run's curve is held flat after
  its last recommendation and undefined before its first.
* ``cost_to_reach`` / ``cost_fraction_vs_qlognei``: the smallest cumulative cost from which a
  method's mean curve stays at or below ``max(R*, floor)`` up to its end, where ``R*`` is
  qLogNEI's mean final regret on the same problem and ``floor = regret_floor x range`` with
  ``range = optimum - median`` of the target-fidelity objective over 256 scrambled-Sobol
  designs (so exact zeros, e.g. a recommendation at Park91a's optimal corner, do not make the
  target unreachable), divided by qLogNEI's mean final cumulative cost ``C*`` ("reaches the
  final inference regret of qLogNEI at this fraction of its cumulative cost",
  :func:`cost_to_reach`). A method that never stays below the target gets a fraction of at
  least 1 (its final cost over ``C*``, floored at 1) and ``reached = False``. The spread:
  ``cost_fraction_per_seed`` (each seed's curve against the same target; ``None`` where not
  reached). ``cost_fraction_vs_qlognei_reach`` divides instead by the cost at which qLogNEI's
  own mean curve reaches that target (the stricter reading; reported, not checked).

A run that raises a sciml error (e.g. a model that cannot be fitted) does not stop the
benchmark: it is a row of kind ``"failed_run"`` (seed, iteration, error), the regret rows count
such runs in ``n_failed`` and summarise the others, and with ``--work-dir`` a rerun tries it
again.

Timing rows:

* ``"speed"``: on the Hartmann set-up after the 16 initial points, fit + acquisition of one
  iteration (``q = 4``) for the default method (``BOLoop``'s default, MF-MES/GIBBON with
  :data:`~sciml.bo.acquisition.FAST`), MF-KG with ``FAST`` and MF-KG with BoTorch's tutorial
  settings (:data:`~sciml.bo.acquisition.TUTORIAL`: 128 fantasies, 10 restarts, 512 raw
  samples). In full mode the per-iteration times of the Hartmann runs are reported too.
* ``"overhead"``: the loop's ask (``BOLoop.propose``: fit, acquisition, bookkeeping and the
  atomic state write) against :func:`~sciml.bo.loop.bare_botorch_iteration` (BoTorch's
  tutorial calls, same data and settings; its acquisition runs on the loop's fit, since two
  fits that differ at 1e-5 send the optimisers down different paths: see
  :func:`_overhead_job`), interleaved rounds, round ``i`` with the seed ``seed + i`` on both
  sides; ``overhead`` is ``sum(t_loop) / sum(t_bare) - 1`` over the rounds.
  ``overhead_with_recommendation`` adds the loop's per-iteration recommendation (a
  posterior-mean maximisation that ``run`` records for the regret curve and the bare tutorial
  loop does only once at the end).

Checks (:func:`add_checks`, computed from the rows):

(a) ``tutorial_wiring_mfkg_value_mean_plus_2se >= 2.82`` and
    ``tutorial_wiring_mfkg_bo_cost_rel_dev <= 0.1``, from the MF-KG runs with the tutorial's
    acquisition settings (both modes; a custom mode without them falls back to ``FAST``, and
    the ``"tutorial_wiring"`` row says which). The tutorial reports one run: the
    recommendation's value 2.82 (Hartmann-6 negated, i.e. maximised; optimum 3.32) at a
    cumulative cost of 126 for the 24 points of its 6 rounds (its 16 initial points are not
    counted). "Comparable" is read as: the tutorial's value lies below the upper end of the
    ~95% interval of sciml's mean over seeds (mean + 2 standard errors), i.e. sciml's MF-KG is
    not significantly worse than the tutorial's single run; and sciml's BO-phase cost (the
    same 24 points) lies within 10% of 126 (all 24 at the target would cost 144, 14% more,
    so the check fails if the cost model or the fidelity projection were miswired and MF-KG
    never used cheaper fidelities).
(b) ``cost_fraction_best_mf_vs_qlognei_<problem> <= 0.7`` for each problem where fidelity
    pays (``ProblemSpec.fidelity_pays``): the smallest ``cost_fraction_vs_qlognei`` of the
    multi-fidelity methods.
(c) ``loop_overhead_vs_bare_botorch_<method> <= 0.10`` for each timed method.
(d) ``default_method_seconds_per_iteration_hartmann_q4 <= 60`` (from the Hartmann runs of
    the default method when they ran, else from the ``"speed"`` row) and, when MF-KG with the
    tutorial settings ran on the same seeds (both modes),
    ``regret_gap_default_vs_tutorial_lower95 <= 0``: per seed, the default's regret minus the
    tutorial settings' regret at the same cumulative cost (the smaller of the two mean final
    costs); the mean of these paired differences minus two standard errors must be ``<= 0``,
    i.e. the default is not significantly worse per unit cost ("regret-per-cost no worse").
    Settings without those runs leave this check out; ``config["checks_not_computed"]`` says
    so.

Parallelism: the (problem, method, settings, seed) runs go to ``workers`` spawned processes
with one torch thread each; the timing jobs run in the same pool (so both sides of each ratio
see the same contention).

Resuming and running piecewise (``--work-dir``, ``--only``): see :func:`run_mfbo_benchmark`.
The full mode takes hours; ``sciml bench mfbo --work-dir DIR`` can be killed and rerun, and
``--only park91a,burgers_shock_time/mfmes`` runs part of it into the same ``DIR``.
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sciml.bench.report import BenchReport
from sciml.errors import ConfigError

__all__ = [
    "MF_METHODS",
    "TUTORIAL_COST",
    "TUTORIAL_VALUE",
    "MFBOBenchSettings",
    "MFBOReport",
    "ProblemSpec",
    "add_checks",
    "cost_to_reach",
    "mean_curve",
    "regret_curve",
    "run_mfbo_benchmark",
    "settings_for",
    "step_values",
    "summarise_runs",
]

#: Value of the recommendation reported by BoTorch's MF-KG tutorial (Hartmann-6 maximised).
TUTORIAL_VALUE = 2.82
#: Cumulative cost of the tutorial's 6 rounds of q = 4 (its initial design not counted).
TUTORIAL_COST = 126.0
#: The multi-fidelity methods (``qlognei`` is the single-fidelity baseline).
MF_METHODS: tuple[str, ...] = ("mfkg", "mfmes", "ar1-ei")
BASELINE = "qlognei"


# =============================================================================== settings
@dataclass(frozen=True)
class ProblemSpec:
    """One benchmark problem and how every method runs on it.

    Attributes
    ----------
    name : str
        Key of :data:`sciml.bo.problems.PROBLEMS`.
    kwargs : dict
        Factory keyword arguments.
    methods : tuple of str
        Methods run on it (:data:`sciml.bo.loop.METHODS`).
    budget : float or None
        Cumulative-cost budget of each run (declared cost units; the initial design counts; the
        last batch may overshoot). ``None``: only ``max_iterations`` stops the run.
    max_iterations : int or None
        Cap on BO iterations (a run stops at whichever of budget and cap comes first).
    n_init : int or None
        Initial design size (``None``: ``BOLoop``'s default ``max(4, 2 (d + 1))``).
    q : int
        Batch size.
    tutorial_init : bool
        Initial fidelities of the multi-fidelity methods drawn uniformly over the fidelity
        range (seeded), as in BoTorch's MF-KG tutorial; otherwise ``BOLoop``'s default cycle.
    fidelity_pays : bool
        The cheapest source is at least 10x cheaper than the target: check (b) applies.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] = ("mfkg", "mfmes", "ar1-ei", "qlognei")
    budget: float | None = None
    max_iterations: int | None = None
    n_init: int | None = None
    q: int = 1
    tutorial_init: bool = False
    fidelity_pays: bool = False

    def __post_init__(self) -> None:
        from sciml.bo.loop import METHODS
        from sciml.bo.problems import PROBLEMS

        if self.name not in PROBLEMS:
            raise ValueError(f"unknown problem {self.name!r}; accepted: {sorted(PROBLEMS)}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"unknown method(s) {bad} for {self.name!r}; accepted: {list(METHODS)}")
        if self.budget is None and self.max_iterations is None:
            raise ValueError(f"{self.name}: give a budget, max_iterations or both")
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise ValueError(f"{self.name}: budget must be a finite number > 0, got {self.budget!r}")
        if self.q < 1:
            raise ValueError(f"{self.name}: q must be >= 1, got {self.q}")


@dataclass(frozen=True)
class MFBOBenchSettings:
    """Sizes of one benchmark mode (see :func:`settings_for`).

    Attributes
    ----------
    problems : tuple of ProblemSpec
    seeds : tuple of int
        One run per problem, method and seed (the seed of the loop: initial design, fits,
        acquisitions).
    acquisition : dict
        ``AcquisitionSettings`` fields for the runs (``q`` and ``seed`` are set per run).
    model_options : dict
        Per method, ``BOLoop(model_options=...)``.
    method_max_iterations : dict
        ``{problem: {method: cap}}``: a lower iteration cap for one method on one problem (a
        slow acquisition; its runs stop there, the others at the problem's cap). The runs'
        keys carry the cap like the problem's own, so a later raise continues them.
    tutorial_settings_runs : bool
        Also run MF-KG with BoTorch's tutorial settings on the Hartmann problem over the seeds
        (for check (d)'s regret comparison; ~4x the time of an MF-KG run with ``FAST``).
    time_tutorial_settings : bool
        Time one iteration of MF-KG with the tutorial settings in the ``"speed"`` job.
    overhead_methods : tuple of str
        Methods whose loop overhead is timed.
    overhead_rounds : int
        Interleaved timing rounds per method.
    regret_floor : float
        Regret, relative to the problem's range, below which regrets count as equal when a
        target regret is reached (see the module docstring).
    workers : int
        Worker processes (one torch thread each).
    notes : tuple of str
        What this mode leaves out or shrinks (copied to the report's config).
    """

    problems: tuple[ProblemSpec, ...]
    seeds: tuple[int, ...]
    acquisition: Mapping[str, int] = field(default_factory=dict)
    model_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    method_max_iterations: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    tutorial_settings_runs: bool = False
    time_tutorial_settings: bool = True
    overhead_methods: tuple[str, ...] = ("mfkg", "qlognei")
    overhead_rounds: int = 3
    regret_floor: float = 1e-3
    workers: int = 2
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        specs = {p.name: p for p in self.problems}
        for name, caps in self.method_max_iterations.items():
            if name not in specs:
                raise ValueError(f"method_max_iterations: no problem {name!r}; accepted: {sorted(specs)}")
            for method, cap in caps.items():
                if method not in specs[name].methods:
                    raise ValueError(f"method_max_iterations: {name!r} does not run {method!r}; "
                                     f"accepted: {list(specs[name].methods)}")
                if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                    raise ValueError(f"method_max_iterations: the cap of {name}/{method} must be an integer "
                                     f">= 1, got {cap!r}")

    def spec_for(self, spec: ProblemSpec, method: str) -> ProblemSpec:
        """``spec`` with ``method``'s own iteration cap (:attr:`method_max_iterations`), if any."""
        cap = self.method_max_iterations.get(spec.name, {}).get(method)
        return spec if cap is None else replace(spec, max_iterations=cap)


def settings_for(quick: bool) -> MFBOBenchSettings:
    """Quick: 3 seeds, minutes on 2 CPU cores. Full: 10 seeds, every method (hours).

    Quick mode shrinks the benchmark: on the fidelity-pays problems only the default
    multi-fidelity method (MF-MES/GIBBON) runs against qLogNEI, with smaller budgets and
    iteration caps; Borehole is full-mode only. On the Hartmann set-up it runs what the
    acceptance checks need: MF-KG with BoTorch's tutorial settings (the wiring check, on the
    tutorial's own set-up), the default method and qLogNEI over the same seeds (so check (d)
    compares the default with the tutorial settings in quick mode too); MF-KG with ``FAST``
    settings is full-mode only.

    Measured (quick, ``sciml bench mfbo --quick --work-dir ...``, with the earlier caps of 12
    iterations on Burgers and 3 overhead rounds): 618 s wall with 2 workers on 2 nearly idle
    cores; MF-KG with the tutorial settings took 39 s per iteration (q = 4, one torch thread),
    MF-MES 10.8 s, qLogNEI 1.9 s. The cap of 40 on Burgers and 5 overhead rounds add about
    3 minutes (estimated; the current settings ran piecewise into one work dir).
    """
    if quick:
        problems = (
            ProblemSpec("augmented_hartmann", methods=("mfmes", "qlognei"), max_iterations=6, n_init=16, q=4,
                        tutorial_init=True),
            ProblemSpec("park91a", methods=("mfmes", "qlognei"), budget=100.0, max_iterations=12, n_init=5,
                        fidelity_pays=True),
            ProblemSpec("burgers_shock_time", methods=("mfmes", "qlognei"), budget=12.0, max_iterations=40,
                        fidelity_pays=True),
        )
        return MFBOBenchSettings(
            problems=problems, seeds=(0, 1, 2), tutorial_settings_runs=True, time_tutorial_settings=False,
            overhead_rounds=5,
            notes=("quick: MF-KG and AR1+MF-EI run on the fidelity-pays problems only in full mode",
                   "quick: Borehole only in full mode",
                   "quick: on Hartmann, MF-KG runs with the tutorial's settings only (the wiring check and the "
                   "default method's comparison with them); MF-KG with FAST settings only in full mode",
                   "quick: budgets 100 (Park91a, n_init 5) and 12 (Burgers); at most 12 BO iterations per run on "
                   "Park91a and 40 on Burgers (with 12, MF-MES stopped at a cumulative cost of about 2 of 12)",
                   "quick: the speed row times the default method and MF-KG (FAST); the tutorial settings' "
                   "seconds per iteration come from their runs"))
    problems = (
        ProblemSpec("augmented_hartmann", methods=("mfkg", "mfmes", "qlognei"), max_iterations=6, n_init=16,
                    q=4, tutorial_init=True),
        ProblemSpec("park91a", budget=200.0, max_iterations=40, fidelity_pays=True),
        ProblemSpec("borehole", budget=300.0, max_iterations=80, fidelity_pays=True),
        ProblemSpec("burgers_shock_time", budget=24.0, max_iterations=150, fidelity_pays=True),
        ProblemSpec("burgers_shock_time_2d", budget=24.0, max_iterations=150, fidelity_pays=True),
    )
    return MFBOBenchSettings(
        problems=problems, seeds=tuple(range(10)), tutorial_settings_runs=True, overhead_rounds=5,
        model_options={"ar1-ei": {"n_restarts": 1, "max_iter": 300, "warm_start": True}},
        method_max_iterations={name: {"mfkg": 30} for name in ("borehole", "burgers_shock_time",
                                                              "burgers_shock_time_2d")},
        notes=("full: AR1+MF-EI does not run on Hartmann (continuous fidelity)",
               "full: MF-KG stops after 30 BO iterations on Borehole and the Burgers problems (on Park91a at "
               "its cap of 40): with discrete fidelities optimize_acqf_mixed optimises the one-shot KG once per "
               "fidelity level, and one proposal took 31 s and 21 s on Borehole (32 and 35 points), 37 s on "
               "Burgers 2-D (46 points) and 199 s on Burgers 2-D (156 points), with 2 benchmark workers busy "
               "on the same 2 cores (on Park91a 12 s per iteration over its runs); at the problems' caps "
               "(80 on Borehole, 150 on Burgers) its 30 runs there would take days of CPU time",
               "full: at most 40 BO iterations per run on Park91a, 80 on Borehole and 150 on the Burgers "
               "problems (runs that pick cheap sources may stop there before the budget; with 40, MF-MES "
               "spent 197 of 300 on Borehole and 5.0 of 24 on Burgers, mean over 10 seeds; with 150 it spent "
               "11.8 of 24 on Burgers 2-D, whose seeds reached qLogNEI's final regret after 65-90 iterations)",
               "full: the AR(1) model is fitted from one starting point instead of 4, capped at 300 "
               "L-BFGS-B iterations, and from the second BO iteration on that point is the previous "
               "iteration's fit (warm start; uncapped, a cold fit of 33 Borehole points from 2 starts took 42 s, "
               "capped 6.6 s; on stored full-mode data one warm start took about half the time of two cold "
               "starts and reached a higher marginal likelihood, see sciml.bo.models.fit_ar1_gp)",
               "full: many hours on 2 idle cores (run it with --work-dir, piecewise with --only)"))


# =============================================================================== bookkeeping
def regret_curve(recommendations: Sequence[Mapping[str, Any]], *, cost_offset: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Regret of each recorded recommendation against the cumulative cost when it was made.

    Parameters
    ----------
    recommendations : sequence of dict
        ``BOResult.recommendations`` (keys ``cumulative_cost`` and ``regret``).
    cost_offset : float
        Subtracted from every cost (e.g. the cost of the initial design).

    Returns
    -------
    cost, regret : ndarray, shape (r,)
        Costs non-decreasing; a recommendation without a regret (not evaluated) is NaN.

    Raises
    ------
    ValueError
        Costs that decrease (not one run's history).
    """
    cost = np.array([float(r["cumulative_cost"]) for r in recommendations], dtype=np.float64) - cost_offset
    regret = np.array([math.nan if r.get("regret") is None else float(r["regret"]) for r in recommendations],
                      dtype=np.float64)
    if cost.size > 1 and bool((np.diff(cost) < 0).any()):
        raise ValueError(f"recommendation costs must not decrease, got {cost.tolist()}")
    return cost, regret


def step_values(cost: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Evaluate the right-continuous step function through ``(cost, values)`` at ``at``.

    ``f(c)`` is the value of the last point with ``cost <= c``: NaN before the first point,
    the last value after the last point (a finished run keeps its final recommendation).
    Among points with equal costs the last one wins.

    Parameters
    ----------
    cost : ndarray, shape (r,)
        Non-decreasing breakpoints.
    values : ndarray, shape (r,)
    at : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (m,)
    """
    cost = np.asarray(cost, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    idx = np.searchsorted(cost, at, side="right") - 1
    out = np.full(at.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


def mean_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard error over runs of step-function curves, exactly, at all breakpoints.

    Parameters
    ----------
    curves : sequence of (cost, regret)
        One per run (:func:`regret_curve`).

    Returns
    -------
    grid : ndarray, shape (m,)
        Sorted union of the breakpoints.
    mean, se : ndarray, shape (m,)
        Mean and ``std(ddof=1) / sqrt(n)`` over runs (``se = 0`` for one run); NaN where
        some run has no recommendation yet.
    """
    if not curves:
        raise ValueError("mean_curve needs at least one curve")
    grid = np.unique(np.concatenate([np.asarray(c, dtype=np.float64) for c, _ in curves]))
    vals = np.stack([step_values(c, r, grid) for c, r in curves])
    n = vals.shape[0]
    with np.errstate(invalid="ignore"):
        mean = vals.mean(axis=0)
        se = vals.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return grid, mean, se


def cost_to_reach(grid: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """Smallest cost from which the curve stays ``<= target`` up to its last point.

    Parameters
    ----------
    grid : ndarray, shape (m,)
        Breakpoints (sorted).
    values : ndarray, shape (m,)
        Curve values there (NaN = undefined, never "reached").
    target : float

    Returns
    -------
    float or None
        ``None`` when the last value is above the target (or undefined).
    """
    grid = np.asarray(grid, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if grid.size == 0:
        return None
    below = values <= target  # NaN compares False
    if not bool(below[-1]):
        return None
    above = np.nonzero(~below)[0]
    first = 0 if above.size == 0 else int(above[-1]) + 1
    return float(grid[first])


def _se(values: Sequence[float]) -> float:
    v = [float(x) for x in values]
    return statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else 0.0


def summarise_runs(runs: Sequence[Mapping[str, Any]], *, problem: str, method: str, settings: str = "FAST",
                   cost_key: str = "cost") -> dict[str, Any]:
    """One ``"regret"`` row from the runs (seeds) of one problem, method and settings label.

    Each run is a dict with ``seed``, ``cost`` and ``regret`` (the curve, lists), ``total_cost``,
    ``final_regret``, ``final_value``, ``model`` and per-iteration ``fit_s``/``acquisition_s``/
    ``recommend_s`` lists (see ``_run_job``). The cost-to-reach fields are added by
    :func:`add_cost_fractions`.
    """
    if not runs:
        raise ValueError(f"no runs for {problem} / {method}")
    curves = [(np.asarray(r[cost_key], dtype=np.float64), np.asarray(r["regret"], dtype=np.float64)) for r in runs]
    grid, mean, se = mean_curve(curves)
    finals = [float(r["final_regret"]) for r in runs]
    iter_s = [f + a for r in runs for f, a in zip(r["fit_s"], r["acquisition_s"], strict=True)]
    rec_s = [x for r in runs for x in r["recommend_s"]]
    return {
        "kind": "regret", "problem": problem, "method": method, "settings": settings,
        "model": runs[0].get("model"), "n_seeds": len(runs),
        "final_cost_mean": statistics.fmean(float(r["total_cost"]) for r in runs),
        "final_regret_mean": statistics.fmean(finals), "final_regret_se": _se(finals),
        "final_regret_min": min(finals), "final_regret_max": max(finals),
        "final_value_mean": statistics.fmean(float(r["final_value"]) for r in runs),
        "final_value_se": _se([float(r["final_value"]) for r in runs]),
        "iterations_mean": statistics.fmean(int(r["n_iterations"]) for r in runs),
        "target_cost_share_mean": statistics.fmean(float(r["target_cost_share"]) for r in runs),
        "s_per_iter": statistics.fmean(iter_s) if iter_s else None,
        "recommend_s_per_iter": statistics.fmean(rec_s) if rec_s else None,
        "curve": {"cost": grid.tolist(), "mean": _nan_to_none(mean), "se": _nan_to_none(se)},
        "runs": [{k: r[k] for k in ("seed", "total_cost", "final_regret", "final_value", "n_iterations",
                                    "cost", "regret", "init_cost") if k in r} for r in runs],
    }


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(float(x)) else float(x) for x in a]


def _curve(row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    c = row["curve"]
    return (np.asarray(c["cost"], dtype=np.float64),
            np.asarray([math.nan if v is None else v for v in c["mean"]], dtype=np.float64))


def add_cost_fractions(rows: Sequence[dict[str, Any]], *, problem: str, regret_floor_abs: float) -> None:
    """Add ``cost_to_reach`` and ``cost_fraction_vs_qlognei`` (and their spread) to a problem's rows.

    The target is ``max(R*, regret_floor_abs)`` with ``R*`` the mean final regret of the
    ``qlognei`` row (``settings == "FAST"``); the fraction divides by that row's mean final
    cost. Rows of other problems are left alone; nothing is added without a qLogNEI row.
    """
    mine = [r for r in rows if r.get("kind") == "regret" and r["problem"] == problem]
    base = next((r for r in mine if r["method"] == BASELINE and r["settings"] == "FAST"), None)
    if base is None:
        return
    target = max(float(base["final_regret_mean"]), float(regret_floor_abs))
    c_star = float(base["final_cost_mean"])
    base_reach = cost_to_reach(*_curve(base), target)
    for r in mine:
        reach = cost_to_reach(*_curve(r), target)
        r["target_regret"] = target
        r["cost_to_reach"] = reach
        r["reached"] = reach is not None
        r["cost_fraction_vs_qlognei"] = (reach / c_star if reach is not None
                                         else max(float(r["final_cost_mean"]) / c_star, 1.0))
        r["cost_fraction_vs_qlognei_reach"] = (None if reach is None or not base_reach
                                               else reach / base_reach)
        per_seed = []
        for run in r["runs"]:
            c = cost_to_reach(np.asarray(run["cost"], dtype=np.float64),
                              np.asarray([math.nan if v is None else v for v in run["regret"]], dtype=np.float64),
                              target)
            per_seed.append(None if c is None else c / c_star)
        r["cost_fraction_per_seed"] = per_seed


# =============================================================================== checks
def _regret_rows(report: BenchReport) -> list[dict[str, Any]]:
    return [r for r in report.results if r.get("kind") == "regret"]


def add_checks(report: BenchReport) -> None:
    """Add the acceptance checks (module docstring) computed from ``report.results``.

    Checks whose inputs are missing (a problem or method not run in this mode) are left out;
    ``report.config["checks_not_computed"]`` (if present) lists why.
    """
    rows = _regret_rows(report)
    wiring = [r for r in report.results if r.get("kind") == "tutorial_wiring"]
    # the tutorial's own settings when they ran, else sciml's default FAST
    tut = next((r for r in wiring if r.get("settings") == "TUTORIAL"), wiring[0] if wiring else None)
    if tut is not None:
        report.add_check("tutorial_wiring_mfkg_value_mean_plus_2se",
                         tut["value_mean"] + 2.0 * tut["value_se"], ">=", TUTORIAL_VALUE)
        report.add_check("tutorial_wiring_mfkg_bo_cost_rel_dev",
                         abs(tut["bo_cost_mean"] / TUTORIAL_COST - 1.0), "<=", 0.1)
    for problem in dict.fromkeys(r["problem"] for r in rows if r.get("fidelity_pays")):
        mf = [r for r in rows if r["problem"] == problem and r["method"] in MF_METHODS
              and r["settings"] == "FAST" and r.get("cost_fraction_vs_qlognei") is not None]
        if mf:
            report.add_check(f"cost_fraction_best_mf_vs_qlognei_{problem}",
                             min(r["cost_fraction_vs_qlognei"] for r in mf), "<=", 0.7)
    for r in report.results:
        if r.get("kind") == "overhead":
            report.add_check(f"loop_overhead_vs_bare_botorch_{r['method']}", r["overhead"], "<=", 0.10)
    speed = next((r for r in report.results if r.get("kind") == "speed"), None)
    if speed is not None:
        default = speed["default_method"]
        run_row = next((r for r in rows if r["problem"] == "augmented_hartmann" and r["method"] == default
                        and r["settings"] == "FAST" and r.get("s_per_iter") is not None), None)
        seconds = run_row["s_per_iter"] if run_row is not None else speed["default_s"]
        report.add_check("default_method_seconds_per_iteration_hartmann_q4", seconds, "<=", 60.0)
    gap = next((r for r in report.results if r.get("kind") == "default_vs_tutorial"), None)
    if gap is not None:
        report.add_check("regret_gap_default_vs_tutorial_lower95", gap["gap_mean"] - 2.0 * gap["gap_se"], "<=", 0.0)


# =============================================================================== jobs
def _acq_settings(base: Mapping[str, int], q: int, label: str) -> Any:
    from sciml.bo.acquisition import FAST, TUTORIAL

    if label == "TUTORIAL":
        return TUTORIAL.replace(q=q)
    return FAST.replace(**{**dict(base), "q": q})


def _build(spec: ProblemSpec) -> Any:
    from sciml.bo.problems import get_problem

    return get_problem(spec.name, **dict(spec.kwargs))


def _init_fidelities(problem: Any, spec: ProblemSpec, method: str, seed: int) -> list[float] | None:
    """The tutorial's initial fidelities (uniform over the range, seeded) for multi-fidelity methods."""
    import torch

    if not spec.tutorial_init or method == BASELINE or problem.fidelity is None:
        return None
    n = spec.n_init or max(4, 2 * (problem.dim + 1))
    g = torch.Generator().manual_seed(10_000 + seed)
    z = torch.rand(n, generator=g, dtype=torch.float64)
    if problem.fidelity.kind == "discrete":
        raise ValueError(f"{spec.name}: tutorial_init needs a continuous fidelity")
    return [float(v) for v in problem.fidelity.from_unit(z)]


def _make_loop(spec: ProblemSpec, method: str, seed: int, acq: Any, model_options: Mapping[str, Any] | None,
               state_dir: str | None = None) -> Any:
    from sciml.bo.loop import BOLoop

    problem = _build(spec)
    return BOLoop(problem, method=method, settings=acq, n_init=spec.n_init,
                  init_fidelities=_init_fidelities(problem, spec, method, seed), seed=seed,
                  state_dir=state_dir, evaluate_recommendations=True, model_options=model_options or None,
                  show_progress=False)


def _run_job(spec: ProblemSpec, method: str, seed: int, base_acq: Mapping[str, int], label: str,
             model_options: Mapping[str, Any] | None, n_threads: int | None, state_dir: str | None = None
             ) -> dict[str, Any]:
    """One BO run to the spec's budget / iteration cap; returns its regret curve and timings.

    Module-level so that it runs in worker processes. With ``state_dir`` the loop saves its
    state there after every observation and resumes from a state it finds there.
    """
    import torch

    if n_threads is not None:
        torch.set_num_threads(n_threads)
    acq = _acq_settings(base_acq, spec.q, label)
    from sciml.errors import SciMLError

    loop = _make_loop(spec, method, seed, acq, model_options, state_dir=state_dir)
    t0 = time.perf_counter()
    try:
        result = loop.run(spec.budget if spec.budget is not None else 1e300, max_iterations=spec.max_iterations,
                          resume=state_dir is not None)
    except SciMLError as exc:  # e.g. a model that cannot be fitted: the run fails, the benchmark goes on
        return {"problem": spec.name, "method": method, "settings": label, "seed": seed, "failed": True,
                "error": f"{type(exc).__name__}: {exc}", "iteration": loop.iteration,
                "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    init_cost = float(result.costs[result.iteration == 0].sum())
    cost, regret = regret_curve(result.recommendations)
    final = result.recommendations[-1]
    f = loop.problem.fidelity
    at_target = (result.fidelities == f.target) if f is not None else torch.ones(result.n_evaluations, dtype=bool)
    # a timing lost in a crash (an iteration proposed just before it, in a state written by an older
    # sciml) is unknown, not zero: it is left out
    timings = [t for t in result.timings
               if t["iteration"] > 0 and t["fit_s"] is not None and t["acquisition_s"] is not None]
    return {
        "problem": spec.name, "method": method, "settings": label, "seed": seed, "model": result.model_kind,
        "cost": cost.tolist(), "regret": _nan_to_none(regret), "init_cost": init_cost,
        "total_cost": result.total_cost, "final_regret": final["regret"], "final_value": final["true_value"],
        "n_iterations": int(result.iteration.max()) if result.n_evaluations else 0,
        "n_evaluations": result.n_evaluations, "n_failed": result.n_failed,
        "target_cost_share": float(result.costs[at_target].sum()) / max(result.total_cost, 1e-300),
        "fit_s": [float(t["fit_s"]) for t in timings], "acquisition_s": [float(t["acquisition_s"]) for t in timings],
        "recommend_s": [float(t["recommend_s"] or 0.0) for t in timings], "wall_s": wall,
    }


def _initial_data(spec: ProblemSpec, method: str, seed: int, acq: Any) -> tuple[Any, Any, Any]:
    """Loop after its initial design (evaluated), and the physical points and values."""
    loop = _make_loop(spec, method, seed, acq, None)
    loop.run(1e300, max_iterations=0)
    res = loop.result()
    import torch

    P = res.X if loop.problem.fidelity is None else torch.cat([res.X, res.fidelities.reshape(-1, 1)], dim=1)
    return loop, P, res.values


def _speed_job(spec: ProblemSpec, seed: int, base_acq: Mapping[str, int], tutorial: bool,
               n_threads: int | None) -> dict[str, Any]:
    """Fit + acquisition of one iteration (q = spec.q) after the initial design, per configuration."""
    import torch

    from sciml.bo.acquisition import propose_candidates
    from sciml.bo.loop import BOLoop

    if n_threads is not None:
        torch.set_num_threads(n_threads)
    default = inspect.signature(BOLoop).parameters["method"].default
    configs = [("default", default, "FAST"), ("mfkg_fast", "mfkg", "FAST")]
    if tutorial:
        configs.append(("mfkg_tutorial", "mfkg", "TUTORIAL"))
    out: dict[str, Any] = {"kind": "speed", "problem": spec.name, "q": spec.q, "seed": seed,
                           "default_method": default}
    for key, method, label in configs:
        acq = _acq_settings(base_acq, spec.q, label)
        loop, _, _ = _initial_data(spec, method, seed, acq)
        t0 = time.perf_counter()
        model = loop.fit_model(1)
        t1 = time.perf_counter()
        propose_candidates(method, model, loop.problem, settings=acq.replace(seed=seed + 1),
                           X_observed=loop._training_data()[0])
        t2 = time.perf_counter()
        out[f"{key}_fit_s"], out[f"{key}_acquisition_s"], out[f"{key}_s"] = t1 - t0, t2 - t1, t2 - t0
    if tutorial:
        out["tutorial_over_default"] = out["mfkg_tutorial_s"] / out["default_s"]
    return out


def _overhead_job(spec: ProblemSpec, method: str, seed: int, base_acq: Mapping[str, int], rounds: int,
                  n_threads: int | None) -> dict[str, Any]:
    """Interleaved timing of ``BOLoop.propose`` against :func:`bare_botorch_iteration` on the same data.

    Round ``i`` runs both sides with the seed ``seed + i`` (the loop's seed; its first
    acquisition and the bare one use ``seed + i + 1``). The two sides' fits agree only to about
    1e-5 in the hyperparameters, and from there the acquisition optimisers (MF-KG's above all,
    with BoTorch's restarts of failed starts) take different paths: on the quick Hartmann data,
    5 seeds gave 6.8-9.6 s (sciml) and 6.4-10.6 s (bare) per MF-KG acquisition, the faster side
    changing from seed to seed. So the bare side fits its own model (timed) but runs its
    acquisition on the loop's fit of the same data (``acquisition_model``; made before the
    round, untimed), and then returns the loop's candidates (``same_candidates``); and
    ``overhead`` is ``sum(t_loop) / sum(t_bare) - 1`` over the rounds.
    """
    import torch

    from sciml.bo.acquisition import recommend
    from sciml.bo.loop import bare_botorch_iteration

    if n_threads is not None:
        torch.set_num_threads(n_threads)
    acq = _acq_settings(base_acq, spec.q, "FAST")
    loop0, P, values = _initial_data(spec, method, seed, acq)
    problem = loop0.problem
    Z, v = loop0._training_data()
    Y = problem.sign * v
    t_loop, t_bare, t_rec, same = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="sciml-bench-mfbo-") as tmp:
        for i in range(rounds):
            # the loop's fit of this round (untimed; propose below refits it, timed): the bare
            # acquisition runs on it, so that both sides' optimisers follow the same path
            ref = _make_loop(spec, method, seed + i, acq, None)
            ref.observe(P, values)
            ref_model = ref.fit_model(1)

            def run_loop() -> Any:
                loop = _make_loop(spec, method, seed + i, acq, None, state_dir=str(Path(tmp) / f"r{i}"))
                loop.observe(P, values)
                t0 = time.perf_counter()
                cands = loop.propose(spec.q)
                t_loop.append(time.perf_counter() - t0)
                t0 = time.perf_counter()  # the recommendation's model is the round's fit, ref_model
                recommend(ref_model, problem, acq.replace(q=1, seed=seed + i + 1), X_observed=loop._training_data()[0])
                t_rec.append(time.perf_counter() - t0)
                return cands

            def run_bare() -> Any:
                t0 = time.perf_counter()
                out = bare_botorch_iteration(problem, Z, Y, method, acq.replace(seed=seed + i + 1),
                                             acquisition_model=ref_model)
                t_bare.append(time.perf_counter() - t0)
                return out["candidates"]

            if i % 2 == 0:
                a, b = run_loop(), run_bare()
            else:
                b, a = run_bare(), run_loop()
            same.append(bool(torch.allclose(problem.to_model_input(a[:, :-1], a[:, -1]) if problem.fidelity
                                            is not None else a, b, atol=1e-6)))
    return {"kind": "overhead", "problem": spec.name, "method": method, "q": spec.q, "seed": seed,
            "rounds": rounds, "loop_s": t_loop, "bare_s": t_bare, "recommend_s": t_rec,
            "s_per_iter": float(np.mean(t_loop)), "bare_s_per_iter": float(np.mean(t_bare)),
            "overhead": sum(t_loop) / sum(t_bare) - 1.0,
            "overhead_with_recommendation": (sum(t_loop) + sum(t_rec)) / sum(t_bare) - 1.0,
            "same_candidates": same}


# =============================================================================== report
class MFBOReport(BenchReport):
    """A :class:`BenchReport` that also writes one regret-vs-cost plot per problem next to its JSON."""

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON (atomically) and ``<stem>_<problem>.png`` plots beside it. Returns the JSON path."""
        out = super().write_json(path)
        try:
            plot_regret_curves(self.results, out.parent, prefix=out.stem)
        except Exception as exc:  # noqa: BLE001 - a plot must never lose the figures
            import logging

            logging.getLogger(__name__).warning("mfbo bench: plotting failed: %s", exc)
        return out


def plot_regret_curves(rows: Sequence[Mapping[str, Any]], out_dir: str | Path, *, prefix: str = "mfbo") -> list[Path]:
    """One PNG per problem: mean inference regret (log scale, +- 1 standard error) against cumulative cost.

    Returns
    -------
    list of Path
        The written images (``<out_dir>/<prefix>_<problem>.png``), each written atomically.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from sciml.viz.figures import save_figure

    regret = [r for r in rows if r.get("kind") == "regret"]
    paths = []
    for problem in dict.fromkeys(r["problem"] for r in regret):
        fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
        for r in (x for x in regret if x["problem"] == problem):
            cost, mean = _curve(r)
            se = np.asarray([math.nan if v is None else v for v in r["curve"]["se"]], dtype=np.float64)
            floor = 1e-12
            label = f"{r['method']}" + ("" if r["settings"] == "FAST" else f" ({r['settings']})")
            line = ax.step(cost, np.maximum(mean, floor), where="post", label=f"{label}, n={r['n_seeds']}")[0]
            ax.fill_between(cost, np.maximum(mean - se, floor), np.maximum(mean + se, floor), step="post",
                            alpha=0.2, color=line.get_color())
        ax.set_yscale("log")
        ax.set_xlabel("cumulative cost (declared)")
        ax.set_ylabel("inference regret (mean +- s.e.)")
        ax.set_title(problem)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, Path(out_dir) / f"{prefix}_{problem}.png"))
    return paths


def _objective_range(spec: ProblemSpec, n: int = 256) -> float:
    """``|optimum - median|`` of the target-fidelity objective over ``n`` scrambled-Sobol designs."""
    import torch

    problem = _build(spec)
    engine = torch.quasirandom.SobolEngine(problem.dim, scramble=True, seed=12345)
    X = problem.bounds[0] + (problem.bounds[1] - problem.bounds[0]) * engine.draw(n, dtype=torch.float64)
    values, ok = problem.evaluate_safe(X)
    return abs(float(problem.optimum_value) - float(torch.median(values[ok])))


def run_mfbo_benchmark(
    *,
    quick: bool = False,
    settings: MFBOBenchSettings | None = None,
    log: Callable[[str], None] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    only: Sequence[str] | None = None,
) -> MFBOReport:
    """Run every problem x method x seed, the timing jobs, and compute the rows and checks.

    Parameters
    ----------
    quick : bool
        3 seeds and a reduced set of problems and methods (:func:`settings_for`).
    settings : MFBOBenchSettings, optional
        Override the mode entirely (tests use tiny settings).
    log : callable, optional
        Receives one line per finished job.
    work_dir : path, optional
        Makes the benchmark resumable (the full mode takes hours). Each BO run keeps its loop
        state in ``work_dir/loops/<job>/`` (saved after every observation) and each finished
        job its outcome in ``work_dir/jobs/<job>.json`` (atomic writes). A later call with
        the same ``work_dir`` loads the finished jobs, resumes the interrupted runs where
        they stopped (:meth:`~sciml.bo.loop.BOLoop.run` with ``resume=True``: no evaluation
        is repeated, and the candidates are those of an uninterrupted run) and runs the
        rest. A run whose budget or iteration cap was raised continues from the state of
        the shorter run (:func:`_loop_state_dir`). Jobs are keyed by all their inputs
        (:func:`_job_key`), so modes and settings can share a ``work_dir`` and a changed input
        never reuses an old result; the results of the code that made them are reused (a code
        change that alters a model's results bumps :data:`MODEL_REVISIONS`; otherwise give a
        new ``work_dir``). A directory of another benchmark is refused. Timings of loaded jobs are
        those measured when they ran; ``config["jobs_loaded"]`` counts them.
    only : sequence of str, optional
        Run a subset: each item is a problem (``"park91a"``: all its methods) or
        ``"problem/method"`` (``"park91a/mfmes"``). The timing jobs run only when
        ``augmented_hartmann`` is selected whole; MF-KG with the tutorial settings when
        ``augmented_hartmann`` or ``augmented_hartmann/mfkg`` is. Rows and checks cover what
        ran (with ``work_dir``: also what an earlier call finished), so a long benchmark can
        be run piecewise into one ``work_dir`` and summarised by a final call without
        ``only``.

    Returns
    -------
    MFBOReport
        Its ``write_json`` also writes the regret-vs-cost plots next to the JSON.

    Raises
    ------
    ConfigError
        An unknown problem or method in ``only``, a ``work_dir`` of another benchmark, or an
        unreadable finished-job file in it.
    """
    from sciml.progress import progress

    s = settings or settings_for(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    workers = max(1, min(s.workers, cores))
    selected = _parse_only(s, only)
    wd = None if work_dir is None else Path(work_dir)
    if wd is not None:
        from sciml.bench.workdir import claim_work_dir

        claim_work_dir(wd, "mfbo")  # jobs are keyed by their inputs: any mfbo settings may share it
    hartmann = next((p for p in s.problems if p.name == "augmented_hartmann"), None)
    jobs = _jobs(s)
    not_computed: dict[str, str] = {}
    if hartmann is None:
        not_computed["tutorial/speed/overhead"] = "no augmented_hartmann problem in these settings"
    elif not s.tutorial_settings_runs:
        not_computed["regret_gap_default_vs_tutorial_lower95"] = (
            "the tutorial settings (MF-KG, 128 fantasies, 10 restarts, 512 raw samples) are only timed on one "
            "iteration in this mode; their regret comparison over the seeds runs in full mode")
    report = MFBOReport(
        benchmark="mfbo", mode=mode,
        config={"settings": _jsonable(asdict(s)), "workers": workers, "threads_per_worker": 1,
                "regret": "problem.simple_regret(true target-fidelity value of the recommendation), "
                          "recommendations not counted in the cost",
                "cost": "declared cost (problem.cost), initial design included",
                "se": "standard error over seeds, std(ddof=1) / sqrt(n)",
                "tutorial_reference": {"value": TUTORIAL_VALUE, "bo_cost": TUTORIAL_COST},
                "notes": list(s.notes), "checks_not_computed": not_computed},
        table_columns=["kind", "problem", "method", "settings", "n_seeds", "n_failed", "final_cost_mean", "final_regret_mean",
                       "final_regret_se", "cost_fraction_vs_qlognei", "iterations_mean", "s_per_iter", "overhead",
                       "value_mean", "value_se", "bo_cost_mean", "default_s", "mfkg_tutorial_s"])
    t_start = time.perf_counter()
    outcomes: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    keys = [_job_key(kind, args) for kind, args in jobs]
    todo = [i for i in range(len(jobs)) if _job_selected(jobs[i], selected)]
    loaded = 0
    if wd is not None:
        done = set()
        for i in range(len(jobs)):
            out = _load_job(wd, keys[i])
            if out is not None:
                outcomes.append((jobs[i][0], jobs[i][1], out))
                done.add(i)
        loaded = len(done)
        todo = [i for i in todo if i not in done]
    report.config["only"] = None if only is None else list(only)
    report.config["work_dir"] = None if wd is None else str(wd)
    report.config["jobs_loaded"] = loaded
    # longest first: the tutorial-settings and Hartmann runs, then the timing jobs
    order = sorted(todo, key=lambda i: _expected_seconds(*jobs[i]), reverse=True)

    def loop_dir(i: int) -> str | None:
        return None if wd is None or jobs[i][0] != "run" else str(_loop_state_dir(wd, jobs[i][1]))

    pool = None
    try:
        if workers > 1 and len(order) > 1:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        funcs = {"run": _run_job, "speed": _speed_job, "overhead": _overhead_job}

        def call(i: int, threads: int | None) -> Any:
            kind, args = jobs[i]
            extra = {"state_dir": loop_dir(i)} if kind == "run" else {}
            if pool is not None:
                return pool.submit(funcs[kind], *args, threads, **extra)
            return funcs[kind](*args, threads, **extra)

        if pool is not None:
            futures = {i: call(i, 1) for i in order}
            it: Any = ((i, f.result()) for i, f in _as_completed(futures))
        else:
            it = ((i, call(i, None)) for i in order)
        for i, out in progress(it, total=len(order), desc="mfbo bench", unit="job"):
            outcomes.append((jobs[i][0], jobs[i][1], out))
            if wd is not None and not out.get("failed"):  # a failed run is tried again by a rerun
                _save_job(wd, keys[i], out)
            if log:
                log(_describe(jobs[i][0], out))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report.config["wall_seconds"] = time.perf_counter() - t_start
    _summarise(report, s, outcomes)
    add_checks(report)
    return report


# =============================================================================== selection and resume
def _jobs(s: MFBOBenchSettings) -> list[tuple[str, tuple[Any, ...]]]:
    """Every job of the settings: ``(kind, args)`` with kind ``"run"``, ``"speed"`` or ``"overhead"``."""
    hartmann = next((p for p in s.problems if p.name == "augmented_hartmann"), None)
    jobs: list[tuple[str, tuple[Any, ...]]] = []
    for spec in s.problems:
        for method in spec.methods:
            for seed in s.seeds:
                jobs.append(("run", (s.spec_for(spec, method), method, seed, dict(s.acquisition), "FAST",
                                     dict(s.model_options.get(method, {})))))
    if hartmann is not None and s.tutorial_settings_runs:
        for seed in s.seeds:
            jobs.append(("run", (hartmann, "mfkg", seed, dict(s.acquisition), "TUTORIAL", None)))
    if hartmann is not None:
        jobs.append(("speed", (hartmann, s.seeds[0], dict(s.acquisition), s.time_tutorial_settings)))
        for method in s.overhead_methods:
            jobs.append(("overhead", (hartmann, method, s.seeds[0], dict(s.acquisition), s.overhead_rounds)))
    return jobs


def _parse_only(s: MFBOBenchSettings, only: Sequence[str] | None) -> dict[str, set[str]] | None:
    """``{problem: methods}`` selected by ``only`` (``None``: everything)."""
    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    specs = {p.name: p for p in s.problems}
    out: dict[str, set[str]] = {}
    for item in only:
        name, _, method = str(item).strip().partition("/")
        if name not in specs:
            raise ConfigError(f"only: no problem {name!r} in this mode; accepted: {sorted(specs)}")
        allowed = set(specs[name].methods)
        if name == "augmented_hartmann" and s.tutorial_settings_runs:
            allowed.add("mfkg")
        if method and method not in allowed:
            raise ConfigError(f"only: no method {method!r} on {name!r} in this mode; accepted: {sorted(allowed)}")
        out.setdefault(name, set()).update({method} if method else allowed | {"*"})
    if not out:
        raise ConfigError("only selects nothing; give problems or problem/method items")
    return out


def _job_selected(job: tuple[str, tuple[Any, ...]], selected: dict[str, set[str]] | None) -> bool:
    if selected is None:
        return True
    kind, args = job
    if kind == "run":
        spec, method = args[0], args[1]
        return method in selected.get(spec.name, set())
    return "*" in selected.get("augmented_hartmann", set())  # timing jobs


def _job_key(kind: str, args: tuple[Any, ...], *, with_limits: bool = True) -> str:
    """File-name-safe name of one job: a readable prefix and a hash of all its inputs.

    Two jobs with equal inputs (problem spec, method, seed, acquisition settings, label,
    model options; for timing jobs their arguments) share a key whatever mode or settings
    list them, and any change of an input gives a new key, so a work dir never hands back
    a result of other inputs. ``with_limits=False`` leaves the run's budget and iteration
    cap out (the key of its loop states, :func:`_loop_state_dir`). A change of sciml's code
    that changes the results of a model kind bumps its :data:`MODEL_REVISIONS` entry, which
    then enters the keys of the runs with that model and of the timing jobs (which fit the
    ``mfgp`` model), so that old results and loop states are not reused.
    """
    import hashlib
    import json

    from sciml.bo.loop import DEFAULT_MODEL

    if kind == "run":
        spec, method, seed, _, label = args[:5]
        prefix = f"run-{spec.name}-{method}-{label}-seed{seed}"
    elif kind == "speed":
        prefix = f"speed-{args[0].name}-seed{args[1]}"
    else:
        prefix = f"overhead-{args[1]}-seed{args[2]}"
    inputs = [kind] + [asdict(a) if hasattr(a, "__dataclass_fields__") else a for a in args]
    revision = MODEL_REVISIONS.get(DEFAULT_MODEL[args[1]] if kind == "run" else "mfgp", 0)
    if revision:  # revision 0 adds nothing, so the keys of unchanged models stay as they were
        inputs.append({"model_revision": revision})
    if kind == "overhead":
        inputs.append({"overhead_revision": OVERHEAD_REVISION})
    if not with_limits and kind == "run":
        for k in _LIMITS:
            inputs[1].pop(k)
    digest = hashlib.sha256(json.dumps(_jsonable(inputs), sort_keys=True, default=repr).encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


#: Revision of each model kind's results, part of the job keys (:func:`_job_key`). ``mfgp`` 1:
#: the linear-truncated fidelity kernel's power fixed to 1 and indefinite fits rejected
#: (:mod:`sciml.bo.models`); before it, fits with BoTorch's learned power.
MODEL_REVISIONS: dict[str, int] = {"mfgp": 1}

#: Revision of the overhead measurement, part of its job key. 1: the bare side's acquisition
#: runs on the loop's fit (:func:`_overhead_job`).
OVERHEAD_REVISION = 1

#: Fields of a ProblemSpec that only stop a BO run (its trajectory does not depend on them).
_LIMITS = ("budget", "max_iterations")


def _loop_state_dir(wd: Path, args: tuple[Any, ...]) -> Path:
    """The loop-state folder of a run job, seeded from the same job run under other limits when usable.

    A BO run's candidates do not depend on its budget or iteration cap, which only stop it,
    so a run can continue the state of the same job under other limits when it would have
    passed through that state: a run whose budget and cap are both no larger than these
    (it stopped where a run with these limits stops or earlier), or an unfinished run whose
    iteration count is below this cap and whose cost is below this budget (e.g. a run
    interrupted under a larger cap that was lowered later). States live in
    ``wd/loops/<key without limits>/<limits>/`` with a ``limits.json``; when the folder of
    these limits holds no state yet, the usable state with the most observations is copied
    there first (the other run's own folder, and its finished result, stay as they were).
    """
    import json
    import shutil

    from sciml.data.atomic import atomic_write_text

    spec = args[0]
    limits = {k: getattr(spec, k) for k in _LIMITS}
    base = wd / "loops" / _job_key("run", args, with_limits=False)
    target = base / f"budget{limits['budget']}-iter{limits['max_iterations']}"
    if (target / "state.json").exists():
        return target

    def within(old: Mapping[str, Any]) -> bool:
        return all(new is None or (old.get(k) is not None and float(old[k]) <= float(new))
                   for k, new in limits.items())

    def before_the_limits(state: Mapping[str, Any]) -> bool:
        cap, budget = limits["max_iterations"], limits["budget"]
        return ((cap is None or int(state["iteration"]) < int(cap))
                and (budget is None or float(state["total_cost"]) < float(budget)))

    usable = []
    for d in sorted(base.glob("*/limits.json")) if base.exists() else []:
        if d.parent == target or d.parent.name.startswith(".") or not (d.parent / "state.json").exists():
            continue
        old = json.loads(d.read_text(encoding="utf-8"))
        state = json.loads((d.parent / "state.json").read_text(encoding="utf-8"))
        if within(old) or before_the_limits(state):
            usable.append((int(state["n_observations"]), int(state["iteration"]), d.parent.name, d.parent))
    if usable:
        # copy into a sibling folder and rename it into place, so that a kill mid-copy leaves no
        # half-copied state behind (a leftover temporary folder is replaced on the next try)
        tmp = base / f".copy-{target.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(max(usable)[3], tmp)
        atomic_write_text(tmp / "limits.json", json.dumps(limits))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        return target
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target / "limits.json", json.dumps(limits))
    return target


def _load_job(wd: Path, key: str) -> dict[str, Any] | None:
    import json

    path = wd / "jobs" / f"{key}.json"
    if not path.exists():
        return None
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the finished job {path}: {exc}; delete it to run the job again") from None
    if not isinstance(out, dict):
        raise ConfigError(f"{path} does not hold a job outcome; delete it to run the job again")
    return out


def _save_job(wd: Path, key: str, out: Mapping[str, Any]) -> None:
    import json

    from sciml.data.atomic import atomic_write_text

    (wd / "jobs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(wd / "jobs" / f"{key}.json", json.dumps(_jsonable(dict(out))))


def _as_completed(futures: Mapping[int, Any]) -> Any:
    from concurrent.futures import as_completed

    index = {f: i for i, f in futures.items()}
    for f in as_completed(index):
        yield index[f], f


def _expected_seconds(kind: str, args: tuple[Any, ...]) -> float:
    """Rough job length for scheduling the longest first (seconds on one idle core)."""
    if kind == "speed":
        return 60.0
    if kind == "overhead":
        return 15.0 * args[4]
    spec, method, _, _, label = args[:5]
    per_iter = {"mfkg": 8.0, "mfmes": 6.0, "ar1-ei": 12.0, "qlognei": 1.5}[method] * spec.q
    if label == "TUTORIAL":
        per_iter = 30.0 * spec.q
    return per_iter * (spec.max_iterations or 30)


def _describe(kind: str, out: Mapping[str, Any]) -> str:
    if kind == "run" and out.get("failed"):
        return (f"{out['problem']} {out['method']} ({out['settings']}) seed {out['seed']}: FAILED at iteration "
                f"{out['iteration']}: {out['error'].splitlines()[0]}")
    if kind == "run":
        return (f"{out['problem']} {out['method']} ({out['settings']}) seed {out['seed']}: final regret "
                f"{out['final_regret']:.3g} at cost {out['total_cost']:.4g}, {out['n_iterations']} iterations, "
                f"{out['wall_s']:.1f} s")
    if kind == "speed":
        tut = f", MF-KG tutorial settings {out['mfkg_tutorial_s']:.1f} s" if "mfkg_tutorial_s" in out else ""
        return (f"speed: default ({out['default_method']}) {out['default_s']:.1f} s, MF-KG FAST "
                f"{out['mfkg_fast_s']:.1f} s{tut} per iteration")
    return (f"overhead {out['method']}: loop {out['s_per_iter']:.2f} s vs bare {out['bare_s_per_iter']:.2f} s "
            f"per iteration ({out['overhead']:+.1%})")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _summarise(report: BenchReport, s: MFBOBenchSettings, outcomes: Sequence[tuple[str, tuple[Any, ...],
                                                                                  dict[str, Any]]]) -> None:
    """Rows from the job outcomes: regret summaries, cost fractions, tutorial wiring, timings."""
    runs = [out for kind, _, out in outcomes if kind == "run" and not out.get("failed")]
    failed = [out for kind, _, out in outcomes if kind == "run" and out.get("failed")]
    rows: list[dict[str, Any]] = []
    for spec in s.problems:
        labels = ["FAST"] + (["TUTORIAL"] if spec.name == "augmented_hartmann" and s.tutorial_settings_runs else [])
        methods = list(spec.methods)
        for label in labels:
            for method in (methods if label == "FAST" else ["mfkg"]):
                mine = sorted((r for r in runs if r["problem"] == spec.name and r["method"] == method
                               and r["settings"] == label), key=lambda r: r["seed"])
                if not mine:
                    continue
                row = summarise_runs(mine, problem=spec.name, method=method, settings=label)
                row["n_failed"] = sum(1 for f in failed if (f["problem"], f["method"], f["settings"])
                                      == (spec.name, method, label))
                row["fidelity_pays"] = spec.fidelity_pays
                row["budget"] = spec.budget
                row["max_iterations"] = (s.spec_for(spec, method) if label == "FAST" else spec).max_iterations
                row["q"] = spec.q
                rows.append(row)
        if not any(r["problem"] == spec.name for r in rows):
            continue  # no runs of this problem (e.g. --only): nothing to measure a floor for
        floor = s.regret_floor * _objective_range(spec)
        for r in rows:
            if r["problem"] == spec.name:
                r["regret_floor"] = floor
        add_cost_fractions(rows, problem=spec.name, regret_floor_abs=floor)
    report.results.extend(rows)
    report.results.extend({"kind": "failed_run", **{k: f[k] for k in ("problem", "method", "settings", "seed",
                                                                      "error", "iteration")}}
                          for f in sorted(failed, key=lambda f: (f["problem"], f["method"], f["settings"], f["seed"])))
    # (a) tutorial wiring: MF-KG on the Hartmann set-up, with the tutorial's own acquisition
    # settings when they ran (full mode), else FAST; the tutorial maximises -f
    for label in ("TUTORIAL", "FAST"):
        tut_runs = [r for r in runs if r["problem"] == "augmented_hartmann" and r["method"] == "mfkg"
                    and r["settings"] == label]
        if not tut_runs:
            continue
        values = [-float(r["final_value"]) for r in tut_runs]
        bo_costs = [float(r["total_cost"]) - float(r["init_cost"]) for r in tut_runs]
        report.results.append({
            "kind": "tutorial_wiring", "problem": "augmented_hartmann", "method": "mfkg", "settings": label,
            "n_seeds": len(tut_runs), "value_mean": statistics.fmean(values), "value_se": _se(values),
            "value_min": min(values), "value_max": max(values), "values": values,
            "bo_cost_mean": statistics.fmean(bo_costs), "bo_cost_se": _se(bo_costs),
            "reported_value": TUTORIAL_VALUE, "reported_bo_cost": TUTORIAL_COST})
    # timings
    for kind, _, out in outcomes:
        if kind in ("speed", "overhead"):
            report.results.append(dict(out))
    # (d) default vs tutorial settings at equal cost (paired by seed)
    speed = next((o for k, _, o in outcomes if k == "speed"), None)
    default = speed["default_method"] if speed else None
    d_runs = {r["seed"]: r for r in runs if r["problem"] == "augmented_hartmann" and r["method"] == default
              and r["settings"] == "FAST"}
    t_runs = {r["seed"]: r for r in runs if r["problem"] == "augmented_hartmann" and r["method"] == "mfkg"
              and r["settings"] == "TUTORIAL"}
    seeds = sorted(set(d_runs) & set(t_runs))
    if seeds:
        c_eq = min(statistics.fmean(d_runs[k]["total_cost"] for k in seeds),
                   statistics.fmean(t_runs[k]["total_cost"] for k in seeds))

        def at(run: Mapping[str, Any]) -> float:
            reg = np.asarray([math.nan if v is None else v for v in run["regret"]], dtype=np.float64)
            return float(step_values(np.asarray(run["cost"]), reg, np.asarray([c_eq]))[0])

        gaps = [at(d_runs[k]) - at(t_runs[k]) for k in seeds]
        dm = statistics.fmean(at(d_runs[k]) for k in seeds)
        tm = statistics.fmean(at(t_runs[k]) for k in seeds)
        report.results.append({
            "kind": "default_vs_tutorial", "problem": "augmented_hartmann", "method": default,
            "settings": "FAST vs mfkg TUTORIAL", "n_seeds": len(seeds), "cost": c_eq,
            "default_regret_mean": dm, "tutorial_regret_mean": tm, "regret_ratio": dm / tm if tm > 0 else None,
            "gap_mean": statistics.fmean(gaps), "gap_se": _se(gaps),
            "default_s_per_iter": statistics.fmean(f + a for k in seeds for f, a in
                                                   zip(d_runs[k]["fit_s"], d_runs[k]["acquisition_s"], strict=True)),
            "tutorial_s_per_iter": statistics.fmean(f + a for k in seeds for f, a in
                                                    zip(t_runs[k]["fit_s"], t_runs[k]["acquisition_s"], strict=True))})
