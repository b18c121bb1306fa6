"""Run a workflow spec: ``sciml run workflows/quickstart.yaml``.

A workflow is a list of steps (see :mod:`sciml.workflows.spec`). The runner

1. validates the whole workflow first — every referenced recipe is loaded and planned, every
   dataset a step uses is produced by an earlier step — so that a bad field fails before any
   work and nothing is written;
2. writes the resolved configuration (recipes inlined) to ``<output_dir>/config.resolved.yaml``;
3. runs the steps in order. A ``generate`` step whose output already exists with the same
   recipe is skipped, so a rerun after an interruption resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sciml.data.atomic import atomic_write_text
from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.workflows.spec import (
    DatasetRecipe,
    EvaluateNeuralPDEStep,
    GenerateStep,
    PlotTrajectoriesStep,
    SummaryStep,
    TrainNeuralPDEStep,
    WorkflowSpec,
)


@dataclass
class WorkflowContext:
    """State shared by the steps of one workflow run."""

    spec: WorkflowSpec
    source: str
    base_dir: Path
    output_dir: Path
    executor: Mapping[str, Any] | None = None
    datasets: dict[str, Path] = field(default_factory=dict)
    artefacts: dict[str, Path] = field(default_factory=dict)
    recipes: dict[int, DatasetRecipe] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: Callable[[str], None] = print


def _recipe_for(step: GenerateStep, index: int, ctx: WorkflowContext) -> DatasetRecipe:
    where = f"{ctx.source}: field steps.{index}"
    if (step.recipe is None) == (step.inline is None):
        raise ConfigError(f"{where}: give exactly one of 'recipe' (a file) or 'inline' (a recipe)")
    if step.inline is not None:
        return step.inline
    path = Path(step.recipe)
    if not path.is_absolute():
        path = ctx.base_dir / path
    return load_config(path, DatasetRecipe)


def prepare(ctx: WorkflowContext) -> None:
    """Validate every step of the workflow without doing any work."""
    from sciml.workflows.campaign import plan_campaign

    from sciml.workflows.mfbo_steps import MFBOStep, check_step as check_mfbo_step
    from sciml.workflows.probconserv_steps import ProbConservStudyStep
    from sciml.workflows.probconserv_steps import check_step as check_probconserv_step
    from sciml.workflows.neural_pde_steps import check_train_config

    produced: set[str] = set()
    trained: dict[str, Any] = {}  # train step name -> its model spec
    for i, step in enumerate(ctx.spec.steps):
        if isinstance(step, EvaluateNeuralPDEStep) and step.model not in trained:
            raise ConfigError(
                f"{ctx.source}: field steps.{i}.model: {step.model!r} is not trained by an earlier "
                f"step; available: {sorted(trained)}"
            )
        if isinstance(step, TrainNeuralPDEStep):
            check_train_config(step, f"{ctx.source}: field steps.{i}")
            trained[step.name] = step.model
        if isinstance(step, MFBOStep):
            check_mfbo_step(step, f"{ctx.source}: field steps.{i}", trained)
        if isinstance(step, ProbConservStudyStep):
            check_probconserv_step(step, f"{ctx.source}: field steps.{i}")
        if isinstance(step, GenerateStep):
            recipe = _recipe_for(step, i, ctx)
            plan_campaign(recipe, source=str(step.recipe or f"{ctx.source}: steps.{i}.inline"),
                          output=ctx.output_dir / f"{step.name}.nc")
            ctx.recipes[i] = recipe
            produced.add(step.name)
        elif getattr(step, "dataset", None) is not None and step.dataset not in produced:
            raise ConfigError(
                f"{ctx.source}: field steps.{i}.dataset: {step.dataset!r} is not produced by an "
                f"earlier step; available: {sorted(produced)}"
            )


def _run_generate(step: GenerateStep, index: int, ctx: WorkflowContext) -> None:
    from sciml.workflows.campaign import generate

    recipe = ctx.recipes[index]
    out = ctx.output_dir / f"{step.name}.nc"
    if out.exists() and _same_recipe(out, recipe):
        ctx.log(f"[{step.name}] {out} is up to date; skipped")
    else:
        executor = ctx.executor
        if executor is None and step.executor is not None:
            executor = step.executor.model_dump()
        ctx.log(f"[{step.name}] generating {recipe.name} -> {out}")
        generate(recipe, output=out, executor=executor, overwrite=True)
    ctx.datasets[step.name] = out
    ctx.artefacts[step.name] = out


def _same_recipe(path: Path, recipe: DatasetRecipe) -> bool:
    from sciml.data.netcdf import open_dataset

    try:
        with open_dataset(path) as ds:
            stored = json.loads(ds.attrs["parameters"])["recipe"]
    except Exception:  # noqa: BLE001 - any unreadable output is regenerated
        return False
    current = recipe.model_dump(mode="json")
    keys = set(current) - {"output", "executor"}
    return all(stored.get(k) == current[k] for k in keys)


def _run_plot(step: PlotTrajectoriesStep, index: int, ctx: WorkflowContext) -> None:
    from sciml.data.netcdf import open_dataset
    from sciml.viz.trajectories import plot_trajectories

    out = ctx.output_dir / step.file
    with open_dataset(ctx.datasets[step.dataset]) as ds:
        plot_trajectories(ds, out, n=step.n)
    ctx.log(f"[plot] {out}")
    ctx.artefacts[f"plot:{step.file}"] = out


def _run_summary(step: SummaryStep, index: int, ctx: WorkflowContext) -> None:
    from sciml.data.describe import format_summary, summarize
    from sciml.data.netcdf import open_dataset

    with open_dataset(ctx.datasets[step.dataset]) as ds:
        summary = summarize(ds)
    json_path = ctx.output_dir / f"{step.file}.json"
    md_path = ctx.output_dir / f"{step.file}.md"
    atomic_write_text(json_path, json.dumps(summary, indent=2) + "\n")
    text = format_summary(summary, path=ctx.datasets[step.dataset])
    atomic_write_text(md_path, f"# {ctx.spec.name}: {step.dataset}\n\n```\n{text}\n```\n")
    ctx.log(f"[summary] {json_path}")
    ctx.log(text)
    ctx.artefacts[f"summary:{step.file}"] = json_path


def _run_train(step: TrainNeuralPDEStep, index: int, ctx: WorkflowContext) -> None:
    from sciml.workflows.neural_pde_steps import run_train

    run_train(step, index, ctx)


def _run_evaluate(step: EvaluateNeuralPDEStep, index: int, ctx: WorkflowContext) -> None:
    from sciml.workflows.neural_pde_steps import run_evaluate

    run_evaluate(step, index, ctx)


def _run_mfbo(step: Any, index: int, ctx: WorkflowContext) -> None:
    from sciml.workflows.mfbo_steps import run_mfbo

    run_mfbo(step, index, ctx)


def _run_probconserv(step: Any, index: int, ctx: WorkflowContext) -> None:
    from sciml.workflows.probconserv_steps import run_probconserv_study

    run_probconserv_study(step, index, ctx)


#: Step kind -> function(step, index, ctx). Later modules register more kinds here.
STEP_RUNNERS: dict[str, Callable[[Any, int, WorkflowContext], None]] = {
    "generate": _run_generate,
    "plot_trajectories": _run_plot,
    "summary": _run_summary,
    "train_neural_pde": _run_train,
    "evaluate_neural_pde": _run_evaluate,
    "mfbo": _run_mfbo,
    "probconserv_study": _run_probconserv,
}


def run_workflow(
    spec: WorkflowSpec | str | Path,
    *,
    output_dir: str | Path | None = None,
    executor: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> WorkflowContext:
    """Validate and run a workflow.

    Parameters
    ----------
    spec : WorkflowSpec or path
        The workflow, or a YAML file holding one.
    output_dir : path, optional
        Where outputs go (default: the spec's ``output_dir``, else ``runs/<name>``).
    executor : mapping, optional
        Executor override for every ``generate`` step (``{"kind": "inprocess"}``).
    log : callable
        Receives progress messages.

    Returns
    -------
    WorkflowContext
        With ``artefacts``: name -> path of everything written.
    """
    if isinstance(spec, (str, Path)):
        source = str(spec)
        base_dir = Path(spec).resolve().parent
        spec = load_config(spec, WorkflowSpec)
    else:
        source, base_dir = f"workflow {spec.name!r}", Path.cwd()
    out = Path(output_dir or spec.output_dir or Path("runs") / spec.name)
    ctx = WorkflowContext(spec=spec, source=source, base_dir=base_dir, output_dir=out,
                          executor=executor, log=log)
    prepare(ctx)
    out.mkdir(parents=True, exist_ok=True)
    resolved = spec.model_dump(mode="json")
    for i, recipe in ctx.recipes.items():
        resolved["steps"][i]["inline"] = recipe.model_dump(mode="json")
    atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    for i, step in enumerate(spec.steps):
        STEP_RUNNERS[step.kind](step, i, ctx)
    ctx.artefacts["config"] = out / "config.resolved.yaml"
    return ctx
