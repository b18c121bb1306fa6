"""Run a workflow spec: ``sciml run workflows/quickstart.yaml``.

A workflow is a list of steps (:mod:`sciml.workflows.spec`). The runner

1. checks every step first, in order (:meth:`~sciml.workflows.step.WorkflowStep.check`): every
   referenced recipe is loaded and planned, every dataset and model a step uses is produced by
   an earlier step, so that a bad field fails before any work and nothing is written;
2. writes the resolved configuration (recipes inlined) to ``<output_dir>/config.resolved.yaml``;
3. runs the steps in order. Steps resume: a ``generate`` step whose output exists with the same
   recipe is skipped, a training or an optimisation continues from its saved state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sciml.config import load_config
from sciml.data.atomic import atomic_write_text
from sciml.workflows.context import WorkflowContext
from sciml.workflows.spec import WorkflowSpec

__all__ = ["prepare", "run_workflow"]


def prepare(spec: WorkflowSpec, ctx: WorkflowContext) -> None:
    """Check every step of ``spec`` in order without doing any work.

    Raises
    ------
    ConfigError
        The first bad step, naming the workflow file, the step's index and its field.
    """
    for i, step in enumerate(spec.steps):
        step.check(ctx, i)


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
        Executor override for every step that maps work (``{"kind": "inprocess"}``).
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
    ctx = WorkflowContext(name=spec.name, source=source, base_dir=base_dir, output_dir=out, executor=executor,
                          log=log)
    prepare(spec, ctx)
    out.mkdir(parents=True, exist_ok=True)
    resolved = spec.model_dump(mode="json")
    resolved["steps"] = [step.resolved(ctx, i) for i, step in enumerate(spec.steps)]
    atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    for i, step in enumerate(spec.steps):
        step.run(ctx, i)
    ctx.artefacts["config"] = out / "config.resolved.yaml"
    return ctx
