"""Workflow step ``probconserv_study``: train an ANP on a conservation law, evaluate ANP / HardC / ProbConserv.

The study of Hansen et al. (ICML 2023) for one problem of
:data:`sciml.surrogates.probconserv.CONSERVATION_PROBLEMS` (default Stefan), with the protocol of
``sciml bench probconserv`` (:func:`sciml.studies.probconserv.probconserv_settings`; quick or full):

1. train the attentive neural process with :class:`~sciml.surrogates.probconserv.ANPTrainer`;
   its checkpoints live in ``<output_dir>/<name>/anp`` (``last.pt``), so an interrupted run
   resumes where it stopped and a finished one is only reloaded;
2. for each test value, ``n_functions`` test functions (100 random contexts of the exact
   solution each; the benchmark's seeds) and the rows ``ANP``, ``HardC-ANP`` and
   ``ProbConserv-ANP`` (MSE, LL, CRPS, conservation errors, shock-position errors from
   full-covariance draws; mean and standard error), all computed by
   :mod:`sciml.studies.probconserv_evaluation`;
3. write ``<output_dir>/<file>.json`` (the step, the settings, the training summary and the
   rows; atomically), ``<file>_profiles.png`` (the three variants' profiles at the evaluation
   time with 95% bands, first test function of ``plot_value``) and, for problems with a front,
   ``<file>_shock_hist.png`` (front positions of ``n_plot_samples`` draws from each variant's
   full covariance at the evaluation time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError, ParameterError
from sciml.studies.probconserv import (
    ProbConservSettings,
    build_model,
    make_sample_batch_fn,
    probconserv_settings,
    resolve_device,
    train_config,
    train_seconds,
)
from sciml.studies.probconserv_evaluation import (
    TestFunctions,
    anp_variants,
    evaluate_anps,
    make_test_functions,
    profiles_and_positions,
)
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, ANPTrainer, ConservationProblem
from sciml.viz.uncertainty import plot_position_histograms, plot_profiles_with_bands
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep

__all__ = ["ProbConservStudyStep", "check_step", "study_settings"]

#: The variants of the study, in row order.
STUDY_MODELS: tuple[str, ...] = ("ANP", "HardC-ANP", "ProbConserv-ANP")


def study_settings(step: ProbConservStudyStep) -> ProbConservSettings:
    """The :class:`~sciml.studies.probconserv.ProbConservSettings` of the step.

    The benchmark's quick or full settings restricted to ``step.problem``, with the step's
    ``seed`` and, when given, its ``steps`` and ``n_functions``.
    """
    over: dict[str, Any] = {"problems": (step.problem,), "seed": step.seed}
    if step.steps is not None:
        over["steps"] = step.steps
    if step.n_functions is not None:
        over["n_functions"] = step.n_functions
    return probconserv_settings(step.quick).model_copy(update=over)


def _test_values(step: ProbConservStudyStep, problem: ConservationProblem) -> list[float]:
    return [float(v) for v in (step.test_values if step.test_values is not None else problem.test_values)]


def check_step(step: ProbConservStudyStep, where: str) -> None:
    """Validate the step before any work: the problem, the test values and the plot value.

    Raises
    ------
    ConfigError
        Naming ``where`` and the bad field (an unknown problem lists the accepted ones; a test
        value outside the problem's range names that range).
    """
    if step.problem not in CONSERVATION_PROBLEMS:  # also for steps built without validation (model_construct)
        raise ConfigError(f"{where}.problem: unknown problem {step.problem!r}; accepted: {', '.join(CONSERVATION_PROBLEMS)}")
    problem = CONSERVATION_PROBLEMS[step.problem]
    values = _test_values(step, problem)
    for i, v in enumerate(values):
        try:
            problem.check_param(v)
        except ParameterError as exc:
            raise ConfigError(f"{where}.test_values.{i}: {exc}") from None
    if step.plot_value is not None and not any(abs(step.plot_value - v) <= 1e-12 * max(1.0, abs(v)) for v in values):
        raise ConfigError(f"{where}.plot_value: {step.plot_value:g} is not among the test values {values}")


def _train(step: ProbConservStudyStep, problem: ConservationProblem, s: ProbConservSettings,
           ctx: WorkflowContext) -> tuple[Any, Any]:
    run_dir = ctx.output_dir / step.name / "anp"
    resuming = (run_dir / "last.pt").exists()
    ctx.log(f"[{step.name}] ANP on {problem.name}, {s.steps} steps{' (resuming)' if resuming else ''} -> {run_dir}")
    model = build_model(s, seed=s.seed, problem=problem).to(resolve_device(s))
    result = ANPTrainer(model, train_config(s, steps=s.steps, seed=s.seed), run_dir).fit(
        make_sample_batch_fn(problem, s), resume=True)
    ctx.artefacts[f"{step.name}:checkpoint"] = result.last_checkpoint
    return model, result


def _evaluate(step: ProbConservStudyStep, problem: ConservationProblem, s: ProbConservSettings, model: Any,
              result: Any, ctx: WorkflowContext) -> tuple[list[dict[str, Any]], TestFunctions]:
    """Rows of every test value, and the test functions of the plot value."""
    problem_id = list(CONSERVATION_PROBLEMS).index(step.problem)  # the benchmark's seeds
    values = _test_values(step, problem)
    plot_value = values[0] if step.plot_value is None else step.plot_value
    rows: list[dict[str, Any]] = []
    plot_test = None
    seconds = train_seconds(result)
    for v, p in enumerate(values):
        t0 = time.perf_counter()
        seed = (s.eval_seed, problem_id, v)
        test = make_test_functions(problem, p, eval_grid=s.eval_grid, n_functions=s.n_functions, seed=seed,
                                   n_context=s.n_context, context_noise=s.context_noise)
        acc = evaluate_anps({"ANP": model}, test, n_latent_samples=s.n_latent_samples,
                            n_shock_samples=s.n_shock_samples, seed=seed, eval_batch=s.eval_batch,
                            target_chunk=s.target_chunk)
        new = test.rows(acc, STUDY_MODELS, n_latent_samples=s.n_latent_samples)
        for r in new:
            r["train_steps"] = result.steps_completed
            r["train_seconds"] = seconds
        rows.extend(new)
        if plot_test is None and abs(p - plot_value) <= 1e-12 * max(1.0, abs(p)):
            plot_test = test
        by = {r["model"]: r for r in new}
        ctx.log(f"[{step.name}] {problem.param_name}={p:g}: MSE {by['ANP']['mse']:.3g} -> "
                f"{by['ProbConserv-ANP']['mse']:.3g}, LL {by['ANP']['ll']:.3g} -> {by['ProbConserv-ANP']['ll']:.3g}, "
                f"CE {by['ANP']['ce_eval']:.2g} -> {by['ProbConserv-ANP']['ce_eval']:.2g} "
                f"({time.perf_counter() - t0:.1f} s)")
    assert plot_test is not None
    return rows, plot_test


def _plot(step: ProbConservStudyStep, problem: ConservationProblem, s: ProbConservSettings, model: Any,
          plot_test: TestFunctions, ctx: WorkflowContext) -> bool:
    """The profiles plot and (for a front) the shock histogram; whether the histogram was drawn."""
    problem_id = list(CONSERVATION_PROBLEMS).index(step.problem)
    out = ctx.output_dir
    gen = torch.Generator().manual_seed(int(s.eval_seed + 7919 * (problem_id + 1)))
    preds = anp_variants(model, plot_test, slice(0, 1), n_latent_samples=s.n_latent_samples, generator=gen,
                         target_chunk=s.target_chunk, full_cov=plot_test.thresholds is not None)
    profiles, positions = profiles_and_positions(preds, plot_test, 0, n_samples=step.n_plot_samples, generator=gen)
    label = f"{problem.name}, {problem.param_name} = {plot_test.p:g}, t = {plot_test.t_eval:.3g}"
    ctx.artefacts[f"plot:{step.file}_profiles"] = plot_profiles_with_bands(
        plot_test.x, plot_test.truth[0, plot_test.i_eval].numpy(), profiles, out / f"{step.file}_profiles.png",
        title=label)
    if positions:
        assert plot_test.thresholds is not None
        level, x_ref = plot_test.thresholds[0]
        ctx.artefacts[f"plot:{step.file}_shock_hist"] = plot_position_histograms(
            positions, out / f"{step.file}_shock_hist.png", true_position=x_ref,
            title=f"{label}: front (u = {level:.3g}) of {step.n_plot_samples} posterior draws")
    return bool(positions)


class ProbConservStudyStep(WorkflowStep):
    """Train an ANP on one conservation law and compare ANP, HardC-ANP and ProbConserv-ANP.

    Attributes
    ----------
    name : str
        Step name; the training run lives in ``<output_dir>/<name>/anp``.
    problem : str
        Key of :data:`sciml.surrogates.probconserv.CONSERVATION_PROBLEMS` (heat, pme, stefan, advection,
        burgers).
    test_values : list of float, optional
        Parameter values to evaluate (default: the problem's ``test_values``; Stefan
        ``u* = 0.6, 0.5``); each inside the problem's admissible range.
    quick : bool
        The benchmark's quick settings (small ANP, 2,000 steps, ``101 x 101`` grid; minutes on
        a CPU) or its full ones (paper-sized, meant for a GPU).
    steps : int, optional
        Override the number of training steps.
    n_functions : int, optional
        Override the number of test functions per test value.
    seed : int
        Training seed (initialisation and batches); the test functions depend only on the
        settings' ``eval_seed``, the problem and the test value's index.
    plot_value : float, optional
        Test value of the plots (default: the first test value).
    n_plot_samples : int
        Posterior draws of the shock-position histogram.
    file : str
        Stem of the JSON and PNG files in the output folder.
    """

    kind: Literal["probconserv_study"] = "probconserv_study"
    name: str = "probconserv_study"
    problem: str = "stefan"
    test_values: list[float] | None = Field(default=None, min_length=1)
    quick: bool = True
    steps: PositiveInt | None = None
    n_functions: PositiveInt | None = None
    seed: NonNegativeInt = 0
    plot_value: float | None = None
    n_plot_samples: PositiveInt = 1000
    file: str = "probconserv_study"

    @field_validator("problem")
    @classmethod
    def _known_problem(cls, v: str) -> str:
        names = list(CONSERVATION_PROBLEMS)
        if v not in names:
            raise ValueError(f"unknown problem {v!r}; accepted: {', '.join(names)}")
        return v

    def check(self, ctx: WorkflowContext, index: int) -> None:
        check_step(self, ctx.where(index))

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The training run ``<name>/anp``, ``<file>.json`` and the plots."""
        out = ctx.output_dir
        return [out / self.name / "anp", *(out / f"{self.file}{s}" for s in (".json", "_profiles.png", "_shock_hist.png"))]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Train (or resume, or reload) the ANP, evaluate the variants, write ``<file>.json`` and the plots."""
        check_step(self, ctx.where(index))
        problem = CONSERVATION_PROBLEMS[self.problem]
        s = study_settings(self)
        model, result = _train(self, problem, s, ctx)
        rows, plot_test = _evaluate(self, problem, s, model, result, ctx)
        out = ctx.output_dir
        out.mkdir(parents=True, exist_ok=True)
        summary = {"step": self.model_dump(mode="json"), "problem": problem.name, "param": problem.param_name,
                   "settings": s.model_dump(), "train": {"steps_completed": result.steps_completed,
                                                         "final_loss": result.final_loss, "seconds": train_seconds(result),
                                                         "resumed_from_step": result.resumed_from_step},
                   "rows": rows}
        out_json = atomic_write_text(out / f"{self.file}.json", json.dumps(summary, indent=1, default=str) + "\n")
        ctx.artefacts[f"probconserv:{self.file}"] = out_json
        hist = _plot(self, problem, s, model, plot_test, ctx)
        ctx.log(f"[{self.name}] wrote {out_json.name}, {self.file}_profiles.png"
                f"{f', {self.file}_shock_hist.png' if hist else ''}")
