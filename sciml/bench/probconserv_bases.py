"""The GP / FNO-ensemble / MC-dropout rows of ``sciml bench probconserv``: training times and timing rows.

The study (settings, fitting, evaluation) is :mod:`sciml.studies.probconserv_bases`; this module
runs it over problems with wall-clock timing and logs (:func:`evaluate_bases`) and condenses the
rows' prediction and update times into one timing row per base (:func:`base_timing_rows`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from sciml.studies.probconserv_bases import BASES, FieldBaseSettings, evaluate_field, field_base_settings, fit_base
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS

__all__ = ["base_timing_rows", "evaluate_bases"]


def evaluate_bases(problem_names: Sequence[str], quick: bool = True, seed: int = 0, *,
                   settings: FieldBaseSettings | None = None,
                   log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train each base on each problem and return the rows (format of the ANP benchmark's rows).

    Parameters
    ----------
    problem_names : sequence of str
        Keys of :data:`~sciml.surrogates.probconserv.CONSERVATION_PROBLEMS`.
    quick : bool
        :func:`~sciml.studies.probconserv_bases.field_base_settings` mode (ignored when
        ``settings`` is given).
    seed : int
        Training seed (the test functions use ``settings.protocol.eval_seed``).
    settings : FieldBaseSettings, optional
        Override the sizes (tests use tiny settings).
    log : callable, optional
        Receives one line per trained base and test value.

    Returns
    -------
    list of dict
        Per problem, test value and base, the rows ``base``, ``HardC-base``, ``ProbConserv-base``
        (:func:`~sciml.studies.probconserv_bases.evaluate_field`) plus ``train_seconds``.

    Raises
    ------
    ValueError
        Unknown problems or bases (the message lists the accepted ones).
    """
    s = settings or field_base_settings(quick)
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
            t0 = time.perf_counter()
            fitted = fit_base(base, problem, s, seed=seed, problem_id=problem_id)
            train_s = time.perf_counter() - t0
            if log:
                log(f"{name}: {base} trained ({train_s:.1f} s)")
            for v, p in enumerate(problem.test_values):
                t1 = time.perf_counter()
                new = evaluate_field(problem, fitted, base, float(p), s, seed=(s.protocol.eval_seed, problem_id, v),
                                     base_id=BASES.index(base), train_seed=seed)
                for r in new:
                    r["train_seconds"] = train_s
                rows.extend(new)
                if log:
                    by = {r["model"]: r for r in new}
                    pc = f"ProbConserv-{base}"
                    log(f"{name} {problem.param_name}={p:g}: MSE {base} {by[base]['mse']:.3g} -> {by[pc]['mse']:.3g}; "
                        f"LL {by[base]['ll']:.3g} -> {by[pc]['ll']:.3g} ({time.perf_counter() - t1:.1f} s)")
    return rows


def base_timing_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per problem and base: mean prediction and ProbConserv-update time per test function.

    Model ``timing-<base>``; on the evaluation grid, all times (the base rows'
    ``predict_seconds`` / ``update_seconds`` summed over the test values, divided by the
    number of test functions). Reported, not checked: the GP's dense update costs
    ``O(n_t n_x^3)``, a different budget from the ANP's diagonal update.
    """
    out = []
    for base in dict.fromkeys(r["base"] for r in rows):
        first = [r for r in rows if r["base"] == base and r["model"] == base]
        n = sum(r["n_functions"] for r in first)
        tp = sum(r["predict_seconds"] for r in first) / n
        tu = sum(r["update_seconds"] for r in first) / n
        out.append({"problem": first[0]["problem"], "model": f"timing-{base}", "grid": first[0]["grid"],
                    "n_latent_samples": first[0]["n_latent_samples"], "t_predict_s": tp, "t_update_s": tu,
                    "update_overhead": tu / tp if tp > 0 else math.nan, "cov_kind": first[0]["cov_kind"],
                    "n_functions": n})
    return out
