"""Fourier (spectral) convolution layers, the building block of FNO and of CAPE's spectral path.

A spectral convolution multiplies the lowest Fourier modes of its input by learned complex
weights and discards the rest::

    y = irfft( W · rfft(x)[low modes] )          (per output channel, summed over input channels)

Weights are stored as **real** tensors with a trailing dimension of size 2 (real, imaginary),
so ``state_dict`` is a plain float tensor dict that round-trips through
``torch.save`` / ``torch.load(..., weights_only=True)`` and works with every optimiser.

Resolution
----------
The number of modes used is clipped to what the input grid supports, and weights are indexed by
*physical frequency*, so a layer trained at one resolution applies the same operator (on
band-limited inputs) at another: ``rfft`` is unnormalised and ``irfft`` divides by ``n``, so a
Fourier mode ``exp(2 pi i k x)`` sampled on any grid is mapped to ``W_k exp(2 pi i k x)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SpectralConv1d", "SpectralConv2d"]


def _init_complex_weight(shape: tuple[int, ...], in_channels: int, out_channels: int) -> Tensor:
    """Real-stored complex weight ``(*shape, 2)``, uniform in ``[-s, s]``, ``s = 1/sqrt(in*out)``.

    Small, zero-mean weights: the spectral path starts as a mild perturbation of the pointwise
    path it is added to (FNO convention of a small spectral init, without FNO's positive bias).
    """
    scale = 1.0 / math.sqrt(in_channels * out_channels)
    return (2.0 * torch.rand(*shape, 2) - 1.0) * scale


class SpectralConv1d(nn.Module):
    """1D Fourier layer: ``rfft`` -> multiply the lowest ``modes`` by complex weights -> ``irfft``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    modes : int
        Number of retained Fourier modes (frequencies ``0 .. modes-1``). At run time it is
        clipped to ``n_x // 2 + 1``, the number of ``rfft`` coefficients of the input.

    Shapes
    ------
    input ``(batch, in_channels, n_x)`` -> output ``(batch, out_channels, n_x)``, any ``n_x``.

    Attributes
    ----------
    weight : Parameter, shape ``(in_channels, out_channels, modes, 2)``
        Real and imaginary parts of the complex multipliers ``W[i, o, k]``.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int) -> None:
        super().__init__()
        if min(in_channels, out_channels, modes) < 1:
            raise ValueError(
                f"SpectralConv1d: in_channels, out_channels and modes must be >= 1; got "
                f"{in_channels}, {out_channels}, {modes}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = modes
        self.weight = nn.Parameter(_init_complex_weight((in_channels, out_channels, modes),
                                                        in_channels, out_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer; ``x`` is ``(batch, in_channels, n_x)``, real."""
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SpectralConv1d: input must be (batch, {self.in_channels}, n_x); "
                f"got {tuple(x.shape)}"
            )
        n = x.shape[-1]
        m = min(self.modes, n // 2 + 1)
        x_ft = torch.fft.rfft(x, dim=-1)  # (b, i, n//2+1), complex
        w = torch.view_as_complex(self.weight[:, :, :m].contiguous()).to(x_ft.dtype)
        out_ft = x_ft.new_zeros(x.shape[0], self.out_channels, n // 2 + 1)
        out_ft[:, :, :m] = torch.einsum("bik,iok->bok", x_ft[:, :, :m], w)
        return torch.fft.irfft(out_ft, n=n, dim=-1)


class SpectralConv2d(nn.Module):
    """2D Fourier layer over the last two dims ``(n_x, n_y)``.

    ``rfft2`` keeps frequencies ``ky = 0 .. n_y//2`` on the last axis and all ``kx`` on the first;
    as in FNO, two weight blocks act on ``kx in [0, modes_x)`` and ``kx in [-modes_x, 0)``, each
    for ``ky in [0, modes_y)``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    modes : int or (int, int)
        Retained modes ``(modes_x, modes_y)``. Clipped at run time to ``n_x // 2`` (so the two
        ``kx`` blocks never overlap) and ``n_y // 2 + 1``.

    Shapes
    ------
    input ``(batch, in_channels, n_x, n_y)`` -> output ``(batch, out_channels, n_x, n_y)``.

    Attributes
    ----------
    weight_pos, weight_neg : Parameter, shape ``(in_channels, out_channels, modes_x, modes_y, 2)``
        Multipliers for ``kx = 0 .. modes_x-1`` and for ``kx = -modes_x .. -1`` (index ``j`` of
        ``weight_neg`` is frequency ``j - modes_x``), real and imaginary parts last.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int | tuple[int, int]) -> None:
        super().__init__()
        modes_x, modes_y = (modes, modes) if isinstance(modes, int) else tuple(modes)
        if min(in_channels, out_channels, modes_x, modes_y) < 1:
            raise ValueError(
                f"SpectralConv2d: in_channels, out_channels and modes must be >= 1; got "
                f"{in_channels}, {out_channels}, {(modes_x, modes_y)}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = (int(modes_x), int(modes_y))
        shape = (in_channels, out_channels, modes_x, modes_y)
        self.weight_pos = nn.Parameter(_init_complex_weight(shape, in_channels, out_channels))
        self.weight_neg = nn.Parameter(_init_complex_weight(shape, in_channels, out_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer; ``x`` is ``(batch, in_channels, n_x, n_y)``, real."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SpectralConv2d: input must be (batch, {self.in_channels}, n_x, n_y); "
                f"got {tuple(x.shape)}"
            )
        nx, ny = x.shape[-2:]
        mx = min(self.modes[0], nx // 2)
        my = min(self.modes[1], ny // 2 + 1)
        x_ft = torch.fft.rfft2(x, dim=(-2, -1))  # (b, i, nx, ny//2+1)
        out_ft = x_ft.new_zeros(x.shape[0], self.out_channels, nx, ny // 2 + 1)
        if mx > 0:
            w_pos = torch.view_as_complex(self.weight_pos[:, :, :mx, :my].contiguous())
            w_neg = torch.view_as_complex(
                self.weight_neg[:, :, self.modes[0] - mx:, :my].contiguous()
            )
            out_ft[:, :, :mx, :my] = torch.einsum(
                "bixy,ioxy->boxy", x_ft[:, :, :mx, :my], w_pos.to(x_ft.dtype)
            )
            out_ft[:, :, nx - mx:, :my] = torch.einsum(
                "bixy,ioxy->boxy", x_ft[:, :, nx - mx:, :my], w_neg.to(x_ft.dtype)
            )
        return torch.fft.irfft2(out_ft, s=(nx, ny), dim=(-2, -1))
