"""Multi-fidelity GIBBON that is correct for models with input and outcome transforms.

BoTorch's max-value entropy classes append ``model.train_inputs`` to the candidate set, but for
a model with an input transform (all sciml models normalise the design columns) those are the
*normalised* inputs, and GIBBON's ``q > 1`` repulsion term calls ``model(X)`` (no input
transform, no outcome un-standardisation) next to ``model.posterior(X)`` (both). For a design box
other than the unit cube both are wrong, so :class:`MultiFidelityGIBBON` rebuilds the candidate
set from ``X_observed`` and computes the repulsion from ``posterior`` alone. Reference: Moss et
al. (2021), "GIBBON: General-purpose Information-Based Bayesian OptimisatioN", JMLR 22.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from botorch.acquisition import qMultiFidelityLowerBoundMaxValueEntropy
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.models.model import Model
from torch import Tensor

__all__ = ["MultiFidelityGIBBON"]

_CLAMP = 1e-12


class MultiFidelityGIBBON(qMultiFidelityLowerBoundMaxValueEntropy):
    """``qMultiFidelityLowerBoundMaxValueEntropy`` that is correct for models with input/outcome transforms.

    Three changes to BoTorch's class (see the module docstring):

    * the max-value candidate set is ``project(candidate_set)`` plus the projected observed
      points ``X_observed`` in the *model's input coordinates*, instead of the transformed
      ``model.train_inputs``;
    * the max values are sampled once, from that set: BoTorch's constructors' own samplings
      (from the transformed training inputs, which a multi-task model's input transform
      rejects) are skipped;
    * the ``q > 1`` repulsion term ``0.5 log(1 - a^T B^{-1} a / v)`` is computed from
      ``model.posterior`` only (``a``: noiseless covariance between ``x`` and the pending
      points, ``B``: noisy covariance of the pending points, ``v``: noisy variance at ``x``),
      all in the same (un-standardised) units.

    Parameters
    ----------
    model, candidate_set, num_mv_samples, num_y_samples, cost_aware_utility, project
        As for BoTorch's class.
    X_observed : Tensor, shape (n, d + 1), optional
        Observed inputs added to the candidate set.
    X_pending : Tensor, shape (m, d + 1), optional
        Pending points (repulsion term).
    """

    def __init__(self, model: Model, candidate_set: Tensor, *, num_mv_samples: int = 10,
                 num_y_samples: int = 128, cost_aware_utility: InverseCostWeightedUtility | None = None,
                 project: Callable[[Tensor], Tensor] = lambda X: X, X_observed: Tensor | None = None,
                 X_pending: Tensor | None = None) -> None:
        # BoTorch's constructors sample max values from a candidate set extended with the
        # *transformed* training inputs (a multi-task model's task indices fail its own input
        # transform); skip those samplings, the right candidate set is sampled once below
        object.__setattr__(self, "_defer_max_values", True)
        try:
            super().__init__(model=model, candidate_set=candidate_set, num_mv_samples=num_mv_samples,
                             num_y_samples=num_y_samples, cost_aware_utility=cost_aware_utility,
                             project=project)
        finally:
            object.__setattr__(self, "_defer_max_values", False)
        cands = project(candidate_set)
        if X_observed is not None:
            cands = torch.cat([cands, project(X_observed)], dim=0)
        self.candidate_set = cands
        self._sample_max_values(num_samples=num_mv_samples)
        self.set_X_pending(X_pending)

    def _sample_max_values(self, num_samples: int, X_pending: Tensor | None = None) -> None:
        if getattr(self, "_defer_max_values", False):
            return
        super()._sample_max_values(num_samples, X_pending=X_pending)

    def _compute_information_gain(self, X: Tensor, mean_M: Tensor, variance_M: Tensor,
                                  covar_mM: Tensor) -> Tensor:
        pending = self.X_pending
        self.X_pending = None
        try:
            acq = super()._compute_information_gain(X=X, mean_M=mean_M, variance_M=variance_M,
                                                    covar_mM=covar_mM)
        finally:
            self.X_pending = pending
        if pending is None:
            return acq
        # X: batch x 1 x D; pending: m x D. The noise is independent between points, so the
        # off-diagonal entries of the noisy covariance are the noiseless cross-covariances a.
        batches = torch.cat([X, pending.unsqueeze(0).expand(X.shape[0], -1, -1)], dim=-2)
        cov = self.model.posterior(batches, observation_noise=True).distribution.covariance_matrix
        variance_m = cov[..., 0, 0].clamp_min(_CLAMP).reshape(X.shape[0], 1)
        a = cov[..., 1:, 0].unsqueeze(-1)  # batch x m x 1
        B = cov[..., 1:, 1:]
        eye = torch.eye(B.shape[-1], dtype=B.dtype)
        B = B + 1e-10 * B.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye
        L = torch.linalg.cholesky(B)
        w = torch.cholesky_solve(a, L)
        inv_quad = (a * w).sum(dim=(-2, -1)).reshape(X.shape[0], 1)
        det = variance_m.clamp(min=inv_quad * (1 + 1e-12)) - inv_quad
        r = 0.5 * (det.log() - variance_m.log())
        return acq + r.transpose(0, 1)

