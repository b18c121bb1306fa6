"""ProbConserv on other base models: exact GP, deep FNO ensemble and MC-dropout FNO.

The GP / ensemble counterparts of the ANP, HardC-ANP and ProbConserv-ANP rows of
:mod:`sciml.studies.probconserv`, in the same row format (one row per problem, test value and
model), on the same test functions (the ANP study's contexts for the same seed):

* ``<base>`` — :class:`~sciml.surrogates.probconserv.ExactGPField` (``"GP"``: conditioned on
  each function's contexts, dense covariance per time), :class:`~sciml.surrogates.probconserv.FNOEnsembleField`
  (``"Ensemble"``) or :class:`~sciml.surrogates.probconserv.MCDropoutField` (``"MCDropout"``), the
  FNOs told the parameter ``p`` (low-rank plus diagonal covariance);
* ``HardC-<base>`` and ``ProbConserv-<base>`` — the
  :class:`~sciml.surrogates.probconserv.ProbConserv` wrapper (``hard=True`` / ``False``,
  ``sigma_G = 0``) with the base's full per-time covariance.

The training ``seed`` seeds the GP's training functions, the FNOs' training parameters,
initialisations, minibatches and dropout masks; the test functions depend only on the
protocol's ``eval_seed``.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from sciml.config import StrictModel
from sciml.studies.probconserv import ProbConservSettings, probconserv_settings
from sciml.studies.probconserv_evaluation import make_test_functions
from sciml.surrogates.probconserv import (
    ConservationProblem,
    ExactGPField,
    FieldPosterior,
    FNOEnsembleField,
    FNOTrainConfig,
    LinearConstraint,
    MCDropoutField,
    ProbConserv,
)
from sciml.surrogates.probconserv.gp_field import GPHyper

__all__ = [
    "BASES",
    "BaseName",
    "FieldBaseSettings",
    "base_models",
    "evaluate_field",
    "field_base_settings",
    "fit_base",
]

#: The base models, in row order.
BaseName = Literal["GP", "Ensemble", "MCDropout"]
BASES: tuple[str, ...] = typing.get_args(BaseName)


def base_models(base: str) -> tuple[str, str, str]:
    """Row labels of one base: ``(base, "HardC-<base>", "ProbConserv-<base>")``."""
    return base, f"HardC-{base}", f"ProbConserv-{base}"


class FieldBaseSettings(StrictModel):
    """Sizes of the base-model study.

    ``protocol``: the ANP study's settings (grids, test functions, contexts, shock samples,
    ``eval_batch``, ``eval_seed``). GP: ``gp_train_functions`` training functions of
    ``protocol.n_context`` contexts on ``protocol.train_grid``, ``gp_train_steps`` Adam steps,
    ``gp_hyper``. FNOs: trained on the exact solutions of ``fno_train_params`` parameters from
    the training range on ``protocol.train_grid`` with ``fno`` (per member), ``n_members``
    members; MC dropout with ``p_drop``, ``n_passes`` and ``mc_steps_factor`` times the steps.
    """

    protocol: ProbConservSettings
    bases: tuple[BaseName, ...] = BASES  # type: ignore[assignment]
    gp_train_functions: int = 32
    gp_train_steps: int = 150
    gp_hyper: GPHyper = "train"
    fno: FNOTrainConfig = Field(default_factory=FNOTrainConfig)
    fno_train_params: int = 64
    n_members: int = 4
    p_drop: float = 0.1
    n_passes: int = 20
    mc_steps_factor: float = 1.0

    @field_validator("bases", mode="before")
    @classmethod
    def _known_bases(cls, v: Any) -> Any:
        bad = [b for b in v if b not in BASES] if isinstance(v, (list, tuple)) else []
        if bad:
            raise ValueError(f"unknown base(s) {bad}; accepted: {list(BASES)}")
        return v


def field_base_settings(quick: bool) -> FieldBaseSettings:
    """Quick: ~1 minute of training per base and problem on one CPU core. Full: larger nets, longer."""
    if quick:
        return FieldBaseSettings(
            protocol=probconserv_settings(True), gp_train_functions=32, gp_train_steps=150,
            fno=FNOTrainConfig(steps=400, batch_size=32, width=16, modes=16, n_layers=4, proj_hidden=64),
            fno_train_params=64, n_members=4, p_drop=0.1, n_passes=20)
    return FieldBaseSettings(
        protocol=probconserv_settings(False), gp_train_functions=64, gp_train_steps=300,
        fno=FNOTrainConfig(steps=4000, batch_size=64, width=32, modes=24, n_layers=4, proj_hidden=128),
        fno_train_params=128, n_members=5, p_drop=0.1, n_passes=50)


def fit_base(base: str, problem: ConservationProblem, s: FieldBaseSettings, *, seed: int, problem_id: int) -> Any:
    """A fitted base model of ``problem`` (``base`` in :data:`BASES`, else ``ValueError``)."""
    grid = s.protocol.train_grid
    if base == "GP":
        rng = np.random.default_rng([seed, problem_id, 10])
        ps = problem.sample_params(s.gp_train_functions, rng)
        tb = problem.sample_batch(ps, n_context=s.protocol.n_context, n_target=1, rng=rng, grid=grid,
                                  noise_std=s.protocol.context_noise, dtype=torch.float64)
        gp = ExactGPField(problem.t_range, problem.x_range, hyper=s.gp_hyper, train_steps=s.gp_train_steps)
        return gp.fit(tb.context_x, tb.context_y)
    if base in ("Ensemble", "MCDropout"):
        rng = np.random.default_rng([seed, problem_id, 11])
        ps = problem.sample_params(s.fno_train_params, rng)
        t, x = problem.target_grid(*grid)
        u = problem.solution_on_grid(ps, t, x)
        if base == "Ensemble":
            return FNOEnsembleField(problem.train_range, problem.t_range, n_members=s.n_members,
                                    config=s.fno).fit(ps, t, x, u, seed=seed)
        cfg = s.fno if s.mc_steps_factor == 1.0 else \
            s.fno.model_copy(update={"steps": int(round(s.fno.steps * s.mc_steps_factor))})
        return MCDropoutField(problem.train_range, problem.t_range, p_drop=s.p_drop, n_passes=s.n_passes,
                              config=cfg).fit(ps, t, x, u, seed=seed)
    raise ValueError(f"unknown base {base!r}; accepted: {list(BASES)}")


def _seed(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def evaluate_field(problem: ConservationProblem, fieldm: Any, base: str, p: float, s: FieldBaseSettings, *,
                   seed: Sequence[int], base_id: int, train_seed: int) -> list[dict[str, Any]]:
    """Rows ``base``, ``HardC-base``, ``ProbConserv-base`` for one test value ``p``.

    Test functions and metrics as the ANP study's (same contexts for the same ``seed``); the
    predictions from ``fieldm.predict`` (masks seeded by ``(train_seed, *seed, 2, start)``), the
    updates from :class:`~sciml.surrogates.probconserv.ProbConserv` on that prediction, the
    shock draws from a generator seeded by ``(*seed, 1, start, base_id)``. The rows also carry
    ``base``, ``cov_kind``, ``conditioning`` (``"context"`` for the GP, ``"param"`` for the FNOs)
    and the prediction and update wall times over all test functions (seconds).
    """
    ps = s.protocol
    test = make_test_functions(problem, p, eval_grid=ps.eval_grid, n_functions=ps.n_functions, seed=seed,
                               n_context=ps.n_context, context_noise=ps.context_noise, n_target=1,
                               dtype=torch.float64)
    acc = test.accumulator(ps.n_shock_samples)
    full_cov = test.thresholds is not None
    names = base_models(base)
    constraint = LinearConstraint(test.g, test.b)
    ev = slice(test.i_eval, test.i_eval + 1)
    t_pred = t_upd = 0.0
    pred: FieldPosterior | None = None
    for start in range(0, ps.n_functions, ps.eval_batch):
        sl = slice(start, min(start + ps.eval_batch, ps.n_functions))
        tru = test.truth[sl]
        gen = torch.Generator().manual_seed(_seed(*seed, 1, start, base_id))
        inputs = test.inputs(sl, seed=torch.Generator().manual_seed(_seed(train_seed, *seed, 2, start)), params=True)
        t0 = time.perf_counter()
        pred = fieldm.predict(inputs)
        t_pred += time.perf_counter() - t0
        acc.record(names[0], pred.mean, pred.variance, pred.cov_at(test.i_eval) if full_cov else None, tru, gen)
        for name, hard in ((names[1], True), (names[2], False)):
            t0 = time.perf_counter()
            upd = ProbConserv(fieldm, constraint, hard=hard).condition(pred, inputs)
            if not hard:
                t_upd += time.perf_counter() - t0
            cov = None
            if full_cov:
                cov = pred.at_times(test.i_eval).conserve(test.g, test.b[ev], hard=hard, return_full_cov=True).cov[:, 0]
            acc.record(name, upd.mean, upd.variance, cov, tru, gen)
    assert pred is not None
    components = int(pred.info.get("n_members", pred.info.get("n_passes", 1)))
    rows = test.rows(acc, names, n_latent_samples=components)
    for row in rows:
        row.update(base=base, cov_kind=pred.cov_kind, conditioning="context" if base == "GP" else "param",
                   predict_seconds=t_pred, update_seconds=t_upd)
    return rows
