"""ProbConserv as a wrapper: any Gaussian field surrogate made to respect ``G u(t) = b(t)``.

::

    model = ProbConserv(base, ProblemConstraint(problem))        # or LinearConstraint(G, b)
    post = model.predict(FieldInputs(t, x, context_x=cx, context_y=cy, params=p))
    post.mean @ G.T - b                                           # ~ 1e-16 (sigma_g = 0)
    post.sample(100, generator=0)                                 # draws that conserve too

``predict`` asks the base for its posterior and conditions it on the constraint
(:func:`conserve_posterior`): with the structured per-time covariance of a
:class:`~sciml.surrogates.probconserv.posteriors.FieldPosterior`, component by component for a
:class:`~sciml.surrogates.posterior.GaussianMixturePosterior` (the ANP's latent mixture,
:func:`~sciml.surrogates.probconserv.conservation_update_samples`), and with the diagonal of
any other posterior's variance. ``hard=True`` is ProbConserv's HardC baseline (the mean
projected, the covariance unchanged). Reference: Hansen et al., "Learning Physical Models that
Can Respect Conservation Laws", ICML 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from sciml.surrogates.base import Surrogate
from sciml.surrogates.posterior import GaussianMixturePosterior, Posterior
from sciml.surrogates.probconserv.inputs import FieldInputError, FieldInputs
from sciml.surrogates.probconserv.posteriors import ConservedMixturePosterior, ConservedPosterior, FieldPosterior
from sciml.surrogates.probconserv.update import (
    check_sigma_g,
    conservation_update,
    mixture_moments,
    update_components,
)

__all__ = ["Constraint", "LinearConstraint", "ProbConserv", "ProblemConstraint", "conserve_posterior"]


class Constraint(Protocol):
    """``constraint(inputs) -> (G (n_c, n_x), b (B, n_t, n_c) or (n_t, n_c))`` for the inputs' grid."""

    def __call__(self, inputs: FieldInputs) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class LinearConstraint:
    """A fixed constraint ``G u(t) = b(t)``: ``G`` ``(n_c, n_x)``, ``b`` ``(B, n_t, n_c)`` or ``(n_t, n_c)``."""

    G: Any
    b: Any

    def __call__(self, inputs: FieldInputs) -> tuple[Any, Any]:
        return self.G, self.b


@dataclass(frozen=True)
class ProblemConstraint:
    """The exact conservation law of a :class:`~sciml.surrogates.probconserv.ConservationProblem`.

    ``G`` = trapezoid weights of ``inputs.x`` (which must span the problem's domain) and
    ``b(t)`` the exact conserved quantity at ``inputs.t`` for ``inputs.params`` (required).
    """

    problem: Any

    def __call__(self, inputs: FieldInputs) -> tuple[Any, Any]:
        if inputs.params is None:
            raise FieldInputError(f"the conservation law of {self.problem.name!r} needs params (B,) or (B, 1): "
                                  "b(t) depends on the physical parameter")
        t, x = inputs.grid()
        G, b_fn = self.problem.constraint(t.numpy(), x.numpy())
        return G, b_fn(inputs.parameters().numpy())


class ProbConserv:
    """A :class:`~sciml.surrogates.base.Surrogate` whose posterior respects a conservation law.

    Parameters
    ----------
    base : Surrogate
        Any field surrogate whose posterior on ``(B, n_t, n_x)`` is Gaussian (or a Gaussian
        mixture); its inputs are passed on unchanged.
    constraint : Constraint
        ``G`` and ``b`` for the inputs (:class:`ProblemConstraint`, :class:`LinearConstraint`).
    hard : bool
        HardC: project the mean with ``Sigma = I``, keep the covariance.
    sigma_g : float
        Standard deviation ``>= 0`` of the constraint noise (units of ``b``); 0: exact.
    name : str, optional
        Row label (default ``"ProbConserv-<base>"`` or ``"HardC-<base>"``).
    """

    def __init__(self, base: Surrogate, constraint: Constraint, *, hard: bool = False, sigma_g: float = 0.0,
                 name: str | None = None) -> None:
        self.base = base
        self.constraint = constraint
        self.hard = bool(hard)
        self.sigma_g = check_sigma_g(sigma_g)
        base_name = getattr(base, "name", type(base).__name__)
        self.name = name or f"{'HardC' if self.hard else 'ProbConserv'}-{base_name}"

    def predict(self, inputs: FieldInputs) -> Posterior:
        """The base's posterior of ``inputs``, conditioned on the constraint (:meth:`condition`)."""
        return self.condition(self.base.predict(inputs), inputs)

    def condition(self, posterior: Posterior, inputs: FieldInputs) -> Posterior:
        """Condition an already computed posterior of ``inputs`` (e.g. to share one base prediction)."""
        G, b = self.constraint(inputs)
        return conserve_posterior(posterior, G, b, hard=self.hard, sigma_g=self.sigma_g)


def _g_b(G: Any, b: Any, like: Tensor) -> tuple[Tensor, Tensor]:
    g = torch.as_tensor(np.asarray(G) if not isinstance(G, Tensor) else G).to(like)
    return (g[None, :] if g.ndim == 1 else g), torch.as_tensor(b).to(like)


def _conserve_gaussian(posterior: Posterior, cov: Any, kind: str, G: Any, b: Any, hard: bool,
                       sigma_g: float) -> ConservedPosterior:
    out = conservation_update(posterior.mean, cov, G, b, sigma_g=sigma_g, cov_kind=kind,  # type: ignore[arg-type]
                              hard=hard, return_full_cov=False)
    g, bt = _g_b(G, b, out.mean)
    return ConservedPosterior(out.mean, out.variance, posterior, g, bt, cov, kind, sigma_g, hard)  # type: ignore[arg-type]


@singledispatch
def conserve_posterior(posterior: Posterior, G: Any, b: Any, *, hard: bool = False,
                       sigma_g: float = 0.0) -> Posterior:
    """Condition a posterior on ``G u(t) = b(t)``; the update used depends on the posterior's type.

    Parameters
    ----------
    posterior : Posterior
        ``mean`` of shape ``(B, n_t, n_x)``. A :class:`FieldPosterior` is updated with its
        structured covariance, a :class:`~sciml.surrogates.posterior.GaussianMixturePosterior`
        component by component, any other with the diagonal covariance ``variance``.
    G : array_like, shape ``(n_c, n_x)`` or ``(n_x,)``
    b : array_like, shape ``(B, n_t, n_c)`` or ``(n_t, n_c)``
    hard : bool
        HardC instead of ProbConserv.
    sigma_g : float
        Constraint noise standard deviation.

    Returns
    -------
    ConservedPosterior or ConservedMixturePosterior

    Raises
    ------
    ConservationInputError
        Shapes, non-finite values (see :func:`~sciml.surrogates.probconserv.conservation_update`).
    """
    return _conserve_gaussian(posterior, posterior.variance, "diag", G, b, hard, sigma_g)


@conserve_posterior.register
def _(posterior: FieldPosterior, G: Any, b: Any, *, hard: bool = False, sigma_g: float = 0.0) -> Posterior:
    return _conserve_gaussian(posterior, posterior.cov, posterior.cov_kind, G, b, hard, sigma_g)


@conserve_posterior.register
def _(posterior: GaussianMixturePosterior, G: Any, b: Any, *, hard: bool = False,
      sigma_g: float = 0.0) -> Posterior:
    means, variances = posterior.means, posterior.variances
    comp = update_components(means, variances, G, b, sigma_g=sigma_g, hard=hard)
    mean, variance = mixture_moments(comp.mean, comp.variance)
    g, bt = _g_b(G, b, comp.mean)
    return ConservedMixturePosterior(comp.mean, comp.variance, mean, variance, means.to(comp.mean),
                                     variances.to(comp.mean), g, bt, sigma_g, hard)
