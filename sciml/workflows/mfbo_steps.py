"""Workflow step ``mfbo``: a resumable multi-fidelity Bayesian optimisation (:class:`sciml.bo.BOLoop`).

The step builds a registered problem (:data:`sciml.bo.problems.PROBLEMS`, e.g.
``burgers_shock_time``), runs the loop to a cumulative-cost budget with its state under
``<output_dir>/<name>/state`` (a rerun after an interruption resumes there and never
re-evaluates an observed point; a finished run is only re-read), and writes

* ``<output_dir>/<file>.json``: the configuration, the final recommendation and the full
  history (:meth:`sciml.bo.BOResult.to_dict`);
* ``<output_dir>/<file>.png``: the recommendation's quality against the cumulative cost
  (:func:`sciml.bo.plot_best_vs_cost`).

Registered in :data:`sciml.workflows.runner.STEP_RUNNERS`; :func:`check_step` runs in the
runner's validation pass, before any work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveInt

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError
from sciml.config import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from sciml.bo.problems import MultiFidelityProblem
    from sciml.workflows.runner import WorkflowContext

__all__ = ["MFBOStep", "check_step", "run_mfbo"]


class MFBOStep(StrictModel):
    """Multi-fidelity Bayesian optimisation of a registered problem (``kind: mfbo``).

    Attributes
    ----------
    name : str
        Step name; the loop's state lives in ``<output_dir>/<name>/state``.
    problem : str
        Key of :data:`sciml.bo.problems.PROBLEMS` (e.g. ``burgers_shock_time``).
    problem_options : dict
        Keyword arguments of the problem's factory (e.g. ``{t_target: 0.2}``).
    method : {"mfmes", "mfkg", "ar1-ei", "qlognei"}
        Acquisition (:data:`sciml.bo.loop.METHODS`).
    model_kind : {"mfgp", "ar1", "multitask", "singletask"}, optional
        Surrogate of the loop (default: the method's, :data:`sciml.bo.loop.DEFAULT_MODEL`).
    budget : float
        Cumulative cost (``> 0``) at which the loop stops: declared cost units, or seconds with
        ``use_measured_cost`` (the initial design counts; the last batch may overshoot it).
    max_iterations : int, optional
        Also stop after this many BO iterations.
    batch_size : int
        Points per iteration (``q``).
    n_init : int, optional
        Initial design size (default ``max(4, 2 (d + 1))``).
    seed : int
        Seed of the initial design, fits and acquisitions.
    acquisition : dict
        :class:`sciml.bo.acquisition.AcquisitionSettings` fields over ``FAST`` (e.g.
        ``{num_restarts: 2}``).
    model_options : dict
        Keyword arguments of the model's fit function (``BOLoop(model_options=...)``).
    use_measured_cost : bool
        Count measured wall-clock seconds instead of the declared cost.
    surrogate : str, optional
        Name of an earlier ``train_neural_pde`` step whose model becomes source 0 of the
        problem ``burgers_shock_time_surrogate``
        (:func:`sciml.bo.surrogate_sources.burgers_shock_time_surrogate_problem`, whose
        ``problem_options`` then need ``surrogate_cost``). The model must have been trained with
        ``nu`` as its only parameter on frames as far apart as the problem's
        (``t_final / (n_frames - 1)``): checked when the step runs.
    file : str
        Stem of the result JSON and plot in the output folder.
    """

    kind: Literal["mfbo"] = "mfbo"
    name: str = "mfbo"
    problem: str = "burgers_shock_time"
    problem_options: dict[str, Any] = Field(default_factory=dict)
    method: Literal["mfmes", "mfkg", "ar1-ei", "qlognei"] = "mfmes"
    model_kind: Literal["mfgp", "ar1", "multitask", "singletask"] | None = None
    budget: float = Field(gt=0, allow_inf_nan=False)
    max_iterations: PositiveInt | None = None
    batch_size: PositiveInt = 1
    n_init: PositiveInt | None = None
    seed: int = 0
    acquisition: dict[str, int] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict)
    use_measured_cost: bool = False
    surrogate: str | None = None
    file: str = "mfbo"


SURROGATE_PROBLEM = "burgers_shock_time_surrogate"


def _problem(step: MFBOStep, where: str, solver: Any = None, frame_dt: float | None = None
             ) -> MultiFidelityProblem:
    from sciml.bo.problems import get_problem

    if (step.problem == SURROGATE_PROBLEM) != (step.surrogate is not None):
        raise ConfigError(f"{where}.surrogate: a trained model (the name of a train_neural_pde step) goes with "
                          f"problem {SURROGATE_PROBLEM!r} and only with it; got problem {step.problem!r}, "
                          f"surrogate {step.surrogate!r}")
    if step.surrogate is not None:
        from sciml.bo.surrogate_sources import burgers_shock_time_surrogate_problem

        try:
            return burgers_shock_time_surrogate_problem(solver, model_frame_dt=frame_dt, **step.problem_options)
        except TypeError as exc:
            raise ConfigError(f"{where}.problem_options: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}.problem_options: {exc}") from None
    try:
        return get_problem(step.problem, **step.problem_options)
    except ConfigError as exc:
        raise ConfigError(f"{where}.problem: {exc}") from None


def _trained_solver(step: MFBOStep, info: Mapping[str, Any], where: str) -> Any:
    """The surrogate model of ``step`` from a ``train_neural_pde`` step's record (weights loaded)."""
    from sciml.workflows.neural_pde_steps import load_trained_model

    if list(info["parameters"]) != ["nu"] or info["n_vars"] != 1:
        raise ConfigError(f"{where}.surrogate: model {step.surrogate!r} was trained with parameters "
                          f"{list(info['parameters'])} and {info['n_vars']} variable(s); the Burgers shock-time "
                          "problem needs one variable and 'nu' as the only parameter")
    return load_trained_model(info)


def _loop(step: MFBOStep, problem: MultiFidelityProblem, where: str, state_dir: Any = None) -> Any:
    from sciml.bo.acquisition import FAST
    from sciml.bo.loop import BOLoop

    try:
        settings = FAST.replace(**step.acquisition, q=step.batch_size)
    except ConfigError as exc:
        raise ConfigError(f"{where}.acquisition: {exc}") from None
    try:
        return BOLoop(problem, method=step.method, model_kind=step.model_kind, settings=settings,
                      n_init=step.n_init, seed=step.seed, state_dir=state_dir, use_measured_cost=step.use_measured_cost,
                      model_options=step.model_options or None)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_step(step: MFBOStep, where: str, trained: Mapping[str, Any] | None = None) -> None:
    """Validate the step before any work: the problem and its options, the method on that
    problem, the acquisition fields and the model options (builds the problem and a loop
    without state; nothing is evaluated or written).

    ``trained`` maps the names of earlier ``train_neural_pde`` steps to their model specs; a
    ``surrogate`` step is checked with an untrained model of that architecture.

    Raises
    ------
    ConfigError
        Naming ``where`` and the bad field.
    """
    if "q" in step.acquisition or "seed" in step.acquisition:
        raise ConfigError(f"{where}.acquisition: set the batch size with 'batch_size' and the seed with 'seed', "
                          "not inside 'acquisition'")
    solver = None
    if step.surrogate is not None:
        trained = trained or {}
        if step.surrogate not in trained:
            raise ConfigError(f"{where}.surrogate: {step.surrogate!r} is not trained by an earlier step; "
                              f"available: {sorted(trained)}")
        from sciml.surrogates.neural_pde.factory import build_solver

        spec = trained[step.surrogate]
        solver = build_solver(spec.kind, n_vars=1, n_params=1, **spec.solver_kwargs())
    _loop(step, _problem(step, where, solver), where)


def run_mfbo(step: MFBOStep, index: int, ctx: WorkflowContext) -> None:
    """Run (or resume) the step's loop; write ``<file>.json`` and ``<file>.png``."""
    from sciml.bo.loop import plot_best_vs_cost

    where = f"{ctx.source}: field steps.{index}"
    solver, frame_dt = None, None
    if step.surrogate is not None:  # the model's time step: its data's frame spacing times t_stride
        solver, frame_dt = _trained_solver(step, ctx.models[step.surrogate], where), ctx.models[step.surrogate]["dt"]
    problem = _problem(step, where, solver, frame_dt)
    state_dir = ctx.output_dir / step.name / "state"
    resuming = (state_dir / "state.json").exists()
    loop = _loop(step, problem, where, state_dir=state_dir)
    ctx.log(f"[{step.name}] {step.method} on {problem.name} to cost {step.budget:g}"
            f"{' (resuming)' if resuming else ''} -> {state_dir}")
    result = loop.run(step.budget, resume=True, max_iterations=step.max_iterations)
    rec = result.recommendation
    summary = {"step": step.model_dump(mode="json"), "problem": repr(problem),
               "n_evaluations": result.n_evaluations, "n_failed": result.n_failed,
               "total_cost": result.total_cost, "iterations": loop.iteration, "recommendation": rec,
               "design_names": list(problem.design_names), "result": result.to_dict()}
    out_json = ctx.output_dir / f"{step.file}.json"
    atomic_write_text(out_json, json.dumps(summary, indent=1, default=str) + "\n")
    out_png = plot_best_vs_cost(result, ctx.output_dir / f"{step.file}.png",
                                title=f"{problem.name}: {step.method}")
    ctx.artefacts[f"mfbo:{step.file}"] = out_json
    ctx.artefacts[f"plot:{step.file}"] = out_png
    if rec is not None:
        x = ", ".join(f"{n}={v:.4g}" for n, v in zip(problem.design_names, rec["x"], strict=True))
        truth = "" if rec.get("true_value") is None else f", true value {rec['true_value']:.4g}"
        ctx.log(f"[{step.name}] recommended {x} after cost {result.total_cost:.4g} "
                f"({result.n_evaluations} evaluations{truth})")
