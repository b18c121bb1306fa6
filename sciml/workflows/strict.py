"""The base of every configuration model (kept apart so that step modules can subclass it
without importing :mod:`sciml.workflows.spec`, which imports them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)
