"""One BO iteration with plain BoTorch calls: the yardstick of the loop's overhead (``sciml bench mfbo``).

:func:`bare_botorch_iteration` does what BoTorch's tutorials do, without sciml's fitting
fallbacks, bookkeeping or state, on the same data and settings as the loop, so that a timing
difference is the loop's own.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from botorch.acquisition import (
    FixedFeatureAcquisitionFunction,
    PosteriorMean,
    qLogNoisyExpectedImprovement,
    qMultiFidelityKnowledgeGradient,
    qMultiFidelityLowerBoundMaxValueEntropy,
)
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from sciml.bo.acquisition import propose_candidates
from sciml.bo.ar1 import fit_ar1_gp
from sciml.bo.cost_model import cost_model_for
from sciml.bo.gp import fix_fidelity_power
from sciml.bo.names import AR1_EI, METHODS, MFKG, MFMES, QLOGNEI
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import FAST, AcquisitionSettings
from sciml.errors import ConfigError

__all__ = ["bare_botorch_iteration"]

DTYPE = torch.float64


def _ar1(method: str, problem: MultiFidelityProblem, X: Tensor, Y: Tensor, settings: AcquisitionSettings,
         acquisition_model: Any) -> tuple[float, Tensor]:
    """``ar1-ei`` has no BoTorch counterpart: sciml's AR(1) fit and acquisition, timed directly."""
    model = fit_ar1_gp(X, Y, bounds=problem.model_bounds, n_levels=len(problem.fidelity.values),
                       seed=settings.seed)
    t1 = time.perf_counter()
    model = model if acquisition_model is None else acquisition_model
    cands, _ = propose_candidates(AR1_EI, model, problem, settings=settings, X_observed=X)
    return t1, cands


def _qlognei(method: str, problem: MultiFidelityProblem, X: Tensor, Y: Tensor, settings: AcquisitionSettings,
             acquisition_model: Any) -> tuple[float, Tensor]:
    """``SingleTaskGP`` on the target rows and ``qLogNoisyExpectedImprovement``."""
    d = problem.dim
    opts = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    rows = (X[:, -1] - 1.0).abs() < 1e-9 if problem.fidelity is not None else torch.ones(len(X), dtype=bool)
    Xt = X[rows][:, :d]
    model = SingleTaskGP(Xt, Y[rows], input_transform=Normalize(d, bounds=problem.bounds),
                         outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    t1 = time.perf_counter()
    model = model if acquisition_model is None else acquisition_model
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.mc_samples]), seed=settings.seed)
    acqf = qLogNoisyExpectedImprovement(model, X_baseline=Xt, sampler=sampler, prune_baseline=True)
    cands, _ = optimize_acqf(acqf, bounds=problem.bounds, q=settings.q, num_restarts=settings.num_restarts,
                             raw_samples=settings.raw_samples, options=opts, sequential=True)
    if problem.fidelity is not None:
        cands = torch.cat([cands, torch.ones(cands.shape[0], 1, dtype=DTYPE)], dim=1)
    return t1, cands


def _mf_acquisition(method: str, model: Any, problem: MultiFidelityProblem, settings: AcquisitionSettings) -> Any:
    """The tutorial's cost-aware MF-KG or BoTorch's multi-fidelity lower-bound MES on ``model``."""
    d = problem.dim
    bounds = problem.model_bounds
    opts = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    cost_model, _ = cost_model_for(problem)
    utility = InverseCostWeightedUtility(cost_model=cost_model)

    def project(Z: Tensor) -> Tensor:
        return project_to_target_fidelity(X=Z, target_fidelities={d: 1.0}, d=d + 1)

    if method == MFKG:
        cur = FixedFeatureAcquisitionFunction(PosteriorMean(model), d=d + 1, columns=[d], values=[1.0])
        _, current = optimize_acqf(cur, bounds=bounds[:, :-1], q=1, num_restarts=settings.num_restarts,
                                   raw_samples=settings.raw_samples, options=opts)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.num_fantasies]), seed=settings.seed)
        return qMultiFidelityKnowledgeGradient(model, num_fantasies=settings.num_fantasies, sampler=sampler,
                                               current_value=current, cost_aware_utility=utility, project=project)
    cand_set = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(settings.candidate_set_size, d + 1, dtype=DTYPE)
    return qMultiFidelityLowerBoundMaxValueEntropy(model, cand_set, cost_aware_utility=utility, project=project)


def _multi_fidelity(method: str, problem: MultiFidelityProblem, X: Tensor, Y: Tensor,
                    settings: AcquisitionSettings, acquisition_model: Any) -> tuple[float, Tensor]:
    """``SingleTaskMultiFidelityGP`` (fidelity power fixed to 1, as the loop's) and MF-KG or MF-MES."""
    d = problem.dim
    bounds = problem.model_bounds
    model = SingleTaskMultiFidelityGP(X, Y, data_fidelities=[d],
                                      input_transform=Normalize(d + 1, indices=list(range(d)), bounds=bounds),
                                      outcome_transform=Standardize(m=1))
    fix_fidelity_power(model, 1)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    t1 = time.perf_counter()
    model = model if acquisition_model is None else acquisition_model
    acqf = _mf_acquisition(method, model, problem, settings)
    # the one-shot KG's initial conditions take the same inner restarts / raw samples as
    # sciml's (settings.options); BoTorch's defaults (20, 1024) would time different work
    opts = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    acq_opts = settings.options if method == MFKG else opts
    if problem.fidelity.kind == "discrete":
        cands, _ = optimize_acqf_mixed(acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
                                       raw_samples=settings.raw_samples,
                                       fixed_features_list=problem.fidelity_fixed_features(),
                                       options=acq_opts, return_acq_values=method == MFKG)
    else:
        cands, _ = optimize_acqf(acqf, bounds=bounds, q=settings.q, num_restarts=settings.num_restarts,
                                 raw_samples=settings.raw_samples, options=acq_opts, sequential=method == MFMES)
    return t1, cands


#: Fit and acquisition of each method: ``(method, problem, X, Y, settings, acquisition_model) -> (t_fit, cands)``.
_BARE = {AR1_EI: _ar1, QLOGNEI: _qlognei, MFKG: _multi_fidelity, MFMES: _multi_fidelity}


def bare_botorch_iteration(problem: MultiFidelityProblem, X: Tensor, Y: Tensor, method: str,
                           settings: AcquisitionSettings = FAST, *, acquisition_model: Any = None) -> dict[str, Any]:
    """One fit + acquisition with plain BoTorch calls, to measure the loop's per-iteration overhead.

    ``SingleTaskMultiFidelityGP`` + ``fit_gpytorch_mll`` and the tutorial's cost-aware MF-KG
    (``mfkg``) or BoTorch's ``qMultiFidelityLowerBoundMaxValueEntropy`` (``mfmes``);
    ``SingleTaskGP`` on the target rows + ``qLogNoisyExpectedImprovement`` (``qlognei``); for
    ``ar1-ei`` (no BoTorch counterpart) sciml's own fit and acquisition. The same ``settings`` as
    the loop's: restarts, raw samples, ``maxiter``, ``batch_limit``, qLogNEI's ``mc_samples`` and
    MF-KG's fantasies (Sobol samplers seeded with ``settings.seed``), the one-shot
    initialisation's inner restarts and raw samples (``settings.options``). On the same model
    (``acquisition_model``) the bare calls return the loop's candidates for ``qlognei`` and
    ``mfkg``; not for ``mfmes``, whose max-value candidate set BoTorch draws from the global
    torch generator and extends with the training inputs.

    Parameters
    ----------
    problem : MultiFidelityProblem
    X : Tensor, shape (n, d + 1)
        Observed points in model coordinates.
    Y : Tensor, shape (n,) or (n, 1)
        ``problem.sign * values`` (maximised), finite.
    method : str
        One of :data:`~sciml.bo.names.METHODS`.
    settings : AcquisitionSettings
    acquisition_model : botorch Model, optional
        Model the acquisition runs on (default: the bare fit, which is made and timed anyway).

    Returns
    -------
    dict
        ``fit_s``, ``acquisition_s``, ``total_s`` and ``candidates`` ``(q, d + 1)``.

    Raises
    ------
    ConfigError
        An unknown method.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; accepted: {list(METHODS)}")
    X = torch.as_tensor(X, dtype=DTYPE)
    Y = torch.as_tensor(Y, dtype=DTYPE).reshape(-1, 1)
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        t0 = time.perf_counter()
        t1, cands = _BARE[method](method, problem, X, Y, settings, acquisition_model)
        t2 = time.perf_counter()
    return {"fit_s": t1 - t0, "acquisition_s": t2 - t1, "total_s": t2 - t0, "candidates": cands.detach()}
