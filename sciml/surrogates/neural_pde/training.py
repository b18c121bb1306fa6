"""Training of autoregressive neural PDE solvers (FNO, U-Net, CAPE) on the common loop.

:class:`Trainer` fits any solver of :mod:`sciml.surrogates.neural_pde.protocol` on trajectory
datasets (items ``{"trajectory": (n_vars, n_frames, *space), "params": (n_params,), ...}``, as
served by :mod:`sciml.data.torch_dataset`), through :func:`sciml.surrogates.training.run_training`
(seeds, checkpoints ``last.pt``/``best.pt``, exact resume, divergence stop, ``metrics.jsonl``).

Objective: every training sample is rolled out for ``n`` steps from its first ``initial_step``
frames, the frames fed back following the curriculum
(:mod:`sciml.surrogates.neural_pde.curriculum`); the loss is the mean relative L2 error of the
steps (:func:`~sciml.surrogates.neural_pde.losses.rollout_errors`) plus, for CAPE models,
``aux_loss_weight`` times that of the CAPE estimates. The first ``warmup_epochs`` epochs train
only the CAPE block, on teacher-forced one-step pairs; Adam + StepLR, the schedule starting
after the warm-up. Validation (:func:`~sciml.surrogates.neural_pde.losses.evaluate`) rolls out
fully autoregressively; ``best.pt`` keeps the epoch of lowest ``val_nrmse``.

Streams: the data order of epoch ``e`` comes from ``stream_seed(seed, e, 0)``, the input noise
from stream 1, the DataLoader's base seed from stream 2 and the warm-up pair order of batch
``b`` from ``stream_seed(seed, e, 3) + b``.

Numerics: the training loss floors each reference norm at ``relative_floor`` (default 0.01)
times the sample's first-frame norm, and a :class:`RuntimeWarning` (once per ``fit``) says when
near-zero references dominate the loss all the same
(:func:`~sciml.surrogates.neural_pde.losses.near_zero_references`). The run uses
``num_threads`` torch threads, by default ``OMP_NUM_THREADS`` when it is set
(:func:`sciml.surrogates.training.loop.default_torch_threads`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from sciml.config import StrictModel
from sciml.fingerprint import stable_hash
from sciml.surrogates.neural_pde.batches import (
    PROTOCOL_ATTRS,
    DatasetMismatchError,
    batch_tensors,
    check_dataset,
    check_solver_attrs,
    model_dtype,
)
from sciml.surrogates.neural_pde.curriculum import Curriculum
from sciml.surrogates.neural_pde.losses import (
    evaluate,
    near_zero_references,
    reference_norms,
    relative_l2,
    rollout_errors,
)
from sciml.surrogates.training.checkpoints import CheckpointError, TrainingDivergedError
from sciml.surrogates.training.checkpoints import load_checkpoint as _load_checkpoint
from sciml.surrogates.training.checkpoints import load_weights as _load_weights
from sciml.surrogates.training.fingerprints import dataset_fingerprint
from sciml.surrogates.training.loop import (
    NonFiniteLoss,
    TrainingTask,
    UnitEnd,
    apply_update,
    as_config,
    run_training,
    stream_seed,
)

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

#: checkpoint family of this trainer
FAMILY = "neural_pde"
_LABEL = "neural-PDE"


# --------------------------------------------------------------------------- config
class TrainConfig(StrictModel):
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
        not dominate the loss. Default 0.01 (1%, as the CAPE benchmark and the workflows; until
        issue 16 the default was 0, and a single decayed trajectory could make the loss 1e7).
        Whatever the floor, a :class:`RuntimeWarning` (once per ``fit``) says when the loss
        of a batch is dominated by near-zero references: terms (sample x step) whose reference
        norm is below 1e-3 x the batch's median first-frame norm make up more than half of it
        (:func:`~sciml.surrogates.neural_pde.losses.near_zero_references`).
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
    num_threads : int or None
        torch intra-op threads during ``fit`` (restored afterwards). ``None``: the count in
        ``OMP_NUM_THREADS`` when it is set (sciml's process-pool workers set it to their
        ``threads_per_worker``), else torch's current setting.
    progress : bool or None
        Show a progress bar (``None``: a bar when stderr is a terminal, a plain line per
        epoch at most every 30 s otherwise; ``False``: silent).
    """

    epochs: PositiveInt = 20
    batch_size: PositiveInt = 32
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-4
    scheduler_step: PositiveInt = 100
    scheduler_gamma: float = Field(default=0.5, gt=0.0, le=1.0)
    input_noise_std: NonNegativeFloat = 0.0
    relative_floor: NonNegativeFloat = 0.01
    aux_loss_weight: NonNegativeFloat = 0.1
    warmup_epochs: NonNegativeInt = 0
    curriculum: Curriculum = Field(default_factory=Curriculum)
    unroll_steps: PositiveInt | None = None
    eval_steps: PositiveInt | None = None
    seed: NonNegativeInt = 0
    device: str = "cpu"
    grad_clip: PositiveFloat | None = None
    num_workers: NonNegativeInt = 0
    num_threads: PositiveInt | None = None
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


# --------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :class:`Trainer` (``torch.load(..., weights_only=True)``).

    Returns
    -------
    dict
        The keys of :mod:`sciml.surrogates.training.checkpoints` (``model_state``,
        ``train_config``, ``best_metric``, ``best_unit``, ...), plus ``epoch`` (0-based, last
        completed) and ``model_attrs`` (``n_vars``, ``initial_step``, ``n_params``,
        ``spatial_dims``); ``last.pt`` also holds ``optimizer_state``, ``cape_optimizer_state``
        (or None), ``scheduler_state``, ``rng`` and ``history``.

    Raises
    ------
    FileFormatError
        The file is missing, truncated, of an earlier format or not a neural-PDE checkpoint.
    """
    return _load_checkpoint(path, family=FAMILY, label=_LABEL, map_location=map_location)


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the weights of checkpoint ``path`` into ``model`` (in place) and return the checkpoint.

    Raises
    ------
    CheckpointError
        The checkpoint holds another model class or configuration, or weights of another shape.
    FileFormatError
        As :func:`load_checkpoint`.
    """
    return _load_weights(model, path, family=FAMILY, label=_LABEL)


# --------------------------------------------------------------------------- trainer
def _has_estimate(model: nn.Module) -> bool:
    return callable(getattr(model, "forward_with_estimate", None))


def _cape_parameters(model: nn.Module) -> list[nn.Parameter] | None:
    """The trainable parameters of the model's CAPE block (None: no CAPE block)."""
    fn = getattr(model, "cape_parameters", None)
    if not callable(fn) or not _has_estimate(model) or not callable(getattr(model, "estimate", None)):
        return None
    params = [p for p in fn() if p.requires_grad]
    return params or None


class _SolverTask(TrainingTask):
    """One :meth:`Trainer.fit` call as a task of the common loop: epochs of rollout batches."""

    family = FAMILY
    label = _LABEL
    unit = "epoch"
    resumable_changes = frozenset({"epochs", "device", "num_workers", "num_threads", "progress"})

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device, train: Dataset,
                 val: Dataset | None) -> None:
        cfg = self.config = config
        self.model, self.device, self.train, self.val = model, device, train, val
        self.n_units, self.seed, self.progress = cfg.epochs, cfg.seed, cfg.progress
        self.num_threads = cfg.num_threads
        self.references_warned = False  # near-zero references reported (once per fit)
        self.k = int(model.initial_step)
        n_frames = check_dataset(model, train, "training", cfg.unroll_steps)
        self.train_steps = cfg.unroll_steps if cfg.unroll_steps is not None else n_frames - self.k
        self.val_steps = None
        if val is not None:
            n_frames_val = check_dataset(model, val, "validation", cfg.eval_steps)
            self.val_steps = cfg.eval_steps if cfg.eval_steps is not None else n_frames_val - self.k
        self.notes = self._plan()
        self.dtype = model_dtype(model)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=cfg.scheduler_step,
                                                         gamma=cfg.scheduler_gamma)
        self.cape_optimizer = (torch.optim.Adam(self.cape_params, lr=cfg.lr, weight_decay=cfg.weight_decay)
                               if self.warmup > 0 and self.cape_params is not None else None)

    def _plan(self) -> list[str]:
        """Decide the warm-up and the CAPE loss; return (and warn about) what was not done."""
        cfg, model, name = self.config, self.model, type(self.model).__name__
        notes: list[str] = []
        self.cape_params = _cape_parameters(model)
        self.warmup = cfg.warmup_epochs
        if self.warmup > 0 and self.cape_params is None:
            notes.append(
                f"warm-up skipped: {name} has no CAPE block (cape_parameters(), estimate() and "
                f"forward_with_estimate()); all {cfg.epochs} epochs train the whole model"
            )
            self.warmup = 0
        self.use_estimate = _has_estimate(model) and (cfg.aux_loss_weight > 0 or self.warmup > 0)
        for note in notes:  # the warm-up was asked for explicitly: say it did not happen
            warnings.warn(note, stacklevel=4)
        if cfg.aux_loss_weight > 0 and not _has_estimate(model):
            notes.append(f"aux_loss_weight ignored: {name} has no forward_with_estimate()")
        return notes

    # -- the loop's hooks --------------------------------------------------------------
    def stateful(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "cape_optimizer": self.cape_optimizer, "scheduler": self.scheduler}

    def extras(self, kind: str, completed: int) -> dict[str, Any]:
        return {"epoch": completed - 1, "model_attrs": {a: int(getattr(self.model, a)) for a in PROTOCOL_ATTRS}}

    def data_fingerprint(self) -> str | None:
        try:
            return stable_hash({"train": dataset_fingerprint(self.train), "val": dataset_fingerprint(self.val)})
        except TypeError as exc:
            warnings.warn(f"a resume of this run cannot check its data: {exc}", stacklevel=4)
            return None

    def check_resumable(self, ckpt: Mapping[str, Any], path: Path) -> None:
        super().check_resumable(ckpt, path)
        saved, now = (ckpt.get("train_config") or {}).get("epochs"), self.config.epochs
        if saved != now:
            warnings.warn(
                f"resuming {path} with epochs {saved} -> {now}: the curriculum follows the new total, "
                f"so the run will differ from an uninterrupted one",
                stacklevel=5,
            )

    def batches(self, unit: int) -> Iterable[Any]:
        cfg, epoch = self.config, unit
        self.warm = epoch < self.warmup
        self.share = cfg.curriculum.share(epoch, cfg.epochs, self.warmup)
        self.feedback = cfg.curriculum.feedback_mask(self.share, self.train_steps)
        opt = self.cape_optimizer if self.warm else self.optimizer
        assert opt is not None
        self.opt = opt
        self.trained = self.cape_params if self.warm else list(self.model.parameters())
        self.lr = float(opt.param_groups[0]["lr"])
        loader = DataLoader(
            self.train,
            batch_size=cfg.batch_size,
            sampler=RandomSampler(self.train, generator=torch.Generator().manual_seed(stream_seed(cfg.seed, epoch, 0))),
            num_workers=cfg.num_workers,
            generator=torch.Generator().manual_seed(stream_seed(cfg.seed, epoch, 2)),
        )
        self.noise_gen = torch.Generator(device=self.device).manual_seed(stream_seed(cfg.seed, epoch, 1))
        self.model.train()
        self.with_estimate = self.use_estimate and (self.warm or cfg.aux_loss_weight > 0)
        self.sum_loss = self.sum_aux = 0.0
        self.seen = 0
        return loader

    def step(self, unit: int, index: int, batch: Any) -> float:
        cfg = self.config
        traj, params = batch_tensors(batch, self.model, self.k + self.train_steps, self.device, self.dtype)
        nb = traj.shape[0]
        self.seen += nb
        if self.warm:
            mean_aux = self._warmup_batch(traj, params, stream_seed(cfg.seed, unit, 3) + index)
            self.sum_aux += mean_aux * nb
            return mean_aux
        errors, aux, _ = rollout_errors(
            self.model, traj, params, self.train_steps, self.feedback,
            noise_std=cfg.input_noise_std, noise_generator=self.noise_gen, with_estimate=self.with_estimate,
            relative_floor=cfg.relative_floor,
        )
        if not self.references_warned:
            self._check_references(errors, self._step_references(traj), traj, f"epoch {unit}, batch {index}")
        main = errors.mean()
        aux_loss = aux.mean() if aux is not None else None
        loss = main + cfg.aux_loss_weight * aux_loss if aux_loss is not None and cfg.aux_loss_weight > 0 else main
        value, _ = apply_update(loss, self.opt, self.model, params=self.trained, grad_clip=cfg.grad_clip)
        self.sum_loss += float(main.detach()) * nb
        if aux_loss is not None:
            self.sum_aux += float(aux_loss.detach()) * nb
        return value

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        cfg = self.config
        if not self.warm:
            self.scheduler.step()
        val: dict[str, Any] | None = None
        if self.val is not None:
            val = evaluate(self.model, self.val, batch_size=cfg.batch_size, n_steps=self.val_steps,
                           device=self.device)
            if not (math.isfinite(val["loss"]) and math.isfinite(val["nrmse"])):
                raise NonFiniteLoss(f"the validation loss is {val['loss']} (nRMSE {val['nrmse']})")
        train_loss = None if self.warm else self.sum_loss / max(self.seen, 1)
        if val is not None:
            metric = val["nrmse"]
        else:  # no validation set: the warm-up (estimate only) cannot be the best epoch
            metric = math.inf if train_loss is None else train_loss
        seconds = time.perf_counter() - started
        record = {
            "epoch": unit,
            "phase": "warmup" if self.warm else "train",
            "train_loss": train_loss,
            "train_aux_loss": self.sum_aux / max(self.seen, 1) if self.with_estimate else None,
            "val_loss": val["loss"] if val is not None else None,
            "val_nrmse": val["nrmse"] if val is not None else None,
            "lr": self.lr,
            "self_fed_share": self.share,
            "self_fed_steps": sum(self.feedback),
            "unroll_steps": self.train_steps,
            "seconds": seconds,
            "train_seconds": train_seconds,
            "samples_per_s": self.seen / train_seconds if train_seconds > 0 else None,
        }
        return UnitEnd(record=record, metric=metric)

    def _warmup_batch(self, traj: Tensor, params: Tensor | None, shuffle_seed: int) -> float:
        """One warm-up batch: train the CAPE block alone on teacher-forced one-step pairs.

        Every ``(history, next frame)`` pair of the batch's trajectories is formed from true
        frames (no rollout, no base model), the pairs are shuffled and split into chunks of
        ``batch_size`` pairs, and each chunk is one optimizer step on the relative L2 error
        of ``model.estimate``: ``n_steps`` times more optimizer steps per epoch than the main
        phase, each cheap. Returns the mean loss over the chunks.
        """
        cfg, model, n_steps, k = self.config, self.model, self.train_steps, self.k
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
                noise = torch.randn(history.shape, generator=self.noise_gen, device=history.device,
                                    dtype=history.dtype)
                history = history + cfg.input_noise_std * noise
            est = model.estimate(history, pair_params[idx] if pair_params is not None else None)
            pair_floors = floors[idx] if floors is not None else 0.0
            errors = relative_l2(est, targets[idx], pair_floors)
            if not self.references_warned:
                with torch.no_grad():
                    refs = reference_norms(targets[idx], pair_floors)
                self._check_references(errors, refs, traj, "warm-up", stacklevel=8)
            loss = errors.mean()
            value, _ = apply_update(loss, self.opt, model, params=self.trained, grad_clip=cfg.grad_clip,
                                    what="warm-up loss")
            losses.append(value)
        return float(np.mean(losses))

    @torch.no_grad()
    def _step_references(self, traj: Tensor) -> Tensor:
        """Reference norms of the rollout loss's terms, shape ``(batch, train_steps)``."""
        b, k, s, floor = traj.shape[0], self.k, self.train_steps, self.config.relative_floor
        true = traj[:, :, k:k + s].transpose(1, 2).reshape(b * s, -1)
        floors = floor * traj[:, :, 0].flatten(1).norm(dim=1).repeat_interleave(s) if floor > 0 else 0.0
        return reference_norms(true, floors).reshape(b, s)

    def _check_references(self, errors: Tensor, refs: Tensor, traj: Tensor, where: str, stacklevel: int = 7) -> None:
        """Warn (once per ``fit``) when near-zero reference norms dominate a batch's loss."""
        scale = traj[:, :, 0].detach().flatten(1).norm(dim=1).median()
        report = near_zero_references(errors, refs, scale)
        if report is not None:
            self.references_warned = True
            message = report.message(f"the {_LABEL} training loss ({where})")
            warnings.warn(f"{message} (relative_floor is {self.config.relative_floor:g})", RuntimeWarning,
                          stacklevel=stacklevel)


class Trainer:
    """Fit an autoregressive neural PDE solver with checkpoints, curriculum and CAPE warm-up.

    Parameters
    ----------
    model : NeuralPDESolver
        The solver (an :class:`torch.nn.Module` with ``n_vars``, ``initial_step``,
        ``n_params``, ``spatial_dims``). CAPE models also provide
        ``forward_with_estimate(history, params) -> (prediction, estimate)``, ``estimate`` and
        ``cape_parameters()``. It is moved to ``config.device`` and trained in place.
    config : TrainConfig or mapping, optional
        Hyper-parameters (default ``TrainConfig()``).
    run_dir : str or path
        Folder for ``last.pt``, ``best.pt`` and ``metrics.jsonl`` (created if needed).

    Raises
    ------
    TypeError
        The model lacks an attribute of the solver protocol.
    ConfigError
        An invalid configuration.

    Examples
    --------
    >>> trainer = Trainer(model, TrainConfig(epochs=50, batch_size=16), "runs/cape")  # doctest: +SKIP
    >>> result = trainer.fit(train_ds, val_ds, resume=True)                           # doctest: +SKIP
    >>> result.history[-1]["val_nrmse"], result.best_epoch                            # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, config: TrainConfig | Mapping[str, Any] | None,
                 run_dir: str | Path) -> None:
        check_solver_attrs(model)
        self.config = as_config(config, TrainConfig, "training configuration")
        self.device = self.config.resolved_device()
        self.model = model.to(self.device)
        self.run_dir = Path(run_dir)

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

    def evaluate(self, model: nn.Module | None, dataset: Dataset) -> dict[str, Any]:
        """:func:`evaluate` with this trainer's batch size, ``eval_steps`` and device (``model=None``: the trainer's)."""
        return evaluate(self.model if model is None else model, dataset, batch_size=self.config.batch_size,
                        n_steps=self.config.eval_steps, device=self.device)

    def fit(self, train_dataset: Dataset, val_dataset: Dataset | None = None, *, resume: bool = False,
            stop_after_epochs: int | None = None) -> TrainResult:
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
            Train at most this many epochs in this call, then return; a later
            ``fit(..., resume=True)`` continues exactly where this one stopped. The schedule
            still follows ``config.epochs``.

        Returns
        -------
        TrainResult

        Raises
        ------
        DatasetMismatchError
            A dataset's first item does not fit the model (checked before training).
        CheckpointError
            ``last.pt`` belongs to another model class, to a different configuration or to
            other training/validation data (their fingerprints), or exists while ``resume``
            is False.
        TrainingDivergedError
            A training loss, a validation loss or a weight became NaN/inf; ``last.pt``
            keeps the last good epoch.
        """
        task = _SolverTask(self.model, self.config, self.device, train_dataset, val_dataset)
        run = run_training(task, self.run_dir, resume=resume, stop_after=stop_after_epochs)
        return TrainResult(
            history=run.history,
            best_epoch=run.best_unit,
            best_metric=run.best_metric,
            run_dir=self.run_dir,
            last_checkpoint=self.last_path,
            best_checkpoint=self.best_path,
            resumed_from_epoch=None if run.resumed_from is None else run.resumed_from - 1,
            notes=task.notes,
        )
