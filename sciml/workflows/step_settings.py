"""Study settings given in a workflow step: merged into a preset, errors naming the workflow field.

A study step (``potentials_study``, ``wgan_submodel``, ``carpool_study``) starts from its study's
preset settings and takes a ``settings`` mapping of overrides; :func:`merge_settings` merges them
and :func:`validate_step_settings` validates the result, each bad field reported as
``<where>.settings.<field>: <message>`` (``where`` from
:meth:`~sciml.workflows.context.WorkflowContext.where`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sciml.config import format_validation_error
from sciml.errors import ConfigError

__all__ = ["merge_settings", "validate_step_settings"]

M = TypeVar("M", bound=BaseModel)


def merge_settings(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s entries, nested mappings merged (an ``executor`` replaced whole)."""
    out = dict(base)
    for k, v in over.items():
        nested = isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k != "executor"
        out[k] = merge_settings(out[k], v) if nested else v
    return out


def validate_step_settings(data: Mapping[str, Any], model: type[M], prefix: str) -> M:
    """``data`` validated as ``model``.

    Raises
    ------
    ConfigError
        One line per bad field, ``<prefix>.<field>: <message>`` (``<prefix>: <message>`` for the
        model as a whole), with the accepted fields of an unknown one.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = format_validation_error(exc, model, "").splitlines()
        raise ConfigError("\n".join(line.replace(": field (top level): ", f"{prefix}: ", 1)
                                    .replace(": field ", f"{prefix}.", 1) for line in lines)) from None
