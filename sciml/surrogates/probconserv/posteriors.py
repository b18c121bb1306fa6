"""Posteriors of the ProbConserv field models, on a space-time grid ``(B, n_t, n_x)``.

All satisfy :class:`~sciml.surrogates.posterior.Posterior` (``mean``, ``variance``,
``sample(n, *, generator)``); everything is float64 on the CPU, time-major (row ``i`` is the
profile ``u(t_i, .)`` on which ``G`` acts). Correlations between different times are not
represented: the constraint ``G u(t) = b(t)`` acts on each time separately.

* :class:`FieldPosterior` — a Gaussian per time slice with a structured covariance
  (``"diag"``, ``"lowrank"`` ``F F^T + diag(d)``, ``"dense"``): the exact GP, the FNO ensemble,
  MC dropout;
* :class:`ANPPosterior` — the attentive neural process's equal mixture of ``S`` latent draws,
  each a Gaussian with independent marginals (a
  :class:`~sciml.surrogates.posterior.GaussianMixturePosterior` that keeps the latents ``z``);
* :class:`ConservedPosterior`, :class:`ConservedMixturePosterior` — what the ProbConserv update
  makes of them (:mod:`~sciml.surrogates.probconserv.wrapper`): the conditioned moments, and
  draws by Matheron's rule ``u + K (b - G u - eps)`` from draws ``u`` of the base, so every
  draw of an exactly conserving posterior conserves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from sciml.surrogates.posterior import GaussianMixturePosterior, Posterior, SeedLike, as_generator
from sciml.surrogates.probconserv.inputs import FieldInputError
from sciml.surrogates.probconserv.update import ConservedPrediction, conservation_gain, conservation_update

__all__ = [
    "ANPPosterior",
    "ConservedMixturePosterior",
    "ConservedPosterior",
    "CovKind",
    "FieldPosterior",
    "mixture_full_cov",
]

#: Formats of a per-time covariance (as ``cov_kind`` of :func:`~sciml.surrogates.probconserv.conservation_update`).
CovKind = Literal["diag", "lowrank", "dense"]
COV_KINDS: tuple[str, ...] = ("diag", "lowrank", "dense")


def _n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return n


def _randn(shape: tuple[int, ...], gen: torch.Generator, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=like.dtype, device=gen.device).to(like.device)


def psd_sqrt(cov: Tensor) -> Tensor:
    """A square root ``R`` with ``R R^T = cov`` of a batch of PSD matrices ``(..., n, n)`` (eigenvalues < 0 -> 0)."""
    w, q = torch.linalg.eigh(0.5 * (cov + cov.transpose(-1, -2)))
    return q * w.clamp_min(0.0).sqrt().unsqueeze(-2)


# =========================================================================== structured Gaussian
@dataclass(frozen=True)
class FieldPosterior:
    """A Gaussian prediction of ``B`` space-time fields, per time slice.

    Attributes
    ----------
    mean : Tensor, shape ``(B, n_t, n_x)``, float64
        Predictive mean (units of ``u``).
    variance : Tensor, shape ``(B, n_t, n_x)``, float64
        Marginal predictive variance ``>= 0`` (units of ``u^2``), the diagonal of ``cov``.
    cov_kind : {"diag", "lowrank", "dense"}
        Format of ``cov``.
    cov : Tensor or (Tensor, Tensor)
        ``"diag"``: the variance; ``"lowrank"``: ``(factor (B, n_t, n_x, r), diag (B, n_t, n_x))``
        with ``Sigma = F F^T + diag(d)``; ``"dense"``: ``(B, n_t, n_x, n_x)``.
    info : dict
        Model-specific extras (e.g. the number of members, fitted hyperparameters).

    Raises
    ------
    FieldInputError
        Shapes of mean and variance differ or are not ``(B, n_t, n_x)``; unknown ``cov_kind``.
    """

    mean: Tensor
    variance: Tensor
    cov_kind: CovKind
    cov: Any
    info: dict[str, Any] = field(default_factory=dict)
    is_deterministic: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.mean.ndim != 3 or self.variance.shape != self.mean.shape:
            raise FieldInputError(
                f"FieldPosterior: mean and variance must have the same shape (B, n_t, n_x), got "
                f"{tuple(self.mean.shape)} and {tuple(self.variance.shape)}")
        if self.cov_kind not in COV_KINDS:
            raise FieldInputError(f"FieldPosterior: unknown cov_kind {self.cov_kind!r}; accepted: {list(COV_KINDS)}")

    @property
    def batch(self) -> int:
        return int(self.mean.shape[0])

    @property
    def grid_shape(self) -> tuple[int, int]:
        """``(n_t, n_x)``."""
        return int(self.mean.shape[1]), int(self.mean.shape[2])

    def conserve(self, G: Any, b: Any, *, hard: bool = False, sigma_g: float = 0.0,
                 return_full_cov: bool | None = None) -> ConservedPrediction:
        """The moments of the ProbConserv update (or HardC, ``hard=True``) on ``G u(t) = b(t)``.

        ``G`` ``(n_c, n_x)``, ``b`` ``(B, n_t, n_c)`` or ``(n_t, n_c)``; see
        :func:`~sciml.surrogates.probconserv.conservation_update`. The posterior of the update
        (with draws) is :class:`~sciml.surrogates.probconserv.ProbConserv`'s.
        """
        return conservation_update(self.mean, self.cov, G, b, sigma_g=sigma_g, cov_kind=self.cov_kind,
                                   hard=hard, return_full_cov=return_full_cov)

    def at_times(self, index: int | slice | Sequence[int]) -> FieldPosterior:
        """The prediction restricted to some time indices (keeps the time axis)."""
        idx = slice(index, index + 1) if isinstance(index, int) else index

        def cut(a: Tensor) -> Tensor:
            return a[:, idx]

        cov: Any = (cut(self.cov[0]), cut(self.cov[1])) if self.cov_kind == "lowrank" else cut(self.cov)
        return FieldPosterior(cut(self.mean), cut(self.variance), self.cov_kind, cov, dict(self.info))

    def cov_at(self, i_t: int) -> Tensor:
        """Dense covariance ``(B, n_x, n_x)`` of the profiles at time index ``i_t``."""
        if self.cov_kind == "diag":
            return torch.diag_embed(self.cov[:, i_t])
        if self.cov_kind == "lowrank":
            f, d = self.cov[0][:, i_t], self.cov[1][:, i_t]
            return f @ f.transpose(-1, -2) + torch.diag_embed(d)
        return self.cov[:, i_t]

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` draws from the per-time Gaussians, shape ``(n, B, n_t, n_x)`` (independent across times)."""
        gen = as_generator(generator, "cpu")
        shape = (_n(n), *self.mean.shape)
        if self.cov_kind == "diag":
            return self.mean + self.cov.sqrt() * _randn(shape, gen, self.mean)
        if self.cov_kind == "lowrank":
            f, d = self.cov
            low = (f @ _randn((*shape[:-1], f.shape[-1]), gen, self.mean)[..., None]).squeeze(-1)
            return self.mean + low + d.sqrt() * _randn(shape, gen, self.mean)
        return self.mean + (psd_sqrt(self.cov) @ _randn(shape, gen, self.mean)[..., None]).squeeze(-1)


# =========================================================================== ANP mixture
@dataclass(frozen=True)
class ANPPosterior(GaussianMixturePosterior):
    """The ANP's prediction on the grid: the equal mixture of its ``S`` latent draws.

    Attributes
    ----------
    means, variances : Tensor, shape ``(S, B, n_t, n_x)``, float64
        Mean and variance of the Gaussian of each latent draw ``z_s ~ q(z | C)`` (the input of
        :func:`~sciml.surrogates.probconserv.conservation_update_samples`).
    z : Tensor, shape ``(S, B, latent_dim)``
        The latent draws.

    ``mean`` and ``variance`` are the mixture moments (population variance of the means,
    divisor ``S``), as :func:`~sciml.surrogates.probconserv.conservation_update_samples`.
    """

    z: Tensor | None = None


def mixture_full_cov(means: Tensor, variances: Tensor) -> Tensor:
    """Covariance of an equal mixture of ``N(means[s], diag(variances[s]))``.

    Same formula as :func:`~sciml.surrogates.probconserv.conservation_update_samples`:
    ``Sigma = mean_s diag(v_s) + mean_s (m_s - m)(m_s - m)^T`` with ``m = mean_s m_s``.

    Parameters
    ----------
    means, variances : Tensor, shape ``(S, B, n_x)``
        Per-draw means (units of ``u``) and variances (units of ``u**2``).

    Returns
    -------
    Tensor, shape ``(B, n_x, n_x)``
        Units of ``u**2``.
    """
    if means.ndim != 3 or variances.shape != means.shape:
        raise ValueError(f"means and variances must both have shape (S, B, n_x); got {tuple(means.shape)} "
                         f"and {tuple(variances.shape)}")
    dev = means - means.mean(0)
    cov = torch.einsum("sbi,sbj->bij", dev, dev) / means.shape[0]
    return cov + torch.diag_embed(variances.mean(0))


# =========================================================================== conditioned posteriors
def _matheron(u: Tensor, G: Tensor, b: Tensor, gain: Tensor, sigma_g: float, gen: torch.Generator) -> Tensor:
    """``u + K (b - G u - eps)``, ``eps ~ N(0, sigma_g^2 I)``: draws ``(n, B, n_t, n_x)`` of the update.

    ``gain`` ``(B, n_t, n_x, n_c)`` or ``(n, B, n_t, n_x, n_c)``; ``b`` ``(B, n_t, n_c)``.
    """
    r = b - u @ G.transpose(0, 1)  # (n, B, n_t, n_c)
    if sigma_g > 0:
        r = r - sigma_g * _randn(tuple(r.shape), gen, r)
    return u + (gain @ r[..., None]).squeeze(-1)


@dataclass(frozen=True)
class ConservedPosterior:
    """A Gaussian posterior conditioned on ``G u(t) = b(t)`` (ProbConserv), or with its mean projected (HardC).

    Attributes
    ----------
    mean, variance : Tensor, shape ``(B, n_t, n_x)``
        Moments of the update (:func:`~sciml.surrogates.probconserv.conservation_update`).
    base : Posterior
        The posterior before the update; its draws are moved onto the constraint.
    G : Tensor, shape ``(n_c, n_x)``
    b : Tensor, shape ``(B, n_t, n_c)`` or ``(n_t, n_c)``
    cov, cov_kind
        The base's per-time covariance (format of ``cov_kind``), for the gain.
    sigma_g : float
        Constraint noise standard deviation.
    hard : bool
        HardC: draws are the base's shifted by ``mean - base.mean``.
    """

    mean: Tensor
    variance: Tensor
    base: Posterior
    G: Tensor
    b: Tensor
    cov: Any
    cov_kind: CovKind = "diag"
    sigma_g: float = 0.0
    hard: bool = False
    is_deterministic: ClassVar[bool] = False

    @cached_property
    def gain(self) -> Tensor:
        """``K = Sigma G^T (sigma_G^2 I + G Sigma G^T)^{-1}``, shape ``(B, n_t, n_x, n_c)`` (computed once)."""
        return conservation_gain(self.cov, self.G, sigma_g=self.sigma_g, cov_kind=self.cov_kind)

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` draws, shape ``(n, B, n_t, n_x)``: the base's draws, then Matheron's rule (or the HardC shift)."""
        gen = as_generator(generator, "cpu")
        u = self.base.sample(_n(n), generator=gen).to(self.mean)
        if self.hard:
            return u + (self.mean - self.base.mean.to(self.mean))
        return _matheron(u, self.G, self.b, self.gain, self.sigma_g, gen)


@dataclass(frozen=True)
class ConservedMixturePosterior:
    """A Gaussian mixture whose every component is conditioned on ``G u(t) = b(t)`` (or HardC-projected).

    Attributes
    ----------
    means, variances : Tensor, shape ``(S, B, n_t, n_x)``
        Each updated component's mean and marginal variance.
    mean, variance : Tensor, shape ``(B, n_t, n_x)``
        The updated mixture's moments (as
        :func:`~sciml.surrogates.probconserv.conservation_update_samples`).
    base_means, base_variances : Tensor, shape ``(S, B, n_t, n_x)``
        The components before the update (independent marginals).
    G, b, sigma_g, hard
        As :class:`ConservedPosterior`.
    """

    means: Tensor
    variances: Tensor
    mean: Tensor
    variance: Tensor
    base_means: Tensor
    base_variances: Tensor
    G: Tensor
    b: Tensor
    sigma_g: float = 0.0
    hard: bool = False
    is_deterministic: ClassVar[bool] = False

    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @cached_property
    def gain(self) -> Tensor:
        """Each component's gain, shape ``(S, B, n_t, n_x, n_c)`` (computed once)."""
        s, batch, n_t, n_x = self.base_variances.shape
        k = conservation_gain(self.base_variances.reshape(s * batch, n_t, n_x), self.G, sigma_g=self.sigma_g)
        return k.reshape(s, batch, n_t, n_x, k.shape[-1])

    def sample(self, n: int, *, generator: SeedLike = 0) -> Tensor:
        """``n`` draws: a component uniformly at random, its base Gaussian, then its update."""
        gen = as_generator(generator, "cpu")
        pick = torch.randint(self.n_components, (_n(n),), generator=gen, device=gen.device).to(self.means.device)
        u = self.base_means[pick] + self.base_variances[pick].sqrt() * _randn(
            (n, *self.mean.shape), gen, self.mean)
        if self.hard:
            return u + (self.means - self.base_means)[pick]
        return _matheron(u, self.G, self.b, self.gain[pick], self.sigma_g, gen)
