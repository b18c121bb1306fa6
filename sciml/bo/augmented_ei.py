"""Augmented expected improvement for ordered fidelity levels (meant for the AR(1) model).

:class:`AugmentedLogEI` is the log of Huang et al.'s (2006) augmented expected improvement at
one level; :func:`propose_ar1_ei` chooses, level by level, the design with the best value and
builds a batch by the kriging believer. Reference: Huang, Allen, Notz & Miller (2006),
"Sequential kriging optimization using multiple-fidelity evaluations", Struct. Multidisc.
Optim. 32, 369-382.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import _log_ei_helper
from botorch.models.model import Model
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor

from sciml.bo.candidates import AcquisitionInputError, optimize, with_fidelity
from sciml.bo.fidelity import DTYPE
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import AcquisitionSettings

__all__ = ["AugmentedLogEI", "propose_ar1_ei"]

_CLAMP = 1e-12


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
    designs = with_fidelity(torch.unique(X_observed[:, :problem.dim], dim=0), problem)
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


def propose_ar1_ei(model: Model, problem: MultiFidelityProblem, settings: AcquisitionSettings,
                   pending: Tensor | None, X_observed: Tensor | None,
                   best_f: float | None = None) -> tuple[Tensor, dict[str, Any]]:
    """``settings.q`` candidates ``(q, d + 1)`` (model coordinates) by sequential greedy AEI.

    Each point maximises :class:`AugmentedLogEI` over the designs at every level and keeps the
    best level; the model is then conditioned on its own posterior mean there (kriging
    believer), as it is first at the ``pending`` points. ``best_f``: the incumbent in model
    units (default: the largest target-level posterior mean at the observed designs).
    """
    f = problem.fidelity
    assert f is not None
    levels = list(f.unit_values)
    incumbent = _effective_best(model, problem, X_observed, best_f)
    cost_T = float(problem.cost_unit(torch.ones(1, dtype=DTYPE))[0])
    log_ratio = {z: math.log(cost_T / float(problem.cost_unit(torch.tensor([z], dtype=DTYPE))[0]))
                 for z in levels}
    probe = with_fidelity(0.5 * (problem.bounds[0] + problem.bounds[1]), problem).reshape(1, -1)
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
            x, v = optimize(acqf, problem.bounds, settings)
            scores[f"{z:.6g}"] = float(v)
            if best is None or float(v) > best[0]:
                best = (float(v), with_fidelity(x.reshape(1, -1).detach(), problem, z))
        assert best is not None
        chosen.append(best[1])
        values.append(best[0])
        per_level.append(scores)
        if j < settings.q - 1:
            current = _kriging_believer(current, best[1])
    info = {"acq_value": values, "best_f": incumbent, "log_aei_per_level": per_level,
            "optimizer": "optimize_acqf per level", "sequential": True}
    return torch.cat(chosen, dim=0), info

