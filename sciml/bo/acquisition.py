"""Cost-aware (multi-fidelity) acquisition on BoTorch: what to evaluate next, and what to recommend.

All tensors are float64 on the CPU, in **model coordinates**: the design variables in the
problem's physical units followed by the fidelity rescaled to ``[0, 1]`` (``1`` = target),
exactly :meth:`MultiFidelityProblem.to_model_input` (no fidelity column for a problem without
fidelity). The models are fitted to ``problem.sign * y``, so "better" is always "larger" here.

==============  ==================================================================================
kind            acquisition (:func:`propose_candidates`)
==============  ==================================================================================
``"mfkg"``      cost-aware ``qMultiFidelityKnowledgeGradient`` (one-shot), ``current_value`` = max
                of the posterior mean at the target fidelity, ``InverseCostWeightedUtility`` on the
                problem's declared cost (:func:`cost_model_for`), ``project_to_target_fidelity``
``"mfmes"``     cost-aware multi-fidelity GIBBON (``qMultiFidelityLowerBoundMaxValueEntropy``)
                with a seeded random candidate set, same cost handling
``"qlognei"``   single-fidelity ``qLogNoisyExpectedImprovement`` at the target fidelity
                (``FixedFeatureAcquisitionFunction`` fixing the fidelity column to 1)
``"ar1-ei"``    augmented expected improvement of Huang et al. (2006) per fidelity level, meant
                for the AR(1) model (:class:`AugmentedLogEI`)
==============  ==================================================================================

Batches (``q > 1``) and pending points
--------------------------------------
* ``mfkg``: continuous fidelity -- the ``q`` points are optimised *jointly* by the one-shot
  KG (BoTorch's ``sequential=True`` does not support one-shot acquisition functions), with the
  pending points as ``X_pending``; discrete fidelity -- ``optimize_acqf_mixed`` over
  :meth:`MultiFidelityProblem.fidelity_fixed_features`, which is sequential greedy.
* ``mfmes``: sequential greedy (``optimize_acqf(sequential=True)`` or ``optimize_acqf_mixed``);
  GIBBON's repulsion term against ``X_pending`` keeps the batch diverse.
* ``qlognei``: sequential greedy, each point conditioned on the pending points and on the
  points already chosen (``X_pending`` of the base acquisition function).
* ``ar1-ei``: sequential greedy with the *kriging believer*: the model is conditioned on its
  own posterior mean at the pending and already chosen points.

Why the BoTorch classes are wrapped
-----------------------------------
BoTorch's max-value entropy classes append ``model.train_inputs`` to the candidate set, but
for a model with an input transform (all sciml models normalise the design columns) those are
the *normalised* inputs, and GIBBON's ``q > 1`` repulsion term calls ``model(X)`` (no input
transform, no outcome un-standardisation) next to ``model.posterior(X)`` (both). For a design
box other than the unit cube both are wrong, so :class:`MultiFidelityGIBBON` rebuilds the
candidate set from ``X_observed`` and computes the repulsion from ``posterior`` alone.

Randomness
----------
Every public function runs inside ``torch.random.fork_rng()`` seeded with ``settings.seed``
(samplers, candidate sets and random restarts), so the same inputs give the same candidates
and the caller's global RNG is untouched. A loop passes ``seed + iteration``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import gpytorch
import torch
from botorch.acquisition import (
    AcquisitionFunction,
    FixedFeatureAcquisitionFunction,
    PosteriorMean,
    qLogNoisyExpectedImprovement,
    qMultiFidelityKnowledgeGradient,
    qMultiFidelityLowerBoundMaxValueEntropy,
)
from botorch.acquisition.analytic import _log_ei_helper
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.models.cost import AffineFidelityCostModel
from botorch.models.deterministic import DeterministicModel, GenericDeterministicModel
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.transforms import t_batch_mode_transform
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from sciml.bo.problems import MultiFidelityProblem
from sciml.errors import ConfigError, SciMLError

__all__ = [
    "ACQUISITION_KINDS",
    "FAST",
    "TUTORIAL",
    "AcquisitionFailedError",
    "AcquisitionInputError",
    "AcquisitionSettings",
    "AugmentedLogEI",
    "MultiFidelityGIBBON",
    "cost_model_for",
    "max_posterior_mean",
    "propose_candidates",
    "recommend",
]

DTYPE = torch.float64

ACQUISITION_KINDS: tuple[str, ...] = ("mfkg", "mfmes", "qlognei", "ar1-ei")
"""The kinds accepted by :func:`propose_candidates`."""

#: Kinds that need a problem with a fidelity.
MULTI_FIDELITY_KINDS: tuple[str, ...] = ("mfkg", "mfmes", "ar1-ei")

_CLAMP = 1e-12


class AcquisitionInputError(SciMLError, ValueError):
    """Bad input to an acquisition function: unknown kind, wrong shapes, missing data."""


class AcquisitionFailedError(SciMLError, RuntimeError):
    """The acquisition optimisation failed numerically (Cholesky) even with raised jitter."""


#: Cholesky jitters (float64) of the attempts of :func:`propose_candidates`: BoTorch's default,
#: then ``1e-6`` and ``1e-4`` (fantasy models of nearly duplicated points are ill-conditioned).
_JITTERS: tuple[float | None, ...] = (None, 1e-6, 1e-4)
_NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (NotPSDError, NanError, torch.linalg.LinAlgError)


# =============================================================================== settings
@dataclass(frozen=True)
class AcquisitionSettings:
    """How hard to work on one acquisition (all counts are per call of :func:`propose_candidates`).

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

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"AcquisitionSettings.{f.name} must be an integer, got {value!r}")
            if f.name != "seed" and value < 1:
                raise ConfigError(f"AcquisitionSettings.{f.name} must be >= 1, got {value}")

    def replace(self, **changes: Any) -> AcquisitionSettings:
        """A copy with some fields changed (``dataclasses.replace``; unknown names -> ConfigError)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown AcquisitionSettings field(s) {unknown}; accepted: "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, int]:
        """Plain JSON-able dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcquisitionSettings:
        """Inverse of :meth:`to_dict` (unknown keys -> ConfigError)."""
        return cls().replace(**dict(data))

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
``q = 1``, ``maxiter = 100``.

Why: the one-shot KG optimises ``(q + num_fantasies) (d + 1)`` variables and every evaluation
fantasises ``num_fantasies`` models, so its cost is about linear in ``num_fantasies``; with
Sobol quasi-MC fantasies the KG estimate at 32 fantasies already ranks candidates like the one
at 128 (the error of a QMC average decays close to ``1/n``), while 4 restarts out of 128 raw
points cut the initialisation and the L-BFGS-B work by ``2.5x``--``4x``. Acquisition
optimisation only has to be good enough to beat the cost of one more evaluation; for cheap
evaluations the tutorial settings spend more wall-clock time choosing a point than
evaluating it. ``q = 1`` makes each choice use all the data (batches are for parallel
evaluators: pass ``q``/``batch_size``).

Measured (augmented Hartmann-6, 16 initial points, ``q = 4``, one CPU thread, fit +
acquisition of one iteration): ``mfkg`` ~5 s (FAST) vs ~27 s (TUTORIAL), ``mfmes`` ~9 s vs
~33 s, ``qlognei`` ~2 s vs ~4.5 s. GIBBON does not fantasise, but its sequential greedy batch
runs ``q`` optimisations, so for ``q > 1`` the one-shot KG with 32 fantasies is the faster.
"""


# =============================================================================== helpers
def _check_problem(problem: MultiFidelityProblem, kind: str) -> None:
    if not isinstance(problem, MultiFidelityProblem):
        raise AcquisitionInputError(f"problem must be a MultiFidelityProblem, got {type(problem).__name__}")
    if kind in MULTI_FIDELITY_KINDS and problem.fidelity is None:
        raise AcquisitionInputError(
            f"acquisition {kind!r} is multi-fidelity but problem {problem.name!r} has no fidelity; "
            "use 'qlognei' for a single-fidelity problem")
    if kind == "ar1-ei" and problem.fidelity is not None and problem.fidelity.kind != "discrete":
        raise AcquisitionInputError(
            f"acquisition 'ar1-ei' needs discrete fidelity levels, but problem {problem.name!r} has "
            f"{problem.fidelity.describe()} (continuous); use 'mfkg' or 'mfmes'")


def _width(problem: MultiFidelityProblem) -> int:
    return problem.dim + (problem.fidelity is not None)


def _check_points(X: Any, problem: MultiFidelityProblem, what: str) -> Tensor | None:
    """Validate ``(m, d + 1)`` model-coordinate points (``None`` / empty -> ``None``)."""
    if X is None:
        return None
    try:
        t = X.detach().to(DTYPE) if isinstance(X, Tensor) else torch.as_tensor(X, dtype=DTYPE)
    except (TypeError, ValueError) as exc:
        raise AcquisitionInputError(f"{what} must be numbers: {exc}") from None
    w = _width(problem)
    if t.ndim != 2 or t.shape[1] != w:
        raise AcquisitionInputError(f"{what} must have shape (m, {w}) in model coordinates "
                                    f"(design + unit fidelity), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        return None
    if not bool(torch.isfinite(t).all()):
        raise AcquisitionInputError(f"{what} contains NaN or infinite values")
    b = problem.model_bounds
    span = b[1] - b[0]
    if bool(((t < b[0] - 1e-9 * span) | (t > b[1] + 1e-9 * span)).any()):
        raise AcquisitionInputError(f"{what} has points outside the model bounds {b.tolist()}")
    return torch.minimum(torch.maximum(t, b[0]), b[1])


def _project(problem: MultiFidelityProblem) -> Callable[[Tensor], Tensor]:
    """``project_to_target_fidelity`` for this problem (identity without fidelity)."""
    if problem.fidelity is None:
        return lambda X: X
    return partial(project_to_target_fidelity, target_fidelities=problem.target_fidelities,
                   d=problem.dim + 1)


def _at_target(acqf: AcquisitionFunction, problem: MultiFidelityProblem) -> AcquisitionFunction:
    """Fix the fidelity column to 1 (identity without fidelity): inputs become ``(.., d)``."""
    if problem.fidelity is None:
        return acqf
    return FixedFeatureAcquisitionFunction(acqf, d=problem.dim + 1, columns=[problem.dim], values=[1.0])


def _full(X: Tensor, problem: MultiFidelityProblem, z: float = 1.0) -> Tensor:
    """Append the unit fidelity ``z`` to designs ``(.., d)`` (no-op without fidelity)."""
    if problem.fidelity is None:
        return X
    return torch.cat([X, torch.full_like(X[..., :1], z)], dim=-1)


def _snap(cands: Tensor, problem: MultiFidelityProblem) -> Tensor:
    """Clamp candidates into the model bounds and snap a discrete fidelity to its levels."""
    b = problem.model_bounds
    out = torch.minimum(torch.maximum(cands.detach().to(DTYPE), b[0]), b[1])
    f = problem.fidelity
    if f is not None and f.kind == "discrete":
        levels = torch.tensor(f.unit_values, dtype=DTYPE)
        idx = (out[:, -1:] - levels).abs().argmin(dim=1)
        out[:, -1] = levels[idx]
    return out


def _seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` in a forked torch RNG seeded with ``settings.seed``."""

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settings = signature.bind(*args, **kwargs).arguments.get("settings", FAST)
        except TypeError as exc:
            raise TypeError(f"{fn.__name__}(): {exc}") from None
        seed = settings.seed if isinstance(settings, AcquisitionSettings) else 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return fn(*args, **kwargs)

    return wrapper


# =============================================================================== cost model
class _UnitCost(torch.autograd.Function):
    """``problem.cost_unit(z)`` with a central finite-difference derivative (0 for discrete levels)."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, problem: MultiFidelityProblem) -> Tensor:  # type: ignore[override]
        ctx.problem = problem
        ctx.save_for_backward(z)
        flat = z.detach().reshape(-1).clamp(0.0, 1.0)
        return problem.cost_unit(flat).reshape(z.shape).to(z)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        problem: MultiFidelityProblem = ctx.problem
        if problem.fidelity is None or problem.fidelity.kind == "discrete":
            return torch.zeros_like(z), None
        h = 1e-6
        flat = z.detach().reshape(-1).clamp(0.0, 1.0)
        lo, hi = (flat - h).clamp(0.0, 1.0), (flat + h).clamp(0.0, 1.0)
        dc = (problem.cost_unit(hi) - problem.cost_unit(lo)) / (hi - lo)
        return grad * dc.reshape(z.shape).to(z), None


def cost_model_for(problem: MultiFidelityProblem) -> tuple[DeterministicModel, str]:
    """Deterministic BoTorch cost model of the problem's declared cost, in unit-fidelity coordinates.

    The declared cost is probed with :meth:`MultiFidelityProblem.cost_unit` on 17 points of a
    continuous fidelity (or on the discrete levels). When it is affine in the unit fidelity
    ``z`` (to ``1e-9`` relative) the result is BoTorch's ``AffineFidelityCostModel`` with
    ``cost = c(0) + (c(1) - c(0)) z``; otherwise a ``GenericDeterministicModel`` evaluating
    ``problem.cost_unit`` (with a finite-difference derivative for a continuous fidelity).

    Parameters
    ----------
    problem : MultiFidelityProblem
        With a fidelity.

    Returns
    -------
    model : DeterministicModel
        Maps ``(.., q, d + 1)`` model inputs to ``(.., q, 1)`` positive costs.
    kind : {"affine", "generic"}
    """
    _check_problem(problem, "mfkg")
    f = problem.fidelity
    assert f is not None
    z = (torch.tensor(f.unit_values, dtype=DTYPE) if f.kind == "discrete"
         else torch.linspace(0.0, 1.0, 17, dtype=DTYPE))
    c = problem.cost_unit(z)
    c0, c1 = float(problem.cost_unit(torch.zeros(1, dtype=DTYPE))[0]), float(problem.cost_unit(
        torch.ones(1, dtype=DTYPE))[0])
    affine = c0 + (c1 - c0) * z
    if float((c - affine).abs().max()) <= 1e-9 * float(c.abs().max()):
        return AffineFidelityCostModel(fidelity_weights={problem.dim: c1 - c0}, fixed_cost=c0), "affine"
    col = problem.dim

    def cost(X: Tensor) -> Tensor:
        return _UnitCost.apply(X[..., col], problem).unsqueeze(-1)

    return GenericDeterministicModel(cost, num_outputs=1), "generic"


# =============================================================================== recommendation
def _optimize(acqf: AcquisitionFunction, bounds: Tensor, settings: AcquisitionSettings, q: int = 1,
              **kw: Any) -> tuple[Tensor, Tensor]:
    options = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    options.update(kw.pop("options", {}))
    return optimize_acqf(acqf, bounds=bounds, q=q, num_restarts=settings.num_restarts,
                         raw_samples=settings.raw_samples, options=options, **kw)


def _max_posterior_mean(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                        X_observed: Tensor | None) -> tuple[Tensor, float]:
    pm = _at_target(PosteriorMean(model), problem)
    x, value = _optimize(pm, problem.bounds, settings)
    x, best = x.reshape(-1).detach(), float(value)
    if X_observed is not None:
        designs = torch.unique(X_observed[:, :problem.dim], dim=0)
        with torch.no_grad():
            vals = pm(designs.unsqueeze(1))
        i = int(vals.argmax())
        if float(vals[i]) > best:
            x, best = designs[i].clone(), float(vals[i])
    return x, best


@_seeded
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
    _check_problem(problem, "qlognei")
    return _max_posterior_mean(model, problem, settings, _check_points(X_observed, problem, "X_observed"))


@_seeded
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
    _check_problem(problem, "qlognei")
    x, value = _max_posterior_mean(model, problem, settings,
                                   _check_points(X_observed, problem, "X_observed"))
    x = torch.minimum(torch.maximum(x, problem.bounds[0]), problem.bounds[1])
    return x, problem.sign * value


# =============================================================================== GIBBON
class MultiFidelityGIBBON(qMultiFidelityLowerBoundMaxValueEntropy):
    """``qMultiFidelityLowerBoundMaxValueEntropy`` that is correct for models with input/outcome transforms.

    Three changes to BoTorch's class (see the module docstring):

    * the max-value candidate set is ``project(candidate_set)`` plus the projected observed
      points ``X_observed`` in the *model's input coordinates*, instead of the transformed
      ``model.train_inputs``;
    * the max values are sampled once, from that set: BoTorch's constructors' own samplings
      (from the transformed training inputs, which a multi-task model's input transform
      rejects) are skipped;
    * the ``q > 1`` repulsion term ``0.5 log(1 - a^T B^{-1} a / v)`` is computed from
      ``model.posterior`` only (``a``: noiseless covariance between ``x`` and the pending
      points, ``B``: noisy covariance of the pending points, ``v``: noisy variance at ``x``),
      all in the same (un-standardised) units.

    Parameters
    ----------
    model, candidate_set, num_mv_samples, num_y_samples, cost_aware_utility, project
        As for BoTorch's class.
    X_observed : Tensor, shape (n, d + 1), optional
        Observed inputs added to the candidate set.
    X_pending : Tensor, shape (m, d + 1), optional
        Pending points (repulsion term).
    """

    def __init__(self, model: Model, candidate_set: Tensor, *, num_mv_samples: int = 10,
                 num_y_samples: int = 128, cost_aware_utility: InverseCostWeightedUtility | None = None,
                 project: Callable[[Tensor], Tensor] = lambda X: X, X_observed: Tensor | None = None,
                 X_pending: Tensor | None = None) -> None:
        # BoTorch's constructors sample max values from a candidate set extended with the
        # *transformed* training inputs (a multi-task model's task indices fail its own input
        # transform); skip those samplings, the right candidate set is sampled once below
        object.__setattr__(self, "_defer_max_values", True)
        try:
            super().__init__(model=model, candidate_set=candidate_set, num_mv_samples=num_mv_samples,
                             num_y_samples=num_y_samples, cost_aware_utility=cost_aware_utility,
                             project=project)
        finally:
            object.__setattr__(self, "_defer_max_values", False)
        cands = project(candidate_set)
        if X_observed is not None:
            cands = torch.cat([cands, project(X_observed)], dim=0)
        self.candidate_set = cands
        self._sample_max_values(num_samples=num_mv_samples)
        self.set_X_pending(X_pending)

    def _sample_max_values(self, num_samples: int, X_pending: Tensor | None = None) -> None:
        if getattr(self, "_defer_max_values", False):
            return
        super()._sample_max_values(num_samples, X_pending=X_pending)

    def _compute_information_gain(self, X: Tensor, mean_M: Tensor, variance_M: Tensor,
                                  covar_mM: Tensor) -> Tensor:
        pending = self.X_pending
        self.X_pending = None
        try:
            acq = super()._compute_information_gain(X=X, mean_M=mean_M, variance_M=variance_M,
                                                    covar_mM=covar_mM)
        finally:
            self.X_pending = pending
        if pending is None:
            return acq
        # X: batch x 1 x D; pending: m x D. The noise is independent between points, so the
        # off-diagonal entries of the noisy covariance are the noiseless cross-covariances a.
        batches = torch.cat([X, pending.unsqueeze(0).expand(X.shape[0], -1, -1)], dim=-2)
        cov = self.model.posterior(batches, observation_noise=True).distribution.covariance_matrix
        variance_m = cov[..., 0, 0].clamp_min(_CLAMP).reshape(X.shape[0], 1)
        a = cov[..., 1:, 0].unsqueeze(-1)  # batch x m x 1
        B = cov[..., 1:, 1:]
        eye = torch.eye(B.shape[-1], dtype=B.dtype)
        B = B + 1e-10 * B.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] * eye
        L = torch.linalg.cholesky(B)
        w = torch.cholesky_solve(a, L)
        inv_quad = (a * w).sum(dim=(-2, -1)).reshape(X.shape[0], 1)
        det = variance_m.clamp(min=inv_quad * (1 + 1e-12)) - inv_quad
        r = 0.5 * (det.log() - variance_m.log())
        return acq + r.transpose(0, 1)


# =============================================================================== AEI
class AugmentedLogEI(AcquisitionFunction):
    r"""Log of Huang et al.'s (2006) augmented expected improvement for one fidelity level.

    For a design ``x`` evaluated at level ``l`` (unit fidelity ``z_l``)::

        AEI(x, l) = EI_T(x) * corr(f_l(x), f_T(x)) * (1 - sigma_l / sqrt(s_l^2(x) + sigma_l^2))
                    * cost(T) / cost(l)

    ``EI_T`` is the analytic expected improvement of the *target*-level posterior over
    ``best_f`` (Huang's "effective best solution": the largest target-level posterior mean at
    the observed designs), the correlation is that of the joint posterior of the two levels at
    ``x`` (1 at the target), the second factor discounts levels whose noise ``sigma_l^2``
    dominates their posterior variance ``s_l^2(x)`` (it vanishes at already observed points),
    and the last one is the inverse relative cost. This is computed in log space
    (``LogEI``-style, :func:`botorch.acquisition.analytic._log_ei_helper`).

    Why this heuristic: dividing the target EI by the level's cost alone ignores how much a
    level says about the target (every level would get the same EI and the cheapest would
    always win); the correlation factor makes a cheap level attractive only where it is
    informative about the target.

    Parameters
    ----------
    model : botorch Model
        Joint posterior over levels, inputs ``(.., d + 1)`` (e.g. :class:`AR1MultiFidelityGP`).
    best_f : float
        Incumbent in model (maximised) units.
    level : float
        Unit fidelity ``z_l`` of the level.
    log_cost_ratio : float
        ``log(cost(T) / cost(l))``.
    dim : int
        Number of design variables ``d``; ``forward`` takes ``(b, 1, d)`` designs.
    noise_variance : float
        Observation-noise variance ``sigma_l^2`` at the level (model output units).
    """

    def __init__(self, model: Model, best_f: float, level: float, log_cost_ratio: float, dim: int,
                 noise_variance: float = 0.0) -> None:
        super().__init__(model=model)
        self.best_f = float(best_f)
        self.level = float(level)
        self.log_cost_ratio = float(log_cost_ratio)
        self.dim = int(dim)
        self.noise_variance = max(float(noise_variance), 0.0)

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: Tensor) -> Tensor:
        """``log AEI`` of designs ``X`` ``(b, 1, d)`` at this level; returns ``(b,)``."""
        lvl = torch.full_like(X[..., :1], self.level)
        tgt = torch.ones_like(X[..., :1])
        Xj = torch.cat([torch.cat([X, lvl], dim=-1), torch.cat([X, tgt], dim=-1)], dim=-2)
        post = self.model.posterior(Xj)
        mean_T = post.mean[..., 1, 0]
        cov = post.distribution.covariance_matrix
        var_l = cov[..., 0, 0].clamp_min(_CLAMP)
        var_T = cov[..., 1, 1].clamp_min(_CLAMP)
        sigma_T = var_T.sqrt()
        log_ei = _log_ei_helper((mean_T - self.best_f) / sigma_T) + sigma_T.log()
        if self.level >= 1.0:
            log_corr = torch.zeros_like(log_ei)
        else:
            corr = cov[..., 0, 1] / (var_l * var_T).sqrt()
            log_corr = corr.clamp(_CLAMP, 1.0).log()
        out = log_ei + log_corr + self.log_cost_ratio
        if self.noise_variance > 0:
            ratio = self.noise_variance / (var_l + self.noise_variance)
            out = out + torch.log1p(-ratio.sqrt().clamp(max=1.0 - 1e-12))
        return out


def _noise_variance(model: Model, x: Tensor) -> float:
    with torch.no_grad():
        noisy = model.posterior(x, observation_noise=True).variance
        plain = model.posterior(x).variance
    return max(float((noisy - plain).reshape(-1)[0]), 0.0)


def _effective_best(model: Model, problem: MultiFidelityProblem, X_observed: Tensor | None,
                    best_f: float | None) -> float:
    if best_f is not None:
        return float(best_f)
    if X_observed is None:
        raise AcquisitionInputError("ar1-ei needs X_observed (or best_f) to set the incumbent")
    designs = _full(torch.unique(X_observed[:, :problem.dim], dim=0), problem)
    with torch.no_grad():
        return float(model.posterior(designs).mean.max())


def _kriging_believer(model: Model, X: Tensor) -> Model:
    """Condition ``model`` on its own posterior mean at ``X`` ``(m, d + 1)``."""
    with torch.no_grad():
        post = model.posterior(X)
        mean = post.mean
    try:
        return model.condition_on_observations(X, mean)
    except Exception as exc:  # a model without conditioning support
        raise AcquisitionInputError(
            f"ar1-ei with q > 1 or pending points conditions the model on fantasy observations, "
            f"which {type(model).__name__} does not support: {type(exc).__name__}: {exc}") from exc


def _propose_ar1_ei(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                    pending: Tensor | None, X_observed: Tensor | None,
                    best_f: float | None) -> tuple[Tensor, dict[str, Any]]:
    f = problem.fidelity
    assert f is not None
    levels = list(f.unit_values)
    incumbent = _effective_best(model, problem, X_observed, best_f)
    cost_T = float(problem.cost_unit(torch.ones(1, dtype=DTYPE))[0])
    log_ratio = {z: math.log(cost_T / float(problem.cost_unit(torch.tensor([z], dtype=DTYPE))[0]))
                 for z in levels}
    probe = _full(0.5 * (problem.bounds[0] + problem.bounds[1]), problem).reshape(1, -1)
    current = model
    if pending is not None:
        current = _kriging_believer(current, pending)
    chosen: list[Tensor] = []
    values: list[float] = []
    per_level: list[dict[str, float]] = []
    for j in range(settings.q):
        best: tuple[float, Tensor] | None = None
        scores = {}
        for z in levels:
            probe_l = probe.clone()
            probe_l[:, -1] = z
            acqf = AugmentedLogEI(current, incumbent, z, log_ratio[z], problem.dim,
                                  noise_variance=_noise_variance(current, probe_l))
            x, v = _optimize(acqf, problem.bounds, settings)
            scores[f"{z:.6g}"] = float(v)
            if best is None or float(v) > best[0]:
                best = (float(v), _full(x.reshape(1, -1).detach(), problem, z))
        assert best is not None
        chosen.append(best[1])
        values.append(best[0])
        per_level.append(scores)
        if j < settings.q - 1:
            current = _kriging_believer(current, best[1])
    info = {"acq_value": values, "best_f": incumbent, "log_aei_per_level": per_level,
            "optimizer": "optimize_acqf per level", "sequential": True}
    return torch.cat(chosen, dim=0), info


# =============================================================================== propose
def _propose_mfkg(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                  pending: Tensor | None, X_observed: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
    x_cur, current_value = _max_posterior_mean(model, problem, settings, X_observed)
    cost_model, cost_kind = cost_model_for(problem)
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.num_fantasies]), seed=settings.seed)
    acqf = qMultiFidelityKnowledgeGradient(
        model=model, num_fantasies=settings.num_fantasies, sampler=sampler,
        current_value=torch.tensor(current_value, dtype=DTYPE),
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model),
        project=_project(problem), X_pending=pending)
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
                   pending: Tensor | None, X_observed: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
    cost_model, cost_kind = cost_model_for(problem)
    bounds = problem.model_bounds
    gen = torch.Generator().manual_seed(settings.seed)
    u = torch.rand(settings.candidate_set_size, bounds.shape[1], dtype=DTYPE, generator=gen)
    cand_set = bounds[0] + (bounds[1] - bounds[0]) * u
    acqf = MultiFidelityGIBBON(
        model, cand_set, num_mv_samples=settings.num_mv_samples, num_y_samples=settings.mc_samples,
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost_model), project=_project(problem),
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
        cands, value = _optimize(acqf, bounds, settings, q=settings.q, sequential=True)
        how = "optimize_acqf (sequential)"
    info = {"acq_value": [float(v) for v in torch.as_tensor(value).reshape(-1)], "cost_model": cost_kind,
            "optimizer": how, "sequential": settings.q > 1, "variant": "GIBBON"}
    return cands.reshape(-1, bounds.shape[1]), info


def _propose_qlognei(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                     pending: Tensor | None, X_observed: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
    if X_observed is None:
        raise AcquisitionInputError("qlognei needs X_observed (the observed points, model coordinates) "
                                    "as the baseline of the noisy expected improvement")
    baseline = torch.unique(_project(problem)(X_observed), dim=0)
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.mc_samples]), seed=settings.seed)
    base = qLogNoisyExpectedImprovement(model=model, X_baseline=baseline, sampler=sampler,
                                        X_pending=pending, prune_baseline=True)
    acqf = _at_target(base, problem)
    chosen: list[Tensor] = []
    values: list[float] = []
    for _ in range(settings.q):
        x, v = _optimize(acqf, problem.bounds, settings)
        chosen.append(_full(x.reshape(1, -1).detach(), problem))
        values.append(float(v))
        done = torch.cat(chosen, dim=0)
        base.set_X_pending(done if pending is None else torch.cat([pending, done], dim=0))
    base.set_X_pending(pending)
    info = {"acq_value": values, "optimizer": "optimize_acqf (sequential greedy)",
            "sequential": settings.q > 1, "n_baseline": int(baseline.shape[0])}
    return torch.cat(chosen, dim=0), info


@_seeded
def propose_candidates(
    kind: str,
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
        Acquisition (module table).
    model : botorch Model
        Fitted to ``problem.sign * y`` on model coordinates (see :mod:`sciml.bo.models`):
        ``mfgp`` for ``mfkg``/``mfmes``, ``singletask`` (or any) for ``qlognei``, ``ar1`` for
        ``ar1-ei``.
    problem : MultiFidelityProblem
        A fidelity is required except for ``qlognei``; ``ar1-ei`` needs a discrete one.
    settings : AcquisitionSettings
        Batch size ``q``, fantasies, restarts, raw samples, seed (:data:`FAST`, :data:`TUTORIAL`).
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
        Unknown kind (the message lists :data:`ACQUISITION_KINDS`), a multi-fidelity kind on
        a problem without fidelity, bad ``pending``/``X_observed``, missing ``X_observed``.
    AcquisitionFailedError
        A Cholesky failure (``NotPSDError`` ...) at BoTorch's default jitter and again at
        jitters ``1e-6`` and ``1e-4`` (each retry is recorded in ``info["retries"]``).
    """
    t0 = time.perf_counter()
    if kind not in ACQUISITION_KINDS:
        raise AcquisitionInputError(f"unknown acquisition kind {kind!r}; accepted: {list(ACQUISITION_KINDS)}")
    if not isinstance(settings, AcquisitionSettings):
        raise AcquisitionInputError(f"settings must be AcquisitionSettings, got {type(settings).__name__}")
    _check_problem(problem, kind)
    pend = _check_points(pending, problem, "pending")
    Xo = _check_points(X_observed, problem, "X_observed")
    errors: list[str] = []
    for jitter in _JITTERS:
        context = (contextlib.nullcontext() if jitter is None else
                   gpytorch.settings.cholesky_jitter(float_value=jitter, double_value=jitter))
        torch.manual_seed(settings.seed)
        try:
            with context:
                if kind == "mfkg":
                    cands, info = _propose_mfkg(model, problem, settings, pend, Xo)
                elif kind == "mfmes":
                    cands, info = _propose_mfmes(model, problem, settings, pend, Xo)
                elif kind == "qlognei":
                    cands, info = _propose_qlognei(model, problem, settings, pend, Xo)
                else:
                    cands, info = _propose_ar1_ei(model, problem, settings, pend, Xo, best_f)
        except _NUMERICAL_ERRORS as exc:
            errors.append(f"jitter {jitter or 'default'}: {type(exc).__name__}: {exc}")
            continue
        if not bool(torch.isfinite(cands).all()):
            errors.append(f"jitter {jitter or 'default'}: non-finite candidates")
            continue
        info = {"kind": kind, "q": settings.q, "seed": settings.seed, **info,
                "seconds": time.perf_counter() - t0}
        if errors:
            info["retries"] = errors
        return _snap(cands, problem), info
    tried = "\n".join(f"  - {e}" for e in errors)
    raise AcquisitionFailedError(f"optimising the {kind!r} acquisition failed numerically; tried, in order:\n{tried}")


