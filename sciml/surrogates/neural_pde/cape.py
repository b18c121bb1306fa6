"""CAPE: Channel Attention guided by PDE Parameter Embeddings (Takamoto, Alesiani & Niepert, 2023).

CAPE wraps a parameter-blind neural solver (FNO, U-Net) and makes it adapt to the PDE
parameters. A small module computes, from the history and the parameters, an intermediate
estimate of the next frame; the estimate is concatenated to the base model's input and the base
produces the final prediction::

    h     = lift(history)                                          1x1 conv -> hidden channels
    a_j   = mlp_j(T(params))      j = 1, 2, 3                      (batch, hidden) channel scales
    z     = a_1 * pointwise(h) + a_2 * depthwise(h) + a_3 * spectral(h) + skip(h)
    est   = last frame + out(gelu(norm(z)))                        1x1 conv -> n_vars
    pred  = base(history, extra=est)

``T`` is the parameter transform (:class:`ParameterTransform`). Train with a loss on ``pred`` plus
an auxiliary loss on ``est`` (both against the true next frame); :meth:`CAPE.forward_with_estimate`
returns both.

Differences from the reference implementation (written from the paper, not from its code):

- no LayerNorm over the grid shape: every layer is pointwise, spectral (with run-time mode
  clipping) or a fixed stencil, and the optional normalisation is a GroupNorm whose statistics
  are spatial *means*, so one trained model runs at several resolutions;
- the spectral path runs at full resolution (no fixed 4x average pooling, which requires grid
  sizes divisible by 4); cost stays low because ``modes`` is small;
- parameters of any sign are accepted: ``T(p) = sign(p) * log1p(|p| / scale)`` (default) instead
  of a transform that needs ``p > 0``;
- the estimate is residual on the last history frame for every dimension (1D and 2D alike).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.surrogates.neural_pde.protocol import SolverModule, check_solver_inputs
from sciml.surrogates.neural_pde.spectral import SpectralConv1d, SpectralConv2d

__all__ = ["CAPE", "ParameterTransform", "validate_base"]

Transform = Literal["symlog", "identity"]


class ParameterTransform(nn.Module):
    """Map raw PDE parameters to well-scaled network inputs, for any sign.

    ``'symlog'``: ``T(p) = sign(p) * log1p(|p| / scale)``: odd, monotone, linear near 0 and
    logarithmic for ``|p| >> scale``, so parameters that span orders of magnitude (viscosities
    ``1e-3 .. 4``) are spread out with ``scale`` set to their smallest magnitude of interest.
    ``'identity'``: ``T(p) = p / scale``.

    Parameters
    ----------
    n_params : int
        Number of parameters.
    kind : {'symlog', 'identity'}
        The transform.
    scale : float or sequence of float
        Positive per-parameter scale (stored as a buffer, so it is saved with the model).
    bounds : (lo, hi) or sequence of (lo, hi), optional
        Clamp the raw parameters to ``[lo, hi]`` before transforming them (per parameter;
        ``None``: no clamping). Set it to the range the model was trained on so that unseen
        values *outside* it are treated as the nearest trained value (a learned parameter
        embedding extrapolates unpredictably; see ``docs/benchmarks.md``). Stored as buffers
        (saved with the model).

    Shapes
    ------
    ``(batch, n_params) -> (batch, n_params)``.
    """

    def __init__(self, n_params: int, kind: Transform = "symlog",
                 scale: float | Sequence[float] = 1.0,
                 bounds: tuple[float, float] | Sequence[tuple[float, float]] | None = None) -> None:
        super().__init__()
        if kind not in ("symlog", "identity"):
            raise ValueError(
                f"ParameterTransform: kind must be 'symlog' or 'identity'; got {kind!r}"
            )
        s = torch.as_tensor(scale, dtype=torch.get_default_dtype()).reshape(-1)
        if s.numel() == 1:
            s = s.expand(n_params).clone()
        if s.numel() != n_params or not bool(torch.all(s > 0)):
            raise ValueError(
                f"ParameterTransform: scale must be one positive float or {n_params} positive "
                f"floats; got {scale!r}"
            )
        self.kind = kind
        self.register_buffer("scale", s)
        lo = torch.full((n_params,), -math.inf, dtype=s.dtype)
        hi = torch.full((n_params,), math.inf, dtype=s.dtype)
        if bounds is not None:
            pairs = [bounds] if (len(bounds) == 2 and not isinstance(bounds[0], (tuple, list))) else list(bounds)
            if len(pairs) == 1:
                pairs = pairs * n_params
            if len(pairs) != n_params or any(len(b) != 2 or not float(b[0]) <= float(b[1]) for b in pairs):
                raise ValueError(
                    f"ParameterTransform: bounds must be one (lo, hi) pair with lo <= hi or "
                    f"{n_params} such pairs; got {bounds!r}"
                )
            lo = torch.tensor([float(b[0]) for b in pairs], dtype=s.dtype)
            hi = torch.tensor([float(b[1]) for b in pairs], dtype=s.dtype)
        self.register_buffer("lower", lo)
        self.register_buffer("upper", hi)

    def extra_repr(self) -> str:
        bounded = bool(torch.isfinite(self.lower).any() or torch.isfinite(self.upper).any())
        return f"kind={self.kind!r}" + (f", bounds={list(zip(self.lower.tolist(), self.upper.tolist()))}"
                                         if bounded else "")

    def forward(self, params: Tensor) -> Tensor:
        """Transform ``params`` of shape ``(batch, n_params)``."""
        params = torch.clamp(params, self.lower.to(params.dtype), self.upper.to(params.dtype))
        p = params / self.scale.to(params.dtype)
        if self.kind == "identity":
            return p
        return torch.sign(p) * torch.log1p(p.abs())


def validate_base(owner: str, base: nn.Module, extra_in_channels: int, what: str) -> None:
    """Check that an injected base solver is parameter-blind and has ``extra_in_channels``."""
    missing = [a for a in ("n_vars", "initial_step", "spatial_dims", "n_params")
               if not hasattr(base, a)]
    if missing:
        raise TypeError(f"{owner}: base must be a neural PDE solver (e.g. FNO, UNet); "
                        f"{type(base).__name__} lacks {missing}")
    if base.n_params != 0:
        raise ValueError(f"{owner}: base must be parameter-blind (n_params = 0); got "
                         f"{type(base).__name__} with n_params = {base.n_params}")
    if not hasattr(base, "extra_in_channels"):
        raise TypeError(f"{owner}: base must accept extra input channels (attribute "
                        f"extra_in_channels and forward(history, *, extra)) like FNO and UNet; "
                        f"{type(base).__name__} lacks extra_in_channels")
    if base.extra_in_channels != extra_in_channels:
        raise ValueError(
            f"{owner}: base must be built with extra_in_channels = {what} = {extra_in_channels} "
            f"to receive it as input; got {type(base).__name__} with extra_in_channels = "
            f"{base.extra_in_channels} (e.g. {type(base).__name__}(n_vars={base.n_vars}, "
            f"initial_step={base.initial_step}, extra_in_channels={extra_in_channels}, ...))"
        )


def _channel_mix(conv: nn.Module, x: Tensor) -> Tensor:
    """A 1x1 convolution as one matrix product over channels (same weights, same result).

    On the CPU, ``einsum`` over ``(batch, channels, *space)`` runs 1x1 convolutions of the
    CAPE block's sizes 2-3x faster (forward + backward) than ``nn.Conv1d``/``Conv2d``.
    """
    out = torch.einsum("bc...,oc->bo...", x, conv.weight.flatten(1))
    if conv.bias is not None:
        out = out + conv.bias.reshape((1, -1) + (1,) * (x.dim() - 2))
    return out


def _channel_mix_pair(first: nn.Module, second: nn.Module, x: Tensor) -> Tensor:
    """Two 1x1 convolutions of the same input, stacked on the channel axis, in one product."""
    weight = torch.cat([first.weight.flatten(1), second.weight.flatten(1)], dim=0)
    bias = torch.cat([first.bias, second.bias])
    return torch.einsum("bc...,oc->bo...", x, weight) + bias.reshape((1, -1) + (1,) * (x.dim() - 2))


class _ScaleMLP(nn.Sequential):
    """``(batch, n_in) -> (batch, n_out)``: Linear -> GELU -> Linear."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))


class CAPE(SolverModule):
    """A parameter-aware solver: the CAPE module in front of an injected base solver.

    Parameters
    ----------
    base : nn.Module
        A parameter-blind solver (``n_params = 0``) built with ``extra_in_channels = n_vars``,
        e.g. ``FNO(n_vars=1, initial_step=1, extra_in_channels=1)``; it receives CAPE's estimate
        as its ``extra`` input. ``n_vars``, ``initial_step`` and ``spatial_dims`` come from it.
    n_params : int
        Number of PDE parameters.
    hidden : int
        Channels of the CAPE module (and output size of each scale MLP).
    modes : int or (int, int)
        Fourier modes of the spectral path (clipped to the grid at run time).
    kernel_size : int
        Odd kernel size of the depth-wise convolution path.
    mlp_hidden : int, optional
        Hidden width of the three scale MLPs (default ``hidden // 2``, at least 4).
    param_transform : {'symlog', 'identity'}
        See :class:`ParameterTransform`.
    param_scale : float or sequence of float
        See :class:`ParameterTransform`.
    param_bounds : (lo, hi) or sequence of (lo, hi), optional
        Clamp parameters to the trained range; see :class:`ParameterTransform`.
    norm : {'none', 'group'}
        Normalisation of the summed hidden features. ``'none'`` (default) keeps the estimate
        equivariant to the amplitude of the input (a linear PDE step stays learnable exactly);
        ``'group'`` is a GroupNorm (up to 8 groups) whose spatial-mean statistics do not depend
        on the grid size.
    padding_mode : str
        Padding of the depth-wise convolution (``'circular'`` for periodic domains).

    Shapes
    ------
    history ``(batch, initial_step * n_vars, *space)``, params ``(batch, n_params)`` ->
    ``(batch, n_vars, *space)``; :meth:`forward_with_estimate` returns two such tensors.
    """

    def __init__(
        self,
        base: nn.Module,
        n_params: int,
        *,
        hidden: int = 16,
        modes: int | tuple[int, int] = 8,
        kernel_size: int = 5,
        mlp_hidden: int | None = None,
        param_transform: Transform = "symlog",
        param_scale: float | Sequence[float] = 1.0,
        param_bounds: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
        norm: Literal["none", "group"] = "none",
        padding_mode: str = "circular",
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Module):
            raise TypeError(f"CAPE: base must be an nn.Module solver; got {type(base).__name__}")
        validate_base("CAPE", base, getattr(base, "n_vars", -1), "n_vars")
        if int(n_params) != n_params or n_params < 1:
            raise ValueError(f"CAPE: n_params must be an integer >= 1; got {n_params!r}")
        if hidden < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"CAPE: need hidden >= 1 and an odd kernel_size >= 1; got "
                             f"hidden={hidden}, kernel_size={kernel_size}")
        if norm not in ("none", "group"):
            raise ValueError(f"CAPE: norm must be 'none' or 'group'; got {norm!r}")
        self.base = base
        self.n_vars: int = base.n_vars
        self.initial_step: int = base.initial_step
        self.spatial_dims: int = base.spatial_dims
        self.n_params = int(n_params)
        self.hidden = hidden

        sd = self.spatial_dims
        conv = nn.Conv1d if sd == 1 else nn.Conv2d
        spectral = SpectralConv1d if sd == 1 else SpectralConv2d
        mlp_hidden = max(4, hidden // 2) if mlp_hidden is None else mlp_hidden
        self.transform = ParameterTransform(n_params, param_transform, param_scale, param_bounds)
        self.scale_pointwise = _ScaleMLP(n_params, mlp_hidden, hidden)
        self.scale_depthwise = _ScaleMLP(n_params, mlp_hidden, hidden)
        self.scale_spectral = _ScaleMLP(n_params, mlp_hidden, hidden)
        self.lift = conv(self.initial_step * self.n_vars, hidden, 1)
        self.pointwise = conv(hidden, hidden, 1)
        self.depthwise = conv(hidden, hidden, kernel_size, padding=kernel_size // 2,
                              padding_mode=padding_mode, groups=hidden, bias=False)
        self.spectral = spectral(hidden, hidden, modes)
        self.skip = conv(hidden, hidden, 1)
        if norm == "group":
            self.norm: nn.Module = nn.GroupNorm(max(g for g in range(1, 9) if hidden % g == 0),
                                                hidden)
        else:
            self.norm = nn.Identity()
        self.out = conv(hidden, self.n_vars, 1)
        # Zero-initialised output: the untrained estimate is persistence (the last frame), and
        # training moves it away only where the data demand it (docs/benchmarks.md).
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def cape_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the CAPE block only (everything but ``base``).

        For a warm-up phase that trains the estimate alone on the auxiliary loss.
        """
        for name, param in self.named_parameters():
            if not name.startswith("base."):
                yield param

    def _depthwise(self, h: Tensor) -> Tensor:
        """The depth-wise convolution; in 1D with circular padding as a sum of shifted copies
        (the same stencil, about 1.5x faster on the CPU than a grouped ``Conv1d``)."""
        conv = self.depthwise
        if self.spatial_dims != 1 or conv.padding_mode != "circular":
            return conv(h)
        k = conv.kernel_size[0]
        w = conv.weight[:, 0]  # (hidden, k); cross-correlation: out[i] = sum_j w[j] h[i + j - k//2]
        out = w[:, 0:1] * torch.roll(h, k // 2, dims=-1)
        for j in range(1, k):
            out = out + w[:, j:j + 1] * torch.roll(h, k // 2 - j, dims=-1)
        return out

    def estimate(self, history: Tensor, params: Tensor) -> Tensor:
        """CAPE's intermediate estimate of the next frame, ``(batch, n_vars, *space)``.

        Does not validate its inputs; use :meth:`forward_with_estimate` from outside.
        """
        p = self.transform(params.to(history.dtype))
        shape = (p.shape[0], self.hidden) + (1,) * self.spatial_dims
        a_pw = self.scale_pointwise(p).reshape(shape)
        a_dw = self.scale_depthwise(p).reshape(shape)
        a_sc = self.scale_spectral(p).reshape(shape)
        h = _channel_mix(self.lift, history)
        # the pointwise and skip paths are both 1x1 convolutions of h: one matmul for the two
        both = _channel_mix_pair(self.pointwise, self.skip, h)
        z = a_pw * both[:, :self.hidden] + both[:, self.hidden:]
        z = z + a_dw * self._depthwise(h) + a_sc * self.spectral(h)
        return history[:, -self.n_vars:] + _channel_mix(self.out, F.gelu(self.norm(z)))

    def forward_with_estimate(
        self, history: Tensor, params: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Return ``(prediction, estimate)``, both ``(batch, n_vars, *space)``.

        The estimate is the input CAPE feeds to the base; an auxiliary loss on it (against the
        true next frame) is part of CAPE's training objective.
        """
        check_solver_inputs(self, history, params)
        est = self.estimate(history, params)
        return self.base(history, extra=est), est

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        """Predict the next frame, ``(batch, n_vars, *space)``; ``params`` is required."""
        return self.forward_with_estimate(history, params)[0]
