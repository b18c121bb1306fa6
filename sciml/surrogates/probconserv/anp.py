"""Attentive neural process (ANP; Kim et al., ICLR 2019): ProbConserv's base probabilistic model.

An ANP maps a *context set* ``C = {(x_i, y_i)}`` of observed points of one solution
``u(t, x)`` (one *task*) to a Gaussian predictive distribution of ``y = u`` at any *target*
inputs ``x_T``. In ProbConserv (Hansen et al., ICML 2023) the inputs are space-time points
``x = (t, x)`` (``x_dim = 2``) and the outputs the solution value (``y_dim = 1``); the
Gaussian predictions on a grid are then conditioned on the conservation law by
:func:`~sciml.surrogates.probconserv.update.conservation_update_samples`.

The architecture, the input normalisation and the training objective (the negative ELBO per
target point) are described on :class:`AttentiveNeuralProcess`. Without ``target_y`` the latent
is drawn from the prior ``q(z | C)``: :meth:`~AttentiveNeuralProcess.predict_targets` draws
``S`` latents and returns each component ``N(mu_s, sigma_s^2)`` and the moments of their
equally weighted mixture, always in eval mode (dropout off; the reference code leaves it on);
:meth:`~AttentiveNeuralProcess.predict` does so on a
:class:`~sciml.surrogates.probconserv.inputs.FieldInputs` grid and returns an
:class:`~sciml.surrogates.probconserv.posteriors.ANPPosterior` (the Surrogate contract).
Sampling is reproducible: every random draw takes a :class:`torch.Generator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.posterior import GaussianPosterior, as_generator
from sciml.surrogates.probconserv.inputs import FieldInputs
from sciml.surrogates.probconserv.posteriors import ANPPosterior

__all__ = [
    "ANPInputError",
    "ANPOutput",
    "ANPPrediction",
    "AttentiveNeuralProcess",
    "kl_diag_gaussians",
]

Activation = Literal["relu", "gelu", "tanh", "silu"]
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


class ANPInputError(SciMLError, ValueError):
    """Inputs of an attentive neural process have the wrong shape, dtype or non-finite values."""


# =========================================================================== outputs
@dataclass(frozen=True)
class ANPOutput:
    """What :meth:`AttentiveNeuralProcess.forward` returns.

    Attributes
    ----------
    mean : Tensor, shape ``(B, Nt, y_dim)``
        Predictive mean ``mu_y`` for the drawn latent (units of ``y``).
    variance : Tensor, shape ``(B, Nt, y_dim)``
        Predictive variance ``sigma_y^2 > 0`` for the drawn latent (units of ``y^2``).
    z : Tensor, shape ``(B, latent_dim)``
        The latent used (drawn from the posterior with ``target_y``, else from the prior;
        or ``mu_z`` with ``latent="mean"``, or the ``z`` passed in).
    prior_mu, prior_sigma : Tensor, shape ``(B, latent_dim)``
        ``q(z | C)``.
    posterior_mu, posterior_sigma : Tensor or None, shape ``(B, latent_dim)``
        ``q(z | C ∪ T)`` (only with ``target_y``).
    loss, nll, kl : Tensor or None, scalar
        Negative ELBO per target point and its two parts (only with ``target_y``; see the
        Notes of :class:`AttentiveNeuralProcess`): ``loss = nll + kl``.
    kl_per_task : Tensor or None, shape ``(B,)``
        ``KL(q(z|C∪T) || q(z|C))`` per task, not normalised (nats).
    """

    mean: Tensor
    variance: Tensor
    z: Tensor
    prior_mu: Tensor
    prior_sigma: Tensor
    posterior_mu: Tensor | None = None
    posterior_sigma: Tensor | None = None
    loss: Tensor | None = None
    nll: Tensor | None = None
    kl: Tensor | None = None
    kl_per_task: Tensor | None = None

    @property
    def std(self) -> Tensor:
        """Predictive standard deviation, shape ``(B, Nt, y_dim)``."""
        return self.variance.sqrt()


@dataclass(frozen=True)
class ANPPrediction:
    """What :meth:`AttentiveNeuralProcess.predict_targets` returns.

    Attributes
    ----------
    means, variances : Tensor, shape ``(S, B, Nt, y_dim)``
        Mean and variance of the Gaussian of each latent draw ``z_s ~ q(z | C)`` (the input of
        :func:`~sciml.surrogates.probconserv.update.conservation_update_samples`).
    mean : Tensor, shape ``(B, Nt, y_dim)``
        Mixture mean ``(1/S) sum_s means[s]``.
    variance : Tensor, shape ``(B, Nt, y_dim)``
        Mixture variance ``(1/S) sum_s variances[s] + (1/S) sum_s (means[s] - mean)^2``
        (population variance of the means, divisor ``S``, as in
        ``conservation_update_samples``).
    z : Tensor, shape ``(S, B, latent_dim)``
        The latent draws.
    """

    means: Tensor
    variances: Tensor
    mean: Tensor
    variance: Tensor
    z: Tensor

    @property
    def n_samples(self) -> int:
        """Number of latent draws ``S``."""
        return int(self.means.shape[0])

    def to_posterior(self) -> GaussianPosterior:
        """The mixture marginals as a :class:`~sciml.surrogates.posterior.GaussianPosterior` (detached)."""
        return GaussianPosterior(self.mean.detach(), self.variance.detach())


# =========================================================================== maths
def kl_diag_gaussians(mu_q: Tensor, sigma_q: Tensor, mu_p: Tensor, sigma_p: Tensor) -> Tensor:
    """``KL(N(mu_q, diag sigma_q^2) || N(mu_p, diag sigma_p^2))``, summed over the last axis.

    .. math::  \\mathrm{KL} = \\frac12 \\sum_k \\Big[\\rho_k^2 - 1 - 2\\log\\rho_k
               + \\Big(\\frac{\\mu_{q,k} - \\mu_{p,k}}{\\sigma_{p,k}}\\Big)^2\\Big],
               \\qquad \\rho_k = \\sigma_{q,k} / \\sigma_{p,k}

    ``rho^2 - 1 - 2 log rho`` is evaluated as ``expm1(2 l) - 2 l`` with ``l = log rho``
    (accurate near ``rho = 1``) and the result is clamped at 0 against round-off.

    Parameters
    ----------
    mu_q, sigma_q, mu_p, sigma_p : Tensor, shape ``(..., d)``
        Means and standard deviations (``sigma > 0``), broadcastable.

    Returns
    -------
    Tensor, shape ``(...)``
        KL divergence in nats, ``>= 0``.
    """
    log_rho = torch.log(sigma_q) - torch.log(sigma_p)
    scale_term = torch.expm1(2.0 * log_rho) - 2.0 * log_rho
    mean_term = ((mu_q - mu_p) / sigma_p) ** 2
    return (0.5 * (scale_term + mean_term)).sum(-1).clamp_min(0.0)


# =========================================================================== blocks
def _input_bounds(input_range: Any, x_dim: int) -> list[tuple[float, float]] | None:
    """``input_range`` validated as ``x_dim`` finite pairs ``(low, high)`` with ``low < high``."""
    if input_range is None:
        return None
    expected = f"a sequence of x_dim = {x_dim} pairs (low, high) with finite low < high"
    try:
        pairs = [tuple(float(v) for v in pair) for pair in input_range]
    except (TypeError, ValueError):
        raise ConfigError(f"input_range must be {expected}; got {input_range!r}") from None
    if len(pairs) != x_dim or any(len(pair) != 2 for pair in pairs):
        raise ConfigError(f"input_range must be {expected}; got {input_range!r}")
    for lo, hi in pairs:
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"input_range must be {expected}; got {input_range!r}")
    return [(lo, hi) for lo, hi in pairs]


def _check_loaded_input_range(module: nn.Module, incompatible: Any) -> None:
    """After ``load_state_dict``: the loaded ``input_low``/``input_high`` must be the model's ``input_range``."""
    rng = getattr(module, "input_range", None)
    if rng is None or module.input_low is None or module.input_high is None:
        return
    want = torch.tensor(rng, dtype=torch.float64)
    have = torch.stack([module.input_low, module.input_high], dim=-1).detach().cpu().to(torch.float64)
    if not torch.allclose(have, want, rtol=1e-6, atol=0.0):
        raise RuntimeError(f"the state_dict's input normalisation range {have.tolist()} differs from the "
                           f"model's input_range {[list(p) for p in rng]}: build the model with the range "
                           f"it was trained with")


def _mlp(in_dim: int, hidden: int, out_dim: int, n_hidden: int, activation: str, dropout: float) -> nn.Sequential:
    """``n_hidden`` hidden layers of width ``hidden`` (+ activation, + dropout), then a linear map."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), _ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class _AttentionBlock(nn.Module):
    """Post-norm transformer block: ``h = LN(q + MHA(q, k, v))``, ``out = LN(h + FFN(h))``.

    Attention weights are always materialised (``need_weights=True``): the fused CPU
    scaled-dot-product kernel has no double backward, which SoftC's ``u_xx`` needs.
    """

    def __init__(self, hidden: int, n_heads: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = _mlp(hidden, hidden, hidden, 1, activation, dropout)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        att, _ = self.attn(query, key, value, need_weights=True)
        h = self.norm1(query + self.dropout(att))
        return self.norm2(h + self.dropout(self.ffn(h)))


# =========================================================================== model
class AttentiveNeuralProcess(nn.Module):
    """Attentive neural process with a deterministic (attention) path and a global latent.

    Parameters
    ----------
    x_dim : int
        Input dimension (2 for space-time points ``(t, x)``).
    y_dim : int
        Output dimension (1: the solution ``u``).
    hidden : int
        Width ``H`` of every MLP and attention layer (128 in the ProbConserv paper).
    latent_dim : int
        Dimension ``L`` of the global latent ``z``.
    n_heads : int
        Attention heads; must divide ``hidden``.
    n_self_attention : int
        Self-attention blocks over the contexts, in each of the two paths (>= 0).
    n_cross_attention : int
        Cross-attention blocks from targets to contexts (>= 1).
    mlp_layers : int
        Hidden layers of the encoder MLPs, the input embedding and the decoder (>= 1).
    activation : {"relu", "gelu", "tanh", "silu"}
        Nonlinearity of every MLP. ``"relu"`` matches the reference code; SoftC (which
        differentiates the mean twice in ``x``) is better served by a smooth one.
    min_std : float
        Lower bound of the predictive standard deviation, ``0 < min_std < 1`` (units of
        ``y``; see the Notes for the default ``1e-3``).
    min_latent_std : float
        Lower bound of the latent standard deviations, ``0 < min_latent_std < 1``.
    dropout : float
        Dropout probability in the MLPs and attention blocks (active in train mode only;
        0 = none).
    input_range : sequence of ``x_dim`` pairs ``(low, high)``, optional
        Domain of each input dimension (units of the inputs, e.g. ``((t0, t1), (x0, x1))``),
        ``low < high``, finite: inputs are mapped affinely so that this box becomes
        ``[-1, 1]^x_dim`` (see the Notes). Inputs outside it are accepted (mapped
        outside ``[-1, 1]``). ``None``: no normalisation.

    Notes
    -----
    **Architecture.**
    ``H`` = ``hidden``, ``L`` = ``latent_dim``; every MLP has ``mlp_layers`` hidden layers of
    width ``H`` and the chosen ``activation``; every attention block is a post-norm transformer
    block (``LayerNorm(q + MHA(q, k, v))`` then ``LayerNorm(h + FFN(h))``) built on
    :class:`torch.nn.MultiheadAttention` with ``n_heads`` heads and no positional encoding::

        deterministic path   s_i = SelfAttn^n_self(MLP_d([x_i, y_i]))                  (B, Nc, H)
                             r_j = CrossAttn^n_cross(q = e(x_j), k = e(x_i), v = s_i)  (B, Nt, H)
        latent path          h   = mean_i SelfAttn^n_self(MLP_l([x_i, y_i]))           (B, H)
                             mu_z, sigma_z = MLP(h),  sigma_z = s0 + (1 - s0) sigmoid(.)  (B, L)
        decoder              mu_y, sigma_y = MLP([x_j, r_j, z]),
                             sigma_y = min_std + (1 - min_std) softplus(.)              (B, Nt, 1)

    ``e`` is one shared MLP embedding of the inputs (for queries and keys, so that attention
    compares like with like). ``s0 = min_latent_std`` (0.1, the standard ANP choice). The
    decoder's lower bound ``min_std`` defaults to ``1e-3`` (as in the ProbConserv reference
    code): the standard ANP's ``0.1`` would forbid predictive standard deviations below 0.1, far
    above the noise level of smooth, noise-free PDE solutions of order one, and would make the
    predictive variance (and hence the ProbConserv update) meaningless there. ``min_std = 0.1``
    gives exactly the ``0.1 + 0.9 softplus(.)`` parametrisation of Kim et al.

    **Input normalisation.** With ``input_range = ((lo_1, hi_1), ..., (lo_d, hi_d))`` every input
    ``x = (t, x)`` (contexts and targets) is first mapped affinely onto ``[-1, 1]`` per dimension,
    ``x'_k = 2 (x_k - lo_k) / (hi_k - lo_k) - 1``, and everything above acts on ``x'``. Set it from
    the problem's domain: the dimensions then enter every MLP and attention score on the same
    scale (e.g. Stefan's ``t in [0, 0.1]`` next to ``x in [0, 1]``: unnormalised, ``t`` moves the
    first-layer features ten times less than ``x``, so attention cannot localise contexts in time
    and the decoder resolves the ``sqrt(t)`` growth of the front poorly). The bounds are buffers
    (``input_low``, ``input_high``, saved with the weights) and part of :meth:`get_config`;
    derivatives with respect to the raw inputs (SoftC) go through the map by autograd. Without
    ``input_range`` (the default) the inputs are used as given and the model, its config and its
    ``state_dict`` are those of models written before the option existed.

    **Training objective.**
    With a target set (``target_y`` given) the latent is drawn from the *posterior*
    ``q(z | C ∪ T)`` (the latent encoder applied to the union of contexts and targets), and the
    loss is the negative ELBO **normalised per target point**::

        nll  = (1 / (B Nt)) sum_{b, j} -log N(y_bj | mu_y(x_bj, z_b), sigma_y^2)   (z_b ~ q(z|C∪T))
        kl   = (1 / (B Nt)) sum_b KL(q(z_b | C_b ∪ T_b) || q(z_b | C_b))
        loss = nll + kl

    (one reparametrised latent draw per task; the log-density sums over ``y_dim``). This is the
    reference implementation's summed loss divided by ``B * Nt``, so learning rates do not
    depend on the number of targets. The posterior's inputs are detached from autograd, so the
    mean at a target point depends on that point's input only: derivatives of the mean with
    respect to ``target_x`` (SoftC, :func:`~sciml.surrogates.probconserv.training.pde_residual_penalty`)
    are those of a pointwise function ``u(t, x; z, C)``.

    (:class:`~sciml.surrogates.probconserv.training.ANPTrainer` can re-weight the ``nll`` term
    point by point, ``nll_beta``; see
    :func:`~sciml.surrogates.probconserv.training.beta_weighted_loss`.)

    Examples
    --------
    >>> anp = AttentiveNeuralProcess(hidden=32, latent_dim=16, n_heads=2)
    >>> out = anp(cx, cy, tx, ty, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    >>> out.loss.backward()                                                   # doctest: +SKIP
    >>> pred = anp.predict_targets(cx, cy, target_x, n_samples=50,
    ...                            generator=torch.Generator().manual_seed(1))  # doctest: +SKIP
    >>> pred.means.shape                                       # (50, B, Nt, 1) # doctest: +SKIP
    >>> post = anp.predict(FieldInputs(t, x, context_x=cx, context_y=cy, seed=1))  # doctest: +SKIP
    >>> post.mean.shape                                       # (B, n_t, n_x) # doctest: +SKIP
    """

    def __init__(
        self,
        x_dim: int = 2,
        y_dim: int = 1,
        hidden: int = 128,
        latent_dim: int = 128,
        n_heads: int = 4,
        *,
        n_self_attention: int = 2,
        n_cross_attention: int = 2,
        mlp_layers: int = 2,
        activation: Activation = "relu",
        min_std: float = 1e-3,
        min_latent_std: float = 0.1,
        dropout: float = 0.0,
        input_range: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("x_dim", x_dim, 1), ("y_dim", y_dim, 1), ("hidden", hidden, 1), ("latent_dim", latent_dim, 1),
            ("n_heads", n_heads, 1), ("n_self_attention", n_self_attention, 0),
            ("n_cross_attention", n_cross_attention, 1), ("mlp_layers", mlp_layers, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")
        if hidden % n_heads != 0:
            raise ConfigError(f"n_heads ({n_heads}) must divide hidden ({hidden})")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        for name, value in (("min_std", min_std), ("min_latent_std", min_latent_std)):
            if not (isinstance(value, (int, float)) and 0.0 < float(value) < 1.0):
                raise ConfigError(f"{name} must be a number in (0, 1); got {value!r}")
        if not (isinstance(dropout, (int, float)) and 0.0 <= float(dropout) < 1.0):
            raise ConfigError(f"dropout must be a number in [0, 1); got {dropout!r}")
        bounds = _input_bounds(input_range, int(x_dim))

        self.x_dim, self.y_dim = int(x_dim), int(y_dim)
        self.hidden, self.latent_dim, self.n_heads = int(hidden), int(latent_dim), int(n_heads)
        self.n_self_attention, self.n_cross_attention = int(n_self_attention), int(n_cross_attention)
        self.mlp_layers, self.activation = int(mlp_layers), str(activation)
        self.min_std, self.min_latent_std = float(min_std), float(min_latent_std)
        self.dropout = float(dropout)
        self.input_range: tuple[tuple[float, float], ...] | None = None if bounds is None else tuple(bounds)
        self.input_low: Tensor | None
        self.input_high: Tensor | None
        if bounds is None:
            self.input_low = self.input_high = None
        else:
            self.register_buffer("input_low", torch.tensor([lo for lo, _ in bounds]))
            self.register_buffer("input_high", torch.tensor([hi for _, hi in bounds]))
            self.register_load_state_dict_post_hook(_check_loaded_input_range)

        act, p, h = self.activation, self.dropout, self.hidden
        xy = self.x_dim + self.y_dim
        # deterministic path
        self.det_encoder = _mlp(xy, h, h, self.mlp_layers, act, p)
        self.det_self_attention = nn.ModuleList(_AttentionBlock(h, self.n_heads, act, p)
                                                for _ in range(self.n_self_attention))
        self.x_embedding = _mlp(self.x_dim, h, h, self.mlp_layers, act, p)
        self.cross_attention = nn.ModuleList(_AttentionBlock(h, self.n_heads, act, p)
                                             for _ in range(self.n_cross_attention))
        # latent path
        self.latent_encoder = _mlp(xy, h, h, self.mlp_layers, act, p)
        self.latent_self_attention = nn.ModuleList(_AttentionBlock(h, self.n_heads, act, p)
                                                   for _ in range(self.n_self_attention))
        self.latent_head = _mlp(h, h, 2 * self.latent_dim, 1, act, p)
        # decoder
        self.decoder = _mlp(self.x_dim + h + self.latent_dim, h, 2 * self.y_dim, self.mlp_layers, act, p)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (``AttentiveNeuralProcess(**model.get_config())`` rebuilds it).

        ``input_range`` (a list of ``[low, high]`` pairs) is present only when the model
        normalises its inputs, so that the config of a model without normalisation is the one
        of older versions.
        """
        config: dict[str, Any] = {
            "x_dim": self.x_dim, "y_dim": self.y_dim, "hidden": self.hidden, "latent_dim": self.latent_dim,
            "n_heads": self.n_heads, "n_self_attention": self.n_self_attention,
            "n_cross_attention": self.n_cross_attention, "mlp_layers": self.mlp_layers,
            "activation": self.activation, "min_std": self.min_std, "min_latent_std": self.min_latent_std,
            "dropout": self.dropout,
        }
        if self.input_range is not None:
            config["input_range"] = [[lo, hi] for lo, hi in self.input_range]
        return config

    def normalize_inputs(self, x: Tensor) -> Tensor:
        """Inputs as the network sees them: ``2 (x - low) / (high - low) - 1`` (identity without ``input_range``).

        Parameters
        ----------
        x : Tensor, shape ``(..., x_dim)``
            Raw inputs (units of the inputs).

        Returns
        -------
        Tensor, shape ``(..., x_dim)``
            Dimensionless; the ``input_range`` box maps onto ``[-1, 1]^x_dim``.
        """
        if self.input_low is None or self.input_high is None:
            return x
        low = self.input_low.to(dtype=x.dtype)
        high = self.input_high.to(dtype=x.dtype)
        return 2.0 * (x - low) / (high - low) - 1.0

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    # ------------------------------------------------------------------ validation
    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _check(self, t: Any, name: str, dim: int, dim_name: str, batch: int | None) -> Tensor:
        if not isinstance(t, Tensor):
            raise ANPInputError(f"{name} must be a torch.Tensor of shape (B, N, {dim_name}={dim}); got "
                                f"{type(t).__name__}")
        if t.ndim != 3 or t.shape[-1] != dim:
            raise ANPInputError(f"{name} must have shape (B, N, {dim_name}) = (B, N, {dim}); got {tuple(t.shape)}")
        if batch is not None and t.shape[0] != batch:
            raise ANPInputError(f"{name} has batch size {t.shape[0]}, but context_x has {batch}: contexts and "
                                f"targets must describe the same B tasks")
        if t.shape[0] < 1 or t.shape[1] < 1:
            what = "context" if name.startswith("context") else "target"
            raise ANPInputError(f"{name} has shape {tuple(t.shape)}: at least one task and one {what} point "
                                f"are needed")
        if not t.is_floating_point():
            raise ANPInputError(f"{name} must be floating point; got {t.dtype}")
        if not bool(torch.isfinite(t.detach()).all()):
            n_bad = int((~torch.isfinite(t.detach())).sum())
            raise ANPInputError(f"{name} contains {n_bad} NaN or infinite value(s)")
        return t.to(device=self._device(), dtype=self._dtype())

    def _inputs(
        self, context_x: Tensor, context_y: Tensor, target_x: Tensor, target_y: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        cx = self._check(context_x, "context_x", self.x_dim, "x_dim", None)
        b = cx.shape[0]
        cy = self._check(context_y, "context_y", self.y_dim, "y_dim", b)
        if cy.shape[1] != cx.shape[1]:
            raise ANPInputError(f"context_y has {cy.shape[1]} points but context_x has {cx.shape[1]}")
        tx = self._check(target_x, "target_x", self.x_dim, "x_dim", b)
        ty = None
        if target_y is not None:
            ty = self._check(target_y, "target_y", self.y_dim, "y_dim", b)
            if ty.shape[1] != tx.shape[1]:
                raise ANPInputError(f"target_y has {ty.shape[1]} points but target_x has {tx.shape[1]}")
        return self.normalize_inputs(cx), cy, self.normalize_inputs(tx), ty

    # ------------------------------------------------------------------ paths
    def _context_representation(self, cx: Tensor, cy: Tensor) -> tuple[Tensor, Tensor]:
        """Keys ``e(x_c)`` and values ``s_c`` of the deterministic path, both ``(B, Nc, H)``."""
        s = self.det_encoder(torch.cat([cx, cy], dim=-1))
        for block in self.det_self_attention:
            s = block(s, s, s)
        return self.x_embedding(cx), s

    def _cross(self, keys: Tensor, values: Tensor, tx: Tensor) -> Tensor:
        """``r_target``, shape ``(B, Nt, H)``."""
        q = self.x_embedding(tx)
        for block in self.cross_attention:
            q = block(q, keys, values)
        return q

    def latent_distribution(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu_z, sigma_z)`` of ``q(z | {(x_i, y_i)})``, each ``(B, latent_dim)``.

        Parameters
        ----------
        x : Tensor, shape ``(B, N, x_dim)``
            Raw inputs (normalised here like those of :meth:`forward`).
        y : Tensor, shape ``(B, N, y_dim)``
        """
        return self._latent_distribution(self.normalize_inputs(x), y)

    def _latent_distribution(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`latent_distribution` of already normalised inputs ``x``."""
        s = self.latent_encoder(torch.cat([x, y], dim=-1))
        for block in self.latent_self_attention:
            s = block(s, s, s)
        mu, raw = self.latent_head(s.mean(dim=1)).chunk(2, dim=-1)
        sigma = self.min_latent_std + (1.0 - self.min_latent_std) * torch.sigmoid(raw)
        return mu, sigma

    def _decode(self, tx: Tensor, r: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance ``(..., B, Nt, y_dim)`` for latents ``z`` of shape ``(..., B, L)``."""
        lead = z.shape[:-2]
        nt = tx.shape[1]
        feats = torch.cat(
            [tx.expand(*lead, *tx.shape), r.expand(*lead, *r.shape), z.unsqueeze(-2).expand(*z.shape[:-1], nt, -1)],
            dim=-1,
        )
        mean, raw = self.decoder(feats).chunk(2, dim=-1)
        std = self.min_std + (1.0 - self.min_std) * nn.functional.softplus(raw)
        return mean, std * std

    @staticmethod
    def _normal(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
        """Standard normal draws on ``generator``'s device, moved to ``like``'s device and dtype."""
        device = generator.device if generator is not None else like.device
        eps = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
        return eps.to(like.device)

    # ------------------------------------------------------------------ public API
    def forward(
        self,
        context_x: Tensor,
        context_y: Tensor,
        target_x: Tensor,
        target_y: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        latent: Literal["sample", "mean"] = "sample",
        z: Tensor | None = None,
    ) -> ANPOutput:
        """Predict ``y`` at ``target_x`` from the contexts (and the negative ELBO with ``target_y``).

        Parameters
        ----------
        context_x : Tensor, shape ``(B, Nc, x_dim)``
            Context inputs, e.g. ``(t, x)`` points (``Nc >= 1``).
        context_y : Tensor, shape ``(B, Nc, y_dim)``
            Observed values at the contexts (units of ``y``).
        target_x : Tensor, shape ``(B, Nt, x_dim)``
            Where to predict (``Nt >= 1``).
        target_y : Tensor, shape ``(B, Nt, y_dim)``, optional
            True values at the targets: the latent is then drawn from ``q(z | C ∪ T)`` and the
            output carries ``loss``, ``nll`` and ``kl``.
        generator : torch.Generator, optional
            Source of the reparametrisation noise (the global RNG when omitted).
        latent : {"sample", "mean"}
            ``"sample"``: ``z = mu + sigma * eps``; ``"mean"``: ``z = mu`` (deterministic).
        z : Tensor, shape ``(B, latent_dim)``, optional
            Use this latent instead (``latent`` and ``generator`` are then ignored).

        Returns
        -------
        ANPOutput

        Raises
        ------
        ANPInputError
            Wrong shapes or feature dimensions, different batch sizes, empty context or
            target sets, non-floating dtypes, NaN or inf values.
        """
        if latent not in ("sample", "mean"):
            raise ANPInputError(f"latent must be 'sample' or 'mean'; got {latent!r}")
        cx, cy, tx, ty = self._inputs(context_x, context_y, target_x, target_y)
        b = cx.shape[0]
        prior_mu, prior_sigma = self._latent_distribution(cx, cy)
        post_mu = post_sigma = None
        if ty is not None:
            # detached inputs: z must not depend on target_x through autograd (see the class Notes)
            post_mu, post_sigma = self._latent_distribution(
                torch.cat([cx, tx.detach()], dim=1), torch.cat([cy, ty.detach()], dim=1)
            )
        mu, sigma = (post_mu, post_sigma) if post_mu is not None else (prior_mu, prior_sigma)
        if z is not None:
            if not isinstance(z, Tensor) or tuple(z.shape) != (b, self.latent_dim):
                shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
                raise ANPInputError(f"z must have shape (B, latent_dim) = ({b}, {self.latent_dim}); got {shape}")
            z_used = z.to(device=mu.device, dtype=mu.dtype)
        elif latent == "mean":
            z_used = mu
        else:
            z_used = mu + sigma * self._normal(tuple(mu.shape), mu, generator)

        keys, values = self._context_representation(cx, cy)
        r = self._cross(keys, values, tx)
        mean, variance = self._decode(tx, r, z_used)
        if ty is None:
            return ANPOutput(mean, variance, z_used, prior_mu, prior_sigma)

        assert post_mu is not None and post_sigma is not None
        nt = tx.shape[1]
        log_p = -0.5 * (math.log(2.0 * math.pi) + torch.log(variance) + (ty - mean) ** 2 / variance)
        nll = -log_p.sum(-1).mean()
        kl_task = kl_diag_gaussians(post_mu, post_sigma, prior_mu, prior_sigma)
        kl = kl_task.mean() / nt
        return ANPOutput(mean, variance, z_used, prior_mu, prior_sigma, post_mu, post_sigma,
                         loss=nll + kl, nll=nll, kl=kl, kl_per_task=kl_task)

    def predict(self, inputs: FieldInputs) -> ANPPosterior:
        """The Surrogate contract: the mixture of ``inputs.n_samples`` latent draws on the grid.

        Targets are every point of the ``inputs.t x inputs.x`` grid (time-major); the latents are
        drawn from ``inputs.seed`` (an int: the same prediction every call). Runs in eval mode
        without autograd (:meth:`predict_targets`); the result is float64 on the CPU.

        Parameters
        ----------
        inputs : FieldInputs
            The grid, ``context_x`` ``(B, Nc, 2)`` and ``context_y`` ``(B, Nc, 1)`` (or
            ``(B, Nc)``), ``seed``, ``n_samples`` and ``target_chunk``; ``params`` is unused.

        Returns
        -------
        ANPPosterior
            ``means``/``variances`` ``(S, B, n_t, n_x)``, the latents ``z`` ``(S, B, L)``.

        Raises
        ------
        FieldInputError
            Missing or malformed contexts or grid.
        ANPInputError
            ``y_dim != 1`` or ``x_dim != 2`` (the grid is of ``(t, x)`` points).
        """
        if self.x_dim != 2 or self.y_dim != 1:
            raise ANPInputError(f"predict(FieldInputs) needs x_dim = 2 and y_dim = 1 (a field u(t, x)); "
                                f"got x_dim = {self.x_dim}, y_dim = {self.y_dim}: use predict_targets")
        tg, xg = inputs.grid()
        cx, cy = inputs.contexts()
        n_t, n_x, b = tg.numel(), xg.numel(), cx.shape[0]
        grid = torch.stack(torch.meshgrid(tg, xg, indexing="ij"), dim=-1).reshape(1, n_t * n_x, 2)
        pred = self.predict_targets(cx, cy[..., None], grid.expand(b, -1, -1), n_samples=inputs.n_samples,
                                    generator=as_generator(inputs.seed), target_chunk=inputs.target_chunk)
        means = pred.means[..., 0].cpu().to(torch.float64).reshape(-1, b, n_t, n_x)
        variances = pred.variances[..., 0].cpu().to(torch.float64).reshape(-1, b, n_t, n_x)
        return ANPPosterior(means, variances, z=pred.z.cpu())

    @torch.no_grad()
    def predict_targets(
        self,
        context_x: Tensor,
        context_y: Tensor,
        target_x: Tensor,
        n_samples: int = 50,
        *,
        generator: torch.Generator | None = None,
        target_chunk: int | None = None,
    ) -> ANPPrediction:
        """Predictive distribution at ``target_x``: ``S`` latent draws from ``q(z | C)`` and their mixture.

        Runs in eval mode (dropout off) without autograd; the module's train/eval mode is
        restored afterwards. The deterministic path is evaluated once, the decoder for all
        draws at once.

        Parameters
        ----------
        context_x, context_y, target_x : Tensor
            As in :meth:`forward` (any points, not only a grid).
        n_samples : int
            Number ``S >= 1`` of latent draws.
        generator : torch.Generator, optional
            Source of the latent draws (the global RNG when omitted).
        target_chunk : int, optional
            Process at most this many targets at a time (memory ``~ S B chunk H``); the latent
            draws are shared by all chunks, so the result does not depend on it.

        Returns
        -------
        ANPPrediction
            Per-draw ``means``/``variances`` ``(S, B, Nt, y_dim)`` and mixture ``mean``/``variance``.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ANPInputError(f"n_samples must be an integer >= 1; got {n_samples!r}")
        if target_chunk is not None and (isinstance(target_chunk, bool) or not isinstance(target_chunk, int)
                                         or target_chunk < 1):
            raise ANPInputError(f"target_chunk must be an integer >= 1 or None; got {target_chunk!r}")
        was_training = self.training
        self.eval()
        try:
            cx, cy, tx, _ = self._inputs(context_x, context_y, target_x, None)
            mu, sigma = self._latent_distribution(cx, cy)
            z = mu + sigma * self._normal((n_samples, *mu.shape), mu, generator)  # (S, B, L)
            keys, values = self._context_representation(cx, cy)
            nt = tx.shape[1]
            step = nt if target_chunk is None else target_chunk
            means, variances = [], []
            for start in range(0, nt, step):
                part = tx[:, start:start + step]
                m, v = self._decode(part, self._cross(keys, values, part), z)
                means.append(m)
                variances.append(v)
        finally:
            self.train(was_training)
        means_t = torch.cat(means, dim=2)
        vars_t = torch.cat(variances, dim=2)
        mix_mean = means_t.mean(0)
        mix_var = vars_t.mean(0) + ((means_t - mix_mean) ** 2).mean(0)
        return ANPPrediction(means_t, vars_t, mix_mean, mix_var, z)
