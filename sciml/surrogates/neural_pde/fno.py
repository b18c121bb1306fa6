"""Fourier Neural Operator (Li et al., 2021) as an autoregressive next-frame solver, 1D and 2D.

Implements :class:`~sciml.surrogates.neural_pde.protocol.NeuralPDESolver` with ``n_params = 0``.
Extra input channels (``extra_in_channels``) let wrappers inject fields of the same grid: CAPE
passes its intermediate estimate of the next frame, the conditional baseline passes the PDE
parameters broadcast to constant channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.surrogates.neural_pde.protocol import SolverModule, check_int_args, check_solver_inputs
from sciml.surrogates.neural_pde.spectral import SpectralConv1d, SpectralConv2d

__all__ = ["FNO", "grid_channels"]


def grid_channels(batch: int, space: tuple[int, ...], *, like: Tensor) -> Tensor:
    """Cell-centre coordinates in ``[0, 1]`` as channels.

    Parameters
    ----------
    batch : int
        Batch size.
    space : tuple of int
        ``(n_x,)`` or ``(n_x, n_y)``.
    like : Tensor
        Supplies dtype and device.

    Returns
    -------
    Tensor, shape ``(batch, len(space), *space)``
        Channel ``d`` holds ``(i_d + 0.5) / n_d``: the same physical point gets the same value at
        every resolution.
    """
    axes = [(torch.arange(n, dtype=like.dtype, device=like.device) + 0.5) / n for n in space]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh, dim=0).unsqueeze(0).expand(batch, len(space), *space)


def check_extra(model: nn.Module, history: Tensor, extra: Tensor | None) -> None:
    """Validate the ``extra`` input of a model with ``extra_in_channels`` (``ValueError``)."""
    name = type(model).__name__
    n_extra = model.extra_in_channels
    if n_extra == 0:
        if extra is not None:
            raise ValueError(
                f"{name}: got extra of shape {tuple(extra.shape)} but extra_in_channels = 0; "
                "build the model with extra_in_channels > 0 to accept extra inputs"
            )
        return
    expected = (history.shape[0], n_extra, *history.shape[2:])
    if extra is None:
        raise ValueError(f"{name}: needs extra of shape {expected} (extra_in_channels = "
                         f"{n_extra}); got None")
    if tuple(extra.shape) != expected:
        raise ValueError(f"{name}: extra must have shape (batch, extra_in_channels, *space) = "
                         f"{expected}; got {tuple(extra.shape)}")


class FNO(SolverModule):
    """Fourier Neural Operator mapping ``initial_step`` frames to the next frame.

    Architecture (all layers pointwise or spectral, hence resolution-agnostic)::

        z = [history, extra, grid]                 (batch, C_in, *space)
        z = lift(z)                                (1x1 conv -> width)
        z = gelu(spectral_l(z) + pointwise_l(z))   l = 1 .. n_layers (no gelu after the last)
        out = proj2(gelu(proj1(z)))                (1x1 convs: width -> proj_hidden -> n_vars)
        next = last frame + out   if residual else   out

    Parameters
    ----------
    n_vars : int
        Number of physical variables per frame.
    initial_step : int
        Number of history frames.
    width : int
        Channel width of the Fourier layers.
    modes : int or (int, int)
        Retained Fourier modes per dim (clipped at run time to the grid, see
        :mod:`~sciml.surrogates.neural_pde.spectral`).
    n_layers : int
        Number of Fourier layers.
    spatial_dims : {1, 2}
        1D ``(n_x,)`` or 2D ``(n_x, n_y)`` grids.
    extra_in_channels : int
        Channels of the optional ``extra`` input (0: none accepted).
    proj_hidden : int
        Hidden width of the projection head.
    residual : bool
        Predict the increment over the last history frame (``next = last + out``). Default True:
        for time steppers whose step is a small change of the state this starts training from the
        identity map and trains faster and more stably than predicting the frame itself.
    use_grid : bool
        Append cell-centre coordinates (``x``; ``y`` in 2D) as input channels.

    Shapes
    ------
    ``forward(history, params=None, *, extra=None)``: history ``(batch, initial_step * n_vars,
    *space)``, extra ``(batch, extra_in_channels, *space)`` -> ``(batch, n_vars, *space)``.
    """

    n_params: int = 0

    def __init__(
        self,
        n_vars: int,
        initial_step: int,
        *,
        width: int = 32,
        modes: int | tuple[int, int] = 16,
        n_layers: int = 4,
        spatial_dims: int = 1,
        extra_in_channels: int = 0,
        proj_hidden: int = 128,
        residual: bool = True,
        use_grid: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2):
            raise ValueError(f"FNO: spatial_dims must be 1 or 2; got {spatial_dims}")
        check_int_args("FNO", n_vars=(n_vars, 1), initial_step=(initial_step, 1), width=(width, 1),
                       n_layers=(n_layers, 1), extra_in_channels=(extra_in_channels, 0),
                       proj_hidden=(proj_hidden, 1))
        self.n_vars = n_vars
        self.initial_step = initial_step
        self.spatial_dims = spatial_dims
        self.extra_in_channels = extra_in_channels
        self.width = width
        self.modes = modes
        self.residual = residual
        self.use_grid = use_grid

        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        spectral = SpectralConv1d if spatial_dims == 1 else SpectralConv2d
        if spatial_dims == 1 and not isinstance(modes, int):
            raise ValueError(f"FNO: modes must be an int in 1D; got {modes!r}")
        in_ch = initial_step * n_vars + extra_in_channels + (spatial_dims if use_grid else 0)
        self.lift = conv(in_ch, width, 1)
        self.spectral = nn.ModuleList(spectral(width, width, modes) for _ in range(n_layers))
        self.pointwise = nn.ModuleList(conv(width, width, 1) for _ in range(n_layers))
        self.proj1 = conv(width, proj_hidden, 1)
        self.proj2 = conv(proj_hidden, n_vars, 1)

    def forward(self, history: Tensor, params: Tensor | None = None, *,
                extra: Tensor | None = None) -> Tensor:
        """Predict the next frame (see the class docstring for shapes); ``params`` is ignored."""
        check_solver_inputs(self, history, params)
        check_extra(self, history, extra)
        parts = [history]
        if extra is not None:
            parts.append(extra.to(history.dtype))
        if self.use_grid:
            parts.append(grid_channels(history.shape[0], tuple(history.shape[2:]), like=history))
        z = self.lift(torch.cat(parts, dim=1))
        n_layers = len(self.spectral)
        for i, (sc, pw) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            z = sc(z) + pw(z)
            if i < n_layers - 1:
                z = F.gelu(z)
        out = self.proj2(F.gelu(self.proj1(z)))
        if self.residual:
            out = out + history[:, -self.n_vars:]
        return out
