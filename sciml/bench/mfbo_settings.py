"""The settings of ``sciml bench mfbo``: the problems, methods and sizes of each mode."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ConfigDict, ValidationError, model_validator

from sciml.bo.names import AR1_EI, METHODS, MFKG, MFMES, QLOGNEI
from sciml.config import StrictModel, format_validation_error
from sciml.errors import ConfigError
from sciml.simulators.fem.backend import is_available as fem_available
from sciml.studies.bo_problems import BO_PROBLEMS

__all__ = ["FAST_LABEL", "FEM_PLATE", "HARTMANN", "TUTORIAL_LABEL", "MFBOBenchSettings", "ProblemSpec",
           "settings_for"]

#: Labels of the acquisition settings of a run: sciml's FAST (with the mode's changes) or BoTorch's tutorial's.
FAST_LABEL, TUTORIAL_LABEL = "FAST", "TUTORIAL"
#: The problem of BoTorch's MF-KG tutorial: the wiring check, the timing jobs.
HARTMANN = "augmented_hartmann"
#: The finite-element problem (mesh level as fidelity): listed only where FEniCSx is installed.
FEM_PLATE = "fem_plate_peak_stress"


class _Settings(StrictModel):
    """Frozen settings whose validation errors are :class:`~sciml.errors.ConfigError`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, type(self), type(self).__name__)) from None

    def replace(self, **changes: Any) -> Any:
        """A validated copy with some fields changed."""
        return type(self)(**{**dict(self), **changes})


class ProblemSpec(_Settings):
    """One benchmark problem and how every method runs on it.

    Attributes
    ----------
    name : str
        Key of :data:`sciml.studies.bo_problems.BO_PROBLEMS` (positional).
    kwargs : dict
        Factory keyword arguments.
    methods : tuple of str
        Methods run on it (:data:`~sciml.bo.names.METHODS`).
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
    kwargs: dict[str, Any] = {}
    methods: tuple[str, ...] = (MFKG, MFMES, AR1_EI, QLOGNEI)
    budget: float | None = None
    max_iterations: int | None = None
    n_init: int | None = None
    q: int = 1
    tutorial_init: bool = False
    fidelity_pays: bool = False

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        super().__init__(**({"name": name} if name is not None else {}), **data)

    @model_validator(mode="after")
    def _check(self) -> ProblemSpec:
        if self.name not in BO_PROBLEMS:
            raise ValueError(f"unknown problem {self.name!r}; accepted: {sorted(BO_PROBLEMS)}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"unknown method(s) {bad} for {self.name!r}; accepted: {list(METHODS)}")
        if self.budget is None and self.max_iterations is None:
            raise ValueError(f"{self.name}: give a budget, max_iterations or both")
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise ValueError(f"{self.name}: budget must be a finite number > 0, got {self.budget!r}")
        if self.q < 1:
            raise ValueError(f"{self.name}: q must be >= 1, got {self.q}")
        return self


class MFBOBenchSettings(_Settings):
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
    problem_seeds : dict
        ``{problem: seeds}``: the seeds of one problem where they differ from ``seeds`` (more
        seeds where the cost to reach is compared).
    regret_tolerance : float
        The target regret of the cost to reach, relative to the problem's objective range
        (the same target for every method of a problem; :func:`~sciml.bench.mfbo_summary.add_cost_fractions`).
    portable_numerics : bool
        Run the jobs in worker processes started with
        :func:`~sciml.executors.portable_numerics_environment`, so that a seeded run takes the
        same trajectory on every x86-64 machine with AVX2 (same library versions), whatever
        ``workers``; ``False``: the host's fastest kernels (and with one worker, this process).
    workers : int
        Worker processes (one torch thread each).
    notes : tuple of str
        What this mode leaves out or shrinks (copied to the report's config).
    """

    problems: tuple[ProblemSpec, ...]
    seeds: tuple[int, ...]
    acquisition: dict[str, int] = {}
    model_options: dict[str, dict[str, Any]] = {}
    method_max_iterations: dict[str, dict[str, int]] = {}
    tutorial_settings_runs: bool = False
    time_tutorial_settings: bool = True
    overhead_methods: tuple[str, ...] = (MFKG, QLOGNEI)
    overhead_rounds: int = 3
    problem_seeds: dict[str, tuple[int, ...]] = {}
    regret_tolerance: float = 0.01
    portable_numerics: bool = True
    workers: int = 2
    notes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> MFBOBenchSettings:
        specs = {p.name: p for p in self.problems}
        for name, seeds in self.problem_seeds.items():
            if name not in specs:
                raise ValueError(f"problem_seeds: no problem {name!r}; accepted: {sorted(specs)}")
            if not seeds:
                raise ValueError(f"problem_seeds: {name!r} needs at least one seed")
        if not (self.seeds and 0.0 < self.regret_tolerance < 1.0):
            raise ValueError(f"need at least one seed and 0 < regret_tolerance < 1; got seeds {self.seeds}, "
                             f"regret_tolerance {self.regret_tolerance}")
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
        return self

    def seeds_for(self, problem: str) -> tuple[int, ...]:
        """The seeds of ``problem``'s runs."""
        return self.problem_seeds.get(problem, self.seeds)

    def spec_for(self, spec: ProblemSpec, method: str) -> ProblemSpec:
        """``spec`` with ``method``'s own iteration cap (:attr:`method_max_iterations`), if any."""
        cap = self.method_max_iterations.get(spec.name, {}).get(method)
        return spec if cap is None else spec.replace(max_iterations=cap)


def _fem_plate(quick: bool) -> tuple[tuple[ProblemSpec, ...], dict[str, dict[str, int]], tuple[str, ...]]:
    """The FE plate problem of a mode, its MF-KG cap and its notes; without FEniCSx no problem and a note.

    ``fidelity_pays`` is off although the declared costs (degrees of freedom x time steps) make the
    coarsest mesh more than 10x cheaper than the truth: on these small meshes the fixed costs of a
    run make the wall-time ratio much smaller (the notes give it). The rows still report the cost
    fractions.
    """
    mode = "quick" if quick else "full"
    if not fem_available():
        return (), {}, (f"{mode}: {FEM_PLATE} skipped: FEniCSx is not installed (pip install 'sciml[fem]')",)
    not_paying = (f"{mode}: {FEM_PLATE} is not a fidelity-pays problem (no check (b)): its coarsest mesh is ~11x "
                  "cheaper than the truth by the declared cost (dofs x steps) but ~5x by wall time on these small "
                  "meshes; its rows report the cost fractions")
    if quick:
        spec = ProblemSpec(FEM_PLATE, methods=(MFMES, QLOGNEI), budget=8.0, max_iterations=8)
        return (spec,), {}, (not_paying, f"quick: {FEM_PLATE}: 3 seeds, budget 8, at most 8 BO iterations per run")
    spec = ProblemSpec(FEM_PLATE, budget=20.0, max_iterations=80)
    return (spec,), {FEM_PLATE: {MFKG: 30}}, (not_paying, f"full: {FEM_PLATE}: budget 20, at most 80 BO "
                                                           "iterations per run (MF-KG 30)")


def _quick() -> MFBOBenchSettings:
    fem, _, fem_notes = _fem_plate(quick=True)
    problems = (
        ProblemSpec(HARTMANN, methods=(MFMES, QLOGNEI), max_iterations=6, n_init=16, q=4,
                    tutorial_init=True),
        ProblemSpec("park91a", methods=(MFMES, QLOGNEI), budget=100.0, max_iterations=12, n_init=5,
                    fidelity_pays=True),
        ProblemSpec("burgers_shock_time", methods=(MFMES, QLOGNEI), budget=12.0, max_iterations=40,
                    fidelity_pays=True),
        *fem,
    )
    return MFBOBenchSettings(
        problems=problems, seeds=(0, 1, 2), tutorial_settings_runs=True, time_tutorial_settings=False,
        overhead_rounds=5, problem_seeds={"park91a": tuple(range(6)), "burgers_shock_time": tuple(range(6))},
        notes=("quick: MF-KG and AR1+MF-EI run on the fidelity-pays problems only in full mode",
               "quick: 6 seeds on the fidelity-pays problems (the cost-to-reach check), 3 on Hartmann",
               "quick: Borehole only in full mode",
               "quick: on Hartmann, MF-KG runs with the tutorial's settings only (the wiring check and the "
               "default method's comparison with them); MF-KG with FAST settings only in full mode",
               "quick: budgets 100 (Park91a, n_init 5) and 12 (Burgers); at most 12 BO iterations per run on "
               "Park91a and 40 on Burgers (with 12, MF-MES stopped at a cumulative cost of about 2 of 12)",
               "quick: the speed row times the default method and MF-KG (FAST); the tutorial settings' "
               "seconds per iteration come from their runs", *fem_notes))


def _full() -> MFBOBenchSettings:
    fem, fem_caps, fem_notes = _fem_plate(quick=False)
    problems = (
        ProblemSpec(HARTMANN, methods=(MFKG, MFMES, QLOGNEI), max_iterations=6, n_init=16,
                    q=4, tutorial_init=True),
        ProblemSpec("park91a", budget=200.0, max_iterations=40, fidelity_pays=True),
        ProblemSpec("borehole", budget=300.0, max_iterations=80, fidelity_pays=True),
        ProblemSpec("burgers_shock_time", budget=24.0, max_iterations=150, fidelity_pays=True),
        ProblemSpec("burgers_shock_time_2d", budget=24.0, max_iterations=150, fidelity_pays=True),
        *fem,
    )
    return MFBOBenchSettings(
        problems=problems, seeds=tuple(range(10)), tutorial_settings_runs=True, overhead_rounds=5,
        model_options={AR1_EI: {"n_restarts": 1, "max_iter": 300, "warm_start": True}},
        method_max_iterations={**{name: {MFKG: 30} for name in ("borehole", "burgers_shock_time",
                                                                "burgers_shock_time_2d")}, **fem_caps},
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
               "starts and reached a higher marginal likelihood, see docs/benchmarks.md)",
               "full: many hours on 2 idle cores (run it with --work-dir, piecewise with --only)", *fem_notes))


def settings_for(quick: bool) -> MFBOBenchSettings:
    """Quick: 3 seeds, minutes on 2 CPU cores. Full: 10 seeds, every method (hours).

    Quick mode shrinks the benchmark: on the fidelity-pays problems only the default
    multi-fidelity method (MF-MES/GIBBON) runs against qLogNEI, with smaller budgets and
    iteration caps; Borehole is full-mode only. On the Hartmann set-up it runs what the
    acceptance checks need: MF-KG with BoTorch's tutorial settings (the wiring check, on the
    tutorial's own set-up), the default method and qLogNEI over the same seeds (so check (d)
    compares the default with the tutorial settings in quick mode too); MF-KG with ``FAST``
    settings is full-mode only. ``notes`` in each mode's settings say what it leaves out.
    """
    return _quick() if quick else _full()
