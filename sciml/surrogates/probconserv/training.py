"""ELBO training of the attentive neural process (plain ANP and the SoftC baseline) on the common loop.

:class:`ANPTrainer` fits an :class:`~sciml.surrogates.probconserv.anp.AttentiveNeuralProcess`
(or any module with the same ``forward`` signature returning ``loss``, ``nll``, ``kl`` and
``mean``) on batches of tasks drawn by a user function ``sample_batch_fn(step, generator)``:
every step draws a fresh batch (ProbConserv trains on an unlimited stream of random
context/target splits of simulated solutions), so the loop's units are steps. Seeds,
checkpoints (``run_dir/last.pt``), exact resume, the divergence stop and ``metrics.jsonl`` come
from :func:`sciml.surrogates.training.run_training`.

Objective: ``loss = nll + kl`` (the ANP's negative ELBO per target point) plus, for the SoftC
baseline (``softc_weight > 0``), ``softc_weight * mean(residual^2)`` of a user-supplied PDE
residual of the predicted mean (:func:`pde_residual_penalty`); with ``nll_beta > 0`` the
reconstruction term is beta-NLL weighted (:func:`beta_weighted_loss`); the learning rate follows
:meth:`ANPTrainConfig.lr_at`.

Batches: any object with tensor attributes (or a mapping with keys) ``context_x (B, Nc, 2)``,
``context_y (B, Nc, 1)``, ``target_x (B, Nt, 2)``, ``target_y (B, Nt, 1)`` and optionally
``params (B, P)`` (:class:`TaskBatch`); ``B == config.batch_size``.

Records of ``metrics.jsonl`` (one every ``log_every`` steps and at the last): ``step`` (steps
completed), ``loss`` (the objective minimised), ``nll`` (unweighted), ``kl``, ``softc`` (the
unweighted penalty, or None), each the mean over the steps since the previous record;
``grad_norm`` (before clipping, at the logged step); ``seconds`` (wall time since the previous
record).

Streams: the batch of step ``k`` is drawn from ``stream_seed(seed, k, 0)``, the latent noise from
``stream_seed(seed, k, 1)``; dropout uses the global torch RNG (seeded and checkpointed by the loop).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)
from torch import Tensor, nn

from sciml.config import StrictModel
from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.probconserv.anp import ANPInputError
from sciml.surrogates.training.checkpoints import (
    CheckpointError,
    TrainingDivergedError,
    check_resumable_config,
)
from sciml.surrogates.training.checkpoints import load_checkpoint as _load_checkpoint
from sciml.surrogates.training.checkpoints import load_weights as _load_weights
from sciml.surrogates.training.fingerprints import batch_fingerprint
from sciml.surrogates.training.loop import (
    TrainingTask,
    UnitEnd,
    apply_update,
    as_config,
    run_training,
    stream_seed,
)

__all__ = [
    "ANPTrainConfig",
    "ANPTrainResult",
    "ANPTrainer",
    "BatchError",
    "CheckpointError",
    "PDEResidual",
    "TaskBatch",
    "TaskBatchLike",
    "TrainingDivergedError",
    "beta_weighted_loss",
    "load_checkpoint",
    "load_weights",
    "mean_derivatives",
    "pde_residual_penalty",
]


#: checkpoint family of this trainer
FAMILY = "anp"
_LABEL = "ANP"
#: Values of the schedule and weighting fields for checkpoints written before they existed.
_SCHEDULE_DEFAULTS: dict[str, Any] = {"lr_schedule": "constant", "warmup_steps": 0, "nll_beta": 0.0}
_BATCH_FIELDS = ("context_x", "context_y", "target_x", "target_y")

#: ``pde_residual(u, u_t, u_x, u_xx, params) -> residual``: tensors ``(B, Nt, 1)`` (``params``
#: ``(B, P)`` or None); the residual broadcasts to ``(B, Nt, 1)`` (or any shape: its squares
#: are averaged).
PDEResidual = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor | None], Tensor]


class BatchError(SciMLError, ValueError):
    """A training batch lacks a field or its tensors do not fit the configuration."""


# --------------------------------------------------------------------------- batches
@runtime_checkable
class TaskBatchLike(Protocol):
    """What a training batch provides (attribute access; mappings with these keys work too)."""

    context_x: Tensor
    context_y: Tensor
    target_x: Tensor
    target_y: Tensor


@dataclass(frozen=True)
class TaskBatch:
    """A batch of ``B`` tasks (context/target splits of solutions ``u(t, x)``).

    Attributes
    ----------
    context_x : Tensor, shape ``(B, Nc, 2)``
        Context points ``(t, x)``.
    context_y : Tensor, shape ``(B, Nc, 1)``
        ``u`` at the context points.
    target_x : Tensor, shape ``(B, Nt, 2)``
        Target points ``(t, x)``.
    target_y : Tensor, shape ``(B, Nt, 1)``
        ``u`` at the target points.
    params : Tensor or None, shape ``(B, P)``
        PDE parameters of each task (e.g. the diffusivity), for SoftC residuals.
    """

    context_x: Tensor
    context_y: Tensor
    target_x: Tensor
    target_y: Tensor
    params: Tensor | None = None


def _field(batch: Any, name: str, required: bool = True) -> Any:
    if isinstance(batch, Mapping):
        value = batch.get(name)
    else:
        value = getattr(batch, name, None)
    if value is None and required:
        raise BatchError(
            f"the batch ({type(batch).__name__}) has no {name!r}; a batch needs tensors "
            f"{list(_BATCH_FIELDS)} (and optionally 'params')"
        )
    return value


def _as_task_batch(batch: Any, device: torch.device, dtype: torch.dtype) -> TaskBatch:
    """The batch's tensors as a :class:`TaskBatch` on ``device`` with floating dtype ``dtype``."""
    values: dict[str, Tensor | None] = {}
    for name in (*_BATCH_FIELDS, "params"):
        value = _field(batch, name, required=name != "params")
        if value is None:
            values[name] = None
            continue
        if not isinstance(value, Tensor):
            try:
                value = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise BatchError(f"batch field {name!r} is not a tensor of numbers: {exc}") from exc
        values[name] = value.to(device=device, dtype=dtype)
    return TaskBatch(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- SoftC
def mean_derivatives(u: Tensor, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(u_t, u_x, u_xx)`` of a pointwise field ``u`` at ``points = (t, x)``, differentiably.

    Parameters
    ----------
    u : Tensor, shape ``(B, N, 1)``
        Values ``u(points)`` computed from ``points`` (which requires grad), each value
        depending on its own point only (as the ANP's mean does; otherwise the results are
        sums of cross-derivatives).
    points : Tensor, shape ``(B, N, 2)``
        Inputs, column 0 = ``t``, column 1 = ``x``.

    Returns
    -------
    tuple of Tensor, each ``(B, N, 1)``
        ``du/dt``, ``du/dx`` and ``d2u/dx2``, with ``create_graph=True`` (so a loss built
        from them can be back-propagated to the model's parameters). A derivative that does
        not depend on ``points`` at all (e.g. ``u_xx`` of a piecewise-linear ReLU network) is
        returned as zeros.
    """
    (grad,) = torch.autograd.grad(u, points, torch.ones_like(u), create_graph=True, allow_unused=True)
    if grad is None:
        zeros = torch.zeros_like(u)
        return zeros, zeros, zeros
    u_t, u_x = grad[..., 0:1], grad[..., 1:2]
    if not u_x.requires_grad:
        return u_t, u_x, torch.zeros_like(u_x)
    (grad2,) = torch.autograd.grad(u_x, points, torch.ones_like(u_x), create_graph=True, allow_unused=True)
    u_xx = torch.zeros_like(u_x) if grad2 is None else grad2[..., 1:2]
    return u_t, u_x, u_xx


def pde_residual_penalty(
    model: nn.Module,
    batch: Any,
    pde_residual: PDEResidual,
    *,
    generator: torch.Generator | None = None,
    return_output: bool = False,
) -> Tensor | tuple[Tensor, Any]:
    """SoftC penalty ``mean(pde_residual(u, u_t, u_x, u_xx, params)^2)`` of the model's mean.

    The model is run as in training, ``model(context_x, context_y, target_x, target_y,
    generator=generator)`` (the latent drawn from ``q(z | C ∪ T)`` when ``target_y`` is
    present, as in the ProbConserv reference), with a copy of ``batch.target_x`` that requires
    grad; ``u`` is the output's ``mean`` and its derivatives come from :func:`mean_derivatives`.

    Parameters
    ----------
    model : nn.Module
        An :class:`~sciml.surrogates.probconserv.anp.AttentiveNeuralProcess` or a stand-in whose
        ``forward(context_x, context_y, target_x, target_y=None, *, generator=None)`` returns an
        object with ``mean`` ``(B, Nt, 1)``.
    batch : TaskBatchLike or mapping
        ``context_x``, ``context_y``, ``target_x`` (``(B, Nt, 2)``, columns ``(t, x)``),
        optionally ``target_y`` and ``params`` ``(B, P)``.
    pde_residual : callable
        ``pde_residual(u, u_t, u_x, u_xx, params) -> Tensor`` (see :data:`PDEResidual`); e.g.
        for the heat equation ``u_t = k u_xx`` with ``k = params[:, 0]``:
        ``lambda u, u_t, u_x, u_xx, p: u_t - p[:, None, :1] * u_xx``.
    generator : torch.Generator, optional
        Latent noise of the forward pass.
    return_output : bool
        Also return the model's output (the trainer reuses it for the ELBO).

    Returns
    -------
    Tensor (scalar), or (Tensor, output)
        The penalty (units of ``residual^2``), differentiable with respect to the model's
        parameters.
    """
    context_x = _field(batch, "context_x")
    context_y = _field(batch, "context_y")
    target_x = _field(batch, "target_x")
    target_y = _field(batch, "target_y", required=False)
    params = _field(batch, "params", required=False)
    if not isinstance(target_x, Tensor) or target_x.ndim != 3 or target_x.shape[-1] != 2:
        shape = tuple(target_x.shape) if isinstance(target_x, Tensor) else type(target_x).__name__
        raise BatchError(f"SoftC needs target_x of shape (B, Nt, 2) with columns (t, x); got {shape}")
    dtype = next((p.dtype for p in model.parameters()), target_x.dtype)
    if not target_x.is_floating_point():
        raise BatchError(f"target_x must be floating point; got {target_x.dtype}")
    points = target_x.detach().to(dtype).clone().requires_grad_(True)
    out = model(context_x, context_y, points, target_y, generator=generator)
    u = out.mean
    if u.shape[:2] != points.shape[:2]:
        raise BatchError(f"the model's mean has shape {tuple(u.shape)}; expected (B, Nt, 1) = "
                         f"({points.shape[0]}, {points.shape[1]}, 1)")
    u_t, u_x, u_xx = mean_derivatives(u, points)
    residual = pde_residual(u, u_t, u_x, u_xx, params)
    if not isinstance(residual, Tensor):
        raise BatchError(f"pde_residual must return a Tensor; got {type(residual).__name__}")
    penalty = (residual**2).mean()
    return (penalty, out) if return_output else penalty


def beta_weighted_loss(out: Any, target_y: Tensor, beta: float) -> Tensor:
    """Negative ELBO with the beta-NLL weighting of the reconstruction term (Seitzer et al., 2022).

    The Gaussian negative log-likelihood of target point ``j`` is weighted by
    ``w_j = stopgrad(sigma_j^(2 beta))``, the weights normalised to mean 1 over the batch::

        loss = (1 / (B Nt)) sum_{b, j} (w_bj / mean(w)) (-log N(y_bj | mu_bj, sigma_bj^2)) + kl

    Why: the plain NLL's gradient with respect to the mean is ``(mu - y) / sigma^2``, so
    points the model is already sure about (tiny ``sigma``, e.g. the undisturbed state ahead
    of a front, where ``sigma ~ 1e-3``) get gradients ``~1e5`` times larger than points it is
    unsure about (``sigma ~ 0.3``): the uncertain regions are fitted last, their variance stays
    large, and on a short training budget the predictive variance is spread over the whole
    region behind a front instead of concentrating at the front. The weight ``sigma^(2 beta)``
    (``beta = 0.5``: the mean's gradient becomes ``(mu - y) / sigma``) evens this out. As the
    weight carries no gradient and is positive, every point's optimal ``(mu, sigma^2)`` (the
    conditional mean and the mean squared error) is that of the plain NLL: only the balance
    between points during training changes. ``beta = 0`` is the plain negative ELBO, ``beta =
    1`` weights the mean like a squared error.

    Parameters
    ----------
    out : ANPOutput
        The model's output with ``mean``, ``variance`` ``(B, Nt, y_dim)`` and ``kl`` (scalar,
        per target point).
    target_y : Tensor, shape ``(B, Nt, y_dim)``
        True values at the targets.
    beta : float
        ``0 <= beta <= 1``.

    Returns
    -------
    Tensor
        Scalar loss (nats per target point).
    """
    mean, variance = out.mean, out.variance
    log_p = -0.5 * (math.log(2.0 * math.pi) + torch.log(variance) + (target_y - mean) ** 2 / variance)
    w = variance.detach() ** beta
    w = w / w.mean()
    return -(w * log_p).sum(-1).mean() + out.kl


# --------------------------------------------------------------------------- config
class ANPTrainConfig(StrictModel):
    """Hyper-parameters of :class:`ANPTrainer` (unknown fields are errors).

    Parameters
    ----------
    steps : int
        Optimiser steps (one fresh batch each).
    batch_size : int
        Tasks per batch; ``sample_batch_fn`` must return batches of this size.
    lr : float
        Adam learning rate (1e-4 in the ProbConserv reference).
    seed : int
        Seed of the per-step data and latent generators and (fresh runs) the global RNGs.
    checkpoint_every : int
        Write ``last.pt`` (and ``metrics.json``) every this many steps (and at the end).
    log_every : int
        One ``metrics.json`` record every this many steps (and at the last step).
    softc_weight : float
        Weight of the SoftC PDE-residual penalty (0: plain ANP; > 0 needs ``pde_residual``).
    grad_clip : float or None
        Clip the global gradient norm to this value.
    nll_beta : float
        ``beta`` of the beta-NLL weighting of the reconstruction term
        (:func:`beta_weighted_loss`; Seitzer et al., ICLR 2022), ``0 <= beta <= 1``; 0 (the
        default) is the plain negative ELBO.
    lr_schedule : {"constant", "cosine"}
        Learning rate of step ``k`` (0-based; :meth:`lr_at`): ``"constant"``: ``lr``;
        ``"cosine"``: after the warm-up, ``lr (1 + cos(pi (k - w) / (steps - w))) / 2`` with
        ``w = warmup_steps``, decaying from ``lr`` towards 0 at the end of training (Loshchilov &
        Hutter, SGDR, 2017). The late small steps average out the noise of the per-step random
        batches, so the fit ends close to a minimum of the expected loss instead of
        fluctuating around it at the scale set by ``lr``.
    warmup_steps : int
        Linear warm-up: ``lr (k + 1) / warmup_steps`` for ``k < warmup_steps`` (both schedules;
        0 = none; must be ``< steps``).
    progress : bool or None
        Show a progress bar (``None``: when stderr is a terminal).
    """

    steps: PositiveInt = 10_000
    batch_size: PositiveInt = 16
    lr: PositiveFloat = 1e-4
    seed: NonNegativeInt = 0
    checkpoint_every: PositiveInt = 500
    log_every: PositiveInt = 10
    softc_weight: NonNegativeFloat = 0.0
    grad_clip: PositiveFloat | None = None
    nll_beta: float = Field(default=0.0, ge=0.0, le=1.0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: NonNegativeInt = 0
    progress: bool | None = None

    @model_validator(mode="after")
    def _warmup_shorter_than_training(self) -> ANPTrainConfig:
        if self.warmup_steps >= self.steps and self.warmup_steps > 0:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})")
        return self

    def lr_at(self, step: int) -> float:
        """Learning rate of the 0-based step ``step`` (see ``lr_schedule`` and ``warmup_steps``)."""
        w = self.warmup_steps
        if step < w:
            return self.lr * (step + 1) / w
        if self.lr_schedule == "constant":
            return self.lr
        frac = min(1.0, (step - w) / max(1, self.steps - w))
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * frac))



@dataclass
class ANPTrainResult:
    """What :meth:`ANPTrainer.fit` returns.

    Attributes
    ----------
    history : list of dict
        The records of ``metrics.json`` (this and earlier calls of the run).
    steps_completed : int
        Optimiser steps done so far in the run.
    run_dir, last_checkpoint : Path
    resumed_from_step : int or None
        Steps completed before this call when it resumed a run.
    """

    history: list[dict[str, Any]]
    steps_completed: int
    run_dir: Path
    last_checkpoint: Path
    resumed_from_step: int | None = None

    @property
    def final_loss(self) -> float:
        """``loss`` of the last record (NaN without records)."""
        return float(self.history[-1]["loss"]) if self.history else math.nan



# --------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :class:`ANPTrainer` (``torch.load(..., weights_only=True)``).

    Returns
    -------
    dict
        The keys of :mod:`sciml.surrogates.training.checkpoints` (``model_class``,
        ``model_config``, ``model_state``, ``train_config``, ``optimizer_state``, ``rng``,
        ``history``, ...), plus ``steps_completed`` and ``window`` (the metric sums since the
        last record).

    Raises
    ------
    FileFormatError
        The file is missing, unreadable, of an earlier format or not an ANP checkpoint.
    """
    return _load_checkpoint(path, family=FAMILY, label=_LABEL, map_location=map_location)


def load_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the weights of ANP checkpoint ``path`` into ``model`` (in place); return the checkpoint.

    Raises
    ------
    CheckpointError
        The checkpoint holds another model class or configuration, or weights of another shape.
    FileFormatError
        As :func:`load_checkpoint`.
    """
    return _load_weights(model, path, family=FAMILY, label=_LABEL)


# --------------------------------------------------------------------------- trainer
def _empty_window() -> dict[str, Any]:
    return {"count": 0.0, "loss": 0.0, "nll": 0.0, "kl": 0.0, "softc": None}


def _record(step: int, window: Mapping[str, Any], grad_norm: float, seconds: float) -> dict[str, Any]:
    n = max(window["count"], 1.0)
    return {
        "step": step,
        "loss": window["loss"] / n,
        "nll": window["nll"] / n,
        "kl": window["kl"] / n,
        "softc": window["softc"] / n if window["softc"] is not None else None,
        "grad_norm": grad_norm,
        "seconds": seconds,
    }


class _ANPTask(TrainingTask):
    """One :meth:`ANPTrainer.fit` call as a task of the common loop: one fresh batch per step."""

    family = FAMILY
    label = _LABEL
    unit = "step"
    resumable_changes = frozenset({"steps", "progress", "checkpoint_every"})
    divergence_hint = "Try a smaller lr, grad_clip, a smaller softc_weight, or check the data for extreme values."

    def __init__(self, trainer: ANPTrainer, sample_batch_fn: Callable[[int, torch.Generator], Any],
                 data_fingerprint: str | None = None) -> None:
        cfg = self.config = trainer.config
        self.given_fingerprint = data_fingerprint
        self.model, self.pde_residual, self.sample_batch_fn = trainer.model, trainer.pde_residual, sample_batch_fn
        self.n_units, self.seed, self.progress = cfg.steps, cfg.seed, cfg.progress
        self.checkpoint_every = cfg.checkpoint_every
        self.device = trainer.device
        self.dtype = next(self.model.parameters()).dtype
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.window = _empty_window()
        self.t_window = time.perf_counter()
        self.grad_norm = math.nan

    def stateful(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer}

    def extras(self, kind: str, completed: int) -> dict[str, Any]:
        return {"steps_completed": completed, "window": dict(self.window)}

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        self.window = {k: (float(v) if v is not None else None) for k, v in ckpt["window"].items()}

    def data_fingerprint(self) -> str | None:
        if self.given_fingerprint is not None:
            return str(self.given_fingerprint)
        first = self.sample_batch_fn(0, torch.Generator().manual_seed(stream_seed(self.config.seed, 0, 0)))
        return batch_fingerprint(first)

    def check_resumable(self, ckpt: Mapping[str, Any], path: Path) -> None:
        # runs written before the learning-rate schedule existed had a constant rate
        saved = {**_SCHEDULE_DEFAULTS, **(ckpt.get("train_config") or {})}
        now = self.config.model_dump(mode="json")
        may_change = set(self.resumable_changes)
        if now.get("lr_schedule") != "constant":
            may_change.discard("steps")  # the cosine decay is laid out over the total number of steps
        check_resumable_config(path, saved, now, may_change)

    def batches(self, unit: int) -> Iterable[TaskBatch]:
        seed = self.config.seed
        data_gen = torch.Generator().manual_seed(stream_seed(seed, unit, 0))
        self.latent_gen = torch.Generator(device=self.device).manual_seed(stream_seed(seed, unit, 1))
        raw = self.sample_batch_fn(unit, data_gen)
        try:
            batch = _as_task_batch(raw, self.device, self.dtype)
        except BatchError as exc:
            raise BatchError(f"batch of step {unit} (0-based): {exc}") from exc
        b = batch.context_x.shape[0] if batch.context_x.ndim > 0 else None
        if b != self.config.batch_size:
            raise BatchError(
                f"batch of step {unit} (0-based) has context_x of shape {tuple(batch.context_x.shape)}, "
                f"i.e. {b} task(s), but config.batch_size = {self.config.batch_size}"
            )
        return [batch]

    def step(self, unit: int, index: int, batch: TaskBatch) -> float:
        cfg, model = self.config, self.model
        model.train()
        try:
            if cfg.softc_weight > 0:
                assert self.pde_residual is not None
                penalty, out = pde_residual_penalty(model, batch, self.pde_residual, generator=self.latent_gen,
                                                    return_output=True)
            else:
                penalty = None
                out = model(batch.context_x, batch.context_y, batch.target_x, batch.target_y,
                            generator=self.latent_gen)
        except ANPInputError as exc:
            raise ANPInputError(f"batch of step {unit} (0-based): {exc}") from exc
        elbo = out.loss if cfg.nll_beta == 0 else beta_weighted_loss(out, batch.target_y, cfg.nll_beta)
        loss = elbo if penalty is None else elbo + cfg.softc_weight * penalty
        value, grad_norm = apply_update(loss, self.optimizer, model, lr=cfg.lr_at(unit), grad_clip=cfg.grad_clip,
                                        report_grad_norm=True)
        self.grad_norm = float(grad_norm)  # type: ignore[arg-type]
        window = self.window
        window["count"] += 1
        window["loss"] += value
        window["nll"] += float(out.nll.detach())
        window["kl"] += float(out.kl.detach())
        if penalty is not None:
            window["softc"] = (window["softc"] or 0.0) + float(penalty.detach())
        return value

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        done = unit + 1
        if done % self.config.log_every and done != self.config.steps:
            return UnitEnd()
        now = time.perf_counter()
        record = _record(done, self.window, self.grad_norm, now - self.t_window)
        self.window, self.t_window = _empty_window(), now
        return UnitEnd(record=record)


class ANPTrainer:
    """Fit an attentive neural process by maximising the ELBO (optionally with a SoftC penalty).

    Parameters
    ----------
    model : nn.Module
        An :class:`~sciml.surrogates.probconserv.anp.AttentiveNeuralProcess` (or a module with its
        ``forward`` signature and outputs ``loss``, ``nll``, ``kl``, ``mean``), trained in place
        on the device of its parameters.
    config : ANPTrainConfig or mapping, optional
        Hyper-parameters (default ``ANPTrainConfig()``).
    run_dir : str or path
        Folder for ``last.pt`` and ``metrics.jsonl`` (created if needed).
    pde_residual : callable, optional
        SoftC residual ``pde_residual(u, u_t, u_x, u_xx, params) -> Tensor`` (see
        :func:`pde_residual_penalty`); required when ``config.softc_weight > 0``.

    Raises
    ------
    ConfigError
        An invalid configuration, a model without parameters, or a missing ``pde_residual``.

    Examples
    --------
    >>> trainer = ANPTrainer(anp, ANPTrainConfig(steps=20_000, batch_size=16), "runs/anp")  # doctest: +SKIP
    >>> result = trainer.fit(problem.sample_batch, resume=True)                            # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        config: ANPTrainConfig | Mapping[str, Any] | None,
        run_dir: str | Path,
        *,
        pde_residual: PDEResidual | None = None,
    ) -> None:
        self.config = as_config(config, ANPTrainConfig, "ANP training configuration")
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if not any(True for _ in model.parameters()):
            raise ConfigError(f"{type(model).__name__} has no parameters to train")
        if self.config.softc_weight > 0 and pde_residual is None:
            raise ConfigError(
                f"softc_weight = {self.config.softc_weight} > 0 needs a pde_residual function "
                f"(u, u_t, u_x, u_xx, params) -> residual"
            )
        if pde_residual is not None and not callable(pde_residual):
            raise ConfigError(f"pde_residual must be callable; got {type(pde_residual).__name__}")
        self.model = model
        self.pde_residual = pde_residual
        self.run_dir = Path(run_dir)

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (and so the training) are."""
        return next(self.model.parameters()).device

    @property
    def last_path(self) -> Path:
        """``run_dir/last.pt``."""
        return self.run_dir / "last.pt"

    @property
    def metrics_path(self) -> Path:
        """``run_dir/metrics.jsonl``."""
        return self.run_dir / "metrics.jsonl"

    def fit(
        self,
        sample_batch_fn: Callable[[int, torch.Generator], Any],
        *,
        resume: bool = False,
        stop_after_steps: int | None = None,
        data_fingerprint: str | None = None,
    ) -> ANPTrainResult:
        """Train for ``config.steps`` steps (or the remaining ones when resuming).

        Parameters
        ----------
        sample_batch_fn : callable
            ``sample_batch_fn(step, generator) -> batch`` with ``step`` the 0-based step index
            and ``generator`` a CPU :class:`torch.Generator` seeded from ``(seed, step)``: draw
            all randomness of the batch from it, so that every step's batch is reproducible.
        resume : bool
            Continue from ``run_dir/last.pt`` when it exists (a fresh run otherwise). Without
            ``resume`` an existing ``last.pt`` is an error, so that no run is overwritten.
        stop_after_steps : int, optional
            Do at most this many steps in this call, then checkpoint and return (a later
            ``fit(..., resume=True)`` continues exactly where this one stopped).
        data_fingerprint : str, optional
            A fingerprint of the data ``sample_batch_fn`` draws from, saved in ``last.pt``; a
            resume with another one is refused. Default: the fingerprint of the batch of step
            0, which misses a change of the data that leaves that batch as it was.

        Returns
        -------
        ANPTrainResult

        Raises
        ------
        BatchError
            A batch lacks a field, or has another batch size than ``config.batch_size``.
        ANPInputError
            A batch's tensors have wrong shapes or NaN/inf values (the message names the step).
        CheckpointError
            ``last.pt`` exists while ``resume`` is False, or belongs to another model class,
            model configuration, training configuration or data fingerprint.
        TrainingDivergedError
            The loss or a weight became NaN/inf; ``last.pt`` keeps the last good checkpoint.
        """
        if not callable(sample_batch_fn):
            raise ConfigError(f"sample_batch_fn must be callable; got {type(sample_batch_fn).__name__}")
        run = run_training(_ANPTask(self, sample_batch_fn, data_fingerprint), self.run_dir, resume=resume,
                           stop_after=stop_after_steps)
        return ANPTrainResult(history=run.history, steps_completed=run.completed, run_dir=self.run_dir,
                              last_checkpoint=self.last_path, resumed_from_step=run.resumed_from)
