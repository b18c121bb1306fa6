"""What a surrogate's prediction is: a distribution with a mean, a variance and draws.

Every :class:`Posterior` has ``mean`` and ``variance`` tensors of one shape (the prediction's
shape, in the units of the predicted quantity and their square) and ``sample(n)``, which
returns ``(n, *mean.shape)`` draws. Draws take an explicit seed or ``torch.Generator``:
the same seed gives the same draws. Implementations here:

* :class:`DeterministicPosterior` — a point prediction: zero variance, said so
  (``is_deterministic``), draws equal to the mean;
* :class:`GaussianPosterior` — independent Gaussian marginals;
* :class:`GaussianMixturePosterior` — an equal-weight mixture of Gaussians with independent
  marginals (latent draws of a neural process, members of an ensemble);
* :class:`SamplePosterior` — the empirical distribution of ``M`` draws (posterior samples of
  the weights, ensemble members, MC-dropout passes), optionally each with Gaussian noise.

Models with structured covariances (per-time dense or low-rank blocks) return their own
posteriors that satisfy the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = [
    "DeterministicPosterior",
    "GaussianMixturePosterior",
    "GaussianPosterior",
    "Posterior",
    "SamplePosterior",
    "SeedLike",
    "as_generator",
]

#: an explicit source of randomness: a seed or a generator
SeedLike = int | torch.Generator


@runtime_checkable
class Posterior(Protocol):
    """A predictive distribution: ``mean`` and ``variance`` of one shape, and draws."""

    @property
    def mean(self) -> Tensor: ...

    @property
    def variance(self) -> Tensor: ...

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor: ...


def as_generator(generator: SeedLike, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` from a seed (a new generator on ``device``) or a generator as is."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise TypeError(f"generator must be an int seed or a torch.Generator, got {type(generator).__name__}")
    return torch.Generator(device=device).manual_seed(generator)


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return n


def _standard_normal(shape: tuple[int, ...], like: Tensor, generator: SeedLike) -> Tensor:
    gen = as_generator(generator, like.device)
    draws = torch.randn(shape, generator=gen, dtype=like.dtype, device=gen.device)
    return draws.to(like.device)


@dataclass(frozen=True)
class DeterministicPosterior:
    """A point prediction: zero variance, every draw equal to the mean.

    Attributes
    ----------
    mean : Tensor
        The prediction, any shape.
    """

    mean: Tensor
    is_deterministic: bool = True

    @property
    def variance(self) -> Tensor:
        """Zeros of the mean's shape: a deterministic model carries no uncertainty."""
        return torch.zeros_like(self.mean)

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` copies of the mean, shape ``(n, *mean.shape)`` (``generator`` is unused)."""
        return self.mean.unsqueeze(0).expand(_check_n(n), *self.mean.shape).clone()


@dataclass(frozen=True)
class GaussianPosterior:
    """Independent Gaussian marginals.

    Attributes
    ----------
    mean, variance : Tensor
        Same shape; ``variance >= 0``.

    Raises
    ------
    ValueError
        Shapes differ or a variance is negative or not finite.
    """

    mean: Tensor
    variance: Tensor
    is_deterministic: bool = False

    def __post_init__(self) -> None:
        if self.mean.shape != self.variance.shape:
            raise ValueError(f"mean and variance shapes differ: {tuple(self.mean.shape)} vs "
                             f"{tuple(self.variance.shape)}")
        if not bool(torch.all(self.variance >= 0)):
            raise ValueError("variance must be finite and >= 0")

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` independent draws, shape ``(n, *mean.shape)``."""
        noise = _standard_normal((_check_n(n), *self.mean.shape), self.mean, generator)
        return self.mean + self.variance.sqrt() * noise


@dataclass(frozen=True)
class GaussianMixturePosterior:
    """An equal-weight mixture of ``S`` Gaussians with independent marginals.

    Attributes
    ----------
    means, variances : Tensor, shape ``(S, *shape)``
        Each component's mean and variance (``>= 0``).

    The mixture's ``mean`` is the average of the component means and its ``variance`` the
    average component variance plus the population variance (divisor ``S``) of the means.
    """

    means: Tensor
    variances: Tensor
    is_deterministic: bool = False

    def __post_init__(self) -> None:
        if self.means.ndim < 1 or self.means.shape != self.variances.shape:
            raise ValueError(f"means and variances must share a shape (S, ...): {tuple(self.means.shape)} vs "
                             f"{tuple(self.variances.shape)}")
        if not bool(torch.all(self.variances >= 0)):
            raise ValueError("variances must be finite and >= 0")

    @property
    def n_components(self) -> int:
        """``S``."""
        return int(self.means.shape[0])

    @property
    def mean(self) -> Tensor:
        return self.means.mean(0)

    @property
    def variance(self) -> Tensor:
        return self.variances.mean(0) + ((self.means - self.mean) ** 2).mean(0)

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` draws: a component uniformly at random per draw, then its Gaussian."""
        gen = as_generator(generator, self.means.device)
        pick = torch.randint(self.n_components, (_check_n(n),), generator=gen, device=gen.device)
        pick = pick.to(self.means.device)
        noise = _standard_normal((n, *self.means.shape[1:]), self.means, gen)
        return self.means[pick] + self.variances[pick].sqrt() * noise


@dataclass(frozen=True)
class SamplePosterior:
    """The equal-weight empirical distribution of ``M`` draws, each optionally with Gaussian noise.

    The predictions of ``M`` posterior weight samples, ensemble members or stochastic forward
    passes; with ``draw_variances`` (a per-draw noise variance, e.g. a learned observation
    noise ``sigma^2``) every draw is a Gaussian and the law of total variance applies::

        mean     = (1/M) sum_m draws[m]
        variance = (1/M) sum_m draw_variances[m] + (1/M) sum_m (draws[m] - mean)^2

    The spread of the draws uses the population divisor ``M`` (not ``M - 1``), so that
    :meth:`sample` — draws picked uniformly at random, plus their noise — has exactly this
    mean and variance (as :class:`GaussianMixturePosterior`).

    Attributes
    ----------
    draws : Tensor, shape ``(M, *shape)``
        ``M >= 1`` finite draws.
    draw_variances : Tensor, shape ``(M, *shape)`` or broadcastable to it, optional
        Gaussian noise variance of each draw (``>= 0``); None: no noise.

    Raises
    ------
    ValueError
        No draws, non-finite draws, variances that do not broadcast to the draws or are
        negative or not finite.
    """

    draws: Tensor
    draw_variances: Tensor | None = None
    is_deterministic: bool = False

    def __post_init__(self) -> None:
        if self.draws.ndim < 1 or self.draws.shape[0] < 1:
            raise ValueError(f"draws must have shape (M, ...) with M >= 1; got {tuple(self.draws.shape)}")
        if not bool(torch.isfinite(self.draws).all()):
            raise ValueError("draws must be finite")
        if self.draw_variances is not None:
            try:
                full = torch.broadcast_to(self.draw_variances, self.draws.shape)
            except RuntimeError:
                raise ValueError(f"draw_variances {tuple(self.draw_variances.shape)} do not broadcast to the draws "
                                 f"{tuple(self.draws.shape)}") from None
            if not bool(torch.all(full >= 0)) or not bool(torch.isfinite(full).all()):
                raise ValueError("draw_variances must be finite and >= 0")
            object.__setattr__(self, "draw_variances", full)

    @property
    def n_draws(self) -> int:
        """``M``."""
        return int(self.draws.shape[0])

    @property
    def mean(self) -> Tensor:
        return self.draws.mean(0)

    @property
    def variance(self) -> Tensor:
        spread = (self.draws - self.mean).square().mean(0)
        return spread if self.draw_variances is None else spread + self.draw_variances.mean(0)

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` draws, shape ``(n, *shape)``: a draw uniformly at random (with replacement),
        plus its Gaussian noise when ``draw_variances`` is given."""
        gen = as_generator(generator, self.draws.device)
        pick = torch.randint(self.n_draws, (_check_n(n),), generator=gen, device=gen.device).to(self.draws.device)
        out = self.draws[pick]
        if self.draw_variances is not None:
            out = out + self.draw_variances[pick].sqrt() * _standard_normal(tuple(out.shape), self.draws, gen)
        return out
