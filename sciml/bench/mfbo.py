"""``sciml bench mfbo``: multi-fidelity BO (MF-KG, MF-MES, AR1+MF-EI) against single-fidelity qLogNEI.

Every run is one :class:`~sciml.bo.loop.BOLoop` (``evaluate_recommendations=True``); the
**inference regret** of a recommendation is ``problem.simple_regret(true value)``, a step
function of the cumulative declared cost (:mod:`sciml.bo.analysis`). Problems and methods per
mode: :func:`settings_for`; the jobs, the work folder and the rows:
:mod:`sciml.bench.mfbo_jobs`, :mod:`sciml.bench.mfbo_workdir`, :mod:`sciml.bench.mfbo_summary`.

Checks (computed from the rows):

(a) ``tutorial_wiring_mfkg_value_mean_plus_2se_vs_reference >= reference`` and
    ``tutorial_wiring_mfkg_bo_cost_vs_reference_{max,min}`` within 10 %: MF-KG with the tutorial's
    acquisition settings on its Hartmann set-up is not significantly worse than the stored run of
    BoTorch's tutorial, and spends a BO-phase cost within 10 % of it (the references, with their
    source, are in the JSON's ``references``; the row's ``differs_from_tutorial`` says what is
    not copied);
(b) ``cost_fraction_best_mf_vs_qlognei_<problem> <= 0.7`` where fidelity pays: the best
    multi-fidelity method reaches a regret within ``regret_tolerance`` (1 %) of the objective's
    range at a median cost over seeds at most 70 % of qLogNEI's
    (:func:`~sciml.bench.mfbo_summary.add_cost_fractions`);
(c) ``loop_overhead_vs_bare_botorch_<method> <= 0.10``: the loop's ask against
    :func:`~sciml.bench.mfbo_bare.bare_botorch_iteration` on the same data;
(d) ``default_method_seconds_per_iteration_hartmann_q4 <= 60`` and
    ``regret_gap_default_vs_tutorial_lower95 <= 0`` (the default is not significantly worse per
    unit cost than MF-KG with the tutorial's settings).

A run that raises a sciml error is a ``"failed_run"`` row and is tried again by a rerun with
``--work-dir``. The jobs run on a :mod:`sciml.executors` process pool (one torch thread per
worker) started with :func:`~sciml.executors.portable_numerics_environment` (settings'
``portable_numerics``), so that a seeded run is the same on other x86-64 machines;
``docs/benchmarks.md`` has the measured figures and the commands that made them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sciml.bench.mfbo_jobs import JOBS, describe, expected_seconds
from sciml.bench.mfbo_settings import HARTMANN, MFBOBenchSettings, ProblemSpec, settings_for
from sciml.bench.mfbo_summary import (
    TUTORIAL_COST,
    TUTORIAL_VALUE,
    Outcome,
    add_checks,
    add_cost_fractions,
    summarise,
    summarise_runs,
)
from sciml.bench.mfbo_workdir import (
    Job,
    job_code,
    job_key,
    job_selected,
    jobs_of,
    jsonable,
    load_job,
    loop_state_dir,
    parse_only,
    save_job,
)
from sciml.bench.report import BenchReport
from sciml.bench.workdir import claim_work_dir, held
from sciml.executors import make_executor, portable_numerics_environment
from sciml.progress import progress
from sciml.viz.bo import plot_regret_curves

__all__ = [
    "TUTORIAL_COST",
    "TUTORIAL_VALUE",
    "MFBOBenchSettings",
    "MFBOReport",
    "ProblemSpec",
    "add_checks",
    "add_cost_fractions",
    "run_mfbo_benchmark",
    "settings_for",
    "summarise_runs",
]

logger = logging.getLogger(__name__)


# =============================================================================== report
class MFBOReport(BenchReport):
    """A :class:`BenchReport` that also writes one regret-vs-cost plot per problem next to its JSON."""

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON (atomically) and ``<stem>_<problem>.png`` plots beside it. Returns the JSON path."""
        out = super().write_json(path)
        try:
            plot_regret_curves(self.results, out.parent, prefix=out.stem)
        except Exception as exc:  # noqa: BLE001 - a plot must never lose the figures
            logger.warning("mfbo bench: plotting failed: %s", exc)
        return out


def _new_report(s: MFBOBenchSettings, mode: str, workers: int, not_computed: dict[str, str]) -> MFBOReport:
    return MFBOReport(
        benchmark="mfbo", mode=mode,
        config={"settings": jsonable(s.model_dump()), "workers": workers, "threads_per_worker": 1,
                "regret": "problem.simple_regret(true target-fidelity value of the recommendation), "
                          "recommendations not counted in the cost",
                "cost": "declared cost (problem.cost), initial design included",
                "se": "standard error over seeds, std(ddof=1) / sqrt(n)",
                "notes": list(s.notes), "checks_not_computed": not_computed},
        table_columns=["kind", "problem", "method", "settings", "n_seeds", "n_failed", "final_cost_mean",
                       "final_regret_mean", "final_regret_se", "cost_fraction_vs_qlognei", "iterations_mean",
                       "s_per_iter", "overhead", "value_mean", "value_se", "bo_cost_mean", "default_s",
                       "mfkg_tutorial_s"])


def _not_computed(s: MFBOBenchSettings) -> dict[str, str]:
    hartmann = next((p for p in s.problems if p.name == HARTMANN), None)
    if hartmann is None:
        return {"tutorial/speed/overhead": "no augmented_hartmann problem in these settings"}
    if not s.tutorial_settings_runs:
        return {"regret_gap_default_vs_tutorial_lower95": (
            "the tutorial settings (MF-KG, 128 fantasies, 10 restarts, 512 raw samples) are only timed on one "
            "iteration in this mode; their regret comparison over the seeds runs in full mode")}
    return {}


def _task(job: tuple[Job, int | None, str | None]) -> dict[str, Any]:
    """Run one job in a worker: ``((kind, args), torch threads, loop state folder)`` (picklable)."""
    (kind, args), threads, state_dir = job
    extra = {"state_dir": state_dir} if kind == "run" else {}
    return JOBS[kind](*args, threads, **extra)


def _run_jobs(jobs: Sequence[Job], order: Sequence[int], wd: Path | None, workers: int,
              log: Callable[[str], None] | None, keys: Sequence[str], code: dict[str, Any]) -> list[Outcome]:
    """Run the jobs ``order`` (longest first) on a process pool (or in this process), saving each outcome.

    With a numerics environment in ``code`` the pool always runs (even for one worker), so
    every job sees it.
    """
    def state_dir(i: int) -> str | None:
        return None if wd is None or jobs[i][0] != "run" else str(loop_state_dir(wd, jobs[i][1], code))

    if not order:
        return []
    env = code.get("numerics_environment") or {}
    pooled = bool(env) or (workers > 1 and len(order) > 1)
    config = ({"kind": "process", "n_workers": max(1, min(workers, len(order))), "threads_per_worker": 1,
               "show_progress": False, "environment": env} if pooled
              else {"kind": "inprocess", "show_progress": False})
    tasks = [(jobs[i], 1 if pooled else None, state_dir(i)) for i in order]
    outcomes: list[Outcome] = []
    with make_executor(config) as executor:
        done = executor.map(_task, tasks, desc="mfbo bench")
        for j, out in progress(done, total=len(order), desc="mfbo bench", unit="job"):
            i = order[j]
            outcomes.append((jobs[i][0], jobs[i][1], out))
            if wd is not None and not out.get("failed"):  # a failed run is tried again by a rerun
                save_job(wd, keys[i], out)
            if log:
                log(describe(jobs[i][0], out))
    return outcomes


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
        Makes the benchmark resumable. Each BO run keeps its loop state in
        ``work_dir/loops/<job>/`` (saved after every observation) and each finished job its
        outcome in ``work_dir/jobs/<job>.json`` (atomic writes); a later call with the same
        ``work_dir`` loads the finished jobs, resumes the interrupted runs where they stopped
        (no evaluation is repeated, the candidates are those of an uninterrupted run) and runs
        the rest. Jobs are keyed by all their inputs (:func:`~sciml.bench.mfbo_workdir.job_key`),
        so modes and settings can share a ``work_dir``; a run whose budget or iteration cap was
        raised continues from the state of the shorter run. A directory of another benchmark is
        refused. Keys include the code the jobs run (sciml's version, a hash of its sources,
        the libraries' versions), so a work dir never hands back results of other code.
        ``config["jobs_loaded"]`` counts the loaded jobs; the rows made only from loaded jobs
        say ``"reused": true`` and no timing check is computed from them.
    only : sequence of str, optional
        Run a subset: each item is a problem (``"park91a"``: all its methods) or
        ``"problem/method"``. The timing jobs run only when ``augmented_hartmann`` is selected
        whole. Rows and checks cover what ran (with ``work_dir``: also what an earlier call
        finished), so a long benchmark can be run piecewise into one ``work_dir``.

    Returns
    -------
    MFBOReport
        Its ``write_json`` also writes the regret-vs-cost plots next to the JSON.

    Raises
    ------
    ConfigError
        An unknown problem or method in ``only``, a ``work_dir`` of another benchmark, or an
        unreadable finished-job file in it.
    LockError
        Another live run holds ``work_dir``.
    """
    s = settings or settings_for(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    selected = parse_only(s, only)
    wd = None if work_dir is None else Path(work_dir)
    with held(wd):
        if wd is not None:
            claim_work_dir(wd, "mfbo")  # jobs are keyed by their inputs: any mfbo settings may share it
        return _run(s, mode, selected, wd, log, only)


def _run(s: MFBOBenchSettings, mode: str, selected: dict[str, set[str]] | None, wd: Path | None,
         log: Callable[[str], None] | None, only: Sequence[str] | None) -> MFBOReport:
    """The benchmark's body, with the work dir (if any) claimed and locked."""
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    workers = max(1, min(s.workers, cores))
    jobs = jobs_of(s)
    report = _new_report(s, mode, workers, _not_computed(s))
    t_start = time.perf_counter()
    code = job_code(portable_numerics_environment() if s.portable_numerics else None)
    keys = [job_key(kind, args, code=code) for kind, args in jobs]
    outcomes: list[Outcome] = []
    loaded = set()
    for i in range(len(jobs)) if wd is not None else ():
        out = load_job(wd, keys[i])
        if out is not None:
            outcomes.append((jobs[i][0], jobs[i][1], {**out, "reused": True}))
            loaded.add(i)
    todo = [i for i in range(len(jobs)) if job_selected(jobs[i], selected) and i not in loaded]
    report.config["only"] = None if only is None else list(only)
    report.config["work_dir"] = None if wd is None else str(wd)
    report.config["jobs_loaded"] = len(loaded)
    report.config["code"] = code
    # longest first: the tutorial-settings and Hartmann runs, then the timing jobs
    order = sorted(todo, key=lambda i: expected_seconds(*jobs[i]), reverse=True)
    outcomes += _run_jobs(jobs, order, wd, workers, log, keys, code)
    report.config["wall_seconds"] = time.perf_counter() - t_start
    summarise(report, s, outcomes)
    add_checks(report)
    return report
