"""BoTorch's multi-task GP (intrinsic coregionalisation) for unordered information sources.

Each distinct value of the task column is one source (any discrete codes, e.g. rescaled
fidelities ``0, 0.5, 1``); an input transform maps the raw codes to task indices, and the
model's output task is the target source. Reference: Bonilla, Chai & Williams (2008), NeurIPS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from botorch.models import MultiTaskGP
from botorch.models.transforms.input import ChainedInputTransform, InputTransform
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from sciml.bo.fitting import (
    LEVEL_TOL,
    ModelInputError,
    check_bounds,
    check_xy,
    column_index,
    design_normalize,
    fit_with_fallbacks,
)

__all__ = ["MULTITASK_MAX_ITER", "fit_multitask_gp"]

#: Default cap on the L-BFGS-B iterations of :func:`fit_multitask_gp` (uncapped, the task
#: covariance of a fit to few points per source can drift along a flat direction for thousands
#: of iterations; ``docs/benchmarks.md``).
MULTITASK_MAX_ITER = 300


class _TaskValueToIndex(InputTransform):
    """Replace the task column's raw values (e.g. fidelities 0, 0.5, 1) by indices 0..T-1."""

    def __init__(self, task_col: int, values: Tensor) -> None:
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.task_col = int(task_col)
        self.register_buffer("values", values.clone())

    def transform(self, X: Tensor) -> Tensor:
        col = X[..., self.task_col]
        dist = (col.unsqueeze(-1) - self.values).abs()
        best, idx = dist.min(dim=-1)
        if (best > LEVEL_TOL).any():
            bad = col[best > LEVEL_TOL].flatten()[:5].tolist()
            raise ModelInputError(
                f"task values {bad} are not among the training task values "
                f"{self.values.tolist()}"
            )
        X = X.clone()
        X[..., self.task_col] = idx.to(X.dtype)
        return X

    def equals(self, other: InputTransform) -> bool:
        return (
            isinstance(other, _TaskValueToIndex)
            and other.task_col == self.task_col
            and torch.equal(other.values, self.values)
        )


class _SourceMultiTaskGP(MultiTaskGP):
    """``MultiTaskGP`` whose task column holds raw source values mapped by an input transform.

    ``posterior`` of inputs without the task column predicts the target source.
    """

    _target_value: float

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, **kwargs: Any):
        if X.shape[-1] == self.num_non_task_features:
            if output_indices is not None:
                raise ModelInputError(
                    "output_indices is not supported: include the task column in X instead"
                )
            tf = self._task_feature
            col = torch.full_like(X[..., :1], self._target_value)
            X = torch.cat([X[..., :tf], col, X[..., tf:]], dim=-1)
        return super().posterior(X, output_indices=output_indices, **kwargs)


def _target(values: Tensor, target_task: float | None) -> tuple[float, int]:
    """Raw value and task index of the target source (default: the largest value)."""
    if target_task is None:
        target_value = float(values.max())
    else:
        matches = ((values - float(target_task)).abs() <= LEVEL_TOL).nonzero().flatten()
        if len(matches) == 0:
            raise ModelInputError(
                f"target_task={target_task!r} has no training data; task values are "
                f"{values.tolist()}"
            )
        target_value = float(values[matches[0]])
    return target_value, int(((values - target_value).abs() <= LEVEL_TOL).nonzero()[0, 0])


def fit_multitask_gp(
    X: Tensor,
    Y: Tensor,
    task_column: int = -1,
    *,
    target_task: float | None = None,
    noise: float | Tensor | None = None,
    rank: int | None = None,
    bounds: Tensor | None = None,
    seed: int = 0,
    max_iter: int | None = MULTITASK_MAX_ITER,
    init: Mapping[str, Any] | None = None,
) -> MultiTaskGP:
    """Fit BoTorch's ``MultiTaskGP`` (ICM kernel) for unordered information sources.

    Each distinct value of the task column is one source; the values may be integer task
    indices ``0, 1, ...`` or any discrete codes such as rescaled fidelities ``0, 0.5, 1``. They
    are mapped to task indices by an input transform, so ``posterior`` takes the same raw
    values (an input whose value is not a training value is an error). The model's output task
    is the target source.

    Parameters
    ----------
    X : Tensor, shape (n, d + 1)
        Inputs with the task column.
    Y : Tensor, shape (n, 1)
        Outputs (maximised).
    task_column : int
        Index of the task column (negative allowed).
    target_task : float, optional
        Raw task value of the target source; default: the largest value (the target fidelity
        1 under the fidelity convention, or the highest task index).
    noise : float or Tensor of shape (n, 1), optional
        Known noise variances; None infers one noise level per task.
    rank : int, optional
        Rank of the task covariance; default the number of tasks.
    bounds : Tensor, shape (2, d + 1), optional
        Design bounds for normalisation (task entries ignored).
    seed : int
        Seed of the random restarts.
    max_iter : int or None
        Cap on the L-BFGS-B iterations (default :data:`MULTITASK_MAX_ITER`; None: scipy's).
    init : mapping of str to Tensor, optional
        Hyperparameters to start the fit from (:func:`hyperparameters` of an earlier fit with the
        same tasks).

    Returns
    -------
    MultiTaskGP
        Fitted model in eval mode with ``Standardize(m=1)``; ``posterior(X)`` accepts
        ``(..., d + 1)`` inputs with raw task values, or ``(..., d)`` inputs for the target.
    """
    X, Y, Yvar = check_xy(X, Y, noise)
    col = column_index(task_column, X.shape[1], "task_column")
    values = torch.unique(X[:, col])
    if len(values) > 1 and float(torch.diff(values).min()) <= 2 * LEVEL_TOL:
        raise ModelInputError(
            f"task values must be distinct codes at least {2 * LEVEL_TOL:g} apart, "
            f"got {values.tolist()[:10]}"
        )
    target_value, target_index = _target(values, target_task)
    tf = ChainedInputTransform(
        tasks=_TaskValueToIndex(col, values),
        normalize=design_normalize(X.shape[1], col, check_bounds(bounds, X.shape[1])),
    )
    model = _SourceMultiTaskGP(
        X,
        Y,
        task_feature=col,
        train_Yvar=Yvar,
        output_tasks=[target_index],
        rank=rank,
        input_transform=tf,
        outcome_transform=Standardize(m=1),
        validate_task_values=False,  # raw values are validated by _TaskValueToIndex
    )
    model._target_value = target_value
    return fit_with_fallbacks(model, seed=seed, what="multi-task GP", max_iter=max_iter, init=init)
