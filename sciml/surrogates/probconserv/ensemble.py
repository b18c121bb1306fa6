"""A deep ensemble of FNOs (Lakshminarayanan et al., 2017) as a ProbConserv base model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sciml.surrogates.probconserv.field_fno import (
    FieldFNO,
    FNOField,
    FNOTrainConfig,
    train_field_fno,
)
from sciml.surrogates.probconserv.inputs import FieldInputs, check_int

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
    time ``t`` (normalised by ``t_range``); ``predict`` ignores contexts and the seed. ``fit(params,
    t, x, u, *, seed)`` trains on exact solutions ``u`` ``(P, n_t, n_x)``.
    """

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float], *, n_members: int = 4,
                 config: FNOTrainConfig | None = None, name: str = "Ensemble") -> None:
        super().__init__(param_range, t_range, config)
        self.n_members = check_int(n_members, "n_members", 1)
        self.name = name
        self.members: list[FieldFNO] = []
        self.histories: list[list[float]] = []

    def _train(self, net_inputs: Tensor, targets: Tensor, seed: int) -> None:
        self.members, self.histories = [], []
        for m in range(self.n_members):
            torch.manual_seed(seed + 1000 * m)
            net = self.config.build()
            self.histories.append(train_field_fno(net, net_inputs, targets, self.config, seed + 1000 * m))
            self.members.append(net)

    def _draws(self, net_inputs: Tensor, inputs: FieldInputs) -> list[tuple[Tensor, Tensor | None]]:
        return [net.eval()(net_inputs) for net in self.members]

    def _info(self) -> dict[str, Any]:
        return {"n_members": self.n_members}
