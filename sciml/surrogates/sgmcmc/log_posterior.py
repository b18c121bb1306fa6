"""The pieces of a log posterior for any torch model: Gaussian prior, scaled minibatch
likelihood, Gaussian noise with a fixed or learned scale, and their sum.

The samplers of :mod:`sciml.surrogates.sgmcmc` move down the *potential*::

    U(theta) = -[ (N / n) sum_{i in batch} log p(y_i | x_i, theta) + log p(theta) ]

an unbiased estimate of the negative log posterior from a minibatch of ``n`` of ``N``
examples (Welling & Teh 2011, eq. 4). :class:`LogPosterior` computes it from a per-example
log-likelihood and a log prior, both functions of the model.

References
----------
M. Welling, Y. W. Teh, "Bayesian learning via stochastic gradient Langevin dynamics", ICML 2011.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from sciml.errors import ConfigError

__all__ = ["GaussianNoise", "GaussianPrior", "LogPosterior", "scaled_log_likelihood"]

_LOG_2PI = math.log(2.0 * math.pi)


def scaled_log_likelihood(per_example: Tensor, dataset_size: int, *, dim: int = -1) -> Tensor:
    """``(N / n) * sum`` of a minibatch's per-example log-likelihoods along ``dim``.

    Parameters
    ----------
    per_example : Tensor, shape ``(..., n, ...)``
        ``log p(y_i | x_i, theta)`` of the ``n`` examples of a minibatch (a loss is its negative).
    dataset_size : int
        ``N``, the examples of the whole data set (>= n).
    dim : int
        The examples' dimension.

    Returns
    -------
    Tensor
        The unbiased estimate of the full-data log-likelihood; ``per_example``'s shape without ``dim``.

    Raises
    ------
    ConfigError
        ``dataset_size`` is not an integer >= n, or the batch is empty.
    """
    n = per_example.shape[dim] if per_example.ndim else 1
    if isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or dataset_size < max(n, 1):
        raise ConfigError(f"dataset_size must be an integer >= the batch size {n}; got {dataset_size!r}")
    if n == 0:
        raise ConfigError("the minibatch is empty")
    return per_example.sum(dim) * (dataset_size / n)


def _check_std(name: str, std: float) -> float:
    ok = isinstance(std, (int, float)) and not isinstance(std, bool)
    if not ok or not math.isfinite(std) or std <= 0:
        raise ConfigError(f"{name} must be a finite number > 0; got {std!r}")
    return float(std)


class GaussianNoise(nn.Module):
    """Gaussian observation noise of scale ``sigma``, fixed or learned (sampled with the weights).

    ``log_sigma`` is a parameter when ``learn`` (with the prior ``log sigma ~ N(log
    prior_median, prior_log_std^2)``, i.e. a log-normal on ``sigma``; ``prior_log_std=None``:
    flat), else a buffer. Put the module inside the sampled model so that the sampler moves
    ``log_sigma`` with the weights; :class:`GaussianPrior` leaves it to this prior.

    Parameters
    ----------
    sigma : float
        The initial (or fixed) noise scale, > 0, in the units of the targets.
    learn : bool
        Sample/learn ``log sigma``.
    prior_median : float, optional
        Median of the log-normal prior on ``sigma`` (default: ``sigma``).
    prior_log_std : float or None
        Standard deviation of the prior on ``log sigma`` (None: flat).

    Raises
    ------
    ConfigError
        A scale or a prior width that is not a finite number > 0.
    """

    def __init__(self, sigma: float, *, learn: bool = False, prior_median: float | None = None,
                 prior_log_std: float | None = 1.0) -> None:
        super().__init__()
        sigma = _check_std("sigma", sigma)
        self.prior_median = _check_std("prior_median", sigma if prior_median is None else prior_median)
        self.prior_log_std = None if prior_log_std is None else _check_std("prior_log_std", prior_log_std)
        self.learn = bool(learn)
        value = torch.tensor(math.log(sigma), dtype=torch.get_default_dtype())
        if self.learn:
            self.log_sigma = nn.Parameter(value)
        else:
            self.register_buffer("log_sigma", value)

    @property
    def variance(self) -> Tensor:
        """``sigma^2`` (detached), for per-draw predictive variances."""
        return (2.0 * self.log_sigma.detach()).exp()

    def log_prob(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Per-example ``log N(target | prediction, sigma^2 I)``, summed over all but the first dim.

        Returns
        -------
        Tensor, shape ``(n,)``

        Raises
        ------
        ConfigError
            ``prediction`` and ``target`` shapes differ.
        """
        if prediction.shape != target.shape:
            raise ConfigError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} shapes differ")
        z = (target - prediction) * torch.exp(-self.log_sigma)
        per = -0.5 * z.square() - self.log_sigma - 0.5 * _LOG_2PI
        return per.reshape(per.shape[0], -1).sum(1) if per.ndim > 1 else per

    def log_prior(self) -> Tensor:
        """The log prior density of ``log sigma`` (0 when fixed or flat)."""
        if not self.learn or self.prior_log_std is None:
            return self.log_sigma.new_zeros(())
        z = (self.log_sigma - math.log(self.prior_median)) / self.prior_log_std
        return -0.5 * z.square() - math.log(self.prior_log_std) - 0.5 * _LOG_2PI


@dataclass(frozen=True)
class GaussianPrior:
    """Independent Gaussian prior ``N(0, std^2)`` on every weight, with a scale per parameter group.

    ``groups`` maps a parameter-name prefix (``"net.0."``, ``"head.weight"``) to its prior
    standard deviation (None: no Gaussian prior on that group); the longest matching prefix
    wins, the others get ``std``. Parameters of :class:`GaussianNoise` submodules take their own
    prior instead (:meth:`GaussianNoise.log_prior`), which :meth:`log_prob` adds.

    Raises
    ------
    ConfigError
        A standard deviation that is not a finite number > 0.
    """

    std: float = 1.0
    groups: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_std("prior std", self.std)
        for prefix, std in self.groups.items():
            if std is not None:
                _check_std(f"prior std of group {prefix!r}", std)

    @classmethod
    def from_precision(cls, precision: float = 1.0, groups: Mapping[str, float | None] | None = None) -> GaussianPrior:
        """The prior of precision ``1 / std^2`` (per group likewise; None: no prior)."""
        def to_std(value: float | None) -> float | None:
            return None if value is None else _check_std("prior precision", value) ** -0.5

        std = to_std(precision)
        if std is None:
            raise ConfigError("the default prior precision must be a finite number > 0; got None")
        return cls(std, {k: to_std(v) for k, v in (groups or {}).items()})

    def std_of(self, name: str) -> float | None:
        """The prior standard deviation of parameter ``name`` (None: not under this prior)."""
        match = max((p for p in self.groups if name.startswith(p)), key=len, default=None)
        return self.std if match is None else self.groups[match]

    def log_prob(self, model: nn.Module) -> Tensor:
        """``log p(theta)`` of ``model``'s parameters (a scalar, with the normalising constants)."""
        noise_params = {id(p) for m in model.modules() if isinstance(m, GaussianNoise) for p in m.parameters()}
        total: Tensor | None = None
        for name, p in model.named_parameters():
            std = None if id(p) in noise_params else self.std_of(name)
            if std is None:
                continue
            term = -0.5 * (p / std).square().sum() - p.numel() * (math.log(std) + 0.5 * _LOG_2PI)
            total = term if total is None else total + term
        for m in model.modules():
            if isinstance(m, GaussianNoise):
                total = m.log_prior() if total is None else total + m.log_prior()
        return total if total is not None else torch.zeros(())

    def __call__(self, model: nn.Module) -> Tensor:
        return self.log_prob(model)


@dataclass(frozen=True)
class LogPosterior:
    """``log p(theta | D)`` up to a constant, from a per-example log-likelihood and a log prior.

    Attributes
    ----------
    log_likelihood : callable ``(model, batch) -> Tensor (n,)``, optional
        Per-example log-likelihoods of a minibatch (a picklable, module-level function for
        process executors). None: no data (the prior is the whole target).
    log_prior : callable ``model -> Tensor ()``, optional
        E.g. a :class:`GaussianPrior`. None: flat.
    """

    log_likelihood: Callable[[nn.Module, Any], Tensor] | None = None
    log_prior: Callable[[nn.Module], Tensor] | None = None

    def potential(self, model: nn.Module, batch: Any = None, dataset_size: int | None = None) -> Tensor:
        """``U = -[(N / n) sum_i log p(y_i | x_i) + log p(theta)]`` (a scalar tensor).

        Raises
        ------
        ConfigError
            A likelihood without a batch or ``dataset_size``, a per-example
            log-likelihood that is not 1-D, or neither a likelihood nor a prior.
        """
        if self.log_likelihood is None and self.log_prior is None:
            raise ConfigError("a LogPosterior needs a log_likelihood, a log_prior or both")
        total: Tensor | None = None
        if self.log_likelihood is not None:
            if batch is None or dataset_size is None:
                raise ConfigError("the log-likelihood needs a batch and the dataset size N")
            per = self.log_likelihood(model, batch)
            if per.ndim != 1:
                raise ConfigError("log_likelihood must return one value per example, shape (n,); "
                                  f"got {tuple(per.shape)}")
            total = scaled_log_likelihood(per, dataset_size)
        if self.log_prior is not None:
            prior = self.log_prior(model)
            total = prior if total is None else total + prior
        return -total
