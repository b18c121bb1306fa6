"""Batches of trajectory datasets for the neural PDE trainer, and the checks that they fit a solver.

Items are dicts ``{"trajectory": (n_vars, n_frames, *space), "params": (n_params,), ...}``
(as served by :mod:`sciml.data.torch_dataset`), or ``{"history", "target"}`` pairs whose
frames are concatenated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sciml.errors import SciMLError

__all__ = ["DatasetMismatchError", "batch_tensors", "check_dataset", "check_solver_attrs", "model_dtype"]

#: attributes of the neural PDE solver protocol (:mod:`sciml.surrogates.neural_pde.protocol`)
PROTOCOL_ATTRS = ("n_vars", "initial_step", "n_params", "spatial_dims")


class DatasetMismatchError(SciMLError, ValueError):
    """A dataset's items do not fit the model (variables, spatial dims, parameters, frames)."""


def check_solver_attrs(model: nn.Module) -> None:
    """Raise ``TypeError`` unless ``model`` has every attribute of the one-step solver protocol."""
    missing = [a for a in PROTOCOL_ATTRS if not hasattr(model, a)]
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


def check_dataset(model: nn.Module, dataset: Dataset, role: str, n_steps: int | None) -> int:
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


def batch_tensors(
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


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (the default dtype without any)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


