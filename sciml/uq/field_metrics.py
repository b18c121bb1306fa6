"""Metrics of probabilistic space-time field predictions, accumulated per function.

:class:`FieldMetrics` records, for each predicted function of each model, the accuracy,
calibration and conservation metrics of :mod:`sciml.uq.metrics` at an evaluation time (MSE,
Gaussian log-likelihood, CRPS), the conservation errors ``G mu(t) - b(t)`` over all times and
the shock-position errors of draws from the full covariance (:func:`sample_shock_positions`),
and summarises them as mean and standard error over the functions (:func:`~sciml.uq.accumulator.mean_and_se`).
ProbConserv's evaluation (Hansen et al., ICML 2023) is its main user. Everything is float64
on the CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.surrogates.probconserv.problems import evaluation_slice, nearest_time_index
from sciml.uq.accumulator import MetricAccumulator
from sciml.uq.metrics import crps_gaussian, gaussian_log_likelihood, mse, sample_gaussian, shock_position

__all__ = ["CE_REL_FLOOR", "FieldMetrics", "Levels", "sample_shock_positions"]

#: Floor of the denominator of the relative conservation error.
CE_REL_FLOOR = 1e-12

#: Keys of the metrics with a mean and a standard error in every row.
_MEAN_KEYS = ("mse", "ll", "crps", "ce_eval", "ce_max")

#: Per-function front errors and signed offsets of the predictive mean (with ``thresholds``).
_FRONT_KEYS = ("mean_front_error", "mean_front_offset", "mean_front_mid_error", "mean_front_mid_offset")

#: ``((level, x_ref), (level_mid, x_ref_mid))``: two shock thresholds (units of ``u``) and the
#: true positions (units of ``x``) at which the exact profile crosses them.
Levels = tuple[tuple[float, float], tuple[float, float]]


def sample_shock_positions(mean: Tensor, cov: Tensor, x: Any, levels: Sequence[float], n_samples: int,
                           generator: torch.Generator | int = 0) -> np.ndarray:
    """Front positions of ``n_samples`` draws from ``N(mean, cov)`` with the FULL covariance.

    Parameters
    ----------
    mean : Tensor, shape ``(B, n_x)``
        Profiles at one time (units of ``u``).
    cov : Tensor, shape ``(B, n_x, n_x)``
        Their covariance (units of ``u**2``); singular (exactly conserving) covariances get the
        jitter of :func:`~sciml.uq.metrics.sample_gaussian` without a warning.
    x : array_like, shape ``(n_x,)``
        Grid (units of ``x``).
    levels : sequence of float
        Thresholds of :func:`~sciml.uq.metrics.shock_position` (units of ``u``); every level
        is applied to the same draws.
    n_samples : int
        Number of draws.
    generator : torch.Generator or int
        Random stream (consumed) or seed.

    Returns
    -------
    ndarray, shape ``(n_levels, n_samples, B)``
        Position of the first fall below each level of every draw (units of ``x``).
    """
    with warnings.catch_warnings():
        # exact conservation makes the updated covariance singular: jitter is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = sample_gaussian(mean, cov, n_samples, generator=generator)  # (n, B, n_x)
    return np.stack([shock_position(draws, x, float(level)) for level in levels])


class FieldMetrics:
    """Per-function metrics of predictions on a space-time grid, by model name.

    For each recorded prediction and each of its ``B`` functions: at the evaluation time
    (the grid time nearest to ``eval_time``) the MSE, the Gaussian log-likelihood (mean over
    the ``n_x`` points, higher is better) and the closed-form CRPS; the conservation error
    ``CE(t) = G mu(t) - b(t)`` as ``ce_eval = max |CE(t_eval)|``, ``ce_max = max_t |CE(t)|``
    and ``ce_rel = ce_max / scale``, ``scale = max_t |b(t)|``, or, where the conserved quantity
    vanishes (``max_t |b| <= 1e-12``, e.g. the heat problem's zero mass), the size of the
    integrand ``max_t |G| |u_true(t)|`` (floored at ``1e-12``); with ``thresholds``, the front of
    the predictive mean at the two levels, ``shock_position(mean, x, level) - x_ref`` (signed:
    ``mean_front_offset``, ``mean_front_mid_offset``; absolute: ``mean_front_error``,
    ``mean_front_mid_error``), and with a covariance too, the shock-position errors of draws
    ``|mean_s shock_position(draw_s, x, level) - x_ref|`` at the two levels, from
    ``n_shock_samples`` draws of ``N(mean, cov_eval)`` (``shock_error``, ``shock_error_mid``).

    Parameters
    ----------
    t : array_like, shape ``(n_t,)``
        Grid times.
    x : array_like, shape ``(n_x,)``
        Grid positions.
    g : Tensor, shape ``(n_c, n_x)``
        Constraint matrix (float64).
    b : Tensor, shape ``(n_t, n_c)``
        Conserved quantity at every grid time (the same for every function).
    eval_time : float
        Evaluation time.
    thresholds : tuple of two ``(level, x_ref)``, optional
        :func:`~sciml.studies.probconserv_evaluation.front_levels`; without it no shock errors.
    n_shock_samples : int
        Draws per function for the shock errors.
    true_front : float, optional
        Reported in the rows (``true_front``) next to the shock errors.
    """

    def __init__(self, t: Any, x: Any, g: Tensor, b: Tensor, eval_time: float, *,
                 thresholds: Levels | None = None, n_shock_samples: int = 200,
                 true_front: float | None = None) -> None:
        self.t = np.asarray(t, dtype=np.float64)
        self.x = np.asarray(x, dtype=np.float64)
        self.g = torch.as_tensor(g, dtype=torch.float64)
        self.b = torch.as_tensor(b, dtype=torch.float64)
        if self.t.ndim != 1 or self.x.ndim != 1:
            raise ValueError(f"t and x must be 1D; got {self.t.shape} and {self.x.shape}")
        if self.g.ndim != 2 or self.g.shape[1] != self.x.size:
            raise ValueError(f"g must have shape (n_c, n_x={self.x.size}); got {tuple(self.g.shape)}")
        if self.b.shape != (self.t.size, self.g.shape[0]):
            raise ValueError(f"b must have shape (n_t, n_c) = {(self.t.size, self.g.shape[0])}; "
                             f"got {tuple(self.b.shape)}")
        if isinstance(n_shock_samples, bool) or int(n_shock_samples) < 1:
            raise ValueError(f"n_shock_samples must be an integer >= 1; got {n_shock_samples!r}")
        self.eval_time = float(eval_time)
        self.i_eval = nearest_time_index(self.t, self.eval_time)
        self.t_eval = float(self.t[self.i_eval])
        self.thresholds = thresholds
        self.n_shock_samples = int(n_shock_samples)
        self.true_front = true_front
        self.b_scale = float(self.b.abs().max())
        self._by_model: dict[str, MetricAccumulator] = {}

    def record(self, name: str, mean: Tensor, var: Tensor, cov_eval: Tensor | None, truth: Tensor,
               generator: torch.Generator | int = 0) -> None:
        """Append the per-function metrics of one prediction of model ``name``.

        Parameters
        ----------
        name : str
            Model label (rows come out in the order of the first record of each name).
        mean, var : Tensor, shape ``(B, n_t, n_x)``
            Predictive mean and variance on the grid (float64).
        cov_eval : Tensor, shape ``(B, n_x, n_x)``, optional
            Full covariance at the evaluation time; needed for the shock errors.
        truth : Tensor, shape ``(B, n_t, n_x)``
            Exact solution.
        generator : torch.Generator or int
            Stream of the shock draws (consumed).
        """
        shape = (self.t.size, self.x.size)
        for what, a in (("mean", mean), ("var", var), ("truth", truth)):
            if a.ndim != 3 or tuple(a.shape[1:]) != shape or a.shape[0] != mean.shape[0]:
                raise ValueError(f"record({name!r}): {what} must have shape (B, n_t, n_x) = "
                                 f"({mean.shape[0]}, {shape[0]}, {shape[1]}); got {tuple(a.shape)}")
        acc = self._by_model.setdefault(name, MetricAccumulator())
        ce = torch.einsum("btx,cx->btc", mean, self.g) - self.b  # (B, n_t, n_c)
        m_e = evaluation_slice(mean, self.t, self.eval_time)
        v_e = evaluation_slice(var, self.t, self.eval_time).clamp_min(np.finfo(np.float64).tiny)
        y_e = evaluation_slice(truth, self.t, self.eval_time)
        functions = range(mean.shape[0])
        acc.add_values("mse", [mse(m_e[j], y_e[j]) for j in functions])
        acc.add_values("ll", [float(gaussian_log_likelihood(m_e[j], v_e[j], y_e[j])) for j in functions])
        acc.add_values("crps", [float(crps_gaussian(m_e[j], v_e[j], y_e[j])) for j in functions])
        acc.add_values("ce_eval", [float(ce[j, self.i_eval].abs().max()) for j in functions])
        acc.add_values("ce_max", [float(ce[j].abs().max()) for j in functions])
        acc.add_values("ce_rel", [float(ce[j].abs().max()) / self._ce_scale(truth[j]) for j in functions])
        if self.thresholds is not None:  # the front of the predictive mean itself
            for key, (level, x_ref) in zip(("mean_front", "mean_front_mid"), self.thresholds, strict=True):
                offset = shock_position(m_e, self.x, level) - x_ref  # (B,), signed
                acc.add_values(f"{key}_error", np.abs(offset).tolist())
                acc.add_values(f"{key}_offset", offset.tolist())
        if cov_eval is not None and self.thresholds is not None:
            pos = sample_shock_positions(m_e, cov_eval, self.x, [lv for lv, _ in self.thresholds],
                                         self.n_shock_samples, generator)  # (2, n, B)
            for key, (_, x_ref), p_k in zip(("shock_error", "shock_error_mid"), self.thresholds, pos, strict=True):
                acc.add_values(key, np.abs(p_k.mean(axis=0) - x_ref).tolist())  # mean over the draws

    def _ce_scale(self, truth: Tensor) -> float:
        """``max_t |b(t)|``, or where ``b`` vanishes ``max_t |G| |truth(t)|``; at least :data:`CE_REL_FLOOR`."""
        if self.b_scale > CE_REL_FLOOR:
            return self.b_scale
        return max(float((truth.abs() @ self.g.abs().T).max()), CE_REL_FLOOR)

    @property
    def models(self) -> list[str]:
        """The recorded model names, in order of first record."""
        return list(self._by_model)

    def values(self, name: str) -> dict[str, list[float]]:
        """The per-function values of every metric of model ``name``, in the order recorded."""
        acc = self._accumulator(name)
        keys = [*_MEAN_KEYS, "ce_rel", *_FRONT_KEYS, "shock_error", "shock_error_mid"]
        return {key: acc.values(key) for key in keys if acc.has(key)}

    def _accumulator(self, name: str) -> MetricAccumulator:
        if name not in self._by_model:
            raise KeyError(f"no predictions recorded for {name!r}; recorded: {self.models}")
        return self._by_model[name]

    def summary(self, name: str) -> dict[str, Any]:
        """Mean and standard error over the functions of model ``name``.

        Returns
        -------
        dict
            ``mse``, ``mse_se``, ``ll``, ``ll_se``, ``crps``, ``crps_se``, ``ce_eval``,
            ``ce_eval_se``, ``ce_max``, ``ce_max_se``, ``ce_max_worst`` (max over the
            functions), ``ce_rel`` (max over the functions); with thresholds
            ``mean_front_error(_se)``, ``mean_front_offset(_se)``, ``mean_front_mid_error(_se)``,
            ``mean_front_mid_offset(_se)``, ``shock_threshold(_mid)``, ``shock_reference(_mid)``,
            ``true_front``; with shock draws ``shock_error(_se)``, ``shock_error_mid(_se)``,
            ``n_shock_samples``.
        """
        acc = self._accumulator(name)
        out: dict[str, Any] = {}
        for key in _MEAN_KEYS:
            out[key], out[f"{key}_se"] = acc.summary(key)
        out["ce_max_worst"] = float(max(acc.values("ce_max")))
        out["ce_rel"] = float(max(acc.values("ce_rel")))
        thr = self.thresholds
        if thr is not None:
            for key in _FRONT_KEYS:
                out[key], out[f"{key}_se"] = acc.summary(key)
            out["shock_threshold"], out["shock_threshold_mid"] = thr[0][0], thr[1][0]
            out["shock_reference"], out["shock_reference_mid"] = thr[0][1], thr[1][1]
            out["true_front"] = None if self.true_front is None else float(self.true_front)
        if acc.has("shock_error"):
            out["shock_error"], out["shock_error_se"] = acc.summary("shock_error")
            out["shock_error_mid"], out["shock_error_mid_se"] = acc.summary("shock_error_mid")
            out["n_shock_samples"] = self.n_shock_samples
        return out
