"""``sciml bench bnn_bo``: Bayesian-neural-network surrogates against the GP in BO, over seeds.

Single-fidelity BO (qLogNEI through :class:`~sciml.bo.loop.BOLoop`'s model seam) with the GP and
with BNNs sampled by SGHMC (:mod:`sciml.bo.bnn`: the SG-MCMC samplers of the potentials, on an
MLP) or trained as a deep ensemble, on problems where a stationary GP is said to struggle:
Gramacy-Lee 2-D (non-stationary) and, in the full mode, Styblinski-Tang in 10-D
(:mod:`sciml.studies.bnn_bo`). One row per problem and model: the final simple regret per seed,
its median, mean and spread, and the model-fitting time.

No pass/fail checks: which surrogate wins is the figure this benchmark reports (issue 17 asks
for the comparison, not a bar); the initial design's regret is in the rows beside the final one.

Reference: Y. L. Li, T. G. J. Rudner, A. G. Wilson, "A study of Bayesian neural network
surrogates for Bayesian optimization", ICLR 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sciml.bench.report import BenchReport
from sciml.studies.bnn_bo import QUICK, compare_surrogates

__all__ = ["run_bnn_bo_benchmark"]

#: Problems, models and sizes of the two modes.
MODES: dict[bool, dict[str, Any]] = {
    True: {"problems": ("gramacy_lee_2d",), "models": ("singletask", "bnn-sghmc", "bnn-ensemble"), **QUICK},
    False: {"problems": ("gramacy_lee_2d", "styblinski_tang_10"), "models": ("singletask", "bnn-sghmc", "bnn-ensemble"),
            "seeds": (0, 1, 2, 3, 4), "budget": 40, "n_init": None,
            "bnn_options": {"adam_steps": 500, "n_steps": 600, "burn_in": 100, "thin": 20}},
}


def _rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for name, per_seed in study.final_regrets().items():
        runs = [r for r in study.runs if r.model == name]
        values = np.array([per_seed[r.seed] for r in runs])
        initial = np.array([r.best_regret[study.n_init - 1] for r in runs])
        rows.append({"problem": study.problem, "model": name, "seeds": float(len(values)),
                     "budget": float(study.budget), "n_init": float(study.n_init),
                     "median_final_regret": float(np.median(values)), "mean_final_regret": float(values.mean()),
                     "min_final_regret": float(values.min()), "max_final_regret": float(values.max()),
                     "median_initial_regret": float(np.median(initial)),
                     "fit_seconds": float(sum(r.fit_seconds for r in runs)),
                     **{f"final_regret_seed{r.seed}": float(per_seed[r.seed]) for r in runs}})
    return rows


def run_bnn_bo_benchmark(*, quick: bool = False, log: Callable[[str], None] | None = None) -> BenchReport:
    """Run the comparison of the mode (see the module docstring); return the report."""
    mode = MODES[quick]
    say = log or print
    report = BenchReport(benchmark="bnn_bo", mode="quick" if quick else "full",
                         config={k: (list(v) if isinstance(v, tuple) else v) for k, v in mode.items()},
                         table_columns=["problem", "model", "seeds", "budget", "median_final_regret",
                                        "min_final_regret", "max_final_regret", "median_initial_regret",
                                        "fit_seconds"])
    options = {k: v for k, v in mode.items() if k not in ("problems",) and v is not None}
    for problem in mode["problems"]:
        study = compare_surrogates(problem, progress=lambda r, p=problem: say(
            f"{p}: {r.model} seed {r.seed}: final regret {r.final_regret:.4g}"), **options)
        report.results.extend(_rows(study))
    return report

