"""Training of autoregressive neural PDE solvers (FNO, U-Net, CAPE), resumable bit-for-bit.

:class:`Trainer` fits any solver that follows :mod:`sciml.surrogates.neural_pde.protocol`
on trajectory datasets (items ``{"trajectory": (n_vars, n_frames, *space),
"params": (n_params,), ...}``, as served by :class:`sciml.data.torch_dataset.TrajectoryDataset`).

Objective
---------
Every training sample is rolled out for ``n`` steps from its first ``initial_step`` frames;
the frames fed back into the history follow the curriculum
(:mod:`sciml.surrogates.neural_pde.curriculum`). The loss is the relative L2 error

.. math::  \\ell = \\frac{1}{n B} \\sum_{j, b} \\frac{\\|\\hat u_{b,j} - u_{b,j}\\|_2}{\\|u_{b,j}\\|_2}

(per sample and step, norms over variables and space, averaged over the batch and the
steps) plus, for CAPE models (``hasattr(model, "forward_with_estimate")``),
``aux_loss_weight`` times the same error of the CAPE estimate of each next frame. In the
first ``warmup_epochs`` epochs only the CAPE block (``model.cape_parameters()``) is trained,
on the CAPE-estimate loss alone, with teacher forcing; the learning-rate schedule (Adam +
StepLR) starts after the warm-up.

Validation rolls the model out fully autoregressively and reports ``val_loss`` (the loss
above with every step self-fed, without the CAPE term) and ``val_nrmse``: per sample
``||pred - true||_2 / ||true||_2`` over all predicted frames, variables and cells, averaged
over samples. ``best.pt`` keeps the model of the epoch with the lowest ``val_nrmse``.

Files in ``run_dir``
--------------------
``last.pt``        full state after the last completed epoch (written atomically every epoch)
``best.pt``        model weights of the best validation epoch
``metrics.jsonl``  one JSON line per completed epoch (rewritten atomically every epoch)

Checkpoints hold only tensors and primitive containers and are read with
``torch.load(..., weights_only=True)``; see :func:`load_checkpoint`.

Reproducibility
---------------
A fresh :meth:`Trainer.fit` seeds torch, NumPy and :mod:`random` with ``config.seed``; the
data order of epoch ``e`` comes from a generator seeded with ``(seed, e)`` and the input
noise from another, so ``fit(..., resume=True)`` after an interruption (which restores
weights, optimiser, scheduler and all RNG states from ``last.pt``) reproduces the
uninterrupted run's weights exactly on CPU.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError, FileFormatError, SciMLError
from sciml.progress import progress
from sciml.surrogates.checkpointing import (
    CheckpointError,
    TrainingDivergedError,
    check_resumable_config,
    diverged_error,
)
from sciml.surrogates.checkpointing import class_name as _class_name
from sciml.surrogates.checkpointing import json_number as _json_number
from sciml.surrogates.checkpointing import rng_state as _rng_state
from sciml.surrogates.checkpointing import save_checkpoint as _save
from sciml.surrogates.checkpointing import set_rng_state as _set_rng_state
from sciml.surrogates.checkpointing import to_primitive as _primitive
from sciml.surrogates.neural_pde.curriculum import Curriculum

__all__ = [
    "CheckpointError",
    "DatasetMismatchError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "load_checkpoint",
    "load_weights",
    "relative_l2",
]

CHECKPOINT_FORMAT = "sciml.neural_pde.checkpoint"
CHECKPOINT_VERSION = 1
#: Config fields that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"epochs", "device", "num_workers", "progress"})
_PROTOCOL_ATTRS = ("n_vars", "initial_step", "n_params", "spatial_dims")


# --------------------------------------------------------------------------- errors
class DatasetMismatchError(SciMLError, ValueError):
    """A dataset's items do not fit the model (variables, spatial dims, parameters, frames)."""


# --------------------------------------------------------------------------- config
class TrainConfig(BaseModel):
    """Hyper-parameters of :class:`Trainer` (unknown fields are errors).

    Parameters
    ----------
    epochs : int
        Training epochs, warm-up included.
    batch_size : int
        Trajectories per batch.
    lr, weight_decay : float
        Adam learning rate and (L2) weight decay.
    scheduler_step, scheduler_gamma : int, float
        StepLR: multiply the learning rate by ``scheduler_gamma`` every ``scheduler_step``
        epochs after the warm-up.
    input_noise_std : float
        Standard deviation of Gaussian noise added to every input history in training.
    relative_floor : float
        Training loss reference norms are at least this fraction of the norm of each
        sample's first frame (0: pure relative L2), so that trajectories decaying to ~0 do
        not dominate the loss.
    aux_loss_weight : float
        Weight of the CAPE-estimate loss (CAPE models only).
    warmup_epochs : int
        First epochs that train only ``model.cape_parameters()`` on the relative L2 error of
        ``model.estimate(history, params)`` over teacher-forced one-step pairs (every
        ``(history, next frame)`` pair of a batch's trajectories, shuffled, ``batch_size``
        pairs per optimizer step; the base model never runs). Skipped (with a warning) for
        models without a CAPE block (``cape_parameters``, ``estimate``,
        ``forward_with_estimate``).
    curriculum : Curriculum
        Teacher forcing → autoregressive schedule (a dict such as ``{"kind": "tanh"}``
        is accepted).
    unroll_steps : int or None
        Steps predicted per training sample; ``None``: every frame after the first
        ``initial_step``.
    eval_steps : int or None
        Steps of the validation rollout; ``None``: every frame after the first ``initial_step``.
    seed : int
        Seed of the global RNGs (fresh runs), the data order and the input noise.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or ``"auto"`` (CUDA when available).
    grad_clip : float or None
        Clip the global gradient norm to this value.
    num_workers : int
        DataLoader worker processes.
    progress : bool or None
        Show a progress bar (``None``: when stderr is a terminal).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)

    epochs: PositiveInt = 20
    batch_size: PositiveInt = 32
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-4
    scheduler_step: PositiveInt = 100
    scheduler_gamma: float = Field(default=0.5, gt=0.0, le=1.0)
    input_noise_std: NonNegativeFloat = 0.0
    relative_floor: NonNegativeFloat = 0.0
    aux_loss_weight: NonNegativeFloat = 0.1
    warmup_epochs: NonNegativeInt = 0
    curriculum: Curriculum = Field(default_factory=Curriculum)
    unroll_steps: PositiveInt | None = None
    eval_steps: PositiveInt | None = None
    seed: NonNegativeInt = 0
    device: str = "cpu"
    grad_clip: PositiveFloat | None = None
    num_workers: NonNegativeInt = 0
    progress: bool | None = None

    @field_validator("device")
    @classmethod
    def _valid_device(cls, value: str) -> str:
        if value == "auto":
            return value
        try:
            torch.device(value)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be smaller than epochs ({self.epochs})"
            )
        return self

    def resolved_device(self) -> torch.device:
        """The torch device (``"auto"`` becomes CUDA when available, else CPU)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def _as_config(config: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, Mapping):
        try:
            return TrainConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError(f"invalid training configuration:\n{exc}") from exc
    raise ConfigError(f"config must be a TrainConfig or a mapping; got {type(config).__name__}")


# --------------------------------------------------------------------------- result
@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    history : list of dict
        One record per completed epoch (the lines of ``metrics.jsonl``).
    best_epoch : int or None
        0-based epoch of ``best.pt`` (lowest ``val_nrmse``; lowest ``train_loss`` without a
        validation set).
    best_metric : float
        Its ``val_nrmse`` (or ``train_loss``).
    run_dir, last_checkpoint, best_checkpoint : Path
    resumed_from_epoch : int or None
        Last epoch completed before this call when it resumed a run.
    notes : list of str
        Things the trainer decided (skipped warm-up, ignored CAPE loss, ...).
    """

    history: list[dict[str, Any]]
    best_epoch: int | None
    best_metric: float
    run_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path
    resumed_from_epoch: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def epochs_completed(self) -> int:
        """Number of completed epochs (in this and earlier calls)."""
        return len(self.history)

    @property
    def mean_epoch_seconds(self) -> float:
        """Mean wall time of a (non-warm-up) training epoch, validation included."""
        rows = [h for h in self.history if h["phase"] == "train"] or self.history
        return float(np.mean([h["seconds"] for h in rows])) if rows else math.nan

    @property
    def mean_samples_per_s(self) -> float:
        """Mean training throughput (trajectories per second) of non-warm-up epochs."""
        rows = [h for h in self.history if h["phase"] == "train"] or self.history
        return float(np.mean([h["samples_per_s"] for h in rows])) if rows else math.nan


# --------------------------------------------------------------------------- losses
def relative_l2(pred: Tensor, true: Tensor, floor: Tensor | float = 0.0) -> Tensor:
    """Per-sample relative L2 error ``||pred - true||_2 / max(||true||_2, floor)``.

    Parameters
    ----------
    pred, true : Tensor, shape ``(batch, ...)``
    floor : float or Tensor of shape ``(batch,)``
        Smallest reference norm. Trajectories that decay to ~0 (strong diffusion) would
        otherwise make relative errors explode and dominate a loss; the trainer passes
        ``relative_floor`` times the norm of each sample's first frame.

    Returns
    -------
    Tensor, shape ``(batch,)``
        Norms over every axis but the first; a zero reference is guarded by the smallest
        positive float of the dtype (so its error is huge, not NaN).
    """
    diff = (pred - true).flatten(1).norm(dim=1)
    ref = torch.maximum(true.flatten(1).norm(dim=1), torch.as_tensor(floor, dtype=true.dtype,
                                                                      device=true.device))
    return diff / ref.clamp_min(torch.finfo(true.dtype).tiny)


def _rollout_errors(
    model: nn.Module,
    traj: Tensor,
    params: Tensor | None,
    n_steps: int,
    feedback: Sequence[bool],
    *,
    noise_std: float = 0.0,
    noise_generator: torch.Generator | None = None,
    with_estimate: bool = False,
    keep_predictions: bool = False,
    relative_floor: float = 0.0,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Roll ``model`` out on ``traj`` and return per-sample, per-step relative errors.

    Parameters
    ----------
    traj : Tensor, shape ``(batch, n_vars, >= initial_step + n_steps, *space)``
    params : Tensor, shape ``(batch, n_params)``, or None
    feedback : sequence of bool, length ``n_steps``
        Whether step ``j``'s prediction (True) or the true frame (False) joins the history.
    relative_floor : float
        Reference norms are at least this fraction of the sample's first-frame norm.

    Returns
    -------
    errors : Tensor, shape ``(batch, n_steps)``
        Relative L2 error of each predicted frame.
    aux : Tensor, shape ``(batch, n_steps)``, or None
        Relative L2 error of each CAPE estimate (``with_estimate``).
    preds : Tensor, shape ``(batch, n_vars, n_steps, *space)``, or None
        The predictions (``keep_predictions``).
    """
    k = int(model.initial_step)
    b, v = traj.shape[:2]
    space = tuple(traj.shape[3:])
    frames = [traj[:, :, i] for i in range(k)]
    floor = relative_floor * traj[:, :, 0].flatten(1).norm(dim=1) if relative_floor > 0 else 0.0
    errors: list[Tensor] = []
    aux: list[Tensor] = []
    preds: list[Tensor] = []
    for j in range(n_steps):
        history = torch.stack(frames[-k:], dim=1).reshape(b, k * v, *space)
        if noise_std > 0:
            noise = torch.randn(
                history.shape, generator=noise_generator, device=history.device, dtype=history.dtype
            )
            history = history + noise_std * noise
        if with_estimate:
            pred, est = model.forward_with_estimate(history, params)
        else:
            pred, est = model(history, params), None
        if tuple(pred.shape) != (b, v, *space):
            raise ValueError(
                f"{type(model).__name__} returned shape {tuple(pred.shape)}; expected "
                f"(batch, n_vars, *space) = {(b, v, *space)}"
            )
        true = traj[:, :, k + j]
        errors.append(relative_l2(pred, true, floor))
        if est is not None:
            aux.append(relative_l2(est, true, floor))
        if keep_predictions:
            preds.append(pred)
        frames.append(pred if feedback[j] else true)
    return (
        torch.stack(errors, dim=1),
        torch.stack(aux, dim=1) if aux else None,
        torch.stack(preds, dim=2) if keep_predictions else None,
    )


# --------------------------------------------------------------------------- datasets
def _check_model(model: nn.Module) -> None:
    missing = [a for a in _PROTOCOL_ATTRS if not hasattr(model, a)]
    if missing:
        raise TypeError(
            f"{type(model).__name__} does not follow the neural PDE solver protocol: missing "
            f"attribute(s) {missing} (see sciml.surrogates.neural_pde.protocol)"
        )


def _trajectory_of(item: Any, where: str) -> Tensor:
    if not isinstance(item, Mapping):
        raise DatasetMismatchError(
            f"{where}: items must be dicts with a 'trajectory' (n_vars, n_frames, *space) tensor "
            f"(or 'history' and 'target'); got {type(item).__name__}"
        )
    if "trajectory" in item:
        return torch.as_tensor(item["trajectory"])
    if "history" in item and "target" in item:
        return torch.cat([torch.as_tensor(item["history"]), torch.as_tensor(item["target"])], dim=1)
    raise DatasetMismatchError(
        f"{where}: items need a 'trajectory' tensor (or 'history' and 'target'); keys present: "
        f"{sorted(item)}"
    )


def _check_dataset(model: nn.Module, dataset: Dataset, role: str, n_steps: int | None) -> int:
    """Check the first item of ``dataset`` against ``model``; return the frames per item."""
    name = type(model).__name__
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError as exc:
        raise DatasetMismatchError(f"{role} dataset must have a length (a map-style Dataset)") from exc
    if n == 0:
        raise DatasetMismatchError(f"{role} dataset is empty")
    item = dataset[0]
    traj = _trajectory_of(item, f"{role} dataset")
    sd = int(model.spatial_dims)
    if traj.ndim != 2 + sd:
        raise DatasetMismatchError(
            f"{role} dataset: trajectories have shape {tuple(traj.shape)} ({traj.ndim - 2} spatial "
            f"dim(s)), but {name}.spatial_dims = {sd}: expected (n_vars, n_frames"
            f"{''.join(', ' + 'xyz'[i] for i in range(sd))})"
        )
    if traj.shape[0] != model.n_vars:
        raise DatasetMismatchError(
            f"{role} dataset: trajectories have {traj.shape[0]} variable(s) (shape "
            f"{tuple(traj.shape)}), but {name}.n_vars = {model.n_vars}"
        )
    if not traj.is_floating_point():
        raise DatasetMismatchError(f"{role} dataset: trajectories have dtype {traj.dtype}; expected floating point")
    if not bool(torch.isfinite(traj).all()):
        raise DatasetMismatchError(f"{role} dataset: the first trajectory contains NaN or inf")
    n_frames = int(traj.shape[1])
    k = int(model.initial_step)
    needed = k + (n_steps if n_steps is not None else 1)
    if n_frames < needed:
        raise DatasetMismatchError(
            f"{role} dataset: trajectories have {n_frames} frame(s); {name} needs initial_step "
            f"({k}) + {n_steps if n_steps is not None else 1} step(s) = {needed}"
        )
    if model.n_params > 0:
        if "params" not in item:
            raise DatasetMismatchError(
                f"{role} dataset serves no 'params', but {name} is parameter-aware (n_params = "
                f"{model.n_params})"
            )
        p = torch.as_tensor(item["params"])
        if tuple(p.shape) != (model.n_params,):
            raise DatasetMismatchError(
                f"{role} dataset serves params of shape {tuple(p.shape)} per sample, but "
                f"{name}.n_params = {model.n_params}: expected ({model.n_params},)"
            )
    return n_frames


def _batch_tensors(
    batch: Mapping[str, Any], model: nn.Module, n_frames: int, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor | None]:
    """``(trajectory (batch, n_vars, n_frames, *space), params (batch, n_params) or None)``."""
    if "trajectory" in batch:
        traj = batch["trajectory"]
    else:
        traj = torch.cat([batch["history"], batch["target"]], dim=2)
    traj = traj[:, :, :n_frames].to(device=device, dtype=dtype, non_blocking=True)
    params = None
    if model.n_params > 0:
        params = batch["params"].to(device=device, dtype=dtype, non_blocking=True)
    return traj, params


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


# --------------------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 32,
    n_steps: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Fully autoregressive rollout error of ``model`` on ``dataset``.

    Parameters
    ----------
    model : NeuralPDESolver
    dataset : Dataset
        Items ``{"trajectory": (n_vars, n_frames, *space), "params": (n_params,)}``.
    batch_size : int
    n_steps : int, optional
        Steps to roll out from the first ``initial_step`` frames (default: all frames).
    device : str or torch.device, optional
        Where to run (default: where the model's parameters are).

    Returns
    -------
    dict
        ``loss``: mean over samples and steps of the per-step relative L2 error;
        ``nrmse``: mean over samples of ``||pred - true|| / ||true||`` over all predicted
        frames; ``loss_per_step``: list (``n_steps``) of per-step errors averaged over
        samples; ``n_samples``, ``n_steps``.
    """
    _check_model(model)
    n_frames = _check_dataset(model, dataset, "evaluation", n_steps)
    k = int(model.initial_step)
    steps = n_steps if n_steps is not None else n_frames - k
    if device is None:
        device = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    device = torch.device(device)
    dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, sampler=SequentialSampler(dataset))
    sum_steps = torch.zeros(steps, dtype=torch.float64)
    sum_nrmse = 0.0
    count = 0
    try:
        for batch in loader:
            traj, params = _batch_tensors(batch, model, k + steps, device, dtype)
            errors, _, preds = _rollout_errors(
                model, traj, params, steps, [True] * steps, keep_predictions=True
            )
            assert preds is not None
            nrmse = relative_l2(preds, traj[:, :, k : k + steps])
            sum_steps += errors.double().sum(dim=0).cpu()
            sum_nrmse += float(nrmse.double().sum())
            count += traj.shape[0]
    finally:
        model.train(was_training)
    per_step = (sum_steps / count).tolist()
    return {
        "loss": float(np.mean(per_step)),
        "nrmse": sum_nrmse / count,
        "loss_per_step": per_step,
        "n_samples": count,
        "n_steps": steps,
    }


# --------------------------------------------------------------------------- checkpoints
def _model_config(model: nn.Module) -> dict[str, Any] | None:
    """The model's constructor configuration, if it exposes one (``config`` / ``get_config()``)."""
    cfg: Any = None
    if callable(getattr(model, "get_config", None)):
        cfg = model.get_config()
    elif hasattr(model, "config"):
        cfg = model.config
    if cfg is None:
        return None
    out = _primitive(cfg)
    return out if isinstance(out, dict) else {"value": out}


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :class:`Trainer` (``torch.load(..., weights_only=True)``).

    Returns
    -------
    dict
        ``format``, ``format_version``, ``kind`` (``"last"``/``"best"``), ``model_class``
        (``module.QualName``), ``model_config`` (dict or None), ``model_attrs``
        (``n_vars``, ``initial_step``, ``n_params``, ``spatial_dims``), ``model_state``,
        ``epoch`` (0-based, last completed), ``best_metric``, ``best_epoch``,
        ``train_config``, ``torch_version``; ``last.pt`` also holds ``optimizer_state``,
        ``cape_optimizer_state`` (or None), ``scheduler_state``, ``rng`` and ``history``.

    Raises
    ------
    FileFormatError
        The file is missing, truncated, or not a sciml neural-PDE checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ...
        raise FileFormatError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(f"{path}: not a sciml neural-PDE checkpoint (no format {CHECKPOINT_FORMAT!r})")
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise FileFormatError(
            f"{path}: checkpoint format version {ckpt.get('format_version')!r}; this sciml reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return ckpt


def _check_model_class(ckpt: Mapping[str, Any], model: nn.Module, path: Path) -> None:
    have = _class_name(model)
    if ckpt["model_class"] != have:
        raise CheckpointError(
            f"checkpoint {path} holds a {ckpt['model_class']} model, but the model given is a {have}"
        )


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the weights of checkpoint ``path`` into ``model`` (in place) and return the checkpoint.

    Raises
    ------
    CheckpointError
        The checkpoint holds another model class, or weights of another shape.
    FileFormatError
        As :func:`load_checkpoint`.
    """
    path = Path(path)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ckpt = load_checkpoint(path, map_location=device)
    _check_model_class(ckpt, model, path)
    _load_state(model, ckpt, path)
    return ckpt


def _load_state(model: nn.Module, ckpt: Mapping[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {path} ({ckpt['model_class']}, config {ckpt.get('model_config')}) does not "
            f"fit the model given (config {_model_config(model)}): {exc}"
        ) from exc


# --------------------------------------------------------------------------- trainer
def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for stream ``stream`` (0: data order, 1: noise) of ``epoch``."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class Trainer:
    """Fit an autoregressive neural PDE solver with checkpoints, curriculum and CAPE warm-up.

    Parameters
    ----------
    model : NeuralPDESolver
        The solver (an :class:`torch.nn.Module` with ``n_vars``, ``initial_step``,
        ``n_params``, ``spatial_dims``). CAPE models also provide
        ``forward_with_estimate(history, params) -> (prediction, estimate)`` and
        ``cape_parameters()``. It is moved to ``config.device`` and trained in place.
    config : TrainConfig or mapping, optional
        Hyper-parameters (default ``TrainConfig()``).
    run_dir : str or path
        Folder for ``last.pt``, ``best.pt`` and ``metrics.jsonl`` (created if needed).

    Examples
    --------
    >>> trainer = Trainer(model, TrainConfig(epochs=50, batch_size=16), "runs/cape")  # doctest: +SKIP
    >>> result = trainer.fit(train_ds, val_ds, resume=True)                           # doctest: +SKIP
    >>> result.history[-1]["val_nrmse"], result.best_epoch                            # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | Mapping[str, Any] | None,
        run_dir: str | Path,
    ) -> None:
        _check_model(model)
        self.config = _as_config(config)
        self.device = self.config.resolved_device()
        self.model = model.to(self.device)
        self.run_dir = Path(run_dir)

    # -- paths -------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        """``run_dir/last.pt``."""
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        """``run_dir/best.pt``."""
        return self.run_dir / "best.pt"

    @property
    def metrics_path(self) -> Path:
        """``run_dir/metrics.jsonl``."""
        return self.run_dir / "metrics.jsonl"

    # -- capabilities ------------------------------------------------------------------
    def _has_estimate(self) -> bool:
        return callable(getattr(self.model, "forward_with_estimate", None))

    def _cape_parameters(self) -> list[nn.Parameter] | None:
        fn = getattr(self.model, "cape_parameters", None)
        if not callable(fn) or not self._has_estimate() or not callable(getattr(self.model, "estimate", None)):
            return None
        params = [p for p in fn() if p.requires_grad]
        return params or None

    # -- public API --------------------------------------------------------------------
    def evaluate(self, model: nn.Module | None, dataset: Dataset) -> dict[str, Any]:
        """:func:`evaluate` with this trainer's batch size, ``eval_steps`` and device.

        ``model=None`` evaluates the trainer's model.
        """
        return evaluate(
            self.model if model is None else model,
            dataset,
            batch_size=self.config.batch_size,
            n_steps=self.config.eval_steps,
            device=self.device,
        )

    def fit(
        self,
        train_dataset: Dataset,
        val_dataset: Dataset | None = None,
        *,
        resume: bool = False,
        stop_after_epochs: int | None = None,
    ) -> TrainResult:
        """Train for ``config.epochs`` epochs (or the remaining ones when resuming).

        Parameters
        ----------
        train_dataset, val_dataset : Dataset
            Items ``{"trajectory": (n_vars, n_frames, *space), "params": (n_params,)}``.
            Without ``val_dataset`` the best epoch is the one of lowest training loss.
        resume : bool
            Continue from ``run_dir/last.pt`` when it exists (a fresh run otherwise). Without
            ``resume`` an existing ``last.pt`` is an error, so that no run is overwritten.
        stop_after_epochs : int, optional
            Train at most this many epochs in this call, then return (for time-limited
            jobs: a later ``fit(..., resume=True)`` continues exactly where this one stopped).
            The schedule still follows ``config.epochs``.

        Returns
        -------
        TrainResult

        Raises
        ------
        DatasetMismatchError
            A dataset's first item does not fit the model (checked before training).
        CheckpointError
            ``last.pt`` belongs to another model class or to a different configuration,
            or exists while ``resume`` is False.
        TrainingDivergedError
            A training loss, a validation loss or a weight became NaN/inf; ``last.pt``
            keeps the last good epoch.
        """
        cfg = self.config
        model = self.model
        name = type(model).__name__
        k = int(model.initial_step)
        n_frames_train = _check_dataset(model, train_dataset, "training", cfg.unroll_steps)
        train_steps = cfg.unroll_steps if cfg.unroll_steps is not None else n_frames_train - k
        val_steps = None
        if val_dataset is not None:
            n_frames_val = _check_dataset(model, val_dataset, "validation", cfg.eval_steps)
            val_steps = cfg.eval_steps if cfg.eval_steps is not None else n_frames_val - k

        notes: list[str] = []
        cape_params = self._cape_parameters()
        warmup = cfg.warmup_epochs
        if warmup > 0 and cape_params is None:
            notes.append(
                f"warm-up skipped: {name} has no CAPE block (cape_parameters(), estimate() and "
                f"forward_with_estimate()); all {cfg.epochs} epochs train the whole model"
            )
            warmup = 0
        use_estimate = self._has_estimate() and (cfg.aux_loss_weight > 0 or warmup > 0)
        for note in notes:  # the warm-up was asked for explicitly: say it did not happen
            warnings.warn(note, stacklevel=2)
        if cfg.aux_loss_weight > 0 and not self._has_estimate():
            notes.append(f"aux_loss_weight ignored: {name} has no forward_with_estimate()")

        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.scheduler_step, gamma=cfg.scheduler_gamma)
        cape_optimizer = (
            torch.optim.Adam(cape_params, lr=cfg.lr, weight_decay=cfg.weight_decay) if warmup > 0 else None
        )

        history: list[dict[str, Any]] = []
        best_metric = math.inf
        best_epoch: int | None = None
        start_epoch = 0
        resumed_from: int | None = None
        if self.last_path.exists():
            if not resume:
                raise CheckpointError(
                    f"{self.last_path} exists: pass resume=True to continue that run, or choose "
                    f"another run_dir"
                )
            ckpt = load_checkpoint(self.last_path, map_location=self.device)
            _check_model_class(ckpt, model, self.last_path)
            self._check_resumable(ckpt)
            _load_state(model, ckpt, self.last_path)
            optimizer.load_state_dict(ckpt["optimizer_state"])
            scheduler.load_state_dict(ckpt["scheduler_state"])
            if cape_optimizer is not None and ckpt.get("cape_optimizer_state") is not None:
                cape_optimizer.load_state_dict(ckpt["cape_optimizer_state"])
            _set_rng_state(ckpt["rng"])
            history = [dict(h) for h in ckpt["history"]]
            best_metric = float(ckpt["best_metric"])
            best_epoch = ckpt["best_epoch"]
            start_epoch = int(ckpt["epoch"]) + 1
            resumed_from = int(ckpt["epoch"])
        else:
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed % 2**32)
            random.seed(cfg.seed)

        if stop_after_epochs is not None and stop_after_epochs < 0:
            raise ValueError(f"stop_after_epochs must be >= 0; got {stop_after_epochs}")
        end_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, start_epoch + stop_after_epochs)
        dtype = _model_dtype(model)
        for epoch in range(start_epoch, end_epoch):
            t_epoch = time.perf_counter()
            warm = epoch < warmup
            share = cfg.curriculum.share(epoch, cfg.epochs, warmup)
            feedback = cfg.curriculum.feedback_mask(share, train_steps)
            opt = cape_optimizer if warm else optimizer
            assert opt is not None
            trained = cape_params if warm else list(model.parameters())
            lr = float(opt.param_groups[0]["lr"])

            loader = DataLoader(
                train_dataset,
                batch_size=cfg.batch_size,
                sampler=RandomSampler(
                    train_dataset, generator=torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 0))
                ),
                num_workers=cfg.num_workers,
                generator=torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 2)),
            )
            noise_gen = torch.Generator(device=self.device).manual_seed(_epoch_seed(cfg.seed, epoch, 1))
            model.train()
            with_estimate = use_estimate and (warm or cfg.aux_loss_weight > 0)
            sum_loss = sum_aux = 0.0
            seen = 0
            bar = progress(
                loader, enabled=cfg.progress, total=len(loader), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="batch", leave=False,
            )
            try:
                for b, batch in enumerate(bar):
                    traj, params = _batch_tensors(batch, model, k + train_steps, self.device, dtype)
                    if warm:
                        value, mean_aux = self._warmup_batch(
                            traj, params, train_steps, opt, trained, noise_gen, _epoch_seed(cfg.seed, epoch, 3) + b
                        )
                        if not math.isfinite(value):
                            raise self._diverged(
                                f"the warm-up loss is {value} at epoch {epoch} (0-based), batch {b}"
                            )
                        nb = traj.shape[0]
                        seen += nb
                        sum_aux += mean_aux * nb
                        bar.set_postfix(aux=f"{mean_aux:.4g}", refresh=False)
                        continue
                    errors, aux, _ = _rollout_errors(
                        model, traj, params, train_steps, feedback,
                        noise_std=cfg.input_noise_std, noise_generator=noise_gen, with_estimate=with_estimate,
                        relative_floor=cfg.relative_floor,
                    )
                    main = errors.mean()
                    aux_loss = aux.mean() if aux is not None else None
                    if warm:
                        assert aux_loss is not None
                        loss = aux_loss
                    elif aux_loss is not None and cfg.aux_loss_weight > 0:
                        loss = main + cfg.aux_loss_weight * aux_loss
                    else:
                        loss = main
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise self._diverged(f"the training loss is {value} at epoch {epoch} (0-based), batch {b}")
                    model.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
                    opt.step()
                    nb = traj.shape[0]
                    seen += nb
                    sum_loss += float(main.detach()) * nb
                    if aux_loss is not None:
                        sum_aux += float(aux_loss.detach()) * nb
                    bar.set_postfix(loss=f"{value:.4g}", refresh=False)
            finally:
                bar.close()
            train_seconds = time.perf_counter() - t_epoch
            if not warm:
                scheduler.step()
            bad = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
            if bad:
                raise self._diverged(f"parameter(s) {bad[:5]} became NaN/inf during epoch {epoch} (0-based)")

            val: dict[str, Any] | None = None
            if val_dataset is not None:
                val = evaluate(model, val_dataset, batch_size=cfg.batch_size, n_steps=val_steps, device=self.device)
                if not (math.isfinite(val["loss"]) and math.isfinite(val["nrmse"])):
                    raise self._diverged(
                        f"the validation loss is {val['loss']} (nRMSE {val['nrmse']}) after epoch {epoch} (0-based)"
                    )
            train_loss = None if warm else sum_loss / max(seen, 1)
            if val is not None:
                metric = val["nrmse"]
            else:  # no validation set: the warm-up (estimate only) cannot be the best epoch
                metric = math.inf if train_loss is None else train_loss
            seconds = time.perf_counter() - t_epoch
            record = {
                "epoch": epoch,
                "phase": "warmup" if warm else "train",
                "train_loss": train_loss,
                "train_aux_loss": sum_aux / max(seen, 1) if with_estimate else None,
                "val_loss": val["loss"] if val is not None else None,
                "val_nrmse": val["nrmse"] if val is not None else None,
                "lr": lr,
                "self_fed_share": share,
                "self_fed_steps": sum(feedback),
                "unroll_steps": train_steps,
                "seconds": seconds,
                "train_seconds": train_seconds,
                "samples_per_s": seen / train_seconds if train_seconds > 0 else None,
            }
            history.append(record)
            if metric < best_metric:
                best_metric, best_epoch = metric, epoch
                _save(self._checkpoint(epoch, "best", best_metric, best_epoch, history), self.best_path)
            _save(
                self._checkpoint(
                    epoch, "last", best_metric, best_epoch, history,
                    optimizer=optimizer, scheduler=scheduler, cape_optimizer=cape_optimizer,
                ),
                self.last_path,
            )
            self._write_metrics(history)

        if start_epoch >= end_epoch and resumed_from is not None:
            self._write_metrics(history)
        return TrainResult(
            history=history,
            best_epoch=best_epoch,
            best_metric=best_metric,
            run_dir=self.run_dir,
            last_checkpoint=self.last_path,
            best_checkpoint=self.best_path,
            resumed_from_epoch=resumed_from,
            notes=notes,
        )

    # -- internals ---------------------------------------------------------------------
    def _warmup_batch(
        self,
        traj: Tensor,
        params: Tensor | None,
        n_steps: int,
        opt: torch.optim.Optimizer,
        trained: Sequence[nn.Parameter],
        noise_gen: torch.Generator,
        shuffle_seed: int,
    ) -> tuple[float, float]:
        """One warm-up batch: train the CAPE block alone on teacher-forced one-step pairs.

        Every ``(history, next frame)`` pair of the batch's trajectories is formed from true
        frames (no rollout, no base model), the pairs are shuffled and split into chunks of
        ``batch_size`` pairs, and each chunk is one optimizer step on the relative L2 error
        of ``model.estimate``. The warm-up is thus cheap (the base never runs) and takes
        ``n_steps`` times more optimizer steps per epoch than the main phase.

        Returns ``(last chunk's loss, mean loss over the chunks)``.
        """
        cfg = self.config
        model = self.model
        k = int(model.initial_step)
        b, v = traj.shape[:2]
        space = tuple(traj.shape[3:])
        histories = torch.stack([traj[:, :, j:j + k] for j in range(n_steps)], dim=1)  # (b, s, v, k, *space)
        histories = histories.transpose(2, 3).reshape(b * n_steps, k * v, *space)
        targets = torch.stack([traj[:, :, j + k] for j in range(n_steps)], dim=1).reshape(b * n_steps, v, *space)
        floor = cfg.relative_floor * traj[:, :, 0].flatten(1).norm(dim=1) if cfg.relative_floor > 0 else None
        floors = floor.repeat_interleave(n_steps) if floor is not None else None
        pair_params = params.repeat_interleave(n_steps, dim=0) if params is not None else None
        order = torch.randperm(b * n_steps, generator=torch.Generator().manual_seed(shuffle_seed))
        order = order.to(traj.device)
        losses: list[float] = []
        for start in range(0, b * n_steps, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            history = histories[idx]
            if cfg.input_noise_std > 0:
                noise = torch.randn(history.shape, generator=noise_gen, device=history.device, dtype=history.dtype)
                history = history + cfg.input_noise_std * noise
            est = model.estimate(history, pair_params[idx] if pair_params is not None else None)
            loss = relative_l2(est, targets[idx], floors[idx] if floors is not None else 0.0).mean()
            value = float(loss.detach())
            if not math.isfinite(value):
                return value, value
            model.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            opt.step()
            losses.append(value)
        return losses[-1], float(np.mean(losses))

    def _diverged(self, what: str) -> TrainingDivergedError:
        return diverged_error(self.model, what, self.last_path,
                              lambda path: f"epoch {load_checkpoint(path)['epoch']}",
                              "Try a smaller lr, grad_clip, or check the data for extreme values.")

    def _check_resumable(self, ckpt: Mapping[str, Any]) -> None:
        saved = ckpt.get("train_config") or {}
        now = self.config.model_dump(mode="json")
        check_resumable_config(self.last_path, saved, now, _RESUMABLE_CHANGES)
        if saved.get("epochs") != now.get("epochs"):
            warnings.warn(
                f"resuming {self.last_path} with epochs {saved.get('epochs')} -> {now.get('epochs')}: "
                f"the curriculum follows the new total, so the run will differ from an "
                f"uninterrupted one",
                stacklevel=3,
            )

    def _checkpoint(
        self,
        epoch: int,
        kind: str,
        best_metric: float,
        best_epoch: int | None,
        history: list[dict[str, Any]],
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        cape_optimizer: torch.optim.Optimizer | None = None,
    ) -> dict[str, Any]:
        model = self.model
        ckpt: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "kind": kind,
            "model_class": _class_name(model),
            "model_config": _model_config(model),
            "model_attrs": {a: int(getattr(model, a)) for a in _PROTOCOL_ATTRS},
            "model_state": model.state_dict(),
            "epoch": int(epoch),
            "best_metric": float(best_metric),
            "best_epoch": best_epoch,
            "train_config": self.config.model_dump(mode="json"),
            "torch_version": str(torch.__version__),
        }
        if kind == "last":
            assert optimizer is not None and scheduler is not None
            ckpt.update(
                optimizer_state=optimizer.state_dict(),
                cape_optimizer_state=cape_optimizer.state_dict() if cape_optimizer is not None else None,
                scheduler_state=_primitive(scheduler.state_dict()),
                rng=_rng_state(),
                history=[dict(h) for h in history],
            )
        return ckpt

    def _write_metrics(self, history: list[dict[str, Any]]) -> None:
        lines = [
            json.dumps({k: _json_number(v) for k, v in h.items()}, allow_nan=False) for h in history
        ]
        atomic_write_text(self.metrics_path, "".join(line + "\n" for line in lines))
