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
:func:`~sciml.bench.probconserv.evaluate_test_value`; mean and standard error over the test
functions. The FNO bases are told the parameter ``p`` and ignore the contexts, so all test
functions of one value get the same ensemble prediction (standard errors 0 for the
deterministic metrics); MC-dropout draws new masks per function.

The ``seed`` of :func:`evaluate_bases` seeds the training (GP training functions, FNO
training parameters, initialisations, minibatches, dropout masks); the test functions
depend only on ``eval_seed`` of the settings.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.bench.probconserv import (
    CE_REL_FLOOR,
    ProbConservBenchSettings,
    _stats,
    front_levels,
    settings_for,
)
from sciml.surrogates.probconserv.bases import (
    ExactGPField,
    FieldPrediction,
    FNOEnsembleField,
    FNOTrainConfig,
    MCDropoutField,
)

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
def _record(d: dict[str, list[float]], mean: Tensor, var: Tensor, cov_eval: Tensor | None, truth: Tensor, *,
            g: Tensor, b: Tensor, t: np.ndarray, x: np.ndarray, eval_time: float, i_eval: int, b_scale: float,
            thr: Any, n_shock_samples: int, gen: torch.Generator) -> None:
    """Append the per-function metrics of one prediction to ``d``.

    The same computation as the ``record`` closure of
    :func:`sciml.bench.probconserv.evaluate_test_value` (which cannot be imported): ``mean``,
    ``var`` ``(B, n_t, n_x)`` float64, ``cov_eval`` ``(B, n_x, n_x)`` at the evaluation time.
    """
    from sciml.surrogates.probconserv import evaluation_slice
    from sciml.uq.metrics import crps_gaussian, gaussian_log_likelihood, mse, sample_gaussian, shock_position

    ce = torch.einsum("btx,cx->btc", mean, g) - b  # (B, n_t, 1)
    m_e = evaluation_slice(mean, t, eval_time)
    v_e = evaluation_slice(var, t, eval_time).clamp_min(np.finfo(np.float64).tiny)
    y_e = evaluation_slice(truth, t, eval_time)
    for j in range(mean.shape[0]):
        d.setdefault("mse", []).append(mse(m_e[j], y_e[j]))
        d.setdefault("ll", []).append(float(gaussian_log_likelihood(m_e[j], v_e[j], y_e[j])))
        d.setdefault("crps", []).append(float(crps_gaussian(m_e[j], v_e[j], y_e[j])))
        d.setdefault("ce_eval", []).append(float(ce[j, i_eval].abs().max()))
        d.setdefault("ce_max", []).append(float(ce[j].abs().max()))
        d.setdefault("ce_rel", []).append(float(ce[j].abs().max()) / b_scale)
    if cov_eval is not None and thr is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # singular updated covariance: jitter expected
            draws = sample_gaussian(m_e, cov_eval, n_shock_samples, generator=gen)  # (n, B, n_x)
        for key, (level, x_ref) in zip(("shock_error", "shock_error_mid"), thr, strict=True):
            pos = shock_position(draws, x, level).mean(axis=0)
            d.setdefault(key, []).extend(np.abs(pos - x_ref).tolist())


def _evaluate_field(problem: Any, fieldm: Any, base: str, p: float, s: BaseBenchSettings, *,
                    seed: Sequence[int], base_id: int, train_seed: int) -> list[dict[str, Any]]:
    """Rows ``base``, ``HardC-base``, ``ProbConserv-base`` for one test value ``p``."""
    from sciml.surrogates.probconserv.problems import nearest_time_index

    ps = s.protocol
    t, x = problem.target_grid(*ps.eval_grid)
    i_eval = nearest_time_index(t, problem.eval_time)
    t_eval = float(t[i_eval])
    G, b_fn = problem.constraint(t, x)
    g = torch.as_tensor(G, dtype=torch.float64)
    n_t, n_x = t.size, x.size
    rng = np.random.default_rng([*seed, 0])  # the ANP benchmark's test functions
    params = np.full(ps.n_functions, float(p))
    batch = problem.sample_batch(params, n_context=ps.n_context, n_target=1, rng=rng, grid=ps.eval_grid,
                                 noise_std=ps.context_noise, dtype=torch.float64)
    truth = torch.as_tensor(problem.solution_on_grid(params, t, x))
    b = torch.as_tensor(b_fn(params[:1]))[0]  # (n_t, 1)
    b_scale = max(float(b.abs().max()), CE_REL_FLOOR)
    x_front = problem.front_position(t_eval, p)
    thr = front_levels(problem, p, t_eval)
    names = base_models(base)
    per: dict[str, dict[str, list[float]]] = {m: {} for m in names}
    ev = slice(i_eval, i_eval + 1)
    t_pred = t_upd = 0.0
    components = 1
    for start in range(0, ps.n_functions, ps.eval_batch):
        sl = slice(start, min(start + ps.eval_batch, ps.n_functions))
        tru = truth[sl]
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([*seed, 1, start, base_id])
                                                .generate_state(1)[0]))
        drop_gen = torch.Generator().manual_seed(int(np.random.SeedSequence([train_seed, *seed, 2, start])
                                                     .generate_state(1)[0]))
        t0 = time.perf_counter()
        pred: FieldPrediction = fieldm.predict(t, x, context_x=batch.context_x[sl], context_y=batch.context_y[sl],
                                               params=batch.params[sl], generator=drop_gen)
        t_pred += time.perf_counter() - t0
        components = int(pred.info.get("n_members", pred.info.get("n_passes", 1)))
        kw = dict(g=g, b=b, t=t, x=x, eval_time=problem.eval_time, i_eval=i_eval, b_scale=b_scale, thr=thr,
                  n_shock_samples=ps.n_shock_samples, gen=gen)
        _record(per[names[0]], pred.mean, pred.variance, pred.cov_at(i_eval) if thr is not None else None,
                tru, **kw)
        for name, hard in ((names[1], True), (names[2], False)):
            t0 = time.perf_counter()
            upd = pred.conserve(g, b, hard=hard, return_full_cov=False)
            if not hard:
                t_upd += time.perf_counter() - t0
            cov = None
            if thr is not None:
                cov = pred.at_times(i_eval).conserve(g, b[ev], hard=hard, return_full_cov=True).cov[:, 0]
            _record(per[name], upd.mean, upd.variance, cov, tru, **kw)

    rows = []
    for name in names:
        d = per[name]
        row: dict[str, Any] = {"problem": problem.name, "param": problem.param_name, "test_value": float(p),
                               "model": name, "n_functions": ps.n_functions, "eval_time": t_eval,
                               "grid": f"{n_t}x{n_x}", "n_latent_samples": components}
        for key in ("mse", "ll", "crps", "ce_eval", "ce_max"):
            row[key], row[f"{key}_se"] = _stats(d[key])
        row["ce_max_worst"] = float(max(d["ce_max"]))
        row["ce_rel"] = float(max(d["ce_rel"]))
        if "shock_error" in d:
            row["shock_error"], row["shock_error_se"] = _stats(d["shock_error"])
            row["shock_error_mid"], row["shock_error_mid_se"] = _stats(d["shock_error_mid"])
            assert thr is not None
            row["shock_threshold"], row["shock_threshold_mid"] = thr[0][0], thr[1][0]
            row["shock_reference"], row["shock_reference_mid"] = thr[0][1], thr[1][1]
            row["true_front"] = float(x_front)
            row["n_shock_samples"] = ps.n_shock_samples
        row["context_seed"] = list(seed)
        row["base"] = base
        row["cov_kind"] = pred.cov_kind
        row["conditioning"] = "context" if base == "GP" else "param"
        row["predict_seconds"] = t_pred
        row["update_seconds"] = t_upd
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- driver
def evaluate_bases(problem_names: Sequence[str], quick: bool = True, seed: int = 0, *,
                   settings: BaseBenchSettings | None = None,
                   log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train each base on each problem and return the rows (format of :mod:`sciml.bench.probconserv`).

    Parameters
    ----------
    problem_names : sequence of str
        Keys of :data:`~sciml.surrogates.probconserv.PROBLEMS`.
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
    from sciml.surrogates.probconserv import PROBLEMS

    s = settings or base_settings_for(quick)
    unknown = [p for p in problem_names if p not in PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; accepted: {sorted(PROBLEMS)}")
    bad = [b for b in s.bases if b not in BASES]
    if bad:
        raise ValueError(f"unknown base(s) {bad}; accepted: {list(BASES)}")
    rows: list[dict[str, Any]] = []
    for name in problem_names:
        problem = PROBLEMS[name]
        problem_id = list(PROBLEMS).index(name)
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
