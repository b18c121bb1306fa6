"""The gradient penalty of WGAN-GP.

    GP = lambda * E[(||grad_xhat D(xhat)||_2 - 1)^2],   xhat = eps x + (1 - eps) G(z),   eps ~ U(0, 1)

one ``eps`` per sample, the norm over all of a sample's coordinates, the gradient taken with
``create_graph=True`` so that ``GP`` back-propagates to the critic's weights. A conditional
critic ``D(x, p)`` is penalised in ``x`` only (the parameters are held fixed).

Reference: I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved training
of Wasserstein GANs", NeurIPS 2017, Algorithm 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["gradient_penalty", "interpolate"]


def interpolate(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """``eps x + (1 - eps) G(z)`` with one ``eps`` per sample (``eps (N,)`` broadcast over the rest)."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} samples differ in shape")
    if eps.shape != (real.shape[0],):
        raise ValueError(f"eps must have shape ({real.shape[0]},); got {tuple(eps.shape)}")
    e = eps.to(real.dtype).reshape(-1, *([1] * (real.ndim - 1)))
    return e * real + (1 - e) * fake


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *, weight: float = 10.0,
                     eps: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """``weight * mean_i (||grad D(xhat_i)||_2 - 1)^2`` on the interpolates of ``real`` and ``fake``.

    Parameters
    ----------
    critic : callable
        ``D``: ``(N, ...)`` samples to ``(N,)`` (or ``(N, 1)``) scores.
    real, fake : Tensor, shape ``(N, ...)``
        Data and generated samples (detached here: the penalty trains the critic only).
    weight : float
        ``lambda`` (10 in Gulrajani et al.).
    eps : Tensor, shape ``(N,)``, optional
        Interpolation weights; default ``U(0, 1)`` draws of ``generator``.
    generator : torch.Generator, optional
        Source of ``eps`` (default: torch's global RNG).

    Returns
    -------
    Tensor
        The scalar penalty, differentiable in the critic's weights.

    Raises
    ------
    ValueError
        ``real`` and ``fake`` of different shapes, ``eps`` not ``(N,)``.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], generator=generator, device=real.device if generator is None
                         else generator.device).to(real.device)
    xhat = interpolate(real.detach(), fake.detach(), eps).requires_grad_(True)
    scores = critic(xhat)
    (grad,) = torch.autograd.grad(scores.sum(), xhat, create_graph=True)
    norms = torch.linalg.vector_norm(grad.reshape(grad.shape[0], -1), dim=1)
    return weight * (norms - 1.0).square().mean()
