"""MC dropout (Gal & Ghahramani, 2016) on one FNO as a ProbConserv base model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.posterior import as_generator
from sciml.surrogates.probconserv.field_fno import (
    FieldFNO,
    FNOField,
    FNOTrainConfig,
    mc_dropout,
    train_field_fno,
)
from sciml.surrogates.probconserv.inputs import FieldInputs, check_int

__all__ = ["MCDropoutField"]


class MCDropoutField(FNOField):
    """MC dropout (Gal & Ghahramani, 2016) on one :class:`FieldFNO` with channel dropout ``p_drop``.

    Trained once (``seed``). At inference the network is put in ``.eval()`` and **only** its
    :class:`MCDropout` layers are made random (:func:`mc_dropout`, which restores the previous
    ``training`` flags afterwards); ``n_passes`` forward passes with masks from ``inputs.seed``
    give the equal mixture of the passes' Gaussians (variance head), ``cov_kind="lowrank"`` of
    rank ``n_passes`` as in :class:`FNOEnsembleField`. The reference code of ProbConserv keeps
    the whole network in ``.train()`` mode at inference, which would also change every other
    mode-dependent layer (batch norm statistics, other dropout); here only the dropout layers
    are stochastic. The masks of different passes are independent draws of the seed's stream
    (the same int seed gives the same prediction; a generator is consumed).
    """

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float], *, p_drop: float = 0.1,
                 n_passes: int = 20, config: FNOTrainConfig | None = None, name: str = "MCDropout") -> None:
        super().__init__(param_range, t_range, config)
        if not (isinstance(p_drop, (int, float)) and 0.0 <= p_drop < 1.0):
            raise ConfigError(f"p_drop must be in [0, 1), got {p_drop!r}")
        self.p_drop = float(p_drop)
        self.n_passes = check_int(n_passes, "n_passes", 1)
        self.name = name
        self.net: FieldFNO | None = None
        self.history: list[float] = []

    def _train(self, net_inputs: Tensor, targets: Tensor, seed: int) -> None:
        torch.manual_seed(seed)
        self.net = self.config.build(dropout=self.p_drop)
        self.history = train_field_fno(self.net, net_inputs, targets, self.config, seed)

    def _draws(self, net_inputs: Tensor, inputs: FieldInputs) -> list[tuple[Tensor, Tensor | None]]:
        assert self.net is not None
        with mc_dropout(self.net, as_generator(inputs.seed)):
            return [self.net(net_inputs) for _ in range(self.n_passes)]

    def _info(self) -> dict[str, Any]:
        return {"n_passes": self.n_passes, "p_drop": self.p_drop}
