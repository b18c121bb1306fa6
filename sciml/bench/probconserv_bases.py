"""ProbConserv on other base models: exact GP, deep FNO ensemble and MC-dropout FNO.

The GP / ensemble variants of the ANP, HardC-ANP and ProbConserv-ANP rows of
:mod:`sciml.bench.probconserv`, in the same row format (one row per problem, test value and
model), for the bases of :mod:`sciml.surrogates.probconserv.bases`:

=================  ==========================================================================
``GP``             :class:`~sciml.surrogates.probconserv.bases.ExactGPField`: exact GP over
                   ``(t, x)`` conditioned on the test function's 100 contexts; hyperparameters
                   learned on ``gp_train_functions`` training functions (summed marginal
                   likelihood); dense posterior covariance per time slice.
``Ensemble``       :class:`~sciml.surrogates.probconserv.bases.FNOEnsembleField`: ``n_members``
                   FNOs ``(p, t, x) -> u`` with variance heads, each its own seed; rank-``M``
                   plus diagonal covariance.
``MCDropout``      :class:`~sciml.surrogates.probconserv.bases.MCDropoutField`: one such FNO
                   with channel dropout, ``n_passes`` passes in ``.eval()`` with only dropout
                   random; rank-``S`` plus diagonal covariance.
``HardC-<base>``   the mean projected on ``G u = b`` (``conservation_update(hard=True)``),
                   variance unchanged.
``ProbConserv-<base>``  the exact Gaussian conditioning on ``G u = b`` with the base's full
                   per-time covariance (dense for the GP, low rank plus diagonal otherwise),
                   ``sigma_G = 0``.
=================  ==========================================================================

Protocol: that of :mod:`sciml.bench.probconserv` (:func:`~sciml.bench.probconserv.settings_for`
gives the grids, the number of test functions, contexts and shock samples): per test value,
``n_functions`` test functions, each a random context set of 100 points of the exact solution
on the evaluation grid, drawn with the same seeds as the ANP benchmark
(``(eval_seed, problem index, test value index)``), so the GP rows are on the same test
functions as the ANP rows. Metrics at the evaluation time (MSE, LL, CRPS, CE, shock-position
error with draws from the full covariance at that time) as in
:func:`~sciml.bench.probconserv.evaluate_test_value`, by the same
:class:`~sciml.surrogates.probconserv.evaluation.MetricAccumulator`; mean and standard error
over the test functions. The FNO bases are told the parameter ``p`` and ignore the contexts,
so all test functions of one value get the same ensemble prediction (standard errors 0 for the
deterministic metrics); MC-dropout draws new masks per function.

The ``seed`` of :func:`evaluate_bases` seeds the training (GP training functions, FNO
training parameters, initialisations, minibatches, dropout masks); the test functions
depend only on ``eval_seed`` of the settings.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sciml.bench.probconserv import ProbConservBenchSettings, settings_for
from sciml.surrogates.probconserv.bases import (
    ExactGPField,
    FieldPrediction,
    FNOEnsembleField,
    FNOTrainConfig,
    MCDropoutField,
)
from sciml.surrogates.probconserv.evaluation import make_test_functions

__all__ = ["BASES", "BaseBenchSettings", "base_models", "base_settings_for", "evaluate_bases", "fit_base"]

#: The base models, in row order.
BASES: tuple[str, ...] = ("GP", "Ensemble", "MCDropout")


def base_models(base: str) -> tuple[str, str, str]:
    """Row labels of one base: ``(base, "HardC-<base>", "ProbConserv-<base>")``."""
    return base, f"HardC-{base}", f"ProbConserv-{base}"


@dataclass(frozen=True)
class BaseBenchSettings:
    """Sizes of the base-model benchmark.

    ``protocol``: the ANP benchmark's settings (grids, test functions, contexts, shock samples,
    ``eval_batch``, ``eval_seed``). GP: ``gp_train_functions`` training functions of
    ``protocol.n_context`` contexts on ``protocol.train_grid``, ``gp_train_steps`` Adam steps,
    ``gp_hyper`` (``"train"`` or ``"per_function"``). FNOs: trained on the exact solutions of
    ``fno_train_params`` parameters from the training range on ``protocol.train_grid`` with
    ``fno`` (per member), ``n_members`` members; MC dropout with ``p_drop`` and ``n_passes``.
    """

    protocol: ProbConservBenchSettings
    bases: tuple[str, ...] = BASES
    gp_train_functions: int = 32
    gp_train_steps: int = 150
    gp_hyper: str = "train"
    fno: FNOTrainConfig = field(default_factory=FNOTrainConfig)
    fno_train_params: int = 64
    n_members: int = 4
    p_drop: float = 0.1
    n_passes: int = 20
    mc_steps_factor: float = 1.0


def base_settings_for(quick: bool) -> BaseBenchSettings:
    """Quick: ~1 minute of training per base and problem on one CPU core. Full: larger nets, longer."""
    if quick:
        return BaseBenchSettings(
            protocol=settings_for(True), gp_train_functions=32, gp_train_steps=150,
            fno=FNOTrainConfig(steps=400, batch_size=32, width=16, modes=16, n_layers=4, proj_hidden=64),
            fno_train_params=64, n_members=4, p_drop=0.1, n_passes=20)
    return BaseBenchSettings(
        protocol=settings_for(False), gp_train_functions=64, gp_train_steps=300,
        fno=FNOTrainConfig(steps=4000, batch_size=64, width=32, modes=24, n_layers=4, proj_hidden=128),
        fno_train_params=128, n_members=5, p_drop=0.1, n_passes=50)


# ----------------------------------------------------------------------------- training
def fit_base(base: str, problem: Any, s: BaseBenchSettings, *, seed: int, problem_id: int) -> Any:
    """A fitted base model of ``problem`` (``base`` in :data:`BASES`)."""
    grid = s.protocol.train_grid
    if base == "GP":
        rng = np.random.default_rng([seed, problem_id, 10])
        ps = problem.sample_params(s.gp_train_functions, rng)
        tb = problem.sample_batch(ps, n_context=s.protocol.n_context, n_target=1, rng=rng, grid=grid,
                                  noise_std=s.protocol.context_noise, dtype=torch.float64)
        gp = ExactGPField(problem.t_range, problem.x_range, hyper=s.gp_hyper,  # type: ignore[arg-type]
                          train_steps=s.gp_train_steps)
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
            FNOTrainConfig(**{**s.fno.__dict__, "steps": int(round(s.fno.steps * s.mc_steps_factor))})
        return MCDropoutField(problem.train_range, problem.t_range, p_drop=s.p_drop, n_passes=s.n_passes,
                              config=cfg).fit(ps, t, x, u, seed=seed)
    raise ValueError(f"unknown base {base!r}; accepted: {list(BASES)}")


# ----------------------------------------------------------------------------- metrics
def _evaluate_field(problem: Any, fieldm: Any, base: str, p: float, s: BaseBenchSettings, *,
                    seed: Sequence[int], base_id: int, train_seed: int) -> list[dict[str, Any]]:
    """Rows ``base``, ``HardC-base``, ``ProbConserv-base`` for one test value ``p``.

    Test functions and metrics from :mod:`sciml.surrogates.probconserv.evaluation` (the ANP
    benchmark's contexts for the same ``seed``); the predictions from ``fieldm.predict`` and
    :meth:`FieldPrediction.conserve`.
    """
    ps = s.protocol
    test = make_test_functions(problem, p, eval_grid=ps.eval_grid, n_functions=ps.n_functions, seed=seed,
                               n_context=ps.n_context, context_noise=ps.context_noise, n_target=1,
                               dtype=torch.float64)
    acc = test.accumulator(ps.n_shock_samples)
    t, x, g, b, i_eval = test.t, test.x, test.g, test.b, test.i_eval
    full_cov = test.thresholds is not None
    batch = test.batch
    names = base_models(base)
    ev = slice(i_eval, i_eval + 1)
    t_pred = t_upd = 0.0
    components = 1
    cov_kind = ""
    for start in range(0, ps.n_functions, ps.eval_batch):
        sl = slice(start, min(start + ps.eval_batch, ps.n_functions))
        tru = test.truth[sl]
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([*seed, 1, start, base_id])
                                                .generate_state(1)[0]))
        drop_gen = torch.Generator().manual_seed(int(np.random.SeedSequence([train_seed, *seed, 2, start])
                                                     .generate_state(1)[0]))
        t0 = time.perf_counter()
        pred: FieldPrediction = fieldm.predict(t, x, context_x=batch.context_x[sl], context_y=batch.context_y[sl],
                                               params=batch.params[sl], generator=drop_gen)
        t_pred += time.perf_counter() - t0
        components = int(pred.info.get("n_members", pred.info.get("n_passes", 1)))
        cov_kind = pred.cov_kind
        acc.record(names[0], pred.mean, pred.variance, pred.cov_at(i_eval) if full_cov else None, tru, gen)
        for name, hard in ((names[1], True), (names[2], False)):
            t0 = time.perf_counter()
            upd = pred.conserve(g, b, hard=hard, return_full_cov=False)
            if not hard:
                t_upd += time.perf_counter() - t0
            cov = None
            if full_cov:
                cov = pred.at_times(i_eval).conserve(g, b[ev], hard=hard, return_full_cov=True).cov[:, 0]
            acc.record(name, upd.mean, upd.variance, cov, tru, gen)

    rows = test.rows(acc, names, n_latent_samples=components)
    for row in rows:
        row["base"] = base
        row["cov_kind"] = cov_kind
        row["conditioning"] = "context" if base == "GP" else "param"
        row["predict_seconds"] = t_pred
        row["update_seconds"] = t_upd
    return rows


# ----------------------------------------------------------------------------- driver
def evaluate_bases(problem_names: Sequence[str], quick: bool = True, seed: int = 0, *,
                   settings: BaseBenchSettings | None = None,
                   log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train each base on each problem and return the rows (format of :mod:`sciml.bench.probconserv`).

    Parameters
    ----------
    problem_names : sequence of str
        Keys of :data:`~sciml.surrogates.probconserv.CONSERVATION_PROBLEMS`.
    quick : bool
        :func:`base_settings_for` mode (ignored when ``settings`` is given).
    seed : int
        Training seed (the test functions use ``settings.protocol.eval_seed``).
    settings : BaseBenchSettings, optional
        Override the sizes (tests use tiny settings).
    log : callable, optional
        Receives one line per trained base and test value.

    Returns
    -------
    list of dict
        Per problem, test value and base, the rows ``base``, ``HardC-base``, ``ProbConserv-base``
        with the keys of the ANP benchmark's rows plus ``base``, ``cov_kind``, ``conditioning``
        (``"context"``: GP; ``"param"``: FNOs, told ``p``), ``train_seconds``, ``predict_seconds``
        (base prediction over all test functions) and ``update_seconds`` (the ProbConserv update
        over all times and test functions).
    """
    from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS

    s = settings or base_settings_for(quick)
    unknown = [p for p in problem_names if p not in CONSERVATION_PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; accepted: {sorted(CONSERVATION_PROBLEMS)}")
    bad = [b for b in s.bases if b not in BASES]
    if bad:
        raise ValueError(f"unknown base(s) {bad}; accepted: {list(BASES)}")
    rows: list[dict[str, Any]] = []
    for name in problem_names:
        problem = CONSERVATION_PROBLEMS[name]
        problem_id = list(CONSERVATION_PROBLEMS).index(name)
        for base in s.bases:
            base_id = BASES.index(base)
            t0 = time.perf_counter()
            fitted = fit_base(base, problem, s, seed=seed, problem_id=problem_id)
            train_s = time.perf_counter() - t0
            if log:
                log(f"{name}: {base} trained ({train_s:.1f} s)")
            for v, p in enumerate(problem.test_values):
                t1 = time.perf_counter()
                new = _evaluate_field(problem, fitted, base, float(p), s, seed=(s.protocol.eval_seed, problem_id, v),
                                      base_id=base_id, train_seed=seed)
                for r in new:
                    r["train_seconds"] = train_s
                rows.extend(new)
                if log:
                    by = {r["model"]: r for r in new}
                    pc = f"ProbConserv-{base}"
                    log(f"{name} {problem.param_name}={p:g}: MSE {base} {by[base]['mse']:.3g} -> {by[pc]['mse']:.3g}; "
                        f"LL {by[base]['ll']:.3g} -> {by[pc]['ll']:.3g} ({time.perf_counter() - t1:.1f} s)")
    return rows


def _format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of the rows (for logs and reports)."""
    head = f"{'problem':8s} {'value':>6s} {'model':22s} {'MSE':>10s} {'LL':>9s} {'CRPS':>9s} {'CE':>9s} {'shock':>8s}"
    lines = [head]
    for r in rows:
        se = r.get("shock_error", math.nan)
        lines.append(f"{r['problem']:8s} {r['test_value']:6g} {r['model']:22s} {r['mse']:10.3g} {r['ll']:9.3g} "
                     f"{r['crps']:9.3g} {r['ce_eval']:9.2g} {se:8.3g}")
    return "\n".join(lines)
