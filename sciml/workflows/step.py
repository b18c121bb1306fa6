"""The step protocol: every workflow step is a pydantic spec with ``check`` and ``run``.

A step class derives from :class:`WorkflowStep`, declares its fields (they are the YAML keys,
with ``kind`` a ``Literal`` naming the step) and implements

* ``check(ctx, index)`` — validate everything before any work (files, references to earlier
  steps, options of the library calls it will make) and record what the step will produce in
  ``ctx`` (``ctx.produced``, ``ctx.trained``); raise :class:`~sciml.errors.ConfigError` naming
  ``ctx.where(index)`` and the field;
* ``run(ctx, index)`` — do the work, write outputs atomically under ``ctx.output_dir``, record
  them in ``ctx.artefacts``.

and declares what its outputs are keyed by (:func:`sciml.workflows.runner.run_step`):

* ``inputs()`` / ``products()`` — the datasets and models it reads / makes, by name;
* ``outputs(ctx)`` — every file and folder it writes or resumes from (removed, and only they,
  when its key changes);
* ``keyed_config(ctx, index)`` — its resolved configuration without the fields that cannot
  change its outputs (default: :meth:`WorkflowStep.resolved`);
* ``extendable`` — fields whose increase continues the stored state (an optimisation budget).

Steps are collected by :data:`sciml.workflows.registry.STEPS`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.workflows.context import WorkflowContext

__all__ = ["WorkflowStep", "require_dataset"]


class WorkflowStep(StrictModel):
    """Base of every workflow step (see the module docstring)."""

    kind: str

    #: Fields whose larger value (``None``: unlimited) continues the stored state instead of
    #: starting clean, e.g. the budget of an optimisation that resumes from its state.
    extendable: ClassVar[tuple[str, ...]] = ()

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Validate the step before any work (default: nothing to check)."""

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Do the step's work."""
        raise NotImplementedError

    def resolved(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step as written to ``config.resolved.yaml`` (default: its fields)."""
        return self.model_dump(mode="json")

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The configuration that the step's outputs are keyed by (default: :meth:`resolved`).

        Steps drop fields that cannot change their outputs (an executor, an output name that
        the workflow overrides); everything else must stay, or a rerun may mix stale outputs.
        """
        return self.resolved(ctx, index)

    def inputs(self) -> dict[str, list[str]]:
        """Results of earlier steps that the step reads: ``{"datasets": [...], "models": [...]}``."""
        return {}

    def products(self) -> dict[str, list[str]]:
        """Results that later steps may read: ``{"datasets": [...]}`` or ``{"models": [...]}``."""
        return {}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """Every file and folder the step writes or resumes from, under ``ctx.output_dir``."""
        return []

    def label(self, index: int) -> str:
        """The name of the step's fingerprint record: ``<kind>-<name or file>`` (safe as a file name)."""
        ident = getattr(self, "name", None) or getattr(self, "file", None) or str(index)
        return re.sub(r"[^A-Za-z0-9._-]", "_", f"{self.kind}-{ident}")


def require_dataset(ctx: WorkflowContext, index: int, dataset: str) -> None:
    """Raise :class:`ConfigError` unless an earlier step produces ``dataset``."""
    if dataset not in ctx.produced:
        raise ConfigError(f"{ctx.where(index)}.dataset: {dataset!r} is not produced by an earlier step; "
                          f"available: {sorted(ctx.produced)}")
