"""GP against a Bayesian-neural-network surrogate in single-fidelity BO, over seeds.

:func:`compare_surrogates` runs :class:`~sciml.bo.loop.BOLoop` (method ``"qlognei"``) with the
GP (``"singletask"``) and with the BNN factories of :mod:`sciml.bo.bnn` on one problem for
several seeds and an evaluation budget, and returns each run's best-value and regret traces.
The default problem is :func:`gramacy_lee_2d`, a non-stationary function (flat over most of
the box, one bump and one dip in a corner) on which a stationary GP kernel has to choose one
length scale for both regimes. :func:`quick_comparison` is the small, JSON-able run a
benchmark calls.

References
----------
Y. L. Li, T. G. J. Rudner, A. G. Wilson, "A study of Bayesian neural network surrogates for
Bayesian optimization", ICLR 2024.
R. B. Gramacy, H. K. H. Lee, "Bayesian treed Gaussian process models with an application to
computer modeling", JASA 103 (2008).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.bo.bnn import BNN_FACTORIES
from sciml.bo.loop import BOLoop
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import FAST, AcquisitionSettings
from sciml.errors import ConfigError
from sciml.surrogates.training.loop import torch_threads

__all__ = ["PROBLEMS", "QUICK", "SurrogateRun", "SurrogateStudy", "compare_surrogates", "gramacy_lee_2d",
           "quick_comparison", "styblinski_tang"]

#: The GP of the comparison (:data:`sciml.bo.models.MODELS`).
GP = "singletask"


def _gramacy_lee(X: Tensor, s: Tensor | None) -> Tensor:
    return X[:, 0] * torch.exp(-X[:, 0].square() - X[:, 1].square())


def styblinski_tang(d: int = 10) -> MultiFidelityProblem:
    """BoTorch's Styblinski--Tang, ``0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)`` on ``[-5, 5]^d``, minimised.

    Additive, with two wells per coordinate; minimum ``-39.16616570377142 d`` at
    ``x_i = -2.903534``; declared cost 1 per evaluation.

    Raises
    ------
    ConfigError
        ``d < 1``.
    """
    from botorch.test_functions import StyblinskiTang

    if not isinstance(d, int) or d < 1:
        raise ConfigError(f"d must be an integer >= 1; got {d!r}")
    fn = StyblinskiTang(dim=d, dtype=torch.float64)
    return MultiFidelityProblem(
        name=f"styblinski_tang_{d}", bounds=[[-5.0] * d, [5.0] * d], function=lambda X, s: fn.evaluate_true(X),
        maximize=False, optimum_value=-39.16616570377142 * d, optimizers=[[-2.903534] * d])


def gramacy_lee_2d() -> MultiFidelityProblem:
    """Gramacy & Lee (2008): ``f(x) = x1 exp(-x1^2 - x2^2)`` on ``[-2, 6]^2``, minimised.

    Non-stationary: ``f`` is flat (``|f| < 1e-3`` when ``|x| > 3.2``) over most of the box and
    varies on a scale ~0.5 near the origin. Minimum ``-exp(-1/2) / sqrt(2) = -0.428882`` at
    ``(-1/sqrt(2), 0)``; declared cost 1 per evaluation.
    """
    return MultiFidelityProblem(
        name="gramacy_lee_2d", bounds=[[-2.0, -2.0], [6.0, 6.0]], function=_gramacy_lee, maximize=False,
        optimum_value=-math.exp(-0.5) / math.sqrt(2.0), optimizers=[[-1.0 / math.sqrt(2.0), 0.0]])


#: The study's problems by name (the first is the default).
PROBLEMS: dict[str, Callable[[], MultiFidelityProblem]] = {
    "gramacy_lee_2d": gramacy_lee_2d, "styblinski_tang_10": styblinski_tang}


@dataclass
class SurrogateRun:
    """One BO run: the best value found and its regret after each evaluation.

    Attributes
    ----------
    model : str
        ``"singletask"`` (GP) or a name of :data:`~sciml.bo.bnn.BNN_FACTORIES`.
    seed : int
    best_value : list of float
        Best objective value observed after evaluation ``1 .. n`` (the problem's sense).
    best_regret : list of float
        ``problem.simple_regret`` of ``best_value``.
    fit_seconds : float
        Total model-fitting time of the run.
    """

    model: str
    seed: int
    best_value: list[float]
    best_regret: list[float]
    fit_seconds: float

    @property
    def final_regret(self) -> float:
        """Regret of the best value after the budget."""
        return self.best_regret[-1]


@dataclass
class SurrogateStudy:
    """All runs of :func:`compare_surrogates`, with the problem and budget they share."""

    problem: str
    budget: int
    n_init: int
    runs: list[SurrogateRun] = field(default_factory=list)

    def final_regrets(self) -> dict[str, dict[int, float]]:
        """``{model: {seed: regret after the budget}}``."""
        out: dict[str, dict[int, float]] = {}
        for run in self.runs:
            out.setdefault(run.model, {})[run.seed] = run.final_regret
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able: per model the per-seed final regrets, their median and mean, and the fit time."""
        models: dict[str, Any] = {}
        for name, per_seed in self.final_regrets().items():
            values = np.array(list(per_seed.values()))
            fit = sum(r.fit_seconds for r in self.runs if r.model == name)
            models[name] = {"final_regret": {str(k): v for k, v in per_seed.items()},
                            "median": float(np.median(values)), "mean": float(values.mean()), "fit_seconds": fit}
        return {"problem": self.problem, "budget": self.budget, "n_init": self.n_init, "models": models}


def _model_kind(name: str) -> Any:
    if name == GP:
        return GP
    if name not in BNN_FACTORIES:
        raise ConfigError(f"unknown model {name!r}; accepted: {[GP, *BNN_FACTORIES]}")
    return BNN_FACTORIES[name]


def _problem(problem: MultiFidelityProblem | str | None) -> MultiFidelityProblem:
    if problem is None or isinstance(problem, str):
        name = next(iter(PROBLEMS)) if problem is None else problem
        if name not in PROBLEMS:
            raise ConfigError(f"unknown problem {name!r}; accepted: {list(PROBLEMS)}")
        return PROBLEMS[name]()
    return problem


def _one_run(problem: MultiFidelityProblem, name: str, seed: int, budget: int, n_init: int,
             settings: AcquisitionSettings, options: Mapping[str, Any]) -> SurrogateRun:
    loop = BOLoop(problem, method="qlognei", model_kind=_model_kind(name), settings=settings, n_init=n_init,
                  seed=seed, evaluate_recommendations=False, model_options=dict(options), show_progress=False)
    X = loop.initial_design()
    loop.observe(X, problem.evaluate(X))
    while loop.n_observations < budget:
        X = loop.propose(1)
        loop.observe(X, problem.evaluate(X))
    result = loop.result()
    values = result.values.clone()
    values[~torch.isfinite(values)] = math.inf if problem.sign < 0 else -math.inf
    best = (torch.cummax(values, 0).values if problem.sign > 0 else torch.cummin(values, 0).values).tolist()
    fit = sum(float(t["fit_s"] or 0.0) for t in result.timings)
    return SurrogateRun(name, seed, best, [problem.simple_regret(v) for v in best], fit)


def compare_surrogates(problem: MultiFidelityProblem | str | None = None, *, models: Sequence[str] = (GP, "bnn-sghmc"),
                       seeds: Sequence[int] = (0, 1, 2), budget: int = 30, n_init: int | None = None,
                       settings: AcquisitionSettings = FAST, bnn_options: Mapping[str, Any] | None = None,
                       progress: Callable[[SurrogateRun], None] | None = None,
                       num_threads: int | None = 1) -> SurrogateStudy:
    """Run single-fidelity BO (qLogNEI) with each model for each seed; the best-value traces.

    Parameters
    ----------
    problem : MultiFidelityProblem or str, optional
        Without fidelity, with a known optimum value, declared cost 1 per evaluation; a name
        of :data:`PROBLEMS` (default :func:`gramacy_lee_2d`).
    models : sequence of str
        ``"singletask"`` (the GP) and names of :data:`~sciml.bo.bnn.BNN_FACTORIES`.
    seeds : sequence of int
        Loop seeds (initial design, fits, acquisitions); every model sees the same initial
        design for a seed.
    budget : int
        Evaluations per run, initial design included (> ``n_init``).
    n_init : int, optional
        Initial Sobol design (default ``2 (d + 1)``).
    settings : AcquisitionSettings
    bnn_options : mapping, optional
        :class:`~sciml.bo.bnn.BNNConfig` fields for the BNN models.
    progress : callable, optional
        Called with each finished run.
    num_threads : int or None
        torch's intra-op threads during the runs (restored after; every model here is small,
        so one is fastest); None: unchanged.

    Raises
    ------
    ConfigError
        An unknown problem name, a problem with a fidelity, an unknown optimum or a cost
        other than 1, an unknown model, a budget not above ``n_init``, no seeds.
    """
    problem = _problem(problem)
    if problem.fidelity is not None or problem.optimum_value is None:
        raise ConfigError(f"problem {problem.name!r} must have no fidelity and a known optimum value")
    if float(problem.cost()) != 1.0:
        raise ConfigError(f"problem {problem.name!r} must declare cost 1 per evaluation (the budget counts "
                          f"evaluations); it declares {float(problem.cost())}")
    n_init = 2 * (problem.dim + 1) if n_init is None else int(n_init)
    if not isinstance(budget, int) or budget <= n_init or not seeds:
        raise ConfigError(f"need integer budget > n_init ({n_init}) and at least one seed; got budget "
                          f"{budget!r}, seeds {list(seeds)}")
    for name in models:
        _model_kind(name)
    study = SurrogateStudy(problem.name, budget, n_init)
    with torch_threads(num_threads):
        for seed in seeds:
            for name in models:
                run = _one_run(problem, name, int(seed), budget, n_init, settings,
                               {} if name == GP else dict(bnn_options or {}))
                study.runs.append(run)
                if progress is not None:
                    progress(run)
    return study


#: The quick configuration: 3 seeds, 24 evaluations (6 initial), 4 SGHMC chains of 300 steps after
#: 300 Adam steps, 60 draws.
QUICK: dict[str, Any] = {"seeds": (0, 1, 2), "budget": 24, "n_init": 6,
                         "bnn_options": {"adam_steps": 300, "n_steps": 300, "burn_in": 60, "thin": 16}}


def quick_comparison(**overrides: Any) -> dict[str, Any]:
    """:func:`compare_surrogates` with :data:`QUICK` (and ``overrides``; default problem
    :func:`gramacy_lee_2d`): its :meth:`SurrogateStudy.summary` plus the per-seed
    ``best_regret`` traces, JSON-able."""
    study = compare_surrogates(**{**QUICK, **overrides})
    out = study.summary()
    out["traces"] = [{"model": r.model, "seed": r.seed, "best_regret": r.best_regret} for r in study.runs]
    return out
