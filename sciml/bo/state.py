"""The saved state of a BO loop: ``tensors.pt`` (everything a resume reads) and ``state.json``.

``tensors.pt`` is a ``torch.save``'d dict of plain tensors (observed and pending points in
model coordinates, values, costs, tags, counters, optional warm-start hyperparameters) plus the
metadata as JSON text, written in one atomic step and loaded with ``weights_only=True``;
``state.json`` is a readable copy of the metadata, written second (it may lag by one step).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sciml.bo.history import TENSOR_KEYS
from sciml.bo.result import jsonable
from sciml.data.atomic import atomic_path, atomic_write_text
from sciml.errors import SciMLError

__all__ = ["STATE_FORMAT", "STATE_VERSION", "BOLoopError", "read_state", "warm_start_of", "write_state"]

STATE_FORMAT = "sciml.bo.loop"
STATE_VERSION = 1


class BOLoopError(SciMLError, RuntimeError):
    """The loop cannot go on: no successful evaluation to fit a model, unreadable state ..."""


def write_state(state_dir: Path, tensors: dict[str, Any], state: dict[str, Any]) -> None:
    """Write ``tensors`` (with ``state`` as JSON text under ``"meta"``) and ``state.json``, atomically."""
    state_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable({"format": STATE_FORMAT, "version": STATE_VERSION, **state}), indent=1)
    # the metadata also travels inside tensors.pt (one atomic write holds everything the loop
    # resumes from); state.json is a readable copy, written second
    with atomic_path(state_dir / "tensors.pt") as tmp:
        torch.save({**tensors, "meta": text}, tmp)
    atomic_write_text(state_dir / "state.json", text)


def read_state(state_dir: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The metadata and tensors of a saved state.

    Raises
    ------
    BOLoopError
        No state, an unreadable one, another format or version, missing tensors.
    """
    state_dir = Path(state_dir)
    try:
        state = json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
        tensors = torch.load(state_dir / "tensors.pt", weights_only=True)
        if isinstance(tensors, dict) and isinstance(tensors.get("meta"), str):
            # written with the tensors in one atomic step, so it is never behind them
            state = json.loads(tensors.pop("meta"))
    except FileNotFoundError as exc:
        raise BOLoopError(f"{state_dir} holds no BO state ({exc.filename} is missing)") from None
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise BOLoopError(f"cannot read the BO state in {state_dir}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise BOLoopError(f"{state_dir / 'state.json'} is not a {STATE_FORMAT} state")
    if state.get("version") != STATE_VERSION:
        raise BOLoopError(f"{state_dir / 'state.json'} has version {state.get('version')!r}; "
                          f"this sciml reads version {STATE_VERSION}")
    keys = {*TENSOR_KEYS, "counters"}
    if not isinstance(tensors, dict) or not keys <= set(tensors):
        raise BOLoopError(f"{state_dir / 'tensors.pt'} lacks entries {sorted(keys - set(tensors or {}))}")
    return state, tensors


def warm_start_of(t: dict[str, Any], path: Path) -> tuple[dict[str, Tensor] | None, int]:
    """The saved warm-start hyperparameters and the iteration they are from (``None, 0`` if none).

    Raises
    ------
    BOLoopError
        Only one of the two entries, or ``warm`` not a dict of tensors.
    """
    warm = t.get("warm")
    if (warm is None) != ("warm_iteration" not in t) or (
            warm is not None and not (isinstance(warm, dict) and all(isinstance(v, Tensor) for v in warm.values()))):
        raise BOLoopError(f"{path}: 'warm' (a dict of tensors) and 'warm_iteration' must be both present or both "
                          "absent")
    if warm is None:
        return None, 0
    return {str(key): v.to(torch.float64) for key, v in warm.items()}, int(t["warm_iteration"])
