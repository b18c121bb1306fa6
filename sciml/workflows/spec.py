"""The pydantic model of a workflow file (``workflows/*.yaml``): named steps run in order.

Files are read and validated by :func:`sciml.config.load_config`; each step is one of the
registered step classes (:data:`sciml.workflows.registry.STEPS`), chosen by its ``kind``.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from sciml.config import StrictModel
from sciml.workflows.registry import STEP_TYPES

__all__ = ["Step", "WorkflowSpec"]

Step = Annotated[Union[STEP_TYPES], Field(discriminator="kind")]  # noqa: UP007 - a union built from the registry


class WorkflowSpec(StrictModel):
    """A workflow: named steps run in order, outputs under ``output_dir``."""

    name: str
    description: str = ""
    output_dir: str | None = None
    steps: list[Step] = Field(min_length=1)
