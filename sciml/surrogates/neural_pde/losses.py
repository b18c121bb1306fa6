"""Rollout losses of autoregressive neural PDE solvers, and their validation metric.

:func:`relative_l2` is the per-sample relative L2 error; :func:`rollout_errors` rolls a
solver out on true trajectories (each step's prediction or the true frame fed back, as a
curriculum says) and returns the error of every step; :func:`evaluate` rolls it out fully
autoregressively over a dataset (the validation loss and nRMSE); the PDEBench metrics of such
rollouts are :func:`sciml.uq.pde_metrics.accumulate_rollouts`.

:func:`near_zero_references` tells when a relative loss is dominated by near-zero reference
frames (trajectories decaying to ~0 without ``relative_floor``), so that the trainer can warn
instead of reporting a loss of 1e7 in silence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from sciml.surrogates.neural_pde.batches import batch_tensors, check_dataset, check_solver_attrs, model_dtype

__all__ = [
    "NEAR_ZERO_RATIO",
    "NEAR_ZERO_SHARE",
    "NearZeroReferences",
    "evaluate",
    "near_zero_references",
    "reference_norms",
    "relative_l2",
    "rollout_errors",
]

#: a reference norm below this fraction of the data's scale counts as near zero
NEAR_ZERO_RATIO = 1e-3
#: near-zero references dominate a loss when their terms make up more than this share of it
NEAR_ZERO_SHARE = 0.5


def reference_norms(true: Tensor, floor: Tensor | float = 0.0) -> Tensor:
    """Per-sample reference norm ``max(||true||_2, floor)`` of :func:`relative_l2`, shape ``(batch,)``."""
    return torch.maximum(true.flatten(1).norm(dim=1), torch.as_tensor(floor, dtype=true.dtype, device=true.device))


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
    return diff / reference_norms(true, floor).clamp_min(torch.finfo(true.dtype).tiny)


@dataclass(frozen=True)
class NearZeroReferences:
    """Loss terms with near-zero reference norms that dominate a relative loss.

    Attributes
    ----------
    n_terms, n_near_zero : int
        Terms of the loss (one per sample and step) and those with a near-zero reference.
    n_samples, n_samples_near_zero : int
        Samples of the batch and those with at least one near-zero reference.
    share : float
        Share of the loss (sum of the terms) that the near-zero terms make up (1.0 when they
        make it infinite).
    scale, smallest : float
        The data's scale (median first-frame norm) and the smallest reference norm.
    loss : float
        Mean of the terms.
    ratio : float
        Near zero means a reference norm below ``ratio * scale``.
    """

    n_terms: int
    n_near_zero: int
    n_samples: int
    n_samples_near_zero: int
    share: float
    scale: float
    smallest: float
    loss: float
    ratio: float

    def message(self, what: str = "the training loss") -> str:
        """A sentence with the numbers and the remedy."""
        return (
            f"{what} is dominated by near-zero reference frames: {self.n_near_zero} of {self.n_terms} "
            f"terms (sample x step), in {self.n_samples_near_zero} of {self.n_samples} samples, have a "
            f"reference norm below {self.ratio:g} x the median first-frame norm ({self.scale:.3g}; "
            f"smallest {self.smallest:.3g}) and make up {100 * self.share:.3g}% of it (mean "
            f"{self.loss:.3g}); relative errors against ~0 are ill-posed. Set relative_floor (e.g. "
            f"0.01: reference norms at least 1% of each sample's first-frame norm), or offset or drop "
            f"such trajectories"
        )


def near_zero_references(
    errors: Tensor,
    refs: Tensor,
    scale: Tensor | float,
    *,
    ratio: float = NEAR_ZERO_RATIO,
    share: float = NEAR_ZERO_SHARE,
) -> NearZeroReferences | None:
    """Whether near-zero reference norms dominate a relative loss (the report), else None.

    Definition: a term is *near zero* when its reference norm (``refs``, as
    :func:`reference_norms`, i.e. after any floor) is below ``ratio`` (1e-3) times ``scale``,
    the median over the batch of the samples' first-frame norms; near-zero terms *dominate*
    the loss when they make up more than ``share`` (half) of the sum of the terms, or when
    the sum is infinite and they are why. A zero ``scale`` (all-zero data) never dominates.

    Parameters
    ----------
    errors, refs : Tensor, shape ``(batch,)`` or ``(batch, n_steps)``
        Relative errors and their reference norms.
    scale : float or 0-d Tensor
    """
    errors, refs = errors.detach().double(), refs.detach().double()
    if errors.ndim == 1:
        errors, refs = errors[:, None], refs[:, None]
    scale = float(scale)
    near = refs < ratio * scale
    if not bool(near.any()):
        return None
    total, near_sum = float(errors.sum()), float(errors[near].sum())
    if math.isnan(total):  # NaN predictions, not references: the divergence check reports them
        return None
    if math.isinf(total):
        fraction = 1.0 if math.isinf(near_sum) else 0.0
    else:
        fraction = near_sum / total if total > 0 else 0.0
    if not fraction > share:
        return None
    return NearZeroReferences(
        n_terms=int(errors.numel()), n_near_zero=int(near.sum()), n_samples=int(errors.shape[0]),
        n_samples_near_zero=int(near.any(dim=1).sum()), share=fraction, scale=scale,
        smallest=float(refs.min()), loss=total / errors.numel(), ratio=ratio,
    )


def rollout_errors(
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
    check_solver_attrs(model)
    n_frames = check_dataset(model, dataset, "evaluation", n_steps)
    k = int(model.initial_step)
    steps = n_steps if n_steps is not None else n_frames - k
    if device is None:
        device = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    device = torch.device(device)
    dtype = model_dtype(model)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, sampler=SequentialSampler(dataset))
    sum_steps = torch.zeros(steps, dtype=torch.float64)
    sum_nrmse = 0.0
    count = 0
    try:
        for batch in loader:
            traj, params = batch_tensors(batch, model, k + steps, device, dtype)
            errors, _, preds = rollout_errors(
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
