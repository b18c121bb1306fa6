"""A deep ensemble of FNOs (Lakshminarayanan et al., 2017) as a ProbConserv base model."""

from __future__ import annotations

import time
from typing import Any

import torch

from sciml.surrogates.probconserv.field_fno import (
    FieldFNO,
    FNOField,
    FNOTrainConfig,
    lowrank_posterior,
    train_field_fno,
)
from sciml.surrogates.probconserv.inputs import FieldInputs, check_int
from sciml.surrogates.probconserv.posteriors import FieldPosterior

__all__ = ["FNOEnsembleField"]


class FNOEnsembleField(FNOField):
    """Deep ensemble (Lakshminarayanan et al., 2017) of ``M`` :class:`FieldFNO` members.

    Each member is initialised and trained with its own seed (``seed + 1000 m``: initialisation
    and minibatch order) on the same exact solutions, with a Gaussian variance head
    (:class:`FNOTrainConfig`; ``variance_head=False`` for mean-only members). The prediction is
    the equal mixture of the members' Gaussians: mean ``(1/M) sum_m mu_m``, covariance per time
    ``F F^T + diag(d)`` with ``F = (mu_m - mean) / sqrt(M)`` (rank ``M``) and ``d`` the mean of
    the members' variance heads (``min_variance`` without heads), ``cov_kind="lowrank"``. With
    identical members ``F = 0`` and the variance is ``d``.

    The members see the parameter ``p`` (normalised to ``[-1, 1]`` on ``param_range``) and the
    time ``t`` (normalised by ``t_range``); ``predict`` ignores contexts.
    """

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float], *, n_members: int = 4,
                 config: FNOTrainConfig | None = None, name: str = "Ensemble") -> None:
        super().__init__(param_range, t_range, config)
        self.n_members = check_int(n_members, "n_members", 1)
        self.name = name
        self.members: list[FieldFNO] = []
        self.histories: list[list[float]] = []

    def fit(self, params: Any, t: Any, x: Any, u: Any, *, seed: int = 0) -> FNOEnsembleField:
        """Train the members on exact solutions ``u`` ``(P, n_t, n_x)`` of parameters ``params`` ``(P,)``."""
        inputs, targets = self._training_tensors(params, t, x, u)
        t0 = time.perf_counter()
        self.members, self.histories = [], []
        for m in range(self.n_members):
            torch.manual_seed(seed + 1000 * m)
            net = self.config.build()
            self.histories.append(train_field_fno(net, inputs, targets, self.config, seed + 1000 * m))
            self.members.append(net)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, inputs: FieldInputs) -> FieldPosterior:
        """Mixture of the members for each parameter ``inputs.params`` (contexts and seed unused).

        Returns
        -------
        FieldPosterior
            ``cov_kind="lowrank"`` with rank ``M``, shape ``(B, n_t, n_x)``.

        Raises
        ------
        FieldInputError
            Not fitted; missing or malformed ``params`` or grid.
        """
        p, tg, xg = self._check_predict(inputs)
        net_inputs = self._inputs(p, tg, xg)
        with torch.no_grad():
            outputs = [net.eval()(net_inputs) for net in self.members]
        return lowrank_posterior(outputs, p.numel(), tg.numel(), xg.numel(), self.config.min_variance,
                                 {"n_members": self.n_members})
