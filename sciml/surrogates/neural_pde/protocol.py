"""The contract of autoregressive neural PDE solvers (FNO, U-Net, CAPE and baselines).

A solver is a :class:`torch.nn.Module` that maps a history of ``initial_step`` frames (and,
optionally, the PDE parameters) to the next frame::

    history: (batch, initial_step * n_vars, *space)   frames stacked as channels, time-major:
                                                      channel ``k * n_vars + v`` is variable
                                                      ``v`` at history frame ``k`` (oldest first)
    params:  (batch, n_params) or None                physical PDE parameters (e.g. nu, beta)
    returns: (batch, n_vars, *space)                   the next frame

Channel-first, any spatial size (``*space`` is ``(n_x,)`` in 1D, ``(n_x, n_y)`` in 2D): a model
trained at one resolution must run at another. Grid positional channels, if a model uses
them, are added inside the model, not by the caller. Parameter-blind models have
``n_params == 0`` and ignore ``params``.

:func:`rollout` applies a solver autoregressively; :func:`check_solver_inputs` gives the
error messages every implementation uses for mismatched inputs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class NeuralPDESolver(Protocol):
    """What every neural PDE solver provides (see the module docstring)."""

    n_vars: int
    initial_step: int
    n_params: int
    spatial_dims: int

    def __call__(self, history: Tensor, params: Tensor | None = None) -> Tensor: ...

    def parameters(self, recurse: bool = True): ...


def check_solver_inputs(solver: NeuralPDESolver, history: Tensor, params: Tensor | None) -> None:
    """Raise ``ValueError`` with a clear message when inputs do not fit ``solver``.

    Checks the number of dims (``2 + spatial_dims``), the channel count
    (``initial_step * n_vars``) and, for parameter-aware solvers, the shape of ``params``.
    """
    name = type(solver).__name__
    expected_ndim = 2 + solver.spatial_dims
    if history.ndim != expected_ndim:
        raise ValueError(
            f"{name}: history must have {expected_ndim} dims (batch, channels, "
            f"{', '.join('xyz'[: solver.spatial_dims])}); got shape {tuple(history.shape)}"
        )
    channels = solver.initial_step * solver.n_vars
    if history.shape[1] != channels:
        raise ValueError(
            f"{name}: history has {history.shape[1]} channels; expected initial_step * n_vars = "
            f"{solver.initial_step} * {solver.n_vars} = {channels}"
        )
    if solver.n_params > 0:
        if params is None:
            raise ValueError(f"{name}: needs params of shape (batch, {solver.n_params}); got None")
        if params.ndim != 2 or params.shape != (history.shape[0], solver.n_params):
            raise ValueError(
                f"{name}: params must have shape (batch, n_params) = ({history.shape[0]}, "
                f"{solver.n_params}); got {tuple(params.shape)}"
            )


def check_int_args(owner: str, **specs: tuple[object, int]) -> None:
    """Raise ``ValueError`` unless each ``name=(value, low)`` is an integer ``>= low``.

    Used by the model constructors for their size arguments.
    """
    for name, (value, low) in specs.items():
        if int(value) != value or value < low:
            raise ValueError(f"{owner}: {name} must be an integer >= {low}; got {value!r}")


def rollout(
    solver: NeuralPDESolver,
    initial: Tensor,
    n_steps: int,
    params: Tensor | None = None,
) -> Tensor:
    """Roll a solver out autoregressively.

    Parameters
    ----------
    solver : NeuralPDESolver
        The model.
    initial : Tensor, shape ``(batch, n_vars, initial_step, *space)``
        The first ``initial_step`` frames.
    n_steps : int
        Number of frames to predict.
    params : Tensor, shape ``(batch, n_params)``, optional
        PDE parameters for parameter-aware solvers.

    Returns
    -------
    Tensor, shape ``(batch, n_vars, initial_step + n_steps, *space)``
        The initial frames followed by the predictions.
    """
    b, v, k = initial.shape[:3]
    space = initial.shape[3:]
    frames = [initial[:, :, i] for i in range(k)]
    for _ in range(n_steps):
        history = torch.stack(frames[-k:], dim=1).reshape(b, k * v, *space)
        frames.append(solver(history, params))
    return torch.stack(frames, dim=2)
