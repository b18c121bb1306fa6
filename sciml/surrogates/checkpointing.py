"""Checkpoint plumbing shared by the trainers (neural PDE solvers, neural processes, ...).

Checkpoints hold only what ``torch.load(..., weights_only=True)`` accepts: tensors and
primitives (:func:`to_primitive`), including the global RNG states (:func:`rng_state`), so that
a resumed run continues bit for bit. Files are written atomically (:func:`save_checkpoint`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import Tensor, nn

from sciml.data.atomic import atomic_path
from sciml.errors import SciMLError

__all__ = [
    "CheckpointError",
    "TrainingDivergedError",
    "check_resumable_config",
    "class_name",
    "diverged_error",
    "json_number",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "to_primitive",
]


class TrainingDivergedError(SciMLError, RuntimeError):
    """The loss or the weights became NaN/inf; ``last.pt`` still holds the last good state."""


class CheckpointError(SciMLError, ValueError):
    """A checkpoint does not fit the model or the run it is loaded into."""


def class_name(model: nn.Module) -> str:
    """``module.QualifiedName`` of the model's class (stored in checkpoints)."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def to_primitive(value: Any) -> Any:
    """``value`` as primitives that ``torch.load(weights_only=True)`` accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, Mapping):
        return {str(k): to_primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_primitive(v) for v in value]
    if isinstance(value, BaseModel):
        return to_primitive(value.model_dump(mode="json"))
    if is_dataclass(value) and not isinstance(value, type):
        return to_primitive(asdict(value))
    if isinstance(value, torch.dtype):
        return str(value)
    return repr(value)


def json_number(x: Any) -> Any:
    """``x``, with non-finite floats as ``None`` (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def rng_state() -> dict[str, Any]:
    """Global RNG states of torch (CPU and CUDA), NumPy and :mod:`random`, as tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s.cpu() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global RNG states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in cuda])
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["kind"],
            npst["keys"].numpy().astype(np.uint32),
            int(npst["pos"]),
            int(npst["has_gauss"]),
            float(npst["cached_gaussian"]),
        )
    )
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(x) for x in py["internal"].tolist()), py["gauss_next"]))


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: a crash never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def check_resumable_config(path: Path, saved: Mapping[str, Any], now: Mapping[str, Any],
                           may_change: Collection[str]) -> None:
    """Raise :class:`CheckpointError` if a training configuration changed in a field that
    is not in ``may_change`` (the message lists every changed field)."""
    diffs = [
        f"{key}: {saved.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(saved) | set(now))
        if key not in may_change and saved.get(key) != now.get(key)
    ]
    if diffs:
        raise CheckpointError(
            f"cannot resume {path} with a different training configuration ("
            + "; ".join(diffs)
            + "); use the original configuration or another run_dir"
        )


def diverged_error(model: nn.Module, what: str, last_path: Path,
                   progress_of: Callable[[Path], str], hint: str) -> TrainingDivergedError:
    """The error for a NaN/inf loss or weight, saying which checkpoint is kept.

    ``progress_of(last_path)`` describes the kept checkpoint (e.g. ``"epoch 3"``); it may raise
    :class:`~sciml.errors.SciMLError` for an unreadable file.
    """
    if last_path.exists():
        try:
            kept = f"the last good checkpoint ({progress_of(last_path)}) is kept at {last_path}"
        except SciMLError:
            kept = f"the last checkpoint is kept at {last_path}"
    else:
        kept = f"no checkpoint was written yet ({last_path} does not exist)"
    return TrainingDivergedError(
        f"training of {type(model).__name__} diverged: {what}; training stopped and {kept}. {hint}"
    )
