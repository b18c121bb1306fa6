"""The step protocol: every workflow step is a pydantic spec with ``check`` and ``run``.

A step class derives from :class:`WorkflowStep`, declares its fields (they are the YAML keys,
with ``kind`` a ``Literal`` naming the step) and implements

* ``check(ctx, index)`` — validate everything before any work (files, references to earlier
  steps, options of the library calls it will make) and record what the step will produce in
  ``ctx`` (``ctx.produced``, ``ctx.trained``); raise :class:`~sciml.errors.ConfigError` naming
  ``ctx.where(index)`` and the field;
* ``run(ctx, index)`` — do the work, write outputs atomically under ``ctx.output_dir``, record
  them in ``ctx.artefacts``.

Steps are collected by :data:`sciml.workflows.registry.STEPS`.
"""

from __future__ import annotations

from typing import Any

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.workflows.context import WorkflowContext

__all__ = ["WorkflowStep", "require_dataset"]


class WorkflowStep(StrictModel):
    """Base of every workflow step (see the module docstring)."""

    kind: str

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Validate the step before any work (default: nothing to check)."""

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Do the step's work."""
        raise NotImplementedError

    def resolved(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step as written to ``config.resolved.yaml`` (default: its fields)."""
        return self.model_dump(mode="json")


def require_dataset(ctx: WorkflowContext, index: int, dataset: str) -> None:
    """Raise :class:`ConfigError` unless an earlier step produces ``dataset``."""
    if dataset not in ctx.produced:
        raise ConfigError(f"{ctx.where(index)}.dataset: {dataset!r} is not produced by an earlier step; "
                          f"available: {sorted(ctx.produced)}")
