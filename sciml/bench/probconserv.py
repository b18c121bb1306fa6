"""``sciml bench probconserv``: ProbConserv-ANP against ANP, HardC-ANP and SoftC-ANP (and other bases).

The study is :mod:`sciml.studies.probconserv` (settings, training, evaluation) and
:mod:`sciml.studies.probconserv_bases` (GP, FNO ensemble, MC dropout); this module times the
update against the ANP's prediction (:func:`time_update`), runs the study over the mode's
problems, and computes the checks from the rows (:func:`add_checks`). The protocol, the
measured figures and the differences from the paper are in ``docs/benchmarks.md``
(ProbConserv section).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml.bench.probconserv_bases import base_timing_rows, evaluate_bases
from sciml.bench.report import BenchReport, Reference
from sciml.bench.workdir import claim_work_dir, held
from sciml.errors import ConfigError
from sciml.progress import progress
from sciml.studies.probconserv import (
    MODELS,
    ProbConservSettings,
    evaluate_test_value,
    probconserv_settings,
    train_models,
)
from sciml.studies.probconserv_bases import FieldBaseSettings, base_models, field_base_settings
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, ConservationProblem, conservation_update_samples

__all__ = ["MODELS", "QUICK_BASE_PROBLEMS", "add_checks", "run_probconserv_benchmark", "time_update"]

#: Problems on which quick mode also runs the GP / ensemble / MC-dropout bases (full mode:
#: every problem); Stefan alone keeps the quick bench's extra cost to a few minutes.
QUICK_BASE_PROBLEMS: tuple[str, ...] = ("stefan",)

_TABLE_COLUMNS = ["problem", "test_value", "model", "n_functions", "mse", "mse_se", "ll", "ll_se", "crps", "crps_se",
                  "ce_eval", "ce_max_worst", "ce_rel", "mean_front_mid_error", "shock_error", "shock_error_mid",
                  "t_predict_s", "t_update_s",
                  "update_overhead"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_update(problem: ConservationProblem, model: Any, s: ProbConservSettings, *, seed: int) -> dict[str, Any]:
    """Median wall times of the ANP's prediction and of the update on ``s.timing_grid`` (one function).

    The prediction is ``S = s.n_latent_samples`` latent draws with their mixture moments; the
    update is :func:`~sciml.surrogates.probconserv.conservation_update_samples` (cast to
    float64, diagonal covariance, all times); the first of ``s.timing_repeats + 1`` rounds is a
    warm-up. Row ``update_overhead = t_update / t_predict``.
    """
    t, x = problem.target_grid(*s.timing_grid)
    G, b_fn = problem.constraint(t, x)
    device = next(model.parameters()).device
    g = torch.as_tensor(G, dtype=torch.float64, device=device)
    rng = np.random.default_rng(seed)
    p = float(problem.test_values[0])
    batch = problem.sample_batch(np.array([p]), n_context=s.n_context, n_target=None, rng=rng,
                                 grid=s.timing_grid)
    b = torch.as_tensor(b_fn(np.array([p])), device=device)[0]
    n_t, n_x = t.size, x.size
    t_pred, t_upd = [], []
    for rep in range(s.timing_repeats + 1):  # the first round is a warm-up
        gen = torch.Generator().manual_seed(seed + rep)
        _sync(device)
        t0 = time.perf_counter()
        pred = model.predict_targets(batch.context_x, batch.context_y, batch.target_x,
                                     n_samples=s.n_latent_samples, generator=gen, target_chunk=s.target_chunk)
        _sync(device)
        t1 = time.perf_counter()
        means = pred.means[..., 0].to(torch.float64).reshape(-1, 1, n_t, n_x)
        varis = pred.variances[..., 0].to(torch.float64).reshape(-1, 1, n_t, n_x)
        conservation_update_samples(means, varis, g, b)
        _sync(device)
        t2 = time.perf_counter()
        if rep > 0:
            t_pred.append(t1 - t0)
            t_upd.append(t2 - t1)
    tp, tu = statistics.median(t_pred), statistics.median(t_upd)
    return {"problem": problem.name, "model": "timing", "grid": f"{n_t}x{n_x}",
            "n_latent_samples": s.n_latent_samples, "t_predict_s": tp, "t_update_s": tu,
            "update_overhead": tu / tp, "timing_repeats": s.timing_repeats, "device": str(device)}


# ----------------------------------------------------------------------------- driver
def _selected(s: ProbConservSettings, only: Sequence[str] | None) -> list[str] | None:
    """The problems of ``only`` (validated against the mode's), or ``None`` for all."""
    unknown = [p for p in s.problems if p not in CONSERVATION_PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; accepted: {sorted(CONSERVATION_PROBLEMS)}")
    if only is None:
        return None
    only_list = [only] if isinstance(only, str) else [str(x).strip() for x in only]
    if not only_list:
        raise ConfigError(f"only selects nothing; give problems of this mode: {list(s.problems)}")
    bad = [p for p in only_list if p not in s.problems]
    if bad:
        raise ConfigError(f"only: no problem(s) {bad} in this mode; accepted: {list(s.problems)}")
    return [p for p in s.problems if p in only_list]


def _base_plan(s: ProbConservSettings, *, quick: bool, custom: bool, base_settings: FieldBaseSettings | None,
               base_problems: Sequence[str] | None) -> tuple[FieldBaseSettings | None, tuple[str, ...]]:
    """``(FieldBaseSettings with protocol = s, problems)`` of the bases, or ``(None, ())``."""
    if base_settings is None:
        if custom:
            return None, ()
        base_settings = field_base_settings(quick)
    if base_problems is None:
        base_problems = QUICK_BASE_PROBLEMS if quick and not custom else s.problems
    outside = [p for p in base_problems if p not in s.problems]
    if outside:
        raise ValueError(f"base_problems {outside} are not among the benchmark's problems {list(s.problems)}")
    on = tuple(p for p in s.problems if p in base_problems)
    return base_settings.model_copy(update={"protocol": s}), on


def _new_report(s: ProbConservSettings, mode: str, bs: FieldBaseSettings | None, base_on: Sequence[str],
                selected: list[str] | None, work_dir: Any) -> BenchReport:
    base_names = [m for b in (bs.bases if bs is not None else ()) for m in base_models(b)]
    report = BenchReport(
        benchmark="probconserv", mode=mode,
        config={"settings": s.model_dump(), "models": list(MODELS) + base_names,
                "bases": None if bs is None else {"problems": list(base_on), "settings": bs.model_dump()},
                "constraint": "G = trapezoid weights of the target x grid, b(t) exact, sigma_G = 0",
                "ce_rel": "max_t |G mu(t) - b(t)| / max_t |b(t)| (where b = 0: / max_t |G| |u_true(t)|), in float64",
                "errors": "*_se = standard error over the test functions (std ddof=1 / sqrt(n))"},
        table_columns=list(_TABLE_COLUMNS))
    report.config["only"] = selected
    report.config["work_dir"] = None if work_dir is None else str(work_dir)
    return report


def _run_problem(name: str, s: ProbConservSettings, run_root: Path, report: BenchReport, timing_rows: list[Any],
                 bases: tuple[FieldBaseSettings | None, Sequence[str]], log: Callable[[str], None] | None) -> None:
    """Train, evaluate and time one problem (and its bases); rows into ``report`` and ``timing_rows``."""
    problem = CONSERVATION_PROBLEMS[name]
    problem_id = list(CONSERVATION_PROBLEMS).index(name)  # seeds do not depend on the order of s.problems
    trained = train_models(problem, s, run_root / name, log)
    for v, p in enumerate(problem.test_values):
        t0 = time.perf_counter()
        rows = evaluate_test_value(problem, trained, float(p), s, seed=(s.eval_seed, problem_id, v))
        report.results.extend(rows)
        if log:
            by = {r["model"]: r for r in rows}
            log(f"{name} {problem.param_name}={p:g}: MSE ANP {by['ANP']['mse']:.3g}, ProbConserv "
                f"{by['ProbConserv-ANP']['mse']:.3g}; LL {by['ANP']['ll']:.3g} -> "
                f"{by['ProbConserv-ANP']['ll']:.3g} ({time.perf_counter() - t0:.1f} s)")
    softc_extra = trained["anp_seconds"] if s.softc_init == "anp" else 0.0
    for r in report.results:
        if r["problem"] == name and r["model"] in ("ANP", "HardC-ANP", "ProbConserv-ANP"):
            r["train_seconds"] = trained["anp_seconds"]
        elif r["problem"] == name and r["model"] == "SoftC-ANP":
            r["train_seconds"] = trained["softc_seconds"] + softc_extra
    timing_rows.append(time_update(problem, trained["ANP"], s, seed=s.eval_seed + 1000 + problem_id))
    if log:
        tr = timing_rows[-1]
        log(f"{name} timing: predict {tr['t_predict_s']:.3f} s, update {tr['t_update_s']:.4f} s "
            f"(overhead {tr['update_overhead']:.4f})")
    bs, base_on = bases
    if bs is not None and name in base_on:
        t0 = time.perf_counter()
        base_rows = evaluate_bases([name], seed=s.seed, settings=bs, log=log)
        report.results.extend(base_rows)
        timing_rows.extend(base_timing_rows(base_rows))
        if log:
            log(f"{name}: bases {', '.join(bs.bases)} done ({time.perf_counter() - t0:.1f} s)")


def run_probconserv_benchmark(
    *,
    quick: bool = False,
    settings: ProbConservSettings | None = None,
    run_root: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    base_settings: FieldBaseSettings | None = None,
    base_problems: Sequence[str] | None = None,
    work_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> BenchReport:
    """Train and evaluate ANP, HardC-ANP, ProbConserv-ANP and SoftC-ANP (and the bases); return the report.

    Parameters
    ----------
    quick : bool
        Small model, few steps, ``101 x 101`` grids, 20 test functions (minutes on 2 CPU cores).
    settings : ProbConservSettings, optional
        Override the mode's sizes entirely (tests use tiny settings).
    run_root : path, optional
        Where the training runs (checkpoints, metrics) are written, one folder per problem
        and model; an interrupted benchmark resumes from there. Default: a temporary folder.
    log : callable, optional
        Receives one line per finished stage.
    base_settings : FieldBaseSettings, optional
        Sizes of the GP / ensemble / MC-dropout bases (its ``protocol`` is replaced by the
        benchmark's settings, so the bases see the ANP's test functions). Default: with
        ``settings`` given, no bases unless ``base_settings`` is given too; otherwise
        :func:`~sciml.studies.probconserv_bases.field_base_settings` of the mode.
    base_problems : sequence of str, optional
        Problems on which the bases run (a subset of the settings' problems). Default: quick
        mode :data:`QUICK_BASE_PROBLEMS`, otherwise every problem of the settings.
    work_dir : path, optional
        Like ``run_root`` (which it replaces; give one of the two), and the mode and settings
        are recorded in ``work_dir/settings.json``: a directory made with other ones is
        refused (:func:`~sciml.bench.workdir.claim_work_dir`). Trained models are resumed or
        reloaded from their checkpoints; the evaluation runs again.
    only : sequence of str, optional
        Run these problems of the mode only (and the bases on those of them that have
        bases). The checks cover what ran.

    Raises
    ------
    ValueError
        Unknown problems; ``ConfigError`` (a ``ValueError``) for an ``only`` outside the
        mode's problems, both ``work_dir`` and ``run_root``, or a ``work_dir`` of other settings.
    """
    s = settings or probconserv_settings(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    selected = _selected(s, only)
    # validated before the work dir is claimed, so bad input writes nothing
    if work_dir is not None:
        if run_root is not None:
            raise ConfigError("give work_dir or run_root, not both")
        run_root = claim_work_dir(work_dir, "probconserv", mode, s.model_dump())
    bs, base_on = _base_plan(s, quick=quick, custom=settings is not None, base_settings=base_settings,
                             base_problems=base_problems)
    report = _new_report(s, mode, bs, base_on, selected, work_dir)
    timing_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sciml-bench-probconserv-") as tmp, held(run_root):
        root = Path(run_root if run_root is not None else tmp)
        for name in progress(selected or list(s.problems), desc="probconserv bench", unit="problem"):
            _run_problem(name, s, root, report, timing_rows, (bs, base_on), log)
    report.results.extend(timing_rows)
    add_checks(report)
    return report


# ----------------------------------------------------------------------------- checks
def _row(rows: Sequence[dict[str, Any]], problem: str, model: str, value: float | None = None) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("problem") == problem and r.get("model") == model
            and (value is None or math.isclose(r["test_value"], value))]


#: ProbConserv-ANP's Stefan (u* = 0.6) MSE as published; the benchmark's absolute MSE bar.
PAPER_STEFAN_MSE = Reference(
    name="hansen2023_probconserv_anp_mse_stefan_0.6", value=1.87e-3, units="1",
    source="Hansen et al., Learning Physical Models that Can Respect Conservation Laws, ICML 2023 "
           "(Stefan, u* = 0.6, ProbConserv-ANP; the bar of sciml issue 15)",
    date="2023-07", note="the paper's ANP: 5.38e-3")
#: The shock-position error of the reference checkpoint's ProbConserv-ANP under sciml's evaluation:
#: draws at the 10 % level (the definition before issue 15; reproduced 0.0037-0.0040 on 2026-12-06).
CHECKPOINT_STEFAN_SHOCK = Reference(
    name="reference_checkpoint_probconserv_anp_shock_error_stefan_0.6", value=0.0040, units="x",
    source="sciml's evaluation (draws at the 10 % level, 101 x 101 grid, 20 functions) of the "
           "amazon-science/probconserv checkpoint 2b_stefan_var_p (anp.pt, exact update), docs/benchmarks.md",
    date="2026-11-28", note="the reference's own code histograms shock positions and reports no scalar error")
#: The same checkpoint's error of the front of its mean at ``u*/2`` (the benchmark's definition since issue 15).
CHECKPOINT_STEFAN_FRONT = Reference(
    name="reference_checkpoint_probconserv_anp_front_error_mid_stefan_0.6", value=0.0066, units="x",
    source="sciml's quick evaluation (front of the mean at u*/2, 101 x 101 grid, 20 functions, 10 latent draws) "
           "of the amazon-science/probconserv checkpoint 2b_stefan_var_p (anp.pt, exact update; the reference's "
           "own PhysNP code on the same weights: 0.0064), docs/benchmarks.md",
    date="2026-12-06", note="its ANP alone: 0.0179; with 100 latent draws 0.0065")
#: Issue 15's bar on ProbConserv-ANP's Stefan (u* = 0.6) shock-position error (the front of the
#: predictive mean at the jump's midpoint ``u*/2``; docs/benchmarks.md says why this definition).
STEFAN_SHOCK_BAR = 0.005


def add_checks(report: BenchReport) -> None:
    """The acceptance checks, computed from ``report.results``.

    ProbConserv's ``ce_rel < 1e-10`` per problem (and per base and problem); on Stefan
    ``u* = 0.6`` ProbConserv-ANP's MSE against the published :data:`PAPER_STEFAN_MSE` (a
    reference check), its shock-position error (the front of its mean at ``u*/2``)
    ``<= STEFAN_SHOCK_BAR``, no larger than the reference checkpoint's under the same
    evaluation (:data:`CHECKPOINT_STEFAN_FRONT`, a reference check) or than the ANP's, and its LL
    gain over the ANP ``>= 0``; on heat the LL gain ``>= 0`` per test value; the ANP's largest update overhead
    ``< 0.10``.
    """
    rows = report.results
    problems = list(dict.fromkeys(r["problem"] for r in rows if r.get("model") in MODELS))
    for name in problems:
        pc = _row(rows, name, "ProbConserv-ANP")
        report.add_check(f"ce_rel_probconserv_{name}", max(r["ce_rel"] for r in pc), "<", 1e-10)
    if "stefan" in problems:
        anp, pc = _row(rows, "stefan", "ANP", 0.6), _row(rows, "stefan", "ProbConserv-ANP", 0.6)
        if anp and pc:
            a, c = anp[0], pc[0]
            for ref in (PAPER_STEFAN_MSE, CHECKPOINT_STEFAN_SHOCK, CHECKPOINT_STEFAN_FRONT):
                if all(r.name != ref.name for r in report.references):
                    report.add_reference(ref)
            report.add_reference_check("mse_probconserv_stefan_0.6_vs_reference_paper", c["mse"], "<=",
                                       PAPER_STEFAN_MSE.name)
            report.add_check("front_error_mid_probconserv_stefan_0.6", c["mean_front_mid_error"], "<=",
                             STEFAN_SHOCK_BAR)
            report.add_reference_check("front_error_mid_probconserv_stefan_0.6_vs_reference_checkpoint",
                                       c["mean_front_mid_error"], "<=", CHECKPOINT_STEFAN_FRONT.name)
            report.add_check("front_error_mid_gain_probconserv_vs_anp_stefan_0.6",
                             a["mean_front_mid_error"] - c["mean_front_mid_error"], ">=", 0.0)
            report.add_check("ll_gain_probconserv_vs_anp_stefan_0.6", c["ll"] - a["ll"], ">=", 0.0)
    if "heat" in problems:
        for a in _row(rows, "heat", "ANP"):
            c = _row(rows, "heat", "ProbConserv-ANP", a["test_value"])[0]
            report.add_check(f"ll_gain_probconserv_vs_anp_heat_{a['test_value']:g}", c["ll"] - a["ll"], ">=", 0.0)
    for r in rows:  # the bases: exact conservation after the update, per problem and base
        if r.get("base") is not None and r["model"] == f"ProbConserv-{r['base']}":
            key = f"ce_rel_probconserv_{r['base'].lower()}_{r['problem']}"
            if not any(c.name == key for c in report.checks):
                worst = max(q["ce_rel"] for q in rows if q.get("base") == r["base"]
                            and q["problem"] == r["problem"] and q["model"] == r["model"])
                report.add_check(key, worst, "<", 1e-10)
    timing = [r for r in rows if r.get("model") == "timing"]  # the ANP's; the bases' are rows only
    if timing:
        report.add_check("update_overhead_max", max(r["update_overhead"] for r in timing), "<", 0.10)
