"""U-Net (Ronneberger et al., 2015) as an autoregressive next-frame solver, 1D and 2D.

Implements :class:`~sciml.surrogates.neural_pde.protocol.NeuralPDESolver` with ``n_params = 0``
and accepts ``extra_in_channels`` like :class:`~sciml.surrogates.neural_pde.fno.FNO`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.surrogates.neural_pde.fno import check_extra
from sciml.surrogates.neural_pde.protocol import SolverModule, check_int_args, check_solver_inputs

__all__ = ["UNet"]

Norm = Literal["group", "batch", "none"]


def _norm(kind: Norm, channels: int, spatial_dims: int) -> nn.Module:
    """A resolution-agnostic normalisation layer (statistics per channel group, never per cell)."""
    if kind == "group":
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return (nn.BatchNorm1d if spatial_dims == 1 else nn.BatchNorm2d)(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"UNet: norm must be one of 'group', 'batch', 'none'; got {kind!r}")


class _Block(nn.Sequential):
    """Two ``conv3 -> norm -> GELU`` layers: ``(b, c_in, *s) -> (b, c_out, *s)``."""

    def __init__(self, c_in: int, c_out: int, spatial_dims: int, norm: Norm,
                 padding_mode: str) -> None:
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        layers: list[nn.Module] = []
        for c in (c_in, c_out):
            layers += [conv(c, c_out, 3, padding=1, padding_mode=padding_mode,
                            bias=norm == "none"),
                       _norm(norm, c_out, spatial_dims), nn.GELU()]
        super().__init__(*layers)


class UNet(SolverModule):
    """U-Net next-frame solver.

    Encoder: ``depth`` levels of ``block -> 2x downsample``; bottleneck block; decoder: ``depth``
    levels of ``2x transposed-conv upsample -> concat skip -> block``; a 1x1 conv to ``n_vars``.
    Features double at each level: ``init_features * 2**level``.

    Any grid size works: inputs are padded up to a multiple of ``2**depth`` (circular padding
    for ``padding_mode='circular'``, replicate otherwise) and the output is cropped back.

    Parameters
    ----------
    n_vars : int
        Number of physical variables per frame.
    initial_step : int
        Number of history frames.
    init_features : int
        Features of the first level.
    depth : int
        Number of down/up-sampling steps.
    spatial_dims : {1, 2}
        1D or 2D grids.
    extra_in_channels : int
        Channels of the optional ``extra`` input (0: none accepted).
    norm : {'batch', 'group', 'none'}
        Normalisation after each convolution; never a LayerNorm over the grid, which would tie
        the model to one resolution. ``'batch'`` (default, as the PDEBench U-Net): BatchNorm,
        statistics per channel over batch and cells. ``'group'``: GroupNorm with up to 8 groups,
        per-sample statistics, identical in train and eval mode; note that per-sample
        normalisation removes (most of) a channel that is constant in space, so it weakens
        conditioning through constant parameter channels (:class:`ConditionalSolver`), and with
        one channel per group removes it entirely.
    padding_mode : {'circular', 'zeros', 'reflect', 'replicate'}
        Convolution padding; ``'circular'`` (default) for periodic domains.
    residual : bool
        Predict the increment over the last history frame (default True, as in
        :class:`~sciml.surrogates.neural_pde.fno.FNO`).

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
        init_features: int = 32,
        depth: int = 4,
        spatial_dims: int = 1,
        extra_in_channels: int = 0,
        norm: Norm = "batch",
        padding_mode: str = "circular",
        residual: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2):
            raise ValueError(f"UNet: spatial_dims must be 1 or 2; got {spatial_dims}")
        check_int_args("UNet", n_vars=(n_vars, 1), initial_step=(initial_step, 1),
                       init_features=(init_features, 1), depth=(depth, 1),
                       extra_in_channels=(extra_in_channels, 0))
        _norm(norm, 1, spatial_dims)  # validates `norm`
        self.n_vars = n_vars
        self.initial_step = initial_step
        self.spatial_dims = spatial_dims
        self.extra_in_channels = extra_in_channels
        self.init_features = init_features
        self.depth = depth
        self.padding_mode = padding_mode
        self.residual = residual

        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        up = nn.ConvTranspose1d if spatial_dims == 1 else nn.ConvTranspose2d
        feats = [init_features * 2**level for level in range(depth + 1)]
        c_in = initial_step * n_vars + extra_in_channels
        self.encoders = nn.ModuleList()
        for f in feats[:-1]:
            self.encoders.append(_Block(c_in, f, spatial_dims, norm, padding_mode))
            c_in = f
        self.bottleneck = _Block(feats[-2], feats[-1], spatial_dims, norm, padding_mode)
        self.upsamplers = nn.ModuleList(
            up(feats[level + 1], feats[level], 2, stride=2) for level in reversed(range(depth))
        )
        self.decoders = nn.ModuleList(
            _Block(2 * feats[level], feats[level], spatial_dims, norm, padding_mode)
            for level in reversed(range(depth))
        )
        self.head = conv(feats[0], n_vars, 1)

    def _pad(self, x: Tensor) -> Tensor:
        """Pad the trailing dims up to a multiple of ``2**depth`` (at the high end)."""
        mult = 2**self.depth
        pads: list[int] = []
        for n in reversed(x.shape[2:]):
            pads += [0, (-n) % mult]
        if not any(pads):
            return x
        mode = "circular" if self.padding_mode == "circular" else "replicate"
        if mode == "circular" and any(p > n for p, n in zip(pads[1::2], reversed(x.shape[2:]),
                                                            strict=True)):
            raise ValueError(
                f"UNet: grid {tuple(x.shape[2:])} is too small for depth {self.depth} with "
                f"circular padding; use grids of at least {mult // 2} cells per dim"
            )
        return F.pad(x, pads, mode=mode)

    def forward(self, history: Tensor, params: Tensor | None = None, *,
                extra: Tensor | None = None) -> Tensor:
        """Predict the next frame (see the class docstring for shapes); ``params`` is ignored."""
        check_solver_inputs(self, history, params)
        check_extra(self, history, extra)
        space = history.shape[2:]
        z = history if extra is None else torch.cat([history, extra.to(history.dtype)], dim=1)
        z = self._pad(z)
        pool = F.max_pool1d if self.spatial_dims == 1 else F.max_pool2d
        skips = []
        for enc in self.encoders:
            z = enc(z)
            skips.append(z)
            z = pool(z, 2)
        z = self.bottleneck(z)
        for upsample, dec, skip in zip(self.upsamplers, self.decoders, reversed(skips),
                                       strict=True):
            z = dec(torch.cat([upsample(z), skip], dim=1))
        out = self.head(z)
        out = out[(..., *(slice(0, n) for n in space))]
        if self.residual:
            out = out + history[:, -self.n_vars:]
        return out
