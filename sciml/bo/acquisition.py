"""Cost-aware (multi-fidelity) acquisition on BoTorch: what to evaluate next, and what to recommend.

All tensors are float64 on the CPU, in **model coordinates** (:mod:`sciml.bo.candidates`). The
models are fitted to ``problem.sign * y``, so "better" is always "larger" here.

==============  ==================================================================================
method          acquisition (:func:`propose_candidates`, :data:`PROPOSERS`)
==============  ==================================================================================
``"mfkg"``      cost-aware ``qMultiFidelityKnowledgeGradient`` (one-shot), ``current_value`` = max
                of the posterior mean at the target fidelity, ``InverseCostWeightedUtility`` on the
                problem's declared cost (:func:`~sciml.bo.cost_model.cost_model_for`),
                ``project_to_target_fidelity``
``"mfmes"``     cost-aware multi-fidelity GIBBON (:class:`~sciml.bo.gibbon.MultiFidelityGIBBON`)
                with a seeded random candidate set, same cost handling
``"qlognei"``   single-fidelity ``qLogNoisyExpectedImprovement`` at the target fidelity
                (``FixedFeatureAcquisitionFunction`` fixing the fidelity column to 1)
``"ar1-ei"``    augmented expected improvement per fidelity level, meant for the AR(1) model
                (:mod:`sciml.bo.augmented_ei`)
==============  ==================================================================================

Batches (``q > 1``) and pending points: ``mfkg`` optimises the ``q`` points jointly (one-shot
KG) on a continuous fidelity and sequentially (``optimize_acqf_mixed``) on a discrete one;
``mfmes`` and ``qlognei`` are sequential greedy with the pending and already chosen points as
``X_pending``; ``ar1-ei`` is sequential greedy with the kriging believer.

Randomness: every public function runs inside ``torch.random.fork_rng()`` seeded with
``settings.seed`` (samplers, candidate sets and random restarts), so the same inputs give the
same candidates and the caller's global RNG is untouched. A loop passes ``seed + iteration``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import gpytorch
import torch
from botorch.acquisition import PosteriorMean, qLogNoisyExpectedImprovement, qMultiFidelityKnowledgeGradient
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.sampling import SobolQMCNormalSampler
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from sciml.bo.augmented_ei import propose_ar1_ei
from sciml.bo.candidates import (
    AcquisitionFailedError,
    AcquisitionInputError,
    at_target,
    check_points,
    check_problem,
    optimize,
    project,
    seeded,
    snap,
    with_fidelity,
)
from sciml.bo.cost_model import cost_model_for
from sciml.bo.fidelity import DTYPE
from sciml.bo.gibbon import MultiFidelityGIBBON
from sciml.bo.names import AR1_EI, METHODS, MFKG, MFMES, QLOGNEI, MethodName
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import FAST, AcquisitionSettings

__all__ = [
    "PROPOSERS",
    "AcquisitionFailedError",
    "AcquisitionInputError",
    "Proposer",
    "max_posterior_mean",
    "propose_candidates",
    "recommend",
]

#: ``proposer(model, problem, settings, pending, X_observed, best_f) -> (candidates, info)``.
Proposer = Callable[[Model, MultiFidelityProblem, AcquisitionSettings, Tensor | None, Tensor | None,
                     float | None], tuple[Tensor, dict[str, Any]]]

#: Cholesky jitters (float64) of the attempts of :func:`propose_candidates`: BoTorch's default,
#: then ``1e-6`` and ``1e-4`` (fantasy models of nearly duplicated points are ill-conditioned).
_JITTERS: tuple[float | None, ...] = (None, 1e-6, 1e-4)
_NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (NotPSDError, NanError, torch.linalg.LinAlgError)


# =============================================================================== recommendation
def _max_posterior_mean(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                        X_observed: Tensor | None) -> tuple[Tensor, float]:
    pm = at_target(PosteriorMean(model), problem)
    x, value = optimize(pm, problem.bounds, settings)
    x, best = x.reshape(-1).detach(), float(value)
    if X_observed is not None:
        designs = torch.unique(X_observed[:, :problem.dim], dim=0)
        with torch.no_grad():
            vals = pm(designs.unsqueeze(1))
        i = int(vals.argmax())
        if float(vals[i]) > best:
            x, best = designs[i].clone(), float(vals[i])
    return x, best


@seeded
def max_posterior_mean(model: Model, problem: MultiFidelityProblem, *, settings: AcquisitionSettings = FAST,
                       X_observed: Any = None) -> tuple[Tensor, float]:
    """Maximise the posterior mean at the target fidelity (the KG's ``current_value``).

    ``PosteriorMean`` wrapped in ``FixedFeatureAcquisitionFunction`` (fidelity column = 1) and
    optimised with ``optimize_acqf`` over the design box; the observed designs (if given) are
    also evaluated and win when better.

    Parameters
    ----------
    model : botorch Model
        Fitted to ``problem.sign * y``; ``posterior`` takes ``(.., d + 1)`` inputs.
    problem : MultiFidelityProblem
    settings : AcquisitionSettings
        Restarts, raw samples, seed.
    X_observed : Tensor, shape (n, d + 1), optional
        Observed points in model coordinates.

    Returns
    -------
    x : Tensor, shape (d,)
        Maximiser (physical design units).
    value : float
        Posterior mean there, in the model's (maximised) units.
    """
    check_problem(problem, QLOGNEI)
    return _max_posterior_mean(model, problem, settings, check_points(X_observed, problem, "X_observed"))


@seeded
def recommend(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings = FAST, *,
              X_observed: Any = None) -> tuple[Tensor, float]:
    """The design the model believes best: argmax of the posterior mean at the target fidelity.

    Parameters
    ----------
    model : botorch Model
        Fitted to ``problem.sign * y``.
    problem : MultiFidelityProblem
    settings : AcquisitionSettings
        Restarts, raw samples, seed of the optimisation.
    X_observed : Tensor, shape (n, d + 1), optional
        Observed points (model coordinates); their designs are candidates too.

    Returns
    -------
    x : Tensor, shape (d,)
        Recommended design, physical units, inside ``problem.bounds``.
    mean : float
        Posterior mean of the objective at ``x`` and the target fidelity, in the problem's
        own sense (``problem.sign * model mean``: a minimum for a minimisation problem).
    """
    check_problem(problem, QLOGNEI)
    x, value = _max_posterior_mean(model, problem, settings,
                                   check_points(X_observed, problem, "X_observed"))
    x = torch.minimum(torch.maximum(x, problem.bounds[0]), problem.bounds[1])
    return x, problem.sign * value



# =============================================================================== propose
def _propose_mfkg(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                  pending: Tensor | None, X_observed: Tensor | None,
                  best_f: float | None = None) -> tuple[Tensor, dict[str, Any]]:
    x_cur, current_value = _max_posterior_mean(model, problem, settings, X_observed)
    cost_model, cost_kind = cost_model_for(problem)
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.num_fantasies]), seed=settings.seed)
    acqf = qMultiFidelityKnowledgeGradient(
        model=model, num_fantasies=settings.num_fantasies, sampler=sampler,
        current_value=torch.tensor(current_value, dtype=DTYPE),
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model),
        project=project(problem), X_pending=pending)
    bounds = problem.model_bounds
    assert problem.fidelity is not None
    if problem.fidelity.kind == "discrete":
        cands, value = optimize_acqf_mixed(
            acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
            raw_samples=settings.raw_samples, fixed_features_list=problem.fidelity_fixed_features(),
            options=settings.options, return_acq_values=settings.q == 1)
        # (for q > 1 the joint value would need KG.evaluate: one more inner optimisation per fantasy)
        how, sequential = "optimize_acqf_mixed", settings.q > 1
    else:
        cands, value = optimize_acqf(acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
                                     raw_samples=settings.raw_samples, options=settings.options)
        how, sequential = "optimize_acqf (one-shot, joint q)", False
    info = {"acq_value": [] if value is None else [float(v) for v in torch.as_tensor(value).reshape(-1)],
            "current_value": current_value, "current_x": x_cur.tolist(), "cost_model": cost_kind,
            "optimizer": how, "sequential": sequential}
    return cands.reshape(-1, bounds.shape[1]), info


def _propose_mfmes(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                   pending: Tensor | None, X_observed: Tensor | None,
                   best_f: float | None = None) -> tuple[Tensor, dict[str, Any]]:
    cost_model, cost_kind = cost_model_for(problem)
    bounds = problem.model_bounds
    gen = torch.Generator().manual_seed(settings.seed)
    u = torch.rand(settings.candidate_set_size, bounds.shape[1], dtype=DTYPE, generator=gen)
    cand_set = bounds[0] + (bounds[1] - bounds[0]) * u
    acqf = MultiFidelityGIBBON(
        model, cand_set, num_mv_samples=settings.num_mv_samples, num_y_samples=settings.mc_samples,
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model), project=project(problem),
        X_observed=X_observed, X_pending=pending)
    assert problem.fidelity is not None
    if problem.fidelity.kind == "discrete":
        # sequential greedy by hand: BoTorch's optimize_acqf_mixed ends a q > 1 batch with a
        # joint evaluation that a q = 1 acquisition function (GIBBON) cannot do
        rows, vals = [], []
        for _ in range(settings.q):
            c, v = optimize_acqf_mixed(
                acqf, bounds=bounds, q=1, num_restarts=settings.num_restarts,
                raw_samples=settings.raw_samples, fixed_features_list=problem.fidelity_fixed_features(),
                options={"batch_limit": settings.batch_limit, "maxiter": settings.maxiter})
            rows.append(c.reshape(1, -1))
            vals.append(float(v))
            done = torch.cat(rows, dim=0)
            acqf.set_X_pending(done if pending is None else torch.cat([pending, done], dim=0))
        acqf.set_X_pending(pending)
        cands, value = torch.cat(rows, dim=0), torch.tensor(vals, dtype=DTYPE)
        how = "optimize_acqf_mixed"
    else:
        cands, value = optimize(acqf, bounds, settings, q=settings.q, sequential=True)
        how = "optimize_acqf (sequential)"
    info = {"acq_value": [float(v) for v in torch.as_tensor(value).reshape(-1)], "cost_model": cost_kind,
            "optimizer": how, "sequential": settings.q > 1, "variant": "GIBBON"}
    return cands.reshape(-1, bounds.shape[1]), info


def _propose_qlognei(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                     pending: Tensor | None, X_observed: Tensor | None,
                     best_f: float | None = None) -> tuple[Tensor, dict[str, Any]]:
    if X_observed is None:
        raise AcquisitionInputError("qlognei needs X_observed (the observed points, model coordinates) "
                                    "as the baseline of the noisy expected improvement")
    baseline = torch.unique(project(problem)(X_observed), dim=0)
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.mc_samples]), seed=settings.seed)
    base = qLogNoisyExpectedImprovement(model=model, X_baseline=baseline, sampler=sampler,
                                        X_pending=pending, prune_baseline=True)
    acqf = at_target(base, problem)
    chosen: list[Tensor] = []
    values: list[float] = []
    for _ in range(settings.q):
        x, v = optimize(acqf, problem.bounds, settings)
        chosen.append(with_fidelity(x.reshape(1, -1).detach(), problem))
        values.append(float(v))
        done = torch.cat(chosen, dim=0)
        base.set_X_pending(done if pending is None else torch.cat([pending, done], dim=0))
    base.set_X_pending(pending)
    info = {"acq_value": values, "optimizer": "optimize_acqf (sequential greedy)",
            "sequential": settings.q > 1, "n_baseline": int(baseline.shape[0])}
    return torch.cat(chosen, dim=0), info



#: The proposer of each method (:data:`~sciml.bo.names.METHODS`).
PROPOSERS: dict[MethodName, Proposer] = {MFKG: _propose_mfkg, MFMES: _propose_mfmes, QLOGNEI: _propose_qlognei,
                                         AR1_EI: propose_ar1_ei}


def _attempts(kind: MethodName, model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
              pending: Tensor | None, X_observed: Tensor | None, best_f: float | None
              ) -> tuple[Tensor, dict[str, Any], list[str]]:
    """Run the method's proposer at each jitter of :data:`_JITTERS` until one succeeds."""
    errors: list[str] = []
    for jitter in _JITTERS:
        context = (contextlib.nullcontext() if jitter is None else
                   gpytorch.settings.cholesky_jitter(float_value=jitter, double_value=jitter))
        torch.manual_seed(settings.seed)
        try:
            with context:
                cands, info = PROPOSERS[kind](model, problem, settings, pending, X_observed, best_f)
        except _NUMERICAL_ERRORS as exc:
            errors.append(f"jitter {jitter or 'default'}: {type(exc).__name__}: {exc}")
            continue
        if not bool(torch.isfinite(cands).all()):
            errors.append(f"jitter {jitter or 'default'}: non-finite candidates")
            continue
        return cands, info, errors
    tried = "\n".join(f"  - {e}" for e in errors)
    raise AcquisitionFailedError(f"optimising the {kind!r} acquisition failed numerically; tried, in order:\n{tried}")


@seeded
def propose_candidates(
    kind: MethodName,
    model: Model,
    problem: MultiFidelityProblem,
    *,
    settings: AcquisitionSettings = FAST,
    pending: Any = None,
    X_observed: Any = None,
    best_f: float | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """Choose the next ``settings.q`` points (designs and fidelities) to evaluate.

    Parameters
    ----------
    kind : {"mfkg", "mfmes", "qlognei", "ar1-ei"}
        Method (module table).
    model : botorch Model
        Fitted to ``problem.sign * y`` on model coordinates (:mod:`sciml.bo.models`): ``mfgp``
        for ``mfkg``/``mfmes``, ``singletask`` (or any) for ``qlognei``, ``ar1`` for ``ar1-ei``.
    problem : MultiFidelityProblem
        A fidelity is required except for ``qlognei``; ``ar1-ei`` needs a discrete one.
    settings : AcquisitionSettings
        Batch size ``q``, fantasies, restarts, raw samples, seed (:data:`~sciml.bo.settings.FAST`).
    pending : Tensor, shape (m, d + 1), optional
        Points already chosen but not yet observed (model coordinates).
    X_observed : Tensor, shape (n, d + 1), optional
        Observed points (model coordinates). Required by ``qlognei`` (baseline) and by
        ``ar1-ei`` unless ``best_f`` is given; used by ``mfmes`` (candidate set) and by the
        incumbent search of ``mfkg``.
    best_f : float, optional
        Incumbent of ``ar1-ei`` in model (maximised) units; default: the largest target-level
        posterior mean at the observed designs.

    Returns
    -------
    candidates : Tensor, shape (q, d + 1)
        Model coordinates: design in physical units, unit fidelity (exactly a level for a
        discrete fidelity; ``1`` for ``qlognei``). ``(q, d)`` for a problem without fidelity.
    info : dict
        ``kind``, ``acq_value`` (list), ``seconds``, ``optimizer``, ``sequential`` and per
        kind ``current_value`` (mfkg), ``cost_model``, ``best_f`` (ar1-ei) ...

    Raises
    ------
    AcquisitionInputError
        Unknown kind (the message lists :data:`~sciml.bo.names.METHODS`), a multi-fidelity kind
        on a problem without fidelity, bad ``pending``/``X_observed``, missing ``X_observed``.
    AcquisitionFailedError
        A Cholesky failure (``NotPSDError`` ...) at BoTorch's default jitter and again at
        jitters ``1e-6`` and ``1e-4`` (each retry is recorded in ``info["retries"]``).
    """
    t0 = time.perf_counter()
    if kind not in METHODS:
        raise AcquisitionInputError(f"unknown acquisition kind {kind!r}; accepted: {list(METHODS)}")
    if not isinstance(settings, AcquisitionSettings):
        raise AcquisitionInputError(f"settings must be AcquisitionSettings, got {type(settings).__name__}")
    check_problem(problem, kind)
    pend = check_points(pending, problem, "pending")
    Xo = check_points(X_observed, problem, "X_observed")
    cands, info, errors = _attempts(kind, model, problem, settings, pend, Xo, best_f)
    info = {"kind": kind, "q": settings.q, "seed": settings.seed, **info, "seconds": time.perf_counter() - t0}
    if errors:
        info["retries"] = errors
    return snap(cands, problem), info
