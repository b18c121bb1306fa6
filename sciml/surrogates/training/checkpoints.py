"""The one checkpoint format of sciml's trainers, and the plumbing to write and read it.

A checkpoint is a dict of tensors and primitives (:func:`to_primitive`), read back with
``torch.load(..., weights_only=True)`` and written atomically (:func:`save_checkpoint`)::

    format, format_version     CHECKPOINT_FORMAT, CHECKPOINT_VERSION
    family                     who wrote it ("neural_pde", "anp", ...)
    kind                       "last" (full state, for resuming) or "best" (weights)
    unit, completed            "epoch" or "step", and how many were completed
    model_class, model_config  ``module.QualName`` and the model's constructor config (or None)
    model_state                the weights
    train_config               the trainer's configuration (JSON)
    data_fingerprint           last only: a hash of the training data (or None), checked on resume
    best_metric, best_unit     the best evaluation so far (``best_unit``: 0-based, or None)
    torch_version
    last only: rng (global RNG states, :func:`rng_state`), history (the metric records),
               ``<name>_state`` of every optimiser and scheduler
    plus the family's own keys (e.g. ``epoch``, ``steps_completed``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import Tensor, nn

from sciml.data.atomic import atomic_path
from sciml.errors import FileFormatError, SciMLError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "TrainingDivergedError",
    "check_model_class",
    "check_resumable_config",
    "check_same_data",
    "class_name",
    "json_number",
    "load_checkpoint",
    "load_model_state",
    "load_weights",
    "model_config",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "to_primitive",
]

CHECKPOINT_FORMAT = "sciml.training.checkpoint"
CHECKPOINT_VERSION = 1
#: formats written by earlier versions of sciml (one per trainer); read by nothing now
_EARLIER_FORMATS = ("sciml.neural_pde.checkpoint", "sciml.probconserv.anp.checkpoint")


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


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The model's constructor configuration (``get_config()`` or a ``config`` attribute), or None."""
    cfg: Any = None
    if callable(getattr(model, "get_config", None)):
        cfg = model.get_config()
    elif hasattr(model, "config"):
        cfg = model.config
    if cfg is None:
        return None
    out = to_primitive(cfg)
    return out if isinstance(out, dict) else {"value": out}


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


def load_checkpoint(path: str | Path, *, family: str | None = None, label: str = "training",
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of this format (``torch.load(..., weights_only=True)``).

    Parameters
    ----------
    path : str or path
    family : str, optional
        Refuse checkpoints of another family (e.g. ``"anp"``).
    label : str
        The family's name in error messages (``"ANP"``, ``"neural-PDE"``).
    map_location : str or torch.device

    Raises
    ------
    FileFormatError
        The file is missing, unreadable, of an earlier sciml format (named in the message),
        of another format version or of another family.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ...
        raise FileFormatError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
    if found in _EARLIER_FORMATS:
        raise FileFormatError(
            f"{path}: not a sciml {label} checkpoint of this version: format {found!r} was written by an "
            f"earlier sciml, this one reads {CHECKPOINT_FORMAT!r} version {CHECKPOINT_VERSION}; retrain, "
            f"or read the weights with the sciml that wrote them"
        )
    if not isinstance(ckpt, dict) or found != CHECKPOINT_FORMAT:
        raise FileFormatError(
            f"{path}: not a sciml {label} checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise FileFormatError(
            f"{path}: checkpoint format version {ckpt.get('format_version')!r}; this sciml reads "
            f"version {CHECKPOINT_VERSION}"
        )
    if family is not None and ckpt.get("family") != family:
        raise FileFormatError(
            f"{path}: not a sciml {label} checkpoint (written by the {ckpt.get('family')!r} trainer)"
        )
    return ckpt


def check_model_class(model: nn.Module, ckpt: Mapping[str, Any], path: Path) -> None:
    """Raise :class:`CheckpointError` unless ``ckpt`` holds a model of ``model``'s class."""
    have = class_name(model)
    if ckpt["model_class"] != have:
        raise CheckpointError(
            f"checkpoint {path} holds a {ckpt['model_class']} model, but the model given is a {have}"
        )


def load_model_state(model: nn.Module, ckpt: Mapping[str, Any], path: Path) -> None:
    """Load ``ckpt``'s weights into ``model`` after checking its class and configuration.

    Raises
    ------
    CheckpointError
        The checkpoint holds another model class, another configuration (the message lists
        the fields that differ) or weights of other shapes.
    """
    check_model_class(model, ckpt, path)
    have = class_name(model)
    saved, now = ckpt.get("model_config"), model_config(model)
    if saved is not None and now is not None and saved != now:
        diffs = [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(saved) | set(now))
                 if saved.get(k) != now.get(k)]
        raise CheckpointError(f"checkpoint {path} was written for another configuration of {have} ("
                              + "; ".join(diffs) + ")")
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {path} ({ckpt['model_class']}, config {saved}) does not fit the model given "
            f"(config {now}): {exc}"
        ) from exc


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


def check_same_data(path: Path, saved: str | None, now: str | None) -> None:
    """Raise :class:`CheckpointError` if the run at ``path`` trained on other data than the
    data given now (fingerprints ``saved`` and ``now``; None on either side: not checked)."""
    if saved is not None and now is not None and saved != now:
        raise CheckpointError(
            f"cannot resume {path}: the training data changed since it was written (data fingerprint "
            f"{saved[:12]} -> {now[:12]}); train on the original data, or start a new run in another run_dir"
        )


def load_weights(model: nn.Module, path: str | Path, *, family: str | None = None,
                 label: str = "training") -> dict[str, Any]:
    """Load the weights of checkpoint ``path`` into ``model`` (in place, on its device); return the checkpoint.

    Raises
    ------
    CheckpointError
        As :func:`load_model_state`.
    FileFormatError
        As :func:`load_checkpoint`.
    """
    path = Path(path)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ckpt = load_checkpoint(path, family=family, label=label, map_location=device)
    load_model_state(model, ckpt, path)
    return ckpt
