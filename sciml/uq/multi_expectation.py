"""Several expectations from one sample: adaptive importance sampling with control variates.

Estimates ``I_j = E_f[phi_j(X)]``, ``j = 1..J``, for an input density ``f`` with a budget of ``N``
evaluations of the integrands ``phi = (phi_1..phi_J)``, following Demange-Chryst, Bachoc & Morio
("Efficient estimation of multiple expectations with the same sample by adaptive importance
sampling and control variates", Stat. Comput. 2023):

1. **Estimator for a proposal** ``g``: importance weights ``w = f / g`` and control variates
   ``h`` of known mean 0 under ``g``, fitted by least squares on the sample (Owen & Zhou 2000)::

       I_j ~ mean_i [ w_i phi_j(x_i) - beta_j . h(x_i) ]

   The control variates are ``f / g - 1`` (the paper's: with coefficient ``I_j`` it centres
   ``phi_j``), ``q_k / g - 1`` for every component ``q_k`` of the mixture proposal (the
   proposal's known moments: each ratio has mean 1 under ``g``), and ``w (h_l - m_l)`` for any
   user functions ``h_l`` with known ``E_f[h_l] = m_l``.
2. **Target**: with the centring control variate the variance of the sum of the squared
   normalised errors ``sum_j Var(I_j) / s_j^2`` is smallest for the proposal
   ``g* ~ f sqrt(sum_j (phi_j - I_j)^2 / s_j^2)``, which needs the unknown ``I_j``;
   ``s_j = |I_j|`` (``criterion="relative"``: the sum of squared coefficients of variation;
   floored at the estimate's standard error) or ``s_j = sd_f(phi_j)``
   (``criterion="variance"``: the sum of the variance ratios to plain Monte Carlo).
3. **Adaptation**: stage 0 samples ``f``; after each stage of ``n_stage`` draws the ``I_j`` are
   re-estimated (inverse-variance pooled over the stages) and a Gaussian mixture is fitted to
   ``g*`` by weighted EM (cross entropy, a few k-means++ restarts, covariances floored at a
   fraction of the input covariance) on all draws so far, weights
   ``f / g_stage * sqrt(sum_j (phi_j - I_j)^2 / s_j^2)``; the next proposal is the defensive
   mixture ``lambda f + (1 - lambda) mixture`` (Hesterberg 1995), which bounds ``w <= 1/lambda``.
4. **Stopping** (the budget trade-off): after stage ``k`` the predicted error of finishing with
   its proposal is ``E_k = V_k / (N - n_used)``, ``V_k`` the estimated per-draw criterion;
   adaptation stops when ``E_k`` no longer decreases, or at ``max_stages``.
5. **Final estimate**: the remaining budget is drawn afresh from the proposal of smallest
   ``E_k``; the control-variate coefficients come from that proposal's adaptation stage
   (``coefficients="pilot"``: independent of the final draws, so the estimates are unbiased)
   or are refitted on the final draws (``"final"``: bias ``O(1/N)``).

The structure (IS + control-variate estimators, the optimal proposal that depends on the unknown
``I_j``, adaptive updates towards it, a budget-based stopping rule, an independent final sample)
is the paper's; the proposal family (a defensive Gaussian mixture fitted by cross entropy), the
covariance floor and the exact form of the stopping rule are choices of this implementation.

References: J. Demange-Chryst, F. Bachoc, J. Morio, Stat. Comput. 33 (2023); A. Owen, Y. Zhou,
JASA 95 (2000) 135 (mixture importance sampling with control variates); T. Hesterberg,
Technometrics 37 (1995) 185 (defensive mixtures); R. Rubinstein, D. Kroese, *The Cross-Entropy
Method* (2004).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sciml.uq.metrics import MetricInputError, _np

__all__ = ["GaussianMixtureProposal", "MultiExpectationEstimate", "estimate_expectations"]

Criterion = Literal["relative", "variance"]


# ============================================================================ densities
class _Nominal:
    """The input density ``f``: a scipy frozen distribution of ``d`` variables, or a sequence of
    ``d`` frozen univariate distributions (independent inputs)."""

    def __init__(self, dist: Any) -> None:
        self.parts = list(dist) if isinstance(dist, Sequence) else [dist]
        for p in self.parts:
            if not (hasattr(p, "rvs") and hasattr(p, "logpdf")):
                raise MetricInputError(f"the input distribution needs rvs and logpdf (a scipy frozen distribution); "
                                       f"got {type(p).__name__}")
        self.independent = isinstance(dist, Sequence)
        probe = np.asarray(self.parts[0].rvs(size=2, random_state=np.random.default_rng(0)), dtype=np.float64)
        self.d = len(self.parts) if self.independent else (probe.reshape(2, -1).shape[1])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.independent:
            return np.column_stack([np.asarray(p.rvs(size=n, random_state=rng), dtype=np.float64).reshape(n)
                                    for p in self.parts])
        return np.asarray(self.parts[0].rvs(size=n, random_state=rng), dtype=np.float64).reshape(n, self.d)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        if self.independent:
            return np.sum([np.asarray(p.logpdf(x[:, i]), dtype=np.float64) for i, p in enumerate(self.parts)], axis=0)
        arg = x if self.d > 1 else x[:, 0]
        return np.asarray(self.parts[0].logpdf(arg), dtype=np.float64).reshape(x.shape[0])


@dataclass(frozen=True)
class GaussianMixtureProposal:
    """The proposal ``lambda f + (1 - lambda) sum_k a_k N(m_k, C_k)`` (``weights`` empty: ``f``).

    Attributes
    ----------
    defensive : float
        ``lambda``, the weight of the input density ``f``.
    weights : ndarray, shape ``(K,)``
    means : ndarray, shape ``(K, d)``
    covs : ndarray, shape ``(K, d, d)``
    """

    defensive: float
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @property
    def n_components(self) -> int:
        """``K``."""
        return int(self.weights.size)

    def component_logpdf(self, x: np.ndarray) -> np.ndarray:
        """``log N(x; m_k, C_k)``, shape ``(n, K)``."""
        chol = np.linalg.cholesky(self.covs)
        inv = np.linalg.inv(chol)
        maha = np.column_stack([np.sum(((x - self.means[k]) @ inv[k].T) ** 2, axis=1)
                                for k in range(self.n_components)]).reshape(x.shape[0], self.n_components)
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        return -0.5 * maha - log_det - 0.5 * x.shape[1] * np.log(2 * np.pi)

    def log_terms(self, x: np.ndarray, log_f: np.ndarray) -> np.ndarray:
        """``log f`` and ``log q_k`` side by side, shape ``(n, K + 1)``."""
        return np.column_stack([log_f, self.component_logpdf(x)])

    def mixture_logs(self) -> np.ndarray:
        """``log`` of the weights ``(lambda, (1 - lambda) a_k)``, shape ``(K + 1,)``."""
        if self.n_components == 0:
            return np.zeros(1)
        with np.errstate(divide="ignore"):
            return np.log(np.concatenate([[self.defensive], (1 - self.defensive) * self.weights]))

    def sample(self, n: int, nominal: _Nominal, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws (components picked at random, rows shuffled)."""
        if self.n_components == 0:
            return nominal.sample(n, rng)
        counts = rng.multinomial(n, np.exp(self.mixture_logs()))
        parts = [nominal.sample(int(counts[0]), rng)] if counts[0] else []
        for k in range(self.n_components):
            if counts[k + 1]:
                z = rng.standard_normal((int(counts[k + 1]), self.means.shape[1]))
                parts.append(self.means[k] + z @ np.linalg.cholesky(self.covs[k]).T)
        x = np.concatenate(parts)
        return x[rng.permutation(n)]


# ============================================================================ estimator
@dataclass(frozen=True)
class _Stage:
    proposal: GaussianMixtureProposal
    x: np.ndarray
    log_w: np.ndarray
    phi: np.ndarray
    estimate: np.ndarray
    std_error: np.ndarray
    beta: np.ndarray
    scales: np.ndarray
    criterion: float


def _design(x: np.ndarray, proposal: GaussianMixtureProposal, log_f: np.ndarray,
            cv: tuple[Callable[[np.ndarray], Any], np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(log w (n,), control variates h (n, L))``, each ``h`` of mean 0 under the proposal."""
    if proposal.n_components == 0:
        log_g, ratios = log_f, np.zeros((x.shape[0], 0))
    else:
        terms = proposal.log_terms(x, log_f)
        log_g = _lse(terms + proposal.mixture_logs())
        ratios = np.exp(terms - log_g[:, None]) - 1.0  # f/g - 1 and q_k/g - 1
    log_w = log_f - log_g
    cols = [ratios]
    if cv is not None:
        fn, means = cv
        h = _np(fn(x), "control_variates(x)").reshape(x.shape[0], -1)
        if h.shape[1] != means.size:
            raise MetricInputError(f"control_variates returned {h.shape[1]} column(s) for {means.size} cv_means")
        cols.append(np.exp(log_w)[:, None] * (h - means))
    return log_w, np.concatenate(cols, axis=1)


def _regress(z: np.ndarray, h: np.ndarray, beta: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimates (J,), standard errors (J,), beta (J, L))`` of ``mean(z - h beta^T)``."""
    n = z.shape[0]
    rank = 0
    if beta is None:
        hc, zc = h - h.mean(axis=0), z - z.mean(axis=0)
        lam, vec = np.linalg.eigh(hc.T @ hc)
        keep = lam > 1e-10 * lam.max() if lam.size and lam.max() > 0 else np.zeros(lam.shape, dtype=bool)
        beta = (zc.T @ hc) @ ((vec[:, keep] / lam[keep]) @ vec[:, keep].T)
        rank = int(keep.sum())
    resid = z - h @ beta.T
    dof = max(n - 1 - rank, 1)
    var = np.sum((resid - resid.mean(axis=0)) ** 2, axis=0) / dof
    return resid.mean(axis=0), np.sqrt(var / n), beta


def _scales(est: np.ndarray, se: np.ndarray, second_moment: np.ndarray, criterion: Criterion) -> np.ndarray:
    """``s_j``: ``max(|I_j|, se_j)`` or ``sd_f(phi_j) = sqrt(E_f[phi_j^2] - I_j^2)``; ``inf`` where 0."""
    if criterion == "relative":
        s = np.maximum(np.abs(est), se)
    else:
        s = np.sqrt(np.maximum(second_moment - est**2, 0.0))
    return np.where(s > 0, s, np.inf)


def _stage(x: np.ndarray, proposal: GaussianMixtureProposal, nominal: _Nominal, integrands: Callable[..., Any],
           cv: Any, criterion: Criterion, remaining: int, n_phi: int | None) -> _Stage:
    log_f = nominal.logpdf(x)
    phi = _np(integrands(x), "integrands(x)").reshape(x.shape[0], -1)
    if n_phi is not None and phi.shape[1] != n_phi:
        raise MetricInputError(f"integrands returned {phi.shape[1]} column(s), earlier {n_phi}")
    log_w, h = _design(x, proposal, log_f, cv)
    w = np.exp(log_w)[:, None]
    est, se, beta = _regress(w * phi, h, None)
    s = _scales(est, se, np.mean(w * phi**2, axis=0), criterion)
    crit = float(np.sum(x.shape[0] * se**2 / s**2)) / max(remaining, 1)
    return _Stage(proposal, x, log_w, phi, est, se, beta, s, crit)


# ============================================================================ adaptation
def _lse(a: np.ndarray) -> np.ndarray:
    """``log sum exp`` over the last axis (rows with a finite entry)."""
    top = a.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(a - top).sum(axis=1))


def _em(x: np.ndarray, wn: np.ndarray, a: np.ndarray, m: np.ndarray, c: np.ndarray, reg: np.ndarray,
        n_iter: int, tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted EM from ``(a, m, c)`` until the cross-entropy objective
    ``sum_i wn_i log sum_k a_k N(x_i; m_k, c_k)`` gains less than ``tol``; returns the mixture and it."""
    a, m, c = a.copy(), m.copy(), c.copy()
    previous = -np.inf
    for it in range(n_iter + 1):
        with np.errstate(divide="ignore"):
            logp = GaussianMixtureProposal(0.0, a, m, c).component_logpdf(x) + np.log(a)
        log_mix = _lse(logp)
        objective = float(wn @ log_mix)
        if it == n_iter or objective - previous < tol:
            break
        previous = objective
        resp = np.exp(logp - log_mix[:, None]) * wn[:, None]
        mass = resp.sum(axis=0)
        for j in np.nonzero(mass > 1e-12)[0]:
            m[j] = resp[:, j] @ x / mass[j]
            dx = x - m[j]
            c[j] = dx.T @ (dx * resp[:, j][:, None]) / mass[j] + reg
        a = np.maximum(mass, 1e-12) / np.maximum(mass, 1e-12).sum()
    return a, m, c, objective


def _seed_means(x: np.ndarray, wn: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted k-means++ seeding: the first centre drawn by weight, the next by weight x squared distance."""
    centres = [x[rng.choice(x.shape[0], p=wn)]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1) * wn
        centres.append(x[rng.choice(x.shape[0], p=d2 / d2.sum())] if d2.sum() > 0 else centres[-1])
    return np.asarray(centres)


def _fit_mixture(x: np.ndarray, weights: np.ndarray, start: GaussianMixtureProposal, k: int, floor: np.ndarray,
                 rng: np.random.Generator, n_restarts: int = 2, n_iter: int = 50,
                 min_weight: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-entropy fit of a ``k``-component Gaussian mixture to the weighted draws: weighted EM
    from ``start`` (when it has ``k`` components) and from ``n_restarts`` k-means++ seedings, the
    best objective kept; ``floor`` is added to every covariance and components lighter than
    ``min_weight`` are dropped (both keep the control variates ``q_k / g`` bounded)."""
    d = x.shape[1]
    wn = weights / weights.sum()
    mean_all = wn @ x
    cov_all = (x - mean_all).T @ ((x - mean_all) * wn[:, None]) + floor
    starts = [(start.weights, start.means, start.covs)] if start.n_components == k else []
    for _ in range(n_restarts):
        starts.append((np.full(k, 1.0 / k), _seed_means(x, wn, k, rng),
                       np.repeat(cov_all[None] / k ** (2.0 / d), k, axis=0)))
    fits = [_em(x, wn, a, m, c, floor, n_iter) for a, m, c in starts]
    a, m, c, _ = max(fits, key=lambda f: f[3])
    keep = a >= min_weight if np.any(a >= min_weight) else a == a.max()
    return a[keep] / a[keep].sum(), m[keep], c[keep]


def _pooled(stages: list[_Stage]) -> np.ndarray:
    """Inverse-variance combination of the stages' estimates (the current guess of ``I_j``)."""
    est = np.stack([st.estimate for st in stages])
    se2 = np.stack([st.std_error for st in stages]) ** 2
    inv = np.where(se2 > 0, 1.0 / np.where(se2 > 0, se2, 1.0), 0.0)
    tot = inv.sum(axis=0)
    return np.where(tot > 0, (inv * est).sum(axis=0) / np.where(tot > 0, tot, 1.0), est.mean(axis=0))


def _adapt(stages: list[_Stage], k: int, defensive: float, cov_floor: float,
           rng: np.random.Generator) -> GaussianMixtureProposal | None:
    """Cross-entropy fit of the mixture to ``g*`` on every draw so far (None: no information)."""
    s = stages[-1].scales
    x = np.concatenate([st.x for st in stages])
    log_w = np.concatenate([st.log_w for st in stages])
    phi = np.concatenate([st.phi for st in stages])
    psi = np.sqrt(np.sum((phi - _pooled(stages)) ** 2 / s**2, axis=1))  # s = inf: the term is 0
    weights = np.exp(log_w - log_w.max()) * psi
    if not np.any(weights > 0):
        return None
    x0 = stages[0].x  # draws of f: the scale of the covariance floor
    floor = cov_floor * np.atleast_2d(np.cov(x0, rowvar=False)) + 1e-12 * np.eye(x.shape[1])
    a, m, c = _fit_mixture(x, weights, stages[-1].proposal, k, floor, rng)
    return GaussianMixtureProposal(defensive, a, m, c)


@dataclass(frozen=True)
class MultiExpectationEstimate:
    """Estimates of ``E_f[phi_j]`` from :func:`estimate_expectations`.

    Attributes
    ----------
    estimate, std_error : ndarray, shape ``(J,)``
        From the final draws only.
    n_evaluations, n_adaptation, n_final : int
        Budget used in all, in the adaptation stages, and in the final sample.
    n_stages : int
        Adaptation stages run (stage 0 samples ``f``).
    criterion : tuple of float
        Predicted final error ``E_k`` after each stage.
    proposal : GaussianMixtureProposal
        The proposal of the final sample.
    coefficients : str
        ``"pilot"`` or ``"final"``.
    """

    estimate: np.ndarray
    std_error: np.ndarray
    n_evaluations: int
    n_adaptation: int
    n_final: int
    n_stages: int
    criterion: tuple[float, ...]
    proposal: GaussianMixtureProposal
    coefficients: str


def _check_int(v: Any, name: str, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise MetricInputError(f"{name} must be an integer >= {low}; got {v!r}")
    return int(v)


def _check_options(defensive: float, cov_floor: float, criterion: str, coefficients: str,
                   control_variates: Any, cv_means: Any) -> None:
    """The scalar options of :func:`estimate_expectations`."""
    if not 0.0 < float(defensive) < 1.0:
        raise MetricInputError(f"defensive must lie in (0, 1); got {defensive!r}")
    if not 0.0 <= float(cov_floor) < np.inf:
        raise MetricInputError(f"cov_floor must be a finite number >= 0; got {cov_floor!r}")
    if criterion not in ("relative", "variance") or coefficients not in ("pilot", "final"):
        raise MetricInputError(f"criterion must be 'relative' or 'variance' and coefficients 'pilot' or 'final'; "
                               f"got {criterion!r}, {coefficients!r}")
    if (control_variates is None) != (cv_means is None):
        raise MetricInputError("control_variates and cv_means go together")


def estimate_expectations(integrands: Callable[[np.ndarray], Any], distribution: Any, budget: int, *,
                          n_stage: int | None = None, max_stages: int = 8, n_components: int = 3,
                          defensive: float = 0.1, cov_floor: float = 0.1, criterion: Criterion = "relative",
                          control_variates: Callable[[np.ndarray], Any] | None = None, cv_means: Any = None,
                          coefficients: Literal["pilot", "final"] = "pilot", seed: int = 0) -> MultiExpectationEstimate:
    """Estimate ``E_f[phi_j(X)]``, ``j = 1..J``, from one adaptive importance sample (module docstring).

    Parameters
    ----------
    integrands : callable
        ``phi(X (n, d)) -> (n, J)`` (or ``(n,)`` for ``J = 1``), vectorised.
    distribution : scipy frozen distribution or sequence of univariate ones
        The input density ``f`` (``rvs(size, random_state)`` and ``logpdf``).
    budget : int
        Total evaluations ``N`` of the integrands (adaptation and final sample).
    n_stage : int, optional
        Draws per adaptation stage (default ``budget // 10``).
    max_stages : int
        At most this many adaptation stages (at least 1: stage 0 samples ``f``).
    n_components : int
        Gaussian components of the adapted mixture.
    defensive : float
        Weight of ``f`` in every adapted proposal, in ``(0, 1)``.
    cov_floor : float
        Every adapted covariance gets ``cov_floor`` times the covariance of the stage-0 draws of
        ``f`` added (``>= 0``): few weighted draws in a region cannot make a degenerate component.
    criterion : {"relative", "variance"}
        Normalisation ``s_j`` of the errors that the proposal minimises.
    control_variates : callable, optional
        ``h(X (n, d)) -> (n, L)`` with known means ``cv_means`` ``(L,)`` under ``f``.
    coefficients : {"pilot", "final"}
        Control-variate coefficients from the adaptation stage (unbiased) or the final draws.
    seed : int

    Raises
    ------
    MetricInputError
        Bad budget, stage size (the final sample needs at least ``n_stage`` draws), numbers of
        stages or components, ``defensive``, ``criterion``, ``coefficients``, a control variate
        without its means, or integrands returning a wrong shape or non-finite values.
    """
    nominal = _Nominal(distribution)
    budget = _check_int(budget, "budget", 4)
    n_stage = _check_int(budget // 10 if n_stage is None else n_stage, "n_stage", 2)
    if 2 * n_stage > budget:
        raise MetricInputError(f"budget {budget} must hold one stage and a final sample of n_stage = {n_stage} draws")
    max_stages, n_components = _check_int(max_stages, "max_stages", 1), _check_int(n_components, "n_components", 1)
    _check_options(defensive, cov_floor, criterion, coefficients, control_variates, cv_means)
    cv = None if control_variates is None else (control_variates, _np(cv_means, "cv_means").ravel())
    rng = np.random.default_rng(seed)
    proposal = GaussianMixtureProposal(1.0, np.zeros(0), np.zeros((0, nominal.d)), np.zeros((0, nominal.d, nominal.d)))
    stages: list[_Stage] = []
    used, best = 0, None
    while len(stages) < max_stages and used + 2 * n_stage <= budget:
        x = proposal.sample(n_stage, nominal, rng)
        used += n_stage
        stage = _stage(x, proposal, nominal, integrands, cv, criterion, budget - used,
                       stages[0].phi.shape[1] if stages else None)
        stages.append(stage)
        if best is not None and stage.criterion >= best.criterion:
            break
        best = stage
        nxt = _adapt(stages, n_components, float(defensive), float(cov_floor), rng)
        if nxt is None:
            break
        proposal = nxt
    assert best is not None
    x = best.proposal.sample(budget - used, nominal, rng)
    log_w, h = _design(x, best.proposal, nominal.logpdf(x), cv)
    phi = _np(integrands(x), "integrands(x)").reshape(x.shape[0], -1)
    est, se, _ = _regress(np.exp(log_w)[:, None] * phi, h, best.beta if coefficients == "pilot" else None)
    return MultiExpectationEstimate(est, se, budget, used, budget - used, len(stages),
                                    tuple(st.criterion for st in stages), best.proposal, coefficients)
