"""Workflow step ``mfbo``: a resumable multi-fidelity Bayesian optimisation (:class:`sciml.bo.BOLoop`).

The problem is either a registered one (``problem:``, :data:`sciml.studies.bo_problems.BO_PROBLEMS`,
e.g. ``burgers_shock_time``) or one declared from ``sources:`` — any number of registered
simulator configurations and trained ``train_neural_pde`` steps (through
:class:`~sciml.surrogates.neural_pde.as_simulator.NeuralSolverSimulator`), each with a cost, the
truth last — with a named ``objective:`` (:data:`sciml.studies.bo_problems.OBJECTIVES`). The loop
runs to a cumulative-cost budget with its state under ``<output_dir>/<name>/state`` (a rerun
resumes there and never re-evaluates an observed point; the workflow keys the state by every
field of the step, the trained models and the code, so a rerun with another option starts clean,
while a larger ``budget`` or ``max_iterations`` alone continues the stored loop) and writes
``<file>.json`` (the configuration, the final recommendation and the history) and ``<file>.png``
(the recommendation's quality against the cost).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from sciml.bo.loop import BOLoop
from sciml.bo.names import DEFAULT_METHOD, MethodName, ModelKind
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import FAST
from sciml.bo.sources import MultiSourceProblem, Source
from sciml.config import StrictModel
from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError, ParameterError
from sciml.executors import make_executor
from sciml.simulators.base import Simulator
from sciml.simulators.registry import build_simulator
from sciml.studies.bo_problems import get_bo_problem, get_objective
from sciml.surrogates.neural_pde.as_simulator import NeuralSolverSimulator
from sciml.surrogates.neural_pde.factory import build_solver
from sciml.viz.bo import plot_best_vs_cost
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep
from sciml.workflows.steps.train_neural_pde import load_trained_model

__all__ = ["DEFAULT_PROBLEM", "MFBOStep", "ObjectiveSpec", "build_problem", "check_step", "SimulatorSourceSpec", "TrainedSourceSpec"]

#: The registered problem of a step that names neither ``problem`` nor ``sources``.
DEFAULT_PROBLEM = "burgers_shock_time"


class SimulatorSourceSpec(StrictModel):
    """A registered simulator as an information source (``{simulator: {kind: ..., ...}, cost: ...}``).

    Attributes
    ----------
    simulator : dict
        ``{kind: <registered simulator>, **constructor options}`` (:mod:`sciml.simulators.registry`).
    cost : float, optional
        Declared cost of one run (``> 0``); default: the simulator's own ``cost`` at the centre of
        the design box.
    fidelity : float, optional
        The source's fidelity level (default: its index among the sources).
    """

    simulator: dict[str, Any]
    cost: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    fidelity: float | None = None


class TrainedSourceSpec(StrictModel):
    """A model trained by an earlier ``train_neural_pde`` step as an information source.

    Attributes
    ----------
    model : str
        Name of the ``train_neural_pde`` step.
    reference : dict
        The registered 1-D grid simulator whose grid, frames, initial state and parameter space the
        model's rollout uses (``{kind: ..., n_cells: ..., ...}``); its frame spacing must be the
        model's time step (checked when the step runs).
    parameters : list of str, optional
        The model's PDE parameters in order; default: those it was trained with (at validation
        time, the reference's parameters).
    cost : float
        Declared cost of one rollout (``> 0``): measure it.
    fidelity : float, optional
        The source's fidelity level (default: its index among the sources).
    """

    model: str
    reference: dict[str, Any]
    parameters: list[str] | None = None
    cost: float = Field(gt=0, allow_inf_nan=False)
    fidelity: float | None = None


class ObjectiveSpec(StrictModel):
    """A registered objective (:data:`sciml.studies.bo_problems.OBJECTIVES`) and its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


#: Fields that describe a problem from sources (only with ``sources``).
_SOURCE_FIELDS = ("objective", "parameters", "fixed", "log_scale", "fidelity_name", "fidelity_log_scale",
                  "maximize", "optimum_value", "simulation_seed")


def _check_form(step: MFBOStep, where: str) -> None:
    """``problem`` or ``sources`` (with an objective), never both; source fields only with sources."""
    if step.sources is None:
        extra = sorted(f for f in _SOURCE_FIELDS if f in step.model_fields_set)
        if extra:
            raise ConfigError(f"{where}: {extra} describe a problem from sources; give 'sources' too, or drop them "
                              f"for the registered problem {step.problem or DEFAULT_PROBLEM!r}")
        return
    if step.problem is not None or step.problem_options:
        raise ConfigError(f"{where}: give either 'problem' (a registered problem) or 'sources', not both")
    if not step.sources:
        raise ConfigError(f"{where}.sources: give at least one source")
    if step.objective is None:
        raise ConfigError(f"{where}.objective: a problem from sources needs an objective, e.g. "
                          "{name: shock_time, options: {t_target: 0.2}}")


def _trained_source(spec: TrainedSourceSpec, where: str, arch: Any, info: Mapping[str, Any] | None) -> Source:
    """The adapter around the trained model (``info``: its record, with weights) or, before any work
    (``info`` is None), around an untrained model of the architecture ``arch``."""
    reference = build_simulator(spec.reference, source=f"{where}.reference")
    parameters = list(spec.parameters) if spec.parameters is not None else None
    if info is None:
        parameters = parameters if parameters is not None else list(reference.parameter_space.names)
        model = build_solver(arch.kind, n_vars=1, n_params=len(parameters), **arch.solver_kwargs())
    else:
        if parameters is not None and parameters != list(info["parameters"]):
            raise ConfigError(f"{where}.parameters: model {spec.model!r} was trained with parameters "
                              f"{list(info['parameters'])}, not {parameters}")
        if info["n_vars"] != 1:
            raise ConfigError(f"{where}.model: {spec.model!r} was trained on {info['n_vars']} variables; a source "
                              "needs one")
        parameters = list(info["parameters"])
        model = load_trained_model(dict(info))
    try:
        sim = NeuralSolverSimulator(model, reference, parameters=parameters, cost=spec.cost,
                                    frame_dt=None if info is None else info["dt"], name=f"{spec.model}-surrogate")
    except (ConfigError, ParameterError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Source(sim, cost=spec.cost, fidelity=spec.fidelity)


def _sources(step: MFBOStep, where: str, trained: Mapping[str, Any], models: Mapping[str, Any]) -> list[Source]:
    """The step's sources: simulators built from their configs, trained models through the adapter.

    ``trained`` maps the earlier ``train_neural_pde`` steps to their model specs (validation);
    ``models`` to their records with weights (``ctx.models``), empty before any work.
    """
    out = []
    assert step.sources is not None
    for i, spec in enumerate(step.sources):
        at = f"{where}.sources.{i}"
        if isinstance(spec, SimulatorSourceSpec):
            out.append(Source(build_simulator(spec.simulator, source=f"{at}.simulator"), cost=spec.cost,
                              fidelity=spec.fidelity))
        elif spec.model not in trained:
            raise ConfigError(f"{at}.model: {spec.model!r} is not trained by an earlier step; "
                              f"available: {sorted(trained)}")
        else:
            out.append(_trained_source(spec, at, trained[spec.model], models.get(spec.model)))
    return out


def build_problem(step: MFBOStep, where: str, trained: Mapping[str, Any] | None = None,
             models: Mapping[str, Any] | None = None) -> MultiFidelityProblem:
    """The step's problem: registered by name, or built from its sources."""
    _check_form(step, where)
    if step.sources is None:
        try:
            return get_bo_problem(step.problem or DEFAULT_PROBLEM, **step.problem_options)
        except ConfigError as exc:
            raise ConfigError(f"{where}.problem: {exc}") from None
    sources = _sources(step, where, trained or {}, models or {})
    assert step.objective is not None
    truth: Simulator = sources[-1].simulator
    try:
        objective = get_objective(step.objective.name, truth, **step.objective.options)
    except ConfigError as exc:
        raise ConfigError(f"{where}.objective: {exc}") from None
    try:
        return MultiSourceProblem(
            sources, objective, parameters=step.parameters, fixed=step.fixed, log_scale=step.log_scale,
            seed=step.simulation_seed, maximize=step.maximize, fidelity_name=step.fidelity_name,
            fidelity_log_scale=step.fidelity_log_scale, name=step.name, optimum_value=step.optimum_value)
    except (ConfigError, ParameterError) as exc:
        raise ConfigError(f"{where}.sources: {exc}") from None


def _loop(step: MFBOStep, problem: MultiFidelityProblem, where: str, state_dir: Any = None) -> BOLoop:
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
    """Validate the step before any work: the problem (registered, or its sources, objective and
    design), the method on that problem, the acquisition fields and the model options (builds the
    problem and a loop without state; nothing is evaluated or written).

    ``trained`` maps the names of earlier ``train_neural_pde`` steps to their model specs; a
    trained source is checked with an untrained model of that architecture.

    Raises
    ------
    ConfigError
        Naming ``where`` and the bad field.
    """
    if "q" in step.acquisition or "seed" in step.acquisition:
        raise ConfigError(f"{where}.acquisition: set the batch size with 'batch_size' and the seed with 'seed', "
                          "not inside 'acquisition'")
    _loop(step, build_problem(step, where, trained), where)


class MFBOStep(WorkflowStep):
    """Multi-fidelity Bayesian optimisation (``kind: mfbo``).

    Attributes
    ----------
    name : str
        Step name; the loop's state lives in ``<output_dir>/<name>/state``.
    problem : str, optional
        Key of :data:`sciml.studies.bo_problems.BO_PROBLEMS` (default :data:`DEFAULT_PROBLEM`
        when no ``sources`` are given).
    problem_options : dict
        Keyword arguments of the registered problem's factory (e.g. ``{t_target: 0.2}``).
    sources : list, optional
        Instead of ``problem``: the information sources, the truth last, each a
        :class:`SimulatorSourceSpec` or a :class:`TrainedSourceSpec`.
    objective : ObjectiveSpec, optional
        With ``sources``: the objective on a source's output dataset.
    parameters : dict or list, optional
        With ``sources``: the design parameters (names, or names with ``[low, high]``); default
        every parameter of the truth not in ``fixed``.
    fixed : dict
        With ``sources``: parameter values held fixed.
    log_scale : list of str
        With ``sources``: parameters designed in ``log10``.
    fidelity_name, fidelity_log_scale : str, bool
        With ``sources``: name of the fidelity and whether its levels are rescaled in ``log``.
    maximize : bool
        With ``sources``: the direction of the objective.
    optimum_value : float, optional
        With ``sources``: the best value, when known (regrets are then reported).
    simulation_seed : int
        With ``sources``: the seed of every simulator run.
    method : {"mfkg", "mfmes", "qlognei", "ar1-ei"}
        Acquisition (:data:`sciml.bo.names.METHODS`).
    model_kind : {"mfgp", "ar1", "multitask", "singletask"}, optional
        Surrogate of the loop (default: the method's, :data:`sciml.bo.names.DEFAULT_MODEL`).
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
        :class:`sciml.bo.settings.AcquisitionSettings` fields over ``FAST``.
    model_options : dict
        Keyword arguments of the model (``BOLoop(model_options=...)``).
    use_measured_cost : bool
        Count measured wall-clock seconds instead of the declared cost.
    file : str
        Stem of the result JSON and plot in the output folder.
    """

    kind: Literal["mfbo"] = "mfbo"
    name: str = "mfbo"
    problem: str | None = None
    problem_options: dict[str, Any] = Field(default_factory=dict)
    sources: list[SimulatorSourceSpec | TrainedSourceSpec] | None = None
    objective: ObjectiveSpec | None = None
    parameters: dict[str, tuple[float, float]] | list[str] | None = None
    fixed: dict[str, float] = Field(default_factory=dict)
    log_scale: list[str] = Field(default_factory=list)
    fidelity_name: str = "source"
    fidelity_log_scale: bool = False
    maximize: bool = True
    optimum_value: float | None = None
    simulation_seed: int = 0
    method: MethodName = DEFAULT_METHOD
    model_kind: ModelKind | None = None
    budget: float = Field(gt=0, allow_inf_nan=False)
    max_iterations: PositiveInt | None = None
    batch_size: PositiveInt = 1
    n_init: PositiveInt | None = None
    seed: int = 0
    acquisition: dict[str, int] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict)
    use_measured_cost: bool = False
    file: str = "mfbo"

    #: a larger budget or iteration cap continues the stored loop (the same run, longer)
    extendable: ClassVar[tuple[str, ...]] = ("budget", "max_iterations")

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Build the problem (trained sources with untrained models of their architecture) and a
        loop without state; nothing is evaluated or written."""
        check_step(self, ctx.where(index), ctx.trained)

    def inputs(self) -> dict[str, list[str]]:
        """The models of the trained sources."""
        return {"models": [s.model for s in self.sources or [] if isinstance(s, TrainedSourceSpec)]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The loop's state ``<name>/state``, ``<file>.json`` and ``<file>.png``."""
        out = ctx.output_dir
        return [out / self.name / "state", out / f"{self.file}.json", out / f"{self.file}.png"]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Run (or resume) the step's loop; write ``<file>.json`` and ``<file>.png``.

        Evaluations go through ``ctx.executor`` when the workflow is run with one (the problem is
        shipped to its workers), else in this process.
        """
        where = ctx.where(index)
        trained = {name: info["spec"] for name, info in ctx.models.items()}
        problem = build_problem(self, where, trained, ctx.models)
        state_dir = ctx.output_dir / self.name / "state"
        resuming = (state_dir / "state.json").exists()
        loop = _loop(self, problem, where, state_dir=state_dir)
        ctx.log(f"[{self.name}] {self.method} on {problem.name} to cost {self.budget:g}"
                f"{' (resuming)' if resuming else ''} -> {state_dir}")
        executor = make_executor(ctx.executor if ctx.executor is not None else {"kind": "inprocess"})
        with executor:
            result = loop.run(self.budget, resume=True, max_iterations=self.max_iterations, executor=executor)
        rec = result.recommendation
        summary = {"step": self.model_dump(mode="json"), "problem": repr(problem),
                   "n_evaluations": result.n_evaluations, "n_failed": result.n_failed,
                   "total_cost": result.total_cost, "iterations": loop.iteration, "recommendation": rec,
                   "design_names": list(problem.design_names), "result": result.to_dict()}
        out_json = ctx.output_dir / f"{self.file}.json"
        atomic_write_text(out_json, json.dumps(summary, indent=1, default=str) + "\n")
        out_png = plot_best_vs_cost(result, ctx.output_dir / f"{self.file}.png", title=f"{problem.name}: {self.method}")
        ctx.artefacts[f"mfbo:{self.file}"] = out_json
        ctx.artefacts[f"plot:{self.file}"] = out_png
        if rec is not None:
            x = ", ".join(f"{n}={v:.4g}" for n, v in zip(problem.design_names, rec["x"], strict=True))
            truth = "" if rec.get("true_value") is None else f", true value {rec['true_value']:.4g}"
            ctx.log(f"[{self.name}] recommended {x} after cost {result.total_cost:.4g} "
                    f"({result.n_evaluations} evaluations{truth})")
