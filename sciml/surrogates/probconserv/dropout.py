"""MC dropout (Gal & Ghahramani, 2016) on one FNO as a ProbConserv base model."""

from __future__ import annotations

import time
from typing import Any

import torch

from sciml.errors import ConfigError
from sciml.surrogates.posterior import as_generator
from sciml.surrogates.probconserv.field_fno import (
    FieldFNO,
    FNOField,
    FNOTrainConfig,
    lowrank_posterior,
    mc_dropout,
    train_field_fno,
)
from sciml.surrogates.probconserv.inputs import FieldInputs, check_int
from sciml.surrogates.probconserv.posteriors import FieldPosterior

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

    def fit(self, params: Any, t: Any, x: Any, u: Any, *, seed: int = 0) -> MCDropoutField:
        """Train the dropout network on exact solutions ``u`` ``(P, n_t, n_x)``."""
        inputs, targets = self._training_tensors(params, t, x, u)
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        self.net = self.config.build(dropout=self.p_drop)
        self.history = train_field_fno(self.net, inputs, targets, self.config, seed)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, inputs: FieldInputs) -> FieldPosterior:
        """``n_passes`` MC-dropout passes per parameter, masks drawn from ``inputs.seed`` (contexts unused).

        Returns
        -------
        FieldPosterior
            ``cov_kind="lowrank"`` with rank ``n_passes``, shape ``(B, n_t, n_x)``.

        Raises
        ------
        FieldInputError
            Not fitted; missing or malformed ``params`` or grid.
        """
        p, tg, xg = self._check_predict(inputs)
        assert self.net is not None
        net_inputs = self._inputs(p, tg, xg)
        with torch.no_grad(), mc_dropout(self.net, as_generator(inputs.seed)):
            outputs = [self.net(net_inputs) for _ in range(self.n_passes)]
        return lowrank_posterior(outputs, p.numel(), tg.numel(), xg.numel(), self.config.min_variance,
                                 {"n_passes": self.n_passes, "p_drop": self.p_drop})
