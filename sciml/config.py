"""One configuration system: pydantic models, validated from YAML or mappings.

Every settings object of sciml (workflow steps, dataset recipes, training and benchmark
settings) is a :class:`StrictModel`: unknown fields are errors, and :func:`validate_config`
turns pydantic's errors into one :class:`~sciml.errors.ConfigError` whose lines name the
source, the dotted field and the accepted values.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sciml.errors import ConfigError

__all__ = ["StrictModel", "as_config", "format_validation_error", "load_config", "validate_config"]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)


M = TypeVar("M", bound=BaseModel)


def load_config(path: str | Path, model: type[M]) -> M:
    """Read a YAML file and validate it against ``model``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid YAML, or validation errors; the message names
        the file, each bad field (dotted path) and the accepted values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return validate_config(data, model, source=str(path))


def validate_config(data: dict[str, Any], model: type[M], *, source: str) -> M:
    """Validate a mapping against ``model``; errors name ``source``, field and accepted values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, source)) from None


def as_config(config: M | Mapping[str, Any] | None, model: type[M], what: str) -> M:
    """``config`` validated as ``model`` (``None``: the defaults).

    Raises
    ------
    ConfigError
        ``invalid <what>:`` then one line per bad field, or a config of another type.
    """
    if config is None:
        return model()
    if isinstance(config, model):
        return config
    if isinstance(config, Mapping):
        try:
            return model.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError(f"invalid {what}:\n" + format_validation_error(exc, model, what)) from None
    raise ConfigError(f"config must be a {model.__name__} or a mapping; got {type(config).__name__}")


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """Render a pydantic error as ``source: field a.b.c: message (accepted: ...)`` lines."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, err["loc"][:-1])
            accepted = sorted(parent.model_fields) if parent is not None else []
            msg = f"unknown field {str(err['loc'][-1])!r}" + (f"; accepted fields: {accepted}" if accepted else "")
        elif err["type"] == "missing":
            msg = "field required"
        elif "input" in err and err["type"] not in ("union_tag_invalid",):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{source}: field {loc}: {msg}")
    return "\n".join(lines)


def _model_at(model: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class reached by following ``loc`` from ``model`` (or None)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any, part: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0], part)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        for m in members:
            kind = getattr(m, "model_fields", {}).get("kind")
            if kind is not None and part is not None and part in typing.get_args(kind.annotation):
                return m
        if len(members) == 1:
            return _unwrap(members[0], part)
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if part is None:
            return tp
        field = tp.model_fields.get(str(part))
        return field.annotation if field is not None else None
    if origin in (list, tuple, dict):
        args = typing.get_args(tp)
        return args[-1] if args else None
    return tp if part is None else None
