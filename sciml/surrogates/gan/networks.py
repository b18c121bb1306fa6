"""Generators and critic of the WGAN-GP, on standardised histories ``(N, n_channels, n_time)``.

* :class:`PCAGenerator` — an MLP from noise ``z`` (concatenated with parameters ``p`` when
  conditional) to ``k`` PCA coefficients, mapped to a history through a fixed basis:
  ``x = (mlp([z, p]) * scales) V`` (``V (k, C T)``, ``scales (k,)``; buffers, saved with the weights);
* :class:`ConvGenerator` — a linear layer to ``(channels, T0)`` then 1-D transposed
  convolutions, each doubling the time axis, and a 1-D convolution to ``n_channels``,
  cropped to ``n_time``;
* :class:`Critic` — an MLP on the flattened history (and parameters) with layer norm (never
  batch norm: the gradient penalty is per sample, Gulrajani et al. 2017, sec. 4) and
  LeakyReLU(0.2), to one score per history;
* :class:`ProjectedCritic` — :class:`Critic` on the projection of the history onto fixed
  orthonormal directions (e.g. leading principal components);
* :class:`UniformLatentGenerator` — :class:`PCAGenerator` fed ``erf(z / sqrt 2)``, a uniform
  latent on ``(-1, 1)^d`` (for histories of bounded support).

Every module takes ``(x or z, params)`` with ``params`` ``(N, P)`` or None and has
``get_config()`` (its constructor arguments, stored in checkpoints).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ConvGenerator", "Critic", "PCAGenerator", "ProjectedCritic", "UniformLatentGenerator"]


def _with_params(h: Tensor, params: Tensor | None, n_params: int) -> Tensor:
    if n_params == 0:
        return h
    if params is None or params.shape != (h.shape[0], n_params):
        got = None if params is None else tuple(params.shape)
        raise ValueError(f"expected parameters of shape ({h.shape[0]}, {n_params}); got {got}")
    return torch.cat([h, params.to(h.dtype)], dim=1)


def _mlp(n_in: int, hidden: int, n_layers: int, n_out: int, layer_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers.append(nn.Linear(width, hidden))
        if layer_norm:
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.LeakyReLU(0.2))
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class PCAGenerator(nn.Module):
    """``(z (N, noise_dim), params (N, P) or None) -> (N, n_channels, n_time)`` through a PCA basis.

    Parameters
    ----------
    noise_dim, n_params : int
    n_channels, n_time : int
    n_components : int
        ``k``; ``components`` ``(k, n_channels * n_time)`` and ``scales`` ``(k,)`` are buffers
        (set them with :meth:`set_basis`).
    hidden, n_layers : int
        Width and number of hidden layers of the MLP.
    """

    def __init__(self, noise_dim: int, n_params: int, n_channels: int, n_time: int, n_components: int, *,
                 hidden: int = 128, n_layers: int = 3) -> None:
        super().__init__()
        self.config = {"noise_dim": noise_dim, "n_params": n_params, "n_channels": n_channels, "n_time": n_time,
                       "n_components": n_components, "hidden": hidden, "n_layers": n_layers}
        self.net = _mlp(noise_dim + n_params, hidden, n_layers, n_components, layer_norm=False)
        self.register_buffer("components", torch.zeros(n_components, n_channels * n_time))
        self.register_buffer("scales", torch.ones(n_components))

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def set_basis(self, components: Tensor, scales: Tensor) -> None:
        """Copy the basis ``(k, C T)`` and the coefficient scales ``(k,)`` into the buffers."""
        self.components.copy_(components)
        self.scales.copy_(scales)

    def forward(self, z: Tensor, params: Tensor | None = None) -> Tensor:
        c = self.net(_with_params(z, params, self.config["n_params"])) * self.scales
        return (c @ self.components).reshape(z.shape[0], self.config["n_channels"], self.config["n_time"])


class ConvGenerator(nn.Module):
    """``(z (N, noise_dim), params (N, P) or None) -> (N, n_channels, n_time)`` by transposed convolutions.

    Parameters
    ----------
    noise_dim, n_params, n_channels, n_time : int
    channels : int
        Channels after the linear layer; halved (down to 16) by each up-sampling block.
    n_upsample : int
        Blocks ``ConvTranspose1d(kernel 4, stride 2, padding 1)``; the linear layer's length is
        ``ceil(n_time / 2^n_upsample)``.
    """

    def __init__(self, noise_dim: int, n_params: int, n_channels: int, n_time: int, *, channels: int = 64,
                 n_upsample: int = 3) -> None:
        super().__init__()
        self.config = {"noise_dim": noise_dim, "n_params": n_params, "n_channels": n_channels, "n_time": n_time,
                       "channels": channels, "n_upsample": n_upsample}
        self.t0 = math.ceil(n_time / 2**n_upsample)
        self.fc = nn.Sequential(nn.Linear(noise_dim + n_params, channels * self.t0), nn.LeakyReLU(0.2))
        blocks: list[nn.Module] = []
        c = channels
        for _ in range(n_upsample):
            c_out = max(16, c // 2)
            blocks += [nn.ConvTranspose1d(c, c_out, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = c_out
        blocks.append(nn.Conv1d(c, n_channels, kernel_size=3, padding=1))
        self.conv = nn.Sequential(*blocks)

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def forward(self, z: Tensor, params: Tensor | None = None) -> Tensor:
        h = self.fc(_with_params(z, params, self.config["n_params"]))
        out = self.conv(h.reshape(z.shape[0], self.config["channels"], self.t0))
        return out[..., : self.config["n_time"]]


class Critic(nn.Module):
    """``(x (N, n_channels, n_time), params (N, P) or None) -> (N,)`` scores; layer norm, no batch norm."""

    def __init__(self, n_channels: int, n_time: int, n_params: int = 0, *, hidden: int = 128,
                 n_layers: int = 3) -> None:
        super().__init__()
        self.config = {"n_channels": n_channels, "n_time": n_time, "n_params": n_params, "hidden": hidden,
                       "n_layers": n_layers}
        self.net = _mlp(n_channels * n_time + n_params, hidden, n_layers, 1, layer_norm=True)

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def forward(self, x: Tensor, params: Tensor | None = None) -> Tensor:
        h = _with_params(x.reshape(x.shape[0], -1), params, self.config["n_params"])
        return self.net(h).squeeze(-1)


class ProjectedCritic(nn.Module):
    """A WGAN-GP critic on the leading principal components of the standardised histories.

    ``critic(x (N, C, T), p (N, P)) = MLP([x V^T, p])``: the flattened history projected on the
    orthonormal rows of ``basis`` ``(m, C T)`` (a buffer), then :class:`Critic`
    (layer norm, no batch norm). With orthonormal rows ``||grad_x D|| = ||grad_c D||``, so the
    gradient penalty is the one in coefficient space. A PCA generator's histories lie in the span of
    its ``k <= m`` leading components, which the critic sees whole.

    Parameters
    ----------
    basis : Tensor, shape ``(m, C T)``
        Orthonormal rows (e.g. a PCA basis, :func:`~sciml.surrogates.gan.fit_pca`).
    n_params : int
        Conditioning parameters ``P``.
    hidden, n_layers : int
        Width and depth of the MLP.
    """

    def __init__(self, basis: torch.Tensor, n_params: int, *, hidden: int = 128, n_layers: int = 3) -> None:
        super().__init__()
        m, d = (int(s) for s in basis.shape)
        self.config = {"n_components": m, "n_features": d, "n_params": n_params, "hidden": hidden,
                       "n_layers": n_layers}
        self.register_buffer("basis", basis.detach().to(torch.float32).clone())
        self.critic = Critic(m, 1, n_params, hidden=hidden, n_layers=n_layers)

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    def forward(self, x: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        c = x.reshape(x.shape[0], -1) @ self.basis.T
        return self.critic(c[:, :, None], params)


class UniformLatentGenerator(nn.Module):
    """The PCA-MLP generator on a bounded latent: ``G(z, p) = PCAGenerator(erf(z / sqrt 2), p)``.

    ``erf(z / sqrt 2) = 2 Phi(z) - 1`` maps the WGAN-GP's standard-normal noise to the uniform
    distribution on ``(-1, 1)^d``, so that the generator, piecewise linear in its input, cannot
    extrapolate the tails of a Gaussian latent beyond the bounded support of the loads.

    Parameters
    ----------
    noise_dim, n_params, n_channels, n_time, n_components, hidden, n_layers
        As :class:`PCAGenerator` (set its basis with :meth:`set_basis`).
    """

    def __init__(self, noise_dim: int, n_params: int, n_channels: int, n_time: int, n_components: int, *,
                 hidden: int = 128, n_layers: int = 3) -> None:
        super().__init__()
        self.pca = PCAGenerator(noise_dim, n_params, n_channels, n_time, n_components, hidden=hidden,
                                n_layers=n_layers)

    def get_config(self) -> dict[str, Any]:
        return {**self.pca.get_config(), "latent": "uniform"}

    def set_basis(self, components: torch.Tensor, scales: torch.Tensor) -> None:
        self.pca.set_basis(components, scales)

    def forward(self, z: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        return self.pca(torch.erf(z / math.sqrt(2.0)), params)
