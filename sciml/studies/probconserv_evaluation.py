"""Evaluation of the ProbConserv study: test functions, the variants' predictions, metrics.

One code path for ``sciml bench probconserv``, the ``probconserv_study`` workflow step and the
notebook:

* :func:`make_test_functions` — ``n`` test functions of one parameter value: random context
  sets of the exact solution on the evaluation grid, the exact solution in float64, the
  constraint ``G``, ``b(t)`` and the shock levels (:class:`TestFunctions`);
* :func:`anp_variants` — for an ANP and a batch of test functions, the predictions of the
  variants ``ANP`` (the mixture of the latent draws), ``HardC-ANP`` and ``ProbConserv-ANP``
  (the :class:`~sciml.surrogates.probconserv.ProbConserv` wrapper, ``hard=True`` / ``False``,
  ``sigma_G = 0``): mean and variance on the whole grid and the full covariance at the
  evaluation time (:class:`VariantPrediction`);
* :func:`evaluate_anps` — the metrics (:class:`~sciml.uq.field_metrics.FieldMetrics`) of ANPs
  and their variants over all test functions, with the benchmark's seeding;
  :func:`profiles_and_positions` — one function's profiles and front positions of posterior
  draws, for plots; :func:`front_levels` — the shock levels and reference positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.surrogates.posterior import SeedLike, as_generator
from sciml.surrogates.probconserv import FieldInputs, LinearConstraint, ProbConserv, ProblemBatch
from sciml.surrogates.probconserv.posteriors import mixture_full_cov
from sciml.surrogates.probconserv.problems import ConservationProblem, nearest_time_index
from sciml.surrogates.probconserv.update import conservation_update_samples
from sciml.uq.field_metrics import FieldMetrics, Levels, sample_shock_positions
from sciml.uq.metrics import shock_position

__all__ = [
    "FRONT_LEVEL",
    "TestFunctions",
    "VariantPrediction",
    "anp_variants",
    "evaluate_anps",
    "front_levels",
    "make_test_functions",
    "profiles_and_positions",
]

#: Primary shock threshold, as a fraction of the jump at the front above the state ahead of it.
FRONT_LEVEL = 0.1


def front_levels(problem: ConservationProblem, p: float, t_eval: float) -> Levels | None:
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

    problem: ConservationProblem
    p: float
    t: np.ndarray
    x: np.ndarray
    batch: ProblemBatch
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

    def inputs(self, functions: slice | None = None, *, seed: SeedLike = 0, n_samples: int = 50,
               target_chunk: int | None = None, params: bool = False) -> FieldInputs:
        """:class:`~sciml.surrogates.probconserv.FieldInputs` of some test functions on the evaluation grid.

        Their contexts (and, with ``params=True``, their parameters), the draws' ``seed``,
        ``n_samples`` latent draws and ``target_chunk``.
        """
        sl = functions if functions is not None else slice(None)
        return FieldInputs(self.t, self.x, context_x=self.batch.context_x[sl], context_y=self.batch.context_y[sl],
                           params=self.batch.params[sl] if params else None, seed=seed, n_samples=n_samples,
                           target_chunk=target_chunk)

    def accumulator(self, n_shock_samples: int) -> FieldMetrics:
        """A :class:`~sciml.uq.field_metrics.FieldMetrics` on this grid, constraint and shock levels."""
        return FieldMetrics(self.t, self.x, self.g, self.b, self.problem.eval_time,
                                 thresholds=self.thresholds, n_shock_samples=n_shock_samples,
                                 true_front=self.true_front)

    def rows(self, acc: FieldMetrics, names: Sequence[str], *, n_latent_samples: int) -> list[dict[str, Any]]:
        """One row per model: the benchmark's identification keys, then :meth:`~sciml.uq.field_metrics.FieldMetrics.summary`.

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


def make_test_functions(problem: ConservationProblem, p: float, *, eval_grid: tuple[int, int], n_functions: int,
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
                 generator: SeedLike = 0, target_chunk: int | None = None,
                 name: str = "ANP", updates: bool = True, full_cov: bool = True) -> dict[str, VariantPrediction]:
    """Predictions of an ANP and of its conservation-updated variants for some test functions.

    ``S = n_latent_samples`` latent draws on the whole grid (``model.predict``, float64):
    ``name`` is their equal mixture (moments; full covariance at ``t_eval`` by
    :func:`~sciml.surrogates.probconserv.posteriors.mixture_full_cov`); with ``updates``,
    ``HardC-<name>`` and ``ProbConserv-<name>`` condition that same posterior with
    :class:`~sciml.surrogates.probconserv.ProbConserv` (``hard=True``: projection of the mean,
    variance unchanged; ``hard=False``: ``sigma_G = 0``) on ``G = test.g``, ``b = test.b``; their
    full covariance at ``t_eval`` is that of
    :func:`~sciml.surrogates.probconserv.conservation_update_samples` restricted to that time.

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
    generator : int or torch.Generator
        Seed or stream of the latent draws (a generator is consumed).
    target_chunk : int, optional
        See :meth:`~sciml.surrogates.probconserv.AttentiveNeuralProcess.predict_targets`.
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
    sl = functions if functions is not None else slice(None)
    n_t, n_x = test.t.size, test.x.size
    if test.batch.target_x.shape[1] != n_t * n_x:
        raise ValueError(f"anp_variants: the test functions' targets must be the whole {n_t}x{n_x} grid "
                         f"(make_test_functions(n_target=None)); got {test.batch.target_x.shape[1]} targets")
    inputs = test.inputs(sl, seed=generator, n_samples=n_latent_samples, target_chunk=target_chunk)
    post = model.predict(inputs)
    means, varis = post.means, post.variances
    i = test.i_eval
    out = {name: VariantPrediction(post.mean, post.variance,
                                   mixture_full_cov(means[:, :, i], varis[:, :, i]) if full_cov else None)}
    if not updates:
        return out
    ev = slice(i, i + 1)
    constraint = LinearConstraint(test.g, test.b)
    for label, hard in ((f"HardC-{name}", True), (f"ProbConserv-{name}", False)):
        upd = ProbConserv(model, constraint, hard=hard).condition(post, inputs)
        cov = None
        if full_cov:
            cov = conservation_update_samples(means[:, :, ev], varis[:, :, ev], test.g, test.b[ev], hard=hard,
                                              return_full_cov=True).cov[:, 0]
        out[label] = VariantPrediction(upd.mean, upd.variance, cov)
    return out


def evaluate_anps(models: Mapping[str, Any], test: TestFunctions, *, n_latent_samples: int, n_shock_samples: int,
                  seed: Sequence[int], eval_batch: int = 5, target_chunk: int | None = None,
                  updates: Sequence[str] = ("ANP",)) -> FieldMetrics:
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
        See :meth:`~sciml.surrogates.probconserv.AttentiveNeuralProcess.predict_targets`.
    updates : sequence of str
        Models that also get the HardC and ProbConserv variants.

    Returns
    -------
    FieldMetrics
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
    gen = as_generator(generator)
    for name, p in preds.items():
        if p.cov_eval is None:
            continue
        pos = sample_shock_positions(p.mean[function:function + 1, i], p.cov_eval[function:function + 1], test.x,
                                     [level], n_samples, gen)
        positions[name] = pos[0, :, 0]
    return profiles, positions
