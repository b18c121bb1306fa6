"""A Bayesian-neural-network surrogate for BO: an MLP whose weights are sampled, as a BoTorch model.

:func:`fit_bnn` fits :class:`BNNRegressor` (MLPs with a Gaussian observation noise) to the
loop's training data, full batch, by SG-MCMC (SGHMC, pSGLD or SGLD chains with burn-in and
thinning on :func:`~sciml.surrogates.sgmcmc.run_chains`, started from Adam fits of the
posterior) or as a deep ensemble (:func:`~sciml.surrogates.sgmcmc.train_ensemble`). The
chains (or members) are the independent nets of one :class:`BNNRegressor`, stepped together
in one vectorised pass. :class:`BNNModel` holds the ``M`` weight draws; its posterior
(:class:`DrawPosterior`) is the equal-weight distribution of the ``M`` latent functions,
which BoTorch's MC acquisitions sample (qLogNEI with its Sobol normal sampler, or the
ensemble posterior's index sampler).

In a loop (single fidelity, method ``"qlognei"``; inputs in the loop's model coordinates,
outputs standardised inside)::

    BOLoop(problem, method="qlognei", model_kind=bnn_sghmc, model_options={"n_chains": 4})

:data:`BNN_FACTORIES` names the factories (``"bnn-sghmc"``, ``"bnn-psgld"``,
``"bnn-ensemble"``); their keyword arguments are the fields of :class:`BNNConfig`, so the loop
checks ``model_options`` when it is built. A problem with a fidelity is refused at the first
fit (:class:`~sciml.errors.ConfigError`), whatever the method.

References
----------
Y. L. Li, T. G. J. Rudner, A. G. Wilson, "A study of Bayesian neural network surrogates for
Bayesian optimization", ICLR 2024.
J. T. Springenberg, A. Klein, S. Falkner, F. Hutter, "Bayesian optimization with robust
Bayesian neural networks", NeurIPS 2016.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.models.model import Model
from botorch.posteriors.ensemble import EnsemblePosterior
from pydantic import Field, model_validator
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from sciml.bo.fidelity import DTYPE, Fidelity
from sciml.bo.fitting import ModelInputError, check_bounds, check_xy
from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.surrogates.sgmcmc import (
    ChainConfig,
    GaussianNoise,
    GaussianPrior,
    LogPosterior,
    MemberConfig,
    WeightSamples,
    run_chains,
    train_ensemble,
)
from sciml.surrogates.training import as_config, stream_seed
from sciml.surrogates.training.loop import torch_threads

__all__ = [
    "BNN_FACTORIES",
    "BNNConfig",
    "BNNModel",
    "BNNRegressor",
    "DrawPosterior",
    "bnn_ensemble",
    "bnn_psgld",
    "bnn_sghmc",
    "fit_bnn",
    "gaussian_log_likelihood",
    "mlp_forward",
]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}


# ============================================================================== the posterior
class DrawPosterior(EnsemblePosterior):
    """The equal-weight distribution of ``M`` function draws at ``q`` points.

    ``mean`` and ``variance`` are the mean and the population variance (divisor ``M``) of the
    draws, i.e. the moments of the distribution that :meth:`rsample` samples. Base samples may
    be member indices (BoTorch's ``IndexSampler``, shape ``sample_shape x batch_shape``) or
    standard normals of shape ``sample_shape x batch_shape x q x m`` (``SobolQMCNormalSampler``,
    the sampler of qLogNEI): the draw of MC sample ``i`` is then member ``floor(M Phi(z_i))``
    with ``z_i`` its first normal, one member for all ``q`` points, so quasi-random normals
    pick the members evenly and fixed base samples give a deterministic acquisition.

    Parameters
    ----------
    values : Tensor, shape ``(*batch, M, q, m)``
        The draws (``M >= 1``).

    Raises
    ------
    ValueError
        ``values`` with fewer than three dimensions.
    """

    @property
    def variance(self) -> Tensor:
        """Population variance of the draws, ``(*batch, q, m)``."""
        return (self.values - self.mean.unsqueeze(-3)).square().mean(dim=-3)

    @property
    def base_sample_shape(self) -> torch.Size:
        """``batch_shape x q x m``: the shape of normal base samples."""
        return self.batch_shape + self.values.shape[-2:]

    @property
    def batch_range(self) -> tuple[int, int]:
        """Every batch dimension is a t-batch (normal base samples are shared across them)."""
        return (0, -2)

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: Tensor) -> Tensor:
        """Draws picked by ``base_samples`` (indices, or normals as in the class docstring).

        Returns
        -------
        Tensor, shape ``sample_shape x batch_shape x q x m``
        """
        if base_samples.is_floating_point():
            z = base_samples[..., 0, 0]
            index = (torch.special.ndtr(z) * self.ensemble_size).long().clamp_(0, self.ensemble_size - 1)
            base_samples = index.expand(torch.Size(sample_shape) + self.batch_shape)
        return super().rsample_from_base_samples(sample_shape, base_samples)


# ============================================================================== the network
def mlp_forward(weights: list[Tensor], biases: list[Tensor], x: Tensor, activation: str) -> Tensor:
    """``K`` MLPs at once: ``x (*batch, d) -> (K, *batch, 1)``.

    Parameters
    ----------
    weights, biases : lists of Tensor
        Layer ``l``: ``weights[l]`` ``(K, n_in, n_out)``, ``biases[l]`` ``(K, 1, n_out)``; the
        activation follows every layer but the last.
    x : Tensor, shape ``(*batch, d)``
    activation : {"tanh", "relu", "silu"}
    """
    act = _ACTIVATIONS[activation]()
    k, batch = weights[0].shape[0], x.shape[:-1]
    h = x.reshape(1, -1, x.shape[-1]).expand(k, -1, -1)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = torch.baddbmm(b, h, w)
        if i < len(weights) - 1:
            h = act(h)
    return h.reshape(k, *batch, 1)


class BNNRegressor(nn.Module):
    """``n_nets`` independent MLPs ``R^d -> R``, each with its own Gaussian observation noise.

    Every net has ``depth`` hidden layers of ``width`` units and ``activation`` and a linear
    output; ``weights[l]`` ``(n_nets, n_in, n_out)`` and ``biases[l]`` ``(n_nets, 1, n_out)``
    (initialised ``U(-1/sqrt(n_in), 1/sqrt(n_in))`` like ``nn.Linear``). ``noise[k]`` is net
    ``k``'s :class:`~sciml.surrogates.sgmcmc.GaussianNoise` (initial scale ``noise_std``,
    log-normal prior of median ``noise_std`` and log-std 1 when learned). The nets share no
    parameter, so an elementwise sampler or optimiser (SGLD, pSGLD, SGHMC, Adam) on the sum of
    their potentials runs ``n_nets`` independent chains (or ensemble members) in one
    vectorised pass. float64.

    Raises
    ------
    ConfigError
        ``in_dim``, ``width``, ``depth`` or ``n_nets`` < 1, an unknown activation, ``noise_std`` <= 0.
    """

    def __init__(self, in_dim: int, width: int = 50, depth: int = 2, activation: str = "tanh",
                 noise_std: float = 0.1, learn_noise: bool = True, n_nets: int = 1) -> None:
        super().__init__()
        if min(in_dim, width, depth, n_nets) < 1:
            raise ConfigError(f"in_dim, width, depth and n_nets must be >= 1; got {in_dim}, {width}, {depth}, "
                              f"{n_nets}")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; accepted: {sorted(_ACTIVATIONS)}")
        self.config = {"in_dim": int(in_dim), "width": int(width), "depth": int(depth), "activation": activation,
                       "noise_std": float(noise_std), "learn_noise": bool(learn_noise), "n_nets": int(n_nets)}
        sizes = [in_dim] + [width] * depth + [1]
        bound = [n ** -0.5 for n in sizes[:-1]]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_nets, a, b, dtype=DTYPE).uniform_(-r, r))
            for a, b, r in zip(sizes[:-1], sizes[1:], bound, strict=True))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(n_nets, 1, b, dtype=DTYPE).uniform_(-r, r)) for b, r in zip(sizes[1:], bound,
                                                                                                   strict=True))
        self.noise = nn.ModuleList(GaussianNoise(noise_std, learn=learn_noise, prior_log_std=1.0)
                                   for _ in range(n_nets))
        self.to(DTYPE)

    def forward(self, x: Tensor) -> Tensor:
        """The nets' latent functions, ``(*batch, d) -> (n_nets, *batch, 1)``."""
        return mlp_forward(list(self.weights), list(self.biases), x, self.config["activation"])


def gaussian_log_likelihood(model: BNNRegressor, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Per-example ``sum_k log N(y | f_k(x), sigma_k^2)`` over the nets ``k`` of a batch
    ``(x (n, d), y (n, 1))``: shape ``(n,)``."""
    x, y = batch
    f = model(x)
    return torch.stack([noise.log_prob(f[k], y) for k, noise in enumerate(model.noise)]).sum(0)


# ============================================================================== the BoTorch model
class BNNModel(Model):
    """A BoTorch ``Model`` whose posterior is the ``M`` functions of an MLP's weight samples.

    Inputs ``(*batch, q, d)`` in the loop's model coordinates are mapped to ``[0, 1]^d`` with
    ``bounds``; the nets' outputs are un-standardised as ``y_mean + y_std * f``. Each sample
    holds the ``n_nets`` nets of a :class:`BNNRegressor` (its ``weights.<l>`` and ``biases.<l>``
    entries); the draws are every net of every sample, sample-major: ``M = len(samples) *
    n_nets``.

    Parameters
    ----------
    samples : WeightSamples
        At least one sample of a :class:`BNNRegressor`.
    bounds : Tensor, shape ``(2, d)``
        Lower and upper input bounds (upper > lower).
    activation : {"tanh", "relu", "silu"}
    y_mean, y_std : float
        The outputs' standardisation (``y_std > 0``).

    Raises
    ------
    ConfigError
        No samples, samples without MLP layers or of another input dimension, bad bounds,
        activation or ``y_std``.
    """

    def __init__(self, samples: WeightSamples, bounds: Tensor, *, activation: str = "tanh", y_mean: float = 0.0,
                 y_std: float = 1.0) -> None:
        super().__init__()
        if len(samples) < 1:
            raise ConfigError("a BNNModel needs at least one weight sample")
        b = torch.as_tensor(bounds, dtype=DTYPE)
        if b.ndim != 2 or b.shape[0] != 2 or not bool((b[1] > b[0]).all()):
            raise ConfigError(f"bounds must have shape (2, d) with upper > lower; got {b.tolist()}")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; accepted: {sorted(_ACTIVATIONS)}")
        if not (np.isfinite(float(y_mean)) and np.isfinite(float(y_std)) and float(y_std) > 0):
            raise ConfigError(f"y_mean must be finite and y_std a finite number > 0; got {y_mean!r}, {y_std!r}")
        stacked = samples.stack()
        n_layers = sum(1 for k in stacked if k.startswith("weights."))
        if n_layers == 0 or any(f"{p}.{i}" not in stacked for p in ("weights", "biases") for i in range(n_layers)):
            raise ConfigError(f"the samples are not of a BNNRegressor: entries {sorted(stacked)}")
        self.weights = [stacked[f"weights.{i}"].flatten(0, 1).to(DTYPE) for i in range(n_layers)]
        self.biases = [stacked[f"biases.{i}"].flatten(0, 1).to(DTYPE) for i in range(n_layers)]
        if self.weights[0].shape[1] != b.shape[1]:
            raise ConfigError(f"the samples' nets take {self.weights[0].shape[1]} inputs, the bounds {b.shape[1]}")
        self.samples, self.activation = samples, activation
        self.register_buffer("lower", b[0].clone())
        self.register_buffer("span", (b[1] - b[0]).clone())
        self.y_mean, self.y_std = float(y_mean), float(y_std)

    @property
    def num_outputs(self) -> int:
        """One objective."""
        return 1

    @property
    def n_draws(self) -> int:
        """``M``: samples times nets per sample."""
        return int(self.weights[0].shape[0])

    @property
    def batch_shape(self) -> torch.Size:
        """The model has no batch dimensions of its own."""
        return torch.Size([])

    def draws(self, X: Tensor) -> Tensor:
        """The ``M`` functions at ``X`` (differentiable in ``X``).

        Parameters
        ----------
        X : Tensor, shape ``(*batch, q, d)``

        Returns
        -------
        Tensor, shape ``(*batch, M, q, 1)``, un-standardised.

        Raises
        ------
        ModelInputError
            ``X`` with fewer than two dimensions or another ``d``.
        """
        d = int(self.lower.shape[0])
        if X.ndim < 2 or X.shape[-1] != d:
            raise ModelInputError(f"X must have shape (*batch, q, {d}); got {tuple(X.shape)}")
        Z = (X.to(DTYPE) - self.lower) / self.span
        out = mlp_forward(self.weights, self.biases, Z, self.activation)
        return (self.y_mean + self.y_std * out).movedim(0, -3)

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, observation_noise: Any = False,
                  posterior_transform: Any = None, **kwargs: Any) -> DrawPosterior:
        """The :class:`DrawPosterior` of the latent function at ``X`` ``(*batch, q, d)``.

        Raises
        ------
        UnsupportedError
            ``observation_noise`` given as a tensor (the posterior is over the latent function).
        """
        if isinstance(observation_noise, Tensor):
            raise UnsupportedError("BNNModel's posterior is over the latent function; observation noise "
                                   "tensors are not supported")
        values = self.draws(X)
        if output_indices is not None:
            values = values[..., output_indices]
        post = DrawPosterior(values)
        return post if posterior_transform is None else posterior_transform(post)


# ============================================================================== fitting
class BNNConfig(StrictModel):
    """How :func:`fit_bnn` fits the networks (every field has a default).

    Network: ``width``, ``depth``, ``activation``; prior ``N(0, prior_std^2)`` on every weight
    and bias; Gaussian noise of scale ``noise_std`` in standardised output units, fixed or
    (``learn_noise``) sampled/fitted with the weights.

    ``inference``:

    * ``sghmc``, ``psgld``, ``sgld``: ``n_chains`` chains, each from its own initial weights
      fitted by ``adam_steps`` Adam steps (``adam_lr``; 0: from the initialisation), then
      ``n_steps`` sampler steps of size ``lr / n`` for ``n`` training points (SGHMC friction
      ``friction``), keeping every ``thin``-th step after ``burn_in``: ``M = n_chains *
      ceil((n_steps - burn_in) / thin)`` draws;
    * ``ensemble``: ``n_members`` MAP networks, ``adam_steps`` Adam steps each: ``M = n_members``.

    ``num_threads``: torch's intra-op threads during the fit (restored after; the nets are
    tiny, so one thread is fastest, and much faster on a busy machine); None: unchanged.

    Raises
    ------
    pydantic.ValidationError
        A bad field (:func:`fit_bnn` turns it into :class:`~sciml.errors.ConfigError`).
    """

    inference: Literal["sghmc", "psgld", "sgld", "ensemble"] = "sghmc"
    width: int = Field(50, ge=1)
    depth: int = Field(2, ge=1)
    activation: Literal["tanh", "relu", "silu"] = "tanh"
    prior_std: float = Field(1.0, gt=0, allow_inf_nan=False)
    noise_std: float = Field(0.1, gt=0, allow_inf_nan=False)
    learn_noise: bool = False
    n_chains: int = Field(4, ge=1)
    n_steps: int = Field(500, ge=1)
    burn_in: int = Field(100, ge=0)
    thin: int = Field(20, ge=1)
    lr: float = Field(3e-4, gt=0, allow_inf_nan=False)
    friction: float = Field(0.1, gt=0, le=1)
    n_members: int = Field(8, ge=1)
    adam_lr: float = Field(0.005, gt=0, allow_inf_nan=False)
    adam_steps: int = Field(500, ge=0)
    num_threads: int | None = Field(1, ge=1)

    @model_validator(mode="after")
    def _check_chain(self) -> BNNConfig:
        if self.inference != "ensemble" and self.burn_in >= self.n_steps:
            raise ValueError(f"burn_in ({self.burn_in}) must be smaller than n_steps ({self.n_steps})")
        if self.inference == "ensemble" and self.adam_steps < 1:
            raise ValueError("an ensemble needs adam_steps >= 1")
        return self


@contextlib.contextmanager
def _own_rng() -> Iterator[None]:
    """Run the block without changing the global torch, NumPy and :mod:`random` states."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _weight_samples(cfg: BNNConfig, d: int, data: TensorDataset, seed: int) -> WeightSamples:
    """The samples of ``cfg``'s chains (or its members' weights), every net of a :class:`BNNRegressor` one
    chain or member, all run together in one job seeded ``stream_seed(seed, 0, 2)``."""
    n_nets = cfg.n_members if cfg.inference == "ensemble" else cfg.n_chains
    factory = functools.partial(BNNRegressor, d, cfg.width, cfg.depth, cfg.activation, cfg.noise_std,
                                cfg.learn_noise, n_nets)
    log_post = LogPosterior(gaussian_log_likelihood, GaussianPrior(cfg.prior_std))
    seeds = [stream_seed(seed, 0, 2)]
    init = None
    if cfg.adam_steps:
        member = MemberConfig(lr=cfg.adam_lr, n_steps=cfg.adam_steps, checkpoint_every=cfg.adam_steps,
                              record_every=cfg.adam_steps)
        fitted = train_ensemble(factory, log_post, member, seeds=seeds, dataset=data, progress=False).samples
        if cfg.inference == "ensemble":
            return fitted
        init = fitted.states[0]
    chain = ChainConfig(sampler=cfg.inference, lr=cfg.lr / len(data), friction=cfg.friction, n_steps=cfg.n_steps,
                        burn_in=cfg.burn_in, thin=cfg.thin, checkpoint_every=cfg.n_steps, record_every=cfg.n_steps)
    return run_chains(factory, log_post, chain, seeds=seeds, dataset=data, initial_state=init,
                      progress=False).samples


def fit_bnn(X: Tensor, Y: Tensor, *, seed: int = 0, bounds: Tensor | None = None,
            fidelity: Fidelity | None = None, config: BNNConfig | dict[str, Any] | None = None) -> BNNModel:
    """Fit a :class:`BNNModel` to ``(X, Y)``: inputs mapped to ``[0, 1]^d``, outputs standardised.

    Parameters
    ----------
    X : Tensor, shape ``(n, d)``
        Inputs (the loop's model coordinates of a problem without fidelity).
    Y : Tensor, shape ``(n, 1)``
        Outputs (maximised; any units).
    seed : int
        The fit's seed: the nets' initial weights, the Adam fits and the sampler's noise all
        derive from ``stream_seed(seed, 0, 2)``; the caller's global RNG states are left as
        they were.
    bounds : Tensor, shape ``(2, d)``, optional
        Input box (default: the data's range, a constant column spanning 1).
    fidelity : Fidelity, optional
        Must be None: the BNN is a single-fidelity model.
    config : BNNConfig or mapping, optional

    Raises
    ------
    ConfigError
        A fidelity (multi-fidelity problems need a GP kind), an invalid configuration
        (every bad field named).
    ModelInputError
        Bad shapes, NaN/inf, bad bounds.
    """
    if fidelity is not None:
        raise ConfigError(f"the BNN surrogate is single-fidelity; this problem has {fidelity.describe()}: use "
                          "method 'qlognei' on a problem without fidelity, or a GP model_kind ('mfgp', 'ar1', "
                          "'multitask', 'singletask')")
    cfg = as_config(config, BNNConfig, "BNN configuration")
    X, Y, _ = check_xy(X, Y, min_cols=1)
    b = check_bounds(bounds, X.shape[1])
    if b is None:
        lo, hi = X.min(0).values, X.max(0).values
        b = torch.stack([lo, torch.where(hi > lo, hi, lo + 1.0)])
    y_mean = float(Y.mean())
    y_std = float(Y.std()) if Y.shape[0] > 1 and float(Y.std()) > 0 else 1.0
    data = TensorDataset((X - b[0]) / (b[1] - b[0]), (Y - y_mean) / y_std)
    with _own_rng(), torch_threads(cfg.num_threads):
        samples = _weight_samples(cfg, X.shape[1], data, int(seed))
    return BNNModel(samples, b, activation=cfg.activation, y_mean=y_mean, y_std=y_std)


# ============================================================================== loop factories
def _factory(inference: str) -> Callable[..., BNNModel]:
    """A model factory (:mod:`sciml.bo.models`) fitting ``inference``; its keywords are :class:`BNNConfig`'s."""

    def factory(train_X: Tensor, train_Y: Tensor, *, seed: int, bounds: Tensor, fidelity: Fidelity | None,
                **options: Any) -> BNNModel:
        return fit_bnn(train_X, train_Y, seed=seed, bounds=bounds, fidelity=fidelity,
                       config={**options, "inference": inference})

    name = f"bnn_{inference}"
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"Model factory: :func:`fit_bnn` with ``inference={inference!r}``; keyword arguments "
                       "are the other fields of :class:`BNNConfig`.")
    keyword = inspect.Parameter.KEYWORD_ONLY
    fixed = list(inspect.signature(factory).parameters.values())[:5]
    options = [inspect.Parameter(k, keyword, default=f.default) for k, f in BNNConfig.model_fields.items()
               if k != "inference"]
    factory.__signature__ = inspect.Signature(fixed + options, return_annotation=BNNModel)  # type: ignore[attr-defined]
    return factory


#: ``BOLoop(problem, method="qlognei", model_kind=bnn_sghmc)``: SG-MCMC chains of SGHMC.
bnn_sghmc = _factory("sghmc")
#: Preconditioned SGLD chains.
bnn_psgld = _factory("psgld")
#: A deep ensemble.
bnn_ensemble = _factory("ensemble")

#: The BNN model factories by name.
BNN_FACTORIES: dict[str, Callable[..., BNNModel]] = {
    "bnn-sghmc": bnn_sghmc, "bnn-psgld": bnn_psgld, "bnn-ensemble": bnn_ensemble}
