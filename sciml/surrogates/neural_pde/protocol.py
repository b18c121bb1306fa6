"""The contracts of autoregressive neural PDE solvers (FNO, U-Net, CAPE and baselines).

**One step** (:class:`NeuralPDESolver`, what :class:`~sciml.surrogates.neural_pde.Trainer` and
:func:`rollout` need): a :class:`torch.nn.Module` that maps a history of ``initial_step``
frames (and, optionally, the PDE parameters) to the next frame::

    history: (batch, initial_step * n_vars, *space)   frames stacked as channels, time-major:
                                                      channel ``k * n_vars + v`` is variable
                                                      ``v`` at history frame ``k`` (oldest first)
    params:  (batch, n_params) or None                physical PDE parameters (e.g. nu, beta)
    returns: (batch, n_vars, *space)                   the next frame

Channel-first, any spatial size (``*space`` is ``(n_x,)`` in 1D, ``(n_x, n_y)`` in 2D): a model
trained at one resolution must run at another. Grid channels, if a model uses them, are added
inside the model. Parameter-blind models have ``n_params == 0`` and ignore ``params``.

**A surrogate** (:class:`~sciml.surrogates.base.Surrogate`): the built-in solvers derive from
:class:`SolverModule`, whose ``predict(RolloutRequest(initial, n_steps, params))`` returns the
rollout as a :class:`~sciml.surrogates.posterior.DeterministicPosterior`
(:func:`predict_rollout` does the same for any one-step solver).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from sciml.surrogates.posterior import DeterministicPosterior

__all__ = [
    "NeuralPDESolver",
    "RolloutRequest",
    "SolverModule",
    "check_solver_inputs",
    "predict_rollout",
    "rollout",
]


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


@dataclass(frozen=True)
class RolloutRequest:
    """The inputs of a neural PDE solver's ``predict``: where to start, how far, with which parameters.

    Attributes
    ----------
    initial : Tensor, shape ``(batch, n_vars, initial_step, *space)``
        The first ``initial_step`` frames of each trajectory.
    n_steps : int
        Frames to predict (``>= 1``).
    params : Tensor, shape ``(batch, n_params)``, optional
        PDE parameters (parameter-aware solvers).
    """

    initial: Tensor
    n_steps: int
    params: Tensor | None = None


def predict_rollout(solver: NeuralPDESolver, request: RolloutRequest) -> DeterministicPosterior:
    """The autoregressive rollout of ``request`` as a deterministic posterior.

    The solver runs in eval mode without gradients; every submodule's train/eval flag is
    restored afterwards.

    Returns
    -------
    DeterministicPosterior
        ``mean``: the predicted frames, shape ``(batch, n_vars, n_steps, *space)`` (the
        initial frames excluded); zero variance.

    Raises
    ------
    ValueError
        ``initial`` has another number of variables or frames than the solver takes, or
        ``n_steps < 1`` (the solver's own checks cover the rest).
    """
    initial, k = request.initial, int(solver.initial_step)
    if initial.ndim != 3 + solver.spatial_dims or initial.shape[1] != solver.n_vars or initial.shape[2] != k:
        raise ValueError(
            f"{type(solver).__name__}: initial must have shape (batch, n_vars={solver.n_vars}, "
            f"initial_step={k}, *space) with {solver.spatial_dims} spatial dim(s); got {tuple(initial.shape)}"
        )
    if isinstance(request.n_steps, bool) or not isinstance(request.n_steps, int) or request.n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {request.n_steps!r}")
    modules = list(solver.modules()) if isinstance(solver, nn.Module) else []
    flags = [m.training for m in modules]
    for m in modules:
        m.training = False
    try:
        with torch.no_grad():
            frames = rollout(solver, initial, request.n_steps, request.params)
    finally:
        for m, flag in zip(modules, flags, strict=True):
            m.training = flag
    return DeterministicPosterior(frames[:, :, k:])


class SolverModule(nn.Module):
    """Base of the built-in solvers: a one-step :class:`NeuralPDESolver` that is also a Surrogate.

    Subclasses implement ``forward(history, params=None)`` and set ``n_vars``,
    ``initial_step``, ``n_params`` and ``spatial_dims``; ``predict`` is :func:`predict_rollout`.
    """

    n_vars: int
    initial_step: int
    n_params: int
    spatial_dims: int

    def predict(self, inputs: RolloutRequest) -> DeterministicPosterior:
        """The rollout of ``inputs`` (see :func:`predict_rollout`)."""
        return predict_rollout(self, inputs)
