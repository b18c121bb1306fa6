"""Convergence diagnostics across chains: split R-hat and the effective sample size.

Both take draws of shape ``(chains, draws)`` or ``(chains, draws, K)`` — ``K`` scalar
quantities at once (flattened weights, predictions) — and return a value per quantity
(shape ``()`` or ``(K,)``), computed in float64.

* :func:`split_rhat` — the potential scale reduction of split chains (Gelman et al. 2013,
  BDA3 section 11.4), optionally rank-normalised and folded (Vehtari et al. 2021): about 1
  for chains that sample one distribution; > 1.01–1.1 flags chains that have not mixed.
* :func:`effective_sample_size` — ``chains * draws / tau`` with the integrated autocorrelation
  time ``tau`` from the multi-chain autocorrelation and Geyer's initial monotone sequence
  (Geyer 1992; the estimator of Stan and Vehtari et al. 2021, section 3.2).

References
----------
A. Gelman, J. B. Carlin, H. S. Stern, D. B. Dunson, A. Vehtari, D. B. Rubin, "Bayesian data
analysis", 3rd ed., CRC 2013.
A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner, "Rank-normalization, folding,
and localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 2021.
C. J. Geyer, "Practical Markov chain Monte Carlo", Statistical Science 1992.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ConfigError

__all__ = ["effective_sample_size", "split_rhat"]


def _as_draws(draws: Tensor | np.ndarray, min_chains: int, min_draws: int) -> tuple[Tensor, bool]:
    """``draws`` as float64 ``(C, N, K)`` and whether a trailing ``K`` axis was given."""
    x = torch.as_tensor(draws).detach().to("cpu", torch.float64)
    if x.ndim not in (2, 3):
        raise ConfigError(f"draws must have shape (chains, draws) or (chains, draws, K); got {tuple(x.shape)}")
    if x.shape[0] < min_chains or x.shape[1] < min_draws:
        raise ConfigError(f"need at least {min_chains} chain(s) of {min_draws} draws; got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ConfigError("draws must be finite")
    return (x if x.ndim == 3 else x.unsqueeze(-1)), x.ndim == 3


def _split(x: Tensor) -> Tensor:
    """Each chain cut into its first and last halves (the middle draw dropped when odd)."""
    half = x.shape[1] // 2
    return torch.cat([x[:, :half], x[:, x.shape[1] - half:]], dim=0)


def _rhat(x: Tensor) -> Tensor:
    """R-hat of chains ``x`` (C, N, K), not split: ``sqrt(((N-1)/N W + B/N) / W)``."""
    n = x.shape[1]
    within = x.var(dim=1, unbiased=True).mean(0)
    between = x.mean(1).var(dim=0, unbiased=True)
    var_plus = (n - 1) / n * within + between
    return torch.where(within > 0, (var_plus / within).sqrt(), torch.full_like(within, math.nan))


def _rank_normalise(x: Tensor) -> Tensor:
    """Normal scores of the pooled ranks: ``Phi^-1((r - 3/8) / (S + 1/4))`` (Blom)."""
    c, n, k = x.shape
    flat = x.reshape(c * n, k)
    ranks = flat.argsort(0).argsort(0).to(torch.float64) + 1.0
    return torch.special.ndtri((ranks - 0.375) / (c * n + 0.25)).reshape(c, n, k)


def split_rhat(draws: Tensor | np.ndarray, *, rank_normalized: bool = False) -> Tensor:
    """Split R-hat of each quantity across chains.

    Parameters
    ----------
    draws : Tensor or ndarray, shape ``(C, N)`` or ``(C, N, K)``
        ``C >= 1`` chains of ``N >= 4`` draws.
    rank_normalized : bool
        Vehtari et al.'s version: the larger of the R-hat of the rank-normalised draws (bulk)
        and of the rank-normalised ``|draw - median|`` (tails).

    Returns
    -------
    Tensor, shape ``()`` or ``(K,)``
        NaN for a quantity that is constant within every chain half.

    Raises
    ------
    ConfigError
        A wrong shape, too few draws, non-finite draws.
    """
    x, has_k = _as_draws(draws, 1, 4)
    if rank_normalized:
        bulk = _rhat(_split(_rank_normalise(x)))
        folded = (x - x.reshape(-1, x.shape[2]).median(0).values).abs()
        out = torch.maximum(bulk, _rhat(_split(_rank_normalise(folded))))
    else:
        out = _rhat(_split(x))
    return out if has_k else out[0]


def _autocovariance(x: Tensor) -> Tensor:
    """Biased autocovariance (divisor N) along dim 1 of ``x`` (C, N, K), lags 0..N-1, by FFT."""
    n = x.shape[1]
    centred = x - x.mean(1, keepdim=True)
    size = 1 << (2 * n - 1).bit_length()
    f = torch.fft.rfft(centred, n=size, dim=1)
    return torch.fft.irfft(f * f.conj(), n=size, dim=1)[:, :n] / n


def effective_sample_size(draws: Tensor | np.ndarray) -> Tensor:
    """Effective sample size of each quantity across chains (Geyer's initial monotone sequence).

    ``rho_t = 1 - (W - mean_c acov_c(t)) / var_plus`` combines the chains' autocovariances;
    pair sums ``P_k = rho_2k + rho_2k+1`` are kept while positive and made non-increasing;
    ``tau = -1 + 2 sum_k P_k`` and ``ESS = C N / tau``, at most ``C N log10(C N)`` (as Stan).

    Parameters
    ----------
    draws : Tensor or ndarray, shape ``(C, N)`` or ``(C, N, K)``
        ``C >= 1`` chains of ``N >= 4`` draws (not split).

    Returns
    -------
    Tensor, shape ``()`` or ``(K,)``
        NaN for a quantity that is constant.

    Raises
    ------
    ConfigError
        A wrong shape, too few draws, non-finite draws.
    """
    x, has_k = _as_draws(draws, 1, 4)
    c, n, _ = x.shape
    acov = _autocovariance(x)
    within = (acov[:, 0] * n / (n - 1)).mean(0)
    var_plus = within * (n - 1) / n + (x.mean(1).var(dim=0, unbiased=True) if c > 1 else 0.0)
    rho = 1.0 - (within - acov.mean(0)) / var_plus
    rho[0] = 1.0
    pairs = rho[: 2 * (n // 2)].reshape(n // 2, 2, -1).sum(1)
    positive = torch.cumprod((pairs > 0).to(torch.float64), dim=0)
    monotone = torch.cummin(pairs, dim=0).values
    tau = -1.0 + 2.0 * (positive * monotone).sum(0)
    total = c * n
    tau = torch.clamp(tau, min=1.0 / math.log10(total))
    out = torch.where(var_plus > 0, total / tau, torch.full_like(tau, math.nan))
    return out if has_k else out[0]
