"""Evaluation of ProbConserv predictions: test functions, variant predictions and metrics.

One code path for :mod:`sciml.bench.probconserv`, :mod:`sciml.bench.probconserv_bases`, the
``probconserv_study`` workflow step and the notebooks:

* :func:`make_test_functions` — ``n`` test functions of one parameter value: random context
  sets of the exact solution on the evaluation grid, the exact solution in float64, the
  constraint ``G``, ``b(t)`` and the shock levels (:class:`TestFunctions`);
* :func:`anp_variants` — for an ANP and one batch of test functions, the predictions of the
  variants ``ANP`` (the mixture of the latent draws), ``HardC-ANP`` (mean projected on
  ``G u = b``) and ``ProbConserv-ANP`` (exact Gaussian conditioning, ``sigma_G = 0``): mean and
  variance on the whole grid and the full covariance at the evaluation time
  (:class:`VariantPrediction`);
* :func:`evaluate_anps` — the metrics of ANPs and their variants over all test functions
  (the benchmark's seeding); :func:`profiles_and_positions` — one function's profiles and
  front positions of posterior draws, for plots;
* :class:`MetricAccumulator` — the per-function metrics (MSE, Gaussian log-likelihood, CRPS,
  conservation errors, shock-position errors from full-covariance draws) and their mean and
  standard error (:func:`mean_and_se`);
* :func:`front_levels` (the shock levels and reference positions), :func:`mixture_full_cov`
  and :func:`sample_shock_positions`.

All metric computations are in float64 on the CPU.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CE_REL_FLOOR",
    "FRONT_LEVEL",
    "MetricAccumulator",
    "TestFunctions",
    "VariantPrediction",
    "anp_variants",
    "evaluate_anps",
    "front_levels",
    "make_test_functions",
    "mean_and_se",
    "mixture_full_cov",
    "profiles_and_positions",
    "sample_shock_positions",
]

#: Primary shock threshold, as a fraction of the jump at the front above the state ahead of it.
FRONT_LEVEL = 0.1
#: Floor of the denominator of the relative conservation error.
CE_REL_FLOOR = 1e-12

#: Keys of the metrics with a mean and a standard error in every row.
_MEAN_KEYS = ("mse", "ll", "crps", "ce_eval", "ce_max")

Levels = tuple[tuple[float, float], tuple[float, float]]


# ----------------------------------------------------------------------------- helpers
def front_levels(problem: Any, p: float, t_eval: float) -> Levels | None:
    """``((level, x_ref), (level_mid, x_ref_mid))`` for the shock-position error; ``None`` without a front.

    ``level`` is the threshold of :func:`~sciml.uq.metrics.shock_position` and ``x_ref`` the
    true position it should find. Where the exact solution jumps at the front from ``u_behind``
    to ``u_ahead`` (Stefan: ``u*`` to 0): ``level = u_ahead + 0.1 (u_behind - u_ahead)``
    (Stefan: ``0.1 u*``), near the foot of the front where the reference code looks, and the
    midpoint ``level_mid = u_ahead + 0.5 (u_behind - u_ahead)`` (``u*/2``); both with
    ``x_ref = problem.front_position(t_eval, p)`` (every level inside the jump is crossed
    exactly there). Where the front is continuous (PME, ``u ~ (t - x)^(1/m)``): the levels
    ``u_ahead + 0.1 max|u|`` and ``u_ahead + 0.5 max|u|`` and, as ``x_ref``, where the exact
    profile crosses them (on a grid of 10^5 + 1 points). ``None`` also for a front that rises
    in ``x`` (``shock_position`` looks for the first fall below the level).

    Parameters
    ----------
    problem : ConservationProblem
        One of :data:`~sciml.surrogates.probconserv.CONSERVATION_PROBLEMS`.
    p : float
        The problem's parameter.
    t_eval : float
        Time (units of ``problem.t_range``).

    Returns
    -------
    tuple of two ``(level, x_ref)`` pairs, or None
        Levels in units of ``u``, positions in units of ``x``.
    """
    from sciml.uq.metrics import shock_position

    xf = problem.front_position(t_eval, p)
    if xf is None:
        return None
    xf = float(np.asarray(xf))
    lo, hi = problem.x_range
    h = 1e-9 * (hi - lo)
    behind = float(problem.exact(max(xf - h, lo), t_eval, p))
    ahead = float(problem.exact(min(xf + h, hi), t_eval, p))
    fine = np.linspace(lo, hi, 100_001)
    profile = problem.exact(fine, t_eval, p)
    scale = float(np.max(np.abs(profile)))
    jump = behind - ahead
    if jump >= 0.1 * scale:
        return tuple((ahead + f * jump, xf) for f in (FRONT_LEVEL, 0.5))  # type: ignore[return-value]
    if jump < -0.1 * scale:
        return None
    out = []
    for f in (FRONT_LEVEL, 0.5):
        level = ahead + f * scale
        out.append((level, float(shock_position(profile, fine, level))))
    return tuple(out)  # type: ignore[return-value]


def mixture_full_cov(means: Tensor, variances: Tensor) -> Tensor:
    """Covariance of an equal mixture of ``N(means[s], diag(variances[s]))``.

    Same formula as :func:`~sciml.surrogates.probconserv.conservation_update_samples`:
    ``Sigma = mean_s diag(v_s) + mean_s (m_s - m)(m_s - m)^T`` with ``m = mean_s m_s``.

    Parameters
    ----------
    means, variances : Tensor, shape ``(S, B, n_x)``
        Per-draw means (units of ``u``) and variances (units of ``u**2``).

    Returns
    -------
    Tensor, shape ``(B, n_x, n_x)``
        Units of ``u**2``.
    """
    if means.ndim != 3 or variances.shape != means.shape:
        raise ValueError(f"means and variances must both have shape (S, B, n_x); got {tuple(means.shape)} "
                         f"and {tuple(variances.shape)}")
    dev = means - means.mean(0)
    cov = torch.einsum("sbi,sbj->bij", dev, dev) / means.shape[0]
    return cov + torch.diag_embed(variances.mean(0))


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1) / sqrt(n)`` of ``values`` (``nan`` error for ``n = 1``).

    Raises
    ------
    ValueError
        For an empty sequence.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_and_se: no values")
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return float(arr.mean()), se


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
    from sciml.uq.metrics import sample_gaussian, shock_position

    with warnings.catch_warnings():
        # exact conservation makes the updated covariance singular: jitter is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = sample_gaussian(mean, cov, n_samples, generator=generator)  # (n, B, n_x)
    return np.stack([shock_position(draws, x, float(level)) for level in levels])


# ----------------------------------------------------------------------------- metrics
class MetricAccumulator:
    """Per-function metrics of predictions on a space-time grid, by model name.

    For each recorded prediction and each of its ``B`` functions: at the evaluation time
    (the grid time nearest to ``eval_time``) the MSE, the Gaussian log-likelihood (mean over
    the ``n_x`` points, higher is better) and the closed-form CRPS; the conservation error
    ``CE(t) = G mu(t) - b(t)`` as ``ce_eval = max |CE(t_eval)|``, ``ce_max = max_t |CE(t)|``
    and ``ce_rel = ce_max / max(max_t |b(t)|, 1e-12)``; with ``thresholds`` and a covariance,
    the shock-position errors ``|mean_s shock_position(draw_s, x, level) - x_ref|`` at the two
    levels, from ``n_shock_samples`` draws of ``N(mean, cov_eval)``.

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
        :func:`front_levels`; without it no shock errors.
    n_shock_samples : int
        Draws per function for the shock errors.
    true_front : float, optional
        Reported in the rows (``true_front``) next to the shock errors.
    """

    def __init__(self, t: Any, x: Any, g: Tensor, b: Tensor, eval_time: float, *,
                 thresholds: Levels | None = None, n_shock_samples: int = 200,
                 true_front: float | None = None) -> None:
        from sciml.surrogates.probconserv.problems import nearest_time_index

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
        self.b_scale = max(float(self.b.abs().max()), CE_REL_FLOOR)
        self.values: dict[str, dict[str, list[float]]] = {}

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
        from sciml.surrogates.probconserv.problems import evaluation_slice
        from sciml.uq.metrics import crps_gaussian, gaussian_log_likelihood, mse

        shape = (self.t.size, self.x.size)
        for what, a in (("mean", mean), ("var", var), ("truth", truth)):
            if a.ndim != 3 or tuple(a.shape[1:]) != shape or a.shape[0] != mean.shape[0]:
                raise ValueError(f"record({name!r}): {what} must have shape (B, n_t, n_x) = "
                                 f"({mean.shape[0]}, {shape[0]}, {shape[1]}); got {tuple(a.shape)}")
        d = self.values.setdefault(name, {})
        ce = torch.einsum("btx,cx->btc", mean, self.g) - self.b  # (B, n_t, n_c)
        m_e = evaluation_slice(mean, self.t, self.eval_time)
        v_e = evaluation_slice(var, self.t, self.eval_time).clamp_min(np.finfo(np.float64).tiny)
        y_e = evaluation_slice(truth, self.t, self.eval_time)
        for j in range(mean.shape[0]):
            d.setdefault("mse", []).append(mse(m_e[j], y_e[j]))
            d.setdefault("ll", []).append(float(gaussian_log_likelihood(m_e[j], v_e[j], y_e[j])))
            d.setdefault("crps", []).append(float(crps_gaussian(m_e[j], v_e[j], y_e[j])))
            d.setdefault("ce_eval", []).append(float(ce[j, self.i_eval].abs().max()))
            d.setdefault("ce_max", []).append(float(ce[j].abs().max()))
            d.setdefault("ce_rel", []).append(float(ce[j].abs().max()) / self.b_scale)
        if cov_eval is not None and self.thresholds is not None:
            pos = sample_shock_positions(m_e, cov_eval, self.x, [lv for lv, _ in self.thresholds],
                                         self.n_shock_samples, generator)  # (2, n, B)
            for key, (_, x_ref), p_k in zip(("shock_error", "shock_error_mid"), self.thresholds, pos, strict=True):
                d.setdefault(key, []).extend(np.abs(p_k.mean(axis=0) - x_ref).tolist())  # mean over the draws

    @property
    def models(self) -> list[str]:
        """The recorded model names, in order of first record."""
        return list(self.values)

    def summary(self, name: str) -> dict[str, Any]:
        """Mean and standard error over the functions of model ``name``.

        Returns
        -------
        dict
            ``mse``, ``mse_se``, ``ll``, ``ll_se``, ``crps``, ``crps_se``, ``ce_eval``,
            ``ce_eval_se``, ``ce_max``, ``ce_max_se``, ``ce_max_worst`` (max over the
            functions), ``ce_rel`` (max over the functions) and, with shock errors,
            ``shock_error(_se)``, ``shock_error_mid(_se)``, ``shock_threshold(_mid)``,
            ``shock_reference(_mid)``, ``true_front``, ``n_shock_samples``.
        """
        if name not in self.values:
            raise KeyError(f"no predictions recorded for {name!r}; recorded: {self.models}")
        d = self.values[name]
        out: dict[str, Any] = {}
        for key in _MEAN_KEYS:
            out[key], out[f"{key}_se"] = mean_and_se(d[key])
        out["ce_max_worst"] = float(max(d["ce_max"]))
        out["ce_rel"] = float(max(d["ce_rel"]))
        if "shock_error" in d:
            thr = self.thresholds
            assert thr is not None
            out["shock_error"], out["shock_error_se"] = mean_and_se(d["shock_error"])
            out["shock_error_mid"], out["shock_error_mid_se"] = mean_and_se(d["shock_error_mid"])
            out["shock_threshold"], out["shock_threshold_mid"] = thr[0][0], thr[1][0]
            out["shock_reference"], out["shock_reference_mid"] = thr[0][1], thr[1][1]
            out["true_front"] = None if self.true_front is None else float(self.true_front)
            out["n_shock_samples"] = self.n_shock_samples
        return out


# ----------------------------------------------------------------------------- test functions
@dataclass
class TestFunctions:
    """``n`` test functions of one parameter value on the evaluation grid (see :func:`make_test_functions`).

    Attributes
    ----------
    problem : ConservationProblem
    p : float
        Parameter value.
    t, x : ndarray, shapes ``(n_t,)``, ``(n_x,)``
        Evaluation grid.
    batch : ProblemBatch
        ``context_x (n, n_context, 2)``, ``context_y (n, n_context, 1)``, ``target_x`` (the whole
        grid, ``(n, n_t n_x, 2)``, or one point when made with ``n_target=1``), ``params (n, 1)``.
    truth : Tensor, shape ``(n, n_t, n_x)``
        Exact solution, float64.
    g : Tensor, shape ``(1, n_x)``
        Trapezoid weights of ``x`` (float64).
    b : Tensor, shape ``(n_t, 1)``
        Exact conserved quantity ``b(t)`` (float64).
    i_eval : int
        Index of the evaluation time in ``t``.
    thresholds : tuple or None
        :func:`front_levels` at ``t[i_eval]``.
    seed : tuple of int
        Seed of the context draws.
    """

    __test__ = False  # not a pytest class

    problem: Any
    p: float
    t: np.ndarray
    x: np.ndarray
    batch: Any
    truth: Tensor
    g: Tensor
    b: Tensor
    i_eval: int
    thresholds: Levels | None
    seed: tuple[int, ...]

    @property
    def n_functions(self) -> int:
        return int(self.truth.shape[0])

    @property
    def t_eval(self) -> float:
        return float(self.t[self.i_eval])

    @property
    def true_front(self) -> float | None:
        xf = self.problem.front_position(self.t_eval, self.p)
        return None if xf is None else float(np.asarray(xf))

    def accumulator(self, n_shock_samples: int) -> MetricAccumulator:
        """A :class:`MetricAccumulator` on this grid, constraint and shock levels."""
        return MetricAccumulator(self.t, self.x, self.g, self.b, self.problem.eval_time,
                                 thresholds=self.thresholds, n_shock_samples=n_shock_samples,
                                 true_front=self.true_front)

    def rows(self, acc: MetricAccumulator, names: Sequence[str], *, n_latent_samples: int) -> list[dict[str, Any]]:
        """One row per model: the benchmark's identification keys, then :meth:`MetricAccumulator.summary`.

        Keys: ``problem``, ``param``, ``test_value``, ``model``, ``n_functions``, ``eval_time``,
        ``grid`` (``"n_t x n_x"``), ``n_latent_samples``, the summary's keys, ``context_seed``.
        """
        rows = []
        for name in names:
            row: dict[str, Any] = {"problem": self.problem.name, "param": self.problem.param_name,
                                   "test_value": float(self.p), "model": name, "n_functions": self.n_functions,
                                   "eval_time": self.t_eval, "grid": f"{self.t.size}x{self.x.size}",
                                   "n_latent_samples": n_latent_samples}
            row.update(acc.summary(name))
            row["context_seed"] = list(self.seed)
            rows.append(row)
        return rows


def make_test_functions(problem: Any, p: float, *, eval_grid: tuple[int, int], n_functions: int,
                        seed: Sequence[int], n_context: int = 100, context_noise: float = 0.0,
                        n_target: int | None = None, dtype: torch.dtype = torch.float32) -> TestFunctions:
    """``n_functions`` test functions of ``problem`` at parameter ``p``.

    Each is a random set of ``n_context`` points of the exact solution on the
    ``eval_grid = (n_t, n_x)`` grid (plus noise of std ``context_noise``), drawn by
    ``np.random.default_rng([*seed, 0])``: the same ``seed`` gives the same contexts whatever
    ``n_target`` and ``dtype`` (targets are drawn after the contexts).

    Parameters
    ----------
    problem : ConservationProblem
    p : float
        Test parameter value.
    eval_grid : (int, int)
        ``(n_t, n_x)``.
    n_functions : int
        Number of test functions (``>= 1``).
    seed : sequence of int
        Context seed (the benchmark: ``(eval_seed, problem index, test value index)``).
    n_context : int
        Contexts per function.
    context_noise : float
        Standard deviation of the context noise (units of ``u``).
    n_target : int, optional
        ``None``: targets on the whole grid (for an ANP); an int: that many random targets
        (the field bases predict on the grid themselves).
    dtype : torch.dtype
        Dtype of the batch's tensors.
    """
    if isinstance(n_functions, bool) or int(n_functions) < 1:
        raise ValueError(f"n_functions must be an integer >= 1; got {n_functions!r}")
    from sciml.surrogates.probconserv.problems import nearest_time_index

    t, x = problem.target_grid(*eval_grid)
    i_eval = nearest_time_index(t, problem.eval_time)
    G, b_fn = problem.constraint(t, x)
    params = np.full(int(n_functions), float(p))
    rng = np.random.default_rng([*seed, 0])
    batch = problem.sample_batch(params, n_context=n_context, n_target=n_target, rng=rng, grid=tuple(eval_grid),
                                 noise_std=context_noise, dtype=dtype)
    truth = torch.as_tensor(problem.solution_on_grid(params, t, x))  # float64
    b = torch.as_tensor(b_fn(params[:1]))[0]  # (n_t, 1): the same for every function
    return TestFunctions(problem=problem, p=float(p), t=t, x=x, batch=batch, truth=truth,
                         g=torch.as_tensor(G, dtype=torch.float64), b=b, i_eval=i_eval,
                         thresholds=front_levels(problem, float(p), float(t[i_eval])),
                         seed=tuple(int(v) for v in seed))


# ----------------------------------------------------------------------------- ANP variants
@dataclass
class VariantPrediction:
    """One model variant's prediction for a batch of ``B`` test functions (float64, CPU).

    Attributes
    ----------
    mean, variance : Tensor, shape ``(B, n_t, n_x)``
        Predictive mean (units of ``u``) and marginal variance (``u**2``) on the grid.
    cov_eval : Tensor, shape ``(B, n_x, n_x)``, optional
        Full covariance at the evaluation time (``None`` when not asked for).
    """

    mean: Tensor
    variance: Tensor
    cov_eval: Tensor | None


def anp_variants(model: Any, test: TestFunctions, functions: slice | None = None, *, n_latent_samples: int,
                 generator: torch.Generator | None = None, target_chunk: int | None = None,
                 name: str = "ANP", updates: bool = True, full_cov: bool = True) -> dict[str, VariantPrediction]:
    """Predictions of an ANP and of its conservation-updated variants for some test functions.

    ``S = n_latent_samples`` latent draws on the whole grid (cast to float64): ``name`` is
    their equal mixture (moments; full covariance at ``t_eval`` by :func:`mixture_full_cov`);
    with ``updates``, ``HardC-<name>`` and ``ProbConserv-<name>`` are
    :func:`~sciml.surrogates.probconserv.conservation_update_samples` with ``hard=True``
    (projection of the mean, variance unchanged) and ``hard=False`` (``sigma_G = 0``), with
    ``G = test.g`` and ``b = test.b``; their full covariance at ``t_eval`` is that of the update
    restricted to that time.

    Parameters
    ----------
    model : AttentiveNeuralProcess
        Trained model (any device).
    test : TestFunctions
        Made with ``n_target=None`` (targets = the whole grid).
    functions : slice, optional
        Which test functions (default: all).
    n_latent_samples : int
        ``S``.
    generator : torch.Generator, optional
        Stream of the latent draws (consumed).
    target_chunk : int, optional
        See :meth:`AttentiveNeuralProcess.predict`.
    name : str
        Label of the mixture (``"ANP"``; e.g. ``"SoftC-ANP"`` with ``updates=False``).
    updates : bool
        Also return the HardC and ProbConserv variants.
    full_cov : bool
        Compute the covariances at the evaluation time.

    Returns
    -------
    dict name -> VariantPrediction
        Keys ``name``, ``"HardC-<name>"``, ``"ProbConserv-<name>"`` (the latter two only with
        ``updates``), in that order.
    """
    from sciml.surrogates.probconserv.update import conservation_update_samples

    sl = functions if functions is not None else slice(None)
    n_t, n_x = test.t.size, test.x.size
    cx, cy, tx = test.batch.context_x[sl], test.batch.context_y[sl], test.batch.target_x[sl]
    if tx.shape[1] != n_t * n_x:
        raise ValueError(f"anp_variants: the test functions' targets must be the whole {n_t}x{n_x} grid "
                         f"(make_test_functions(n_target=None)); got {tx.shape[1]} targets")
    device = next(model.parameters()).device
    pred = model.predict(cx.to(device), cy.to(device), tx.to(device), n_samples=n_latent_samples,
                         generator=generator, target_chunk=target_chunk)
    nb = cx.shape[0]
    means = pred.means[..., 0].cpu().to(torch.float64).reshape(-1, nb, n_t, n_x)
    varis = pred.variances[..., 0].cpu().to(torch.float64).reshape(-1, nb, n_t, n_x)
    mix_mean = means.mean(0)
    mix_var = varis.mean(0) + ((means - mix_mean) ** 2).mean(0)
    i = test.i_eval
    out = {name: VariantPrediction(mix_mean, mix_var,
                                   mixture_full_cov(means[:, :, i], varis[:, :, i]) if full_cov else None)}
    if not updates:
        return out
    ev = slice(i, i + 1)
    for label, hard in ((f"HardC-{name}", True), (f"ProbConserv-{name}", False)):
        upd = conservation_update_samples(means, varis, test.g, test.b, hard=hard)
        cov = None
        if full_cov:
            cov = conservation_update_samples(means[:, :, ev], varis[:, :, ev], test.g, test.b[ev], hard=hard,
                                              return_full_cov=True).cov[:, 0]
        out[label] = VariantPrediction(upd.mean, upd.variance, cov)
    return out


def evaluate_anps(models: Mapping[str, Any], test: TestFunctions, *, n_latent_samples: int, n_shock_samples: int,
                  seed: Sequence[int], eval_batch: int = 5, target_chunk: int | None = None,
                  updates: Sequence[str] = ("ANP",)) -> MetricAccumulator:
    """Metrics of ANPs and their conservation-updated variants on all test functions.

    The test functions are taken in chunks of ``eval_batch``; for chunk ``start`` and the
    ``m``-th model, one generator seeded by ``SeedSequence((*seed, 1, start, m))`` gives the
    latent draws (:func:`anp_variants`) and then the shock draws of the variants, recorded in
    the order ``name``, ``HardC-<name>``, ``ProbConserv-<name>`` (the updates only for the
    names in ``updates``). The numbers of a model therefore depend only on its position in
    ``models``, not on the other models.

    Parameters
    ----------
    models : mapping name -> AttentiveNeuralProcess
        E.g. ``{"ANP": anp, "SoftC-ANP": softc}``.
    test : TestFunctions
        From :func:`make_test_functions` with ``n_target=None``.
    n_latent_samples, n_shock_samples : int
        Latent draws of the ANP; draws for the shock-position errors.
    seed : sequence of int
        The test functions' seed (``test.seed``).
    eval_batch : int
        Test functions per prediction.
    target_chunk : int, optional
        See :meth:`AttentiveNeuralProcess.predict`.
    updates : sequence of str
        Models that also get the HardC and ProbConserv variants.

    Returns
    -------
    MetricAccumulator
        ``test.rows(acc, names, n_latent_samples=...)`` gives the rows.
    """
    if isinstance(eval_batch, bool) or int(eval_batch) < 1:
        raise ValueError(f"eval_batch must be an integer >= 1; got {eval_batch!r}")
    unknown = [u for u in updates if u not in models]
    if unknown:
        raise ValueError(f"updates {unknown} are not among the models {list(models)}")
    acc = test.accumulator(n_shock_samples)
    full_cov = test.thresholds is not None
    n = test.n_functions
    for start in range(0, n, eval_batch):
        sl = slice(start, min(start + eval_batch, n))
        tru = test.truth[sl]
        for m_idx, (name, model) in enumerate(models.items()):
            gen = torch.Generator().manual_seed(int(np.random.SeedSequence([*seed, 1, start, m_idx])
                                                    .generate_state(1)[0]))
            preds = anp_variants(model, test, sl, n_latent_samples=n_latent_samples, generator=gen,
                                 target_chunk=target_chunk, name=name, updates=name in updates, full_cov=full_cov)
            for label, pr in preds.items():  # one stream per chunk and model, in this order
                acc.record(label, pr.mean, pr.variance, pr.cov_eval, tru, gen)
    return acc


def profiles_and_positions(preds: Mapping[str, VariantPrediction], test: TestFunctions, function: int = 0, *,
                           n_samples: int = 1000, generator: torch.Generator | int = 0,
                           level: float | None = None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                                dict[str, np.ndarray]]:
    """Profiles at the evaluation time and front positions of posterior draws, for plotting.

    Parameters
    ----------
    preds : mapping name -> VariantPrediction
        From :func:`anp_variants` (with ``full_cov=True`` for the positions).
    test : TestFunctions
        The test functions of ``preds``.
    function : int
        Which function of the predicted batch.
    n_samples : int
        Draws from ``N(mean, Sigma)`` with the FULL covariance at ``t_eval`` per variant.
    generator : torch.Generator or int
        Stream of the draws (one stream, consumed in the order of ``preds``).
    level : float, optional
        Front level; default the primary level of ``test.thresholds`` (no positions without it).

    Returns
    -------
    profiles : dict name -> (mean, variance)
        Arrays of shape ``(n_x,)`` at ``t_eval`` (for :func:`sciml.viz.uncertainty.plot_profiles_with_bands`).
    positions : dict name -> ndarray, shape ``(n_samples,)``
        Front positions of the draws (for :func:`sciml.viz.uncertainty.plot_position_histograms`);
        empty without a front level or covariances.
    """
    i = test.i_eval
    profiles = {name: (p.mean[function, i].numpy(), p.variance[function, i].numpy()) for name, p in preds.items()}
    if level is None and test.thresholds is not None:
        level = test.thresholds[0][0]
    positions: dict[str, np.ndarray] = {}
    if level is None:
        return profiles, positions
    gen = generator if isinstance(generator, torch.Generator) else torch.Generator().manual_seed(int(generator))
    for name, p in preds.items():
        if p.cov_eval is None:
            continue
        pos = sample_shock_positions(p.mean[function:function + 1, i], p.cov_eval[function:function + 1], test.x,
                                     [level], n_samples, gen)
        positions[name] = pos[0, :, 0]
    return profiles, positions
