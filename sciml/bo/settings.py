"""How hard an acquisition works: :class:`AcquisitionSettings` and its presets :data:`FAST`, :data:`TUTORIAL`.

``docs/benchmarks.md`` (multi-fidelity BO) gives the measured time per iteration and the regret
of both presets, and why :data:`FAST` is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, ValidationError, model_validator

from sciml.config import StrictModel
from sciml.errors import ConfigError

__all__ = ["FAST", "TUTORIAL", "AcquisitionSettings"]


class AcquisitionSettings(StrictModel):
    """How hard to work on one acquisition (all counts are per call of ``propose_candidates``).

    Every field is an integer ``>= 1`` (``seed``: any integer); the model is immutable (use
    :meth:`replace`). Bad values raise :class:`~sciml.errors.ConfigError`.

    Attributes
    ----------
    num_fantasies : int
        Fantasy models of the knowledge gradient (and of BoTorch's fantasy-based MES; unused by
        GIBBON).
    num_restarts : int
        Starting points of the multi-start L-BFGS-B optimisation of the acquisition function.
    raw_samples : int
        Random points from which the starting points are chosen (Boltzmann sampling).
    q : int
        Batch size: candidates per call.
    mc_samples : int
        Quasi-Monte-Carlo samples of qLogNEI; posterior samples ``num_y_samples`` of MES.
    candidate_set_size : int
        Random points (plus the observed designs) on which MES/GIBBON samples the max values.
    num_mv_samples : int
        Max-value samples of MES/GIBBON.
    maxiter : int
        L-BFGS-B iterations per restart.
    batch_limit : int
        Restarts optimised together in one batched L-BFGS-B problem.
    seed : int
        Seed of every random choice (samplers, candidate set, restarts).

    Notes
    -----
    The one-shot KG's initial conditions also optimise the posterior mean of the fantasy
    models from ``2 * num_restarts`` starts out of ``2 * raw_samples`` raw points (BoTorch's
    defaults, 20 and 1024, for the tutorial's 10 and 512).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_fantasies: int = 32
    num_restarts: int = 4
    raw_samples: int = 128
    q: int = 1
    mc_samples: int = 128
    candidate_set_size: int = 1000
    num_mv_samples: int = 10
    maxiter: int = 200
    batch_limit: int = 8
    seed: int = 0

    def __init__(self, **data: Any) -> None:
        unknown = sorted(set(data) - set(type(self).model_fields))
        if unknown:
            raise ConfigError(f"unknown AcquisitionSettings field(s) {unknown}; accepted: "
                              f"{list(type(self).model_fields)}")
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from None

    @model_validator(mode="before")
    @classmethod
    def _integers(cls, data: Any) -> Any:
        for name, value in dict(data).items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"AcquisitionSettings.{name} must be an integer, got {value!r}")
            if name != "seed" and value < 1:
                raise ValueError(f"AcquisitionSettings.{name} must be >= 1, got {value}")
        return data

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"AcquisitionSettings is immutable; use replace({name}=...)")

    def replace(self, **changes: Any) -> AcquisitionSettings:
        """A copy with some fields changed (unknown names or bad values: :class:`ConfigError`)."""
        return type(self)(**{**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, int]:
        """Plain JSON-able dict of the fields."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcquisitionSettings:
        """Inverse of :meth:`to_dict` (unknown keys: :class:`ConfigError`)."""
        return cls(**dict(data))

    @property
    def options(self) -> dict[str, int]:
        """``options`` of ``optimize_acqf`` (L-BFGS-B and initial conditions)."""
        return {"batch_limit": self.batch_limit, "maxiter": self.maxiter,
                "num_inner_restarts": 2 * self.num_restarts, "raw_inner_samples": 2 * self.raw_samples}


TUTORIAL = AcquisitionSettings(num_fantasies=128, num_restarts=10, raw_samples=512, q=4,
                               mc_samples=256, candidate_set_size=1000, num_mv_samples=10,
                               maxiter=200, batch_limit=5)
"""The settings of BoTorch's multi-fidelity KG tutorial (128 fantasies, 10 restarts, 512 raw
samples, ``q = 4``, ``batch_limit = 5``, ``maxiter = 200``); MES uses the MES tutorial's 1000
candidates. The reference for "how BoTorch does it", not fast on a laptop CPU."""

FAST = AcquisitionSettings(num_fantasies=32, num_restarts=4, raw_samples=128, q=1,
                           mc_samples=128, candidate_set_size=1000, num_mv_samples=10,
                           maxiter=100, batch_limit=8)
"""The default of :class:`sciml.bo.loop.BOLoop`: 32 fantasies, 4 restarts, 128 raw samples,
``q = 1``, ``maxiter = 100``. With Sobol quasi-MC fantasies the KG estimate at 32 fantasies
ranks candidates like the one at 128, and the one-shot KG's cost is about linear in
``num_fantasies``; ``q = 1`` makes each choice use all the data (batches are for parallel
evaluators: pass ``q``/``batch_size``)."""
