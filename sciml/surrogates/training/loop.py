"""The one training loop of sciml's neural surrogates.

A model family describes its training as a :class:`TrainingTask`: its units (epochs or
steps), the batches of a unit, what one batch does (:meth:`TrainingTask.step`, usually a loss
and :func:`apply_update`) and what ends a unit (:meth:`TrainingTask.end_unit`: an evaluation,
a metric record). :func:`run_training` does the rest, the same way for every family:

* **seeds** — a fresh run seeds torch, NumPy and :mod:`random` with the task's seed
  (:func:`seed_everything`); per-unit streams come from :func:`stream_seed`;
* **checkpoints** — ``run_dir/last.pt`` (full state, every ``checkpoint_every`` units and at the
  end of a call) and ``run_dir/best.pt`` (weights of the unit with the lowest metric), in the
  one format of :mod:`sciml.surrogates.training.checkpoints`, written atomically;
* **exact resume** — ``resume=True`` restores weights, optimisers, schedulers, the global RNG
  states and the history from ``last.pt``, so an interrupted run ends bit for bit as an
  uninterrupted one (on CPU);
* **divergence stop** — a NaN/inf loss (:class:`NonFiniteLoss` from :func:`apply_update`) or
  weight raises :class:`~sciml.surrogates.training.checkpoints.TrainingDivergedError`, naming
  where it happened and the last good checkpoint kept;
* ``run_dir/metrics.jsonl`` — one JSON line per record, rewritten atomically with each
  checkpoint;
* a progress bar over the units (plain lines, at most one per 30 s, when stderr is not a
  terminal; see :func:`sciml.progress.progress`);
* **torch threads** — the run uses ``task.num_threads`` intra-op threads, or, when that is
  None, ``OMP_NUM_THREADS`` when it is set (:func:`default_torch_threads`), and restores the
  previous count when it returns (:func:`torch_threads`). A sciml process-pool worker gets
  ``OMP_NUM_THREADS = threads_per_worker`` from its initializer, but torch reads that
  variable only when it is imported, which in a spawned worker can happen before the
  initializer runs: without this, each of ``n`` workers would run one thread per core and
  a loaded machine would be oversubscribed ``n`` times.

``run_dir=None`` trains in memory (no files, no resume).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel
from torch import Tensor, nn

from sciml.config import as_config
from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError, SciMLError
from sciml.progress import progress
from sciml.surrogates.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    TrainingDivergedError,
    check_model_class,
    check_resumable_config,
    check_same_data,
    class_name,
    json_number,
    load_checkpoint,
    load_model_state,
    model_config,
    rng_state,
    save_checkpoint,
    set_rng_state,
    to_primitive,
)

__all__ = [
    "LoopResult",
    "NonFiniteLoss",
    "TrainingTask",
    "UnitEnd",
    "apply_update",
    "as_config",
    "default_torch_threads",
    "run_training",
    "seed_everything",
    "stream_seed",
    "torch_threads",
]



def stream_seed(seed: int, unit: int, stream: int) -> int:
    """A 63-bit seed for random stream ``stream`` of unit ``unit`` (0-based) of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, unit, stream]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def seed_everything(seed: int) -> None:
    """Seed the global RNGs of torch, NumPy (``seed mod 2^32``) and :mod:`random`."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def default_torch_threads() -> int | None:
    """The torch thread count a training uses when its config gives none: ``OMP_NUM_THREADS``.

    Returns the first (outermost) count of ``OMP_NUM_THREADS`` when it is a positive integer
    (sciml's process-pool workers set it to ``threads_per_worker``; Dask workers and Slurm
    scripts usually set it too), else None: leave torch's setting alone.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count after.

    ``n=None`` (or the current count) changes nothing. The count is process-wide: trainings
    that run concurrently in threads of one process should all ask for the same ``n``.
    """
    previous = torch.get_num_threads()
    if n is None or int(n) == previous:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class NonFiniteLoss(SciMLError, ArithmeticError):
    """A loss is NaN/inf (raised by a task before it updates anything; :func:`run_training`
    turns it into a :class:`TrainingDivergedError` that says where and what is kept)."""


def apply_update(
    loss: Tensor,
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    *,
    params: Sequence[nn.Parameter] | None = None,
    grad_clip: float | None = None,
    lr: float | None = None,
    report_grad_norm: bool = False,
    what: str = "training loss",
) -> tuple[float, float | None]:
    """One optimiser update on ``loss``: check it, zero the gradients, backward, clip, step.

    Parameters
    ----------
    loss : Tensor
        Scalar loss of ``model``'s parameters.
    optimizer : torch.optim.Optimizer
    model : nn.Module
        Whose gradients are zeroed (all of them) before ``backward``.
    params : sequence of Parameter, optional
        Parameters whose gradient norm is clipped (default: all of ``model``'s).
    grad_clip : float, optional
        Clip the global gradient norm of ``params`` to this value.
    lr : float, optional
        Set the learning rate of every parameter group before the step.
    report_grad_norm : bool
        Compute the gradient norm even without ``grad_clip``.
    what : str
        The loss's name in the error.

    Returns
    -------
    (float, float or None)
        The loss value and the gradient norm before clipping (None when not computed).

    Raises
    ------
    NonFiniteLoss
        ``loss`` is NaN/inf; nothing was updated.
    """
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the {what} is {value}")
    model.zero_grad(set_to_none=True)
    loss.backward()
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    grad_norm = None
    if grad_clip is not None or report_grad_norm:
        clipped = list(model.parameters()) if params is None else params
        max_norm = grad_clip if grad_clip is not None else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(clipped, max_norm))
    optimizer.step()
    return value, grad_norm


@dataclass
class UnitEnd:
    """What :meth:`TrainingTask.end_unit` reports: a metric record and the unit's metric.

    ``record``: a JSON-able dict appended to the history (None: no record for this unit);
    ``metric``: lower is better; the unit becomes ``best.pt`` when it beats every earlier one
    (None: not a candidate).
    """

    record: dict[str, Any] | None = None
    metric: float | None = None


class TrainingTask:
    """What a model family supplies to :func:`run_training` (subclass and override).

    Attributes
    ----------
    family : str
        Name stored in checkpoints; ``load_checkpoint(..., family=...)`` refuses the others.
    label : str
        The family's name in messages (``"ANP"``).
    unit : {"epoch", "step"}
        What one iteration of the loop is.
    model : nn.Module
    n_units : int
        Units of the whole run (``fit`` may stop earlier and resume later).
    seed : int
        Seed of a fresh run's global RNGs.
    config : pydantic model
        The training configuration (saved; compared on resumption).
    resumable_changes : frozenset of str
        Config fields that may change between an interrupted run and its resumption.
    checkpoint_every : int
        Units between ``last.pt`` writes (and at the end of every call).
    progress : bool or None
        Progress bar (None: a bar when stderr is a terminal, plain lines otherwise; False:
        silent).
    num_threads : int or None
        torch intra-op threads during the run (None: :func:`default_torch_threads`, i.e.
        ``OMP_NUM_THREADS`` when set, else torch's current setting); restored afterwards.
    divergence_hint : str
        Advice appended to the divergence error.
    """

    family: str = "training"
    label: str = "training"
    unit: Literal["epoch", "step"] = "epoch"
    model: nn.Module
    n_units: int
    seed: int = 0
    config: BaseModel
    resumable_changes: frozenset[str] = frozenset()
    checkpoint_every: int = 1
    progress: bool | None = None
    num_threads: int | None = None
    divergence_hint: str = "Try a smaller lr, grad_clip, or check the data for extreme values."

    # -- what every family writes ------------------------------------------------------
    def batches(self, unit: int) -> Iterable[Any]:
        """The batches of ``unit`` (0-based), drawn reproducibly (e.g. from :func:`stream_seed`)."""
        raise NotImplementedError

    def step(self, unit: int, index: int, batch: Any) -> float | None:
        """Train on batch ``index`` of ``unit``; return its loss for the progress bar."""
        raise NotImplementedError

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        """After the unit's batches (``started``: its ``perf_counter``; ``train_seconds``: the batches' time)."""
        return UnitEnd()

    # -- optional ----------------------------------------------------------------------
    def seed_run(self) -> None:
        """Seed a fresh run's global RNGs (default: torch, NumPy and :mod:`random` with ``seed``)."""
        seed_everything(self.seed)

    def stateful(self) -> dict[str, Any]:
        """Optimisers and schedulers by name (saved as ``<name>_state`` in ``last.pt``; None: absent)."""
        return {}

    def extras(self, kind: str, completed: int) -> dict[str, Any]:
        """The family's own checkpoint keys (``kind``: "last" or "best")."""
        return {}

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        """Take back the family's own keys from ``last.pt`` on resumption."""

    def data_fingerprint(self) -> str | None:
        """A fingerprint of the data the run trains and evaluates on (saved in ``last.pt``;
        a resume on other data is refused). None: the family cannot tell (not checked)."""
        return None

    def check_resumable(self, ckpt: Mapping[str, Any], path: Path) -> None:
        """Raise :class:`CheckpointError` if ``ckpt``'s run cannot continue with this configuration."""
        check_resumable_config(path, ckpt.get("train_config") or {}, self.config.model_dump(mode="json"),
                               self.resumable_changes)

    def where(self, unit: int, index: int | None = None) -> str:
        """Where in the run something happened, for messages."""
        at = f"{self.unit} {unit} (0-based)"
        return at + (f", batch {index}" if index is not None and self.unit == "epoch" else "")


@dataclass
class LoopResult:
    """What :func:`run_training` returns: the history (every record of the run), the units
    completed, the units completed before this call when it resumed (else None), the best
    metric and its 0-based unit (None: no unit reported a metric), and the run folder."""

    history: list[dict[str, Any]]
    completed: int
    resumed_from: int | None
    best_metric: float
    best_unit: int | None
    run_dir: Path | None


class _Run:
    """The state of one :func:`run_training` call."""

    def __init__(self, task: TrainingTask, run_dir: Path | None) -> None:
        self.task = task
        self.run_dir = run_dir
        self.data_fingerprint = None if run_dir is None else task.data_fingerprint()
        self.history: list[dict[str, Any]] = []
        self.best_metric = math.inf
        self.best_unit: int | None = None
        self.completed = 0

    @property
    def last_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "last.pt"

    def diverged(self, what: str) -> TrainingDivergedError:
        task, last = self.task, self.last_path
        if last is None:
            kept = "nothing is kept (training in memory)"
        elif last.exists():
            try:
                n = int(load_checkpoint(last)["completed"])
                done = f"epoch {n - 1}" if task.unit == "epoch" else f"after {n} {task.unit}s"
                kept = f"the last good checkpoint ({done}) is kept at {last}"
            except SciMLError:
                kept = f"the last checkpoint is kept at {last}"
        else:
            kept = f"no checkpoint was written yet ({last} does not exist)"
        return TrainingDivergedError(
            f"training of {type(task.model).__name__} diverged: {what}; training stopped and {kept}. "
            f"{task.divergence_hint}"
        )

    def check_weights(self, unit: int) -> None:
        bad = [n for n, p in self.task.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise self.diverged(f"parameter(s) {bad[:5]} became NaN/inf by the end of {self.task.where(unit)}")

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint(self, kind: str) -> dict[str, Any]:
        task = self.task
        ckpt: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "family": task.family,
            "kind": kind,
            "unit": task.unit,
            "completed": int(self.completed),
            "model_class": class_name(task.model),
            "model_config": model_config(task.model),
            "model_state": task.model.state_dict(),
            "train_config": task.config.model_dump(mode="json"),
            "best_metric": float(self.best_metric),
            "best_unit": self.best_unit,
            "torch_version": str(torch.__version__),
            **task.extras(kind, self.completed),
        }
        if kind == "last":
            ckpt["data_fingerprint"] = self.data_fingerprint
            for name, obj in task.stateful().items():
                state = None if obj is None else obj.state_dict()
                is_scheduler = isinstance(obj, torch.optim.lr_scheduler.LRScheduler)
                ckpt[f"{name}_state"] = to_primitive(state) if is_scheduler else state
            ckpt.update(rng=rng_state(), history=[dict(h) for h in self.history])
        return ckpt

    def save(self) -> None:
        if self.run_dir is None:
            return
        save_checkpoint(self.checkpoint("last"), self.run_dir / "last.pt")
        self.write_metrics()

    def write_metrics(self) -> None:
        if self.run_dir is None:
            return
        lines = [json.dumps({k: json_number(v) for k, v in h.items()}, allow_nan=False) for h in self.history]
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(line + "\n" for line in lines))

    def resume(self, resume: bool) -> int | None:
        """Restore the run from ``last.pt`` (its units completed), or start afresh (None)."""
        task, last = self.task, self.last_path
        if last is None or not last.exists():
            task.seed_run()
            return None
        if not resume:
            raise CheckpointError(f"{last} exists: pass resume=True to continue that run, or choose another run_dir")
        device = next((p.device for p in task.model.parameters()), torch.device("cpu"))
        ckpt = load_checkpoint(last, family=task.family, label=task.label, map_location=device)
        check_model_class(task.model, ckpt, last)
        task.check_resumable(ckpt, last)
        check_same_data(last, ckpt.get("data_fingerprint"), self.data_fingerprint)
        load_model_state(task.model, ckpt, last)
        for name, obj in task.stateful().items():
            if obj is not None and ckpt.get(f"{name}_state") is not None:
                obj.load_state_dict(ckpt[f"{name}_state"])
        set_rng_state(ckpt["rng"])
        task.restore(ckpt)
        self.history = [dict(h) for h in ckpt["history"]]
        self.best_metric, self.best_unit = float(ckpt["best_metric"]), ckpt["best_unit"]
        self.completed = int(ckpt["completed"])
        return self.completed

    # -- one unit ----------------------------------------------------------------------
    def run_unit(self, unit: int) -> float | None:
        task = self.task
        started = time.perf_counter()
        shown = None
        for index, batch in enumerate(task.batches(unit)):
            try:
                shown = task.step(unit, index, batch)
            except NonFiniteLoss as exc:
                raise self.diverged(f"{exc} at {task.where(unit, index)}") from None
        train_seconds = time.perf_counter() - started
        self.check_weights(unit)
        try:
            end = task.end_unit(unit, started, train_seconds)
        except NonFiniteLoss as exc:
            raise self.diverged(f"{exc} at {task.where(unit)}") from None
        self.completed = unit + 1
        if end.record is not None:
            self.history.append(end.record)
        if end.metric is not None and end.metric < self.best_metric:
            self.best_metric, self.best_unit = end.metric, unit
            if self.run_dir is not None:
                save_checkpoint(self.checkpoint("best"), self.run_dir / "best.pt")
        return shown


def run_training(task: TrainingTask, run_dir: str | Path | None, *, resume: bool = False,
                 stop_after: int | None = None) -> LoopResult:
    """Train ``task`` for its ``n_units`` units (or the remaining ones when resuming).

    Parameters
    ----------
    task : TrainingTask
    run_dir : str or path or None
        Folder of ``last.pt``, ``best.pt`` and ``metrics.jsonl`` (created when needed);
        ``None``: train in memory.
    resume : bool
        Continue from ``run_dir/last.pt`` when it exists (a fresh run otherwise). Without it an
        existing ``last.pt`` is an error, so that no run is overwritten.
    stop_after : int, optional
        Train at most this many units in this call, checkpoint and return; a later call with
        ``resume=True`` continues exactly where this one stopped.

    Raises
    ------
    ConfigError
        ``stop_after`` is not an integer >= 0, or ``resume`` without a ``run_dir``.
    CheckpointError
        ``last.pt`` exists while ``resume`` is False, or belongs to another model class, model
        configuration or training configuration.
    TrainingDivergedError
        A loss or a weight became NaN/inf; ``last.pt`` keeps the last good checkpoint.
    """
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0):
        raise ConfigError(f"stop_after must be an integer >= 0; got {stop_after!r}")
    if run_dir is None and resume:
        raise ConfigError("resume=True needs a run_dir")
    threads = task.num_threads if task.num_threads is not None else default_torch_threads()
    with torch_threads(threads):
        return _train(task, None if run_dir is None else Path(run_dir), resume, stop_after)


def _train(task: TrainingTask, run_dir: Path | None, resume: bool, stop_after: int | None) -> LoopResult:
    run = _Run(task, run_dir)
    resumed_from = run.resume(resume)
    start = run.completed
    end = task.n_units if stop_after is None else min(task.n_units, start + stop_after)
    bar = progress(range(start, end), enabled=task.progress, total=end - start,
                   desc=f"{task.label} training", unit=task.unit, leave=False)
    try:
        for unit in bar:
            shown = run.run_unit(unit)
            if shown is not None:
                bar.set_postfix(loss=f"{shown:.4g}", refresh=False)
            if run.completed % task.checkpoint_every == 0 or run.completed == end:
                run.save()
    finally:
        bar.close()
    if start >= end and resumed_from is not None:
        run.write_metrics()
    return LoopResult(history=run.history, completed=run.completed, resumed_from=resumed_from,
                      best_metric=run.best_metric, best_unit=run.best_unit, run_dir=run.run_dir)
