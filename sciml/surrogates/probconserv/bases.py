"""Base probabilistic models for the ProbConserv update other than the ANP.

Step 2 of ProbConserv (:func:`~sciml.surrogates.probconserv.conservation_update`) works on
*any* Gaussian prediction of a space-time field. This module wraps three kinds of sciml
surrogates as such predictions, behind one small protocol, :class:`MeanVarianceField`:

* :class:`ExactGPField` — an exact Gaussian process (GPyTorch) over ``(t, x)`` conditioned on
  the context points of one solution (the ANP's protocol: 100 random grid points of the exact
  solution). Its posterior covariance is returned **dense per time slice**, so the update
  moves mass coherently along the GP's correlations.
* :class:`FNOEnsembleField` — a deep ensemble of ``M`` small Fourier neural operators
  (:class:`FieldFNO`) that map the physical parameter ``p`` and the time ``t`` (constant
  channels) plus the ``x`` coordinate to the profile ``u(t, .)``; each member has its own seed
  and a Gaussian variance head. Covariance: low rank plus diagonal.
* :class:`MCDropoutField` — the same FNO with (channel) dropout, trained once; at inference the
  network is put in ``.eval()`` and only the dropout layers are kept stochastic
  (:class:`MCDropout`, :func:`mc_dropout`). Covariance: low rank plus diagonal.

Shapes and units (the convention of :mod:`~sciml.surrogates.probconserv.update`)
----------------------------------------------------------------------------------
A prediction is a :class:`FieldPrediction` for ``B`` functions on a tensor-product grid of
``n_t`` times and ``n_x`` positions, **time-major** (row ``i`` is the profile ``u(t_i, .)`` on
which ``G`` acts); everything is float64 on the CPU:

* ``mean`` ``(B, n_t, n_x)`` in units of ``u``, ``variance`` ``(B, n_t, n_x)`` in units of
  ``u^2`` (the marginal variances, always present);
* ``cov`` in the format ``cov_kind`` of :func:`conservation_update`, per ``(function, time)``:
  ``"diag"`` (the variance), ``"lowrank"`` (``(factor (B, n_t, n_x, r), diag (B, n_t, n_x))``,
  ``Sigma = F F^T + diag(d)``) or ``"dense"`` (``(B, n_t, n_x, n_x)``). Correlations between
  different times are not represented: the constraint ``G u(t) = b(t)`` acts on each time
  separately, so the update needs only the per-time blocks.

:meth:`FieldPrediction.conserve` applies the update (ProbConserv, or HardC with ``hard=True``)
and :meth:`FieldPrediction.cov_at` gives the dense covariance at one time (for sampling).

The inputs of :meth:`MeanVarianceField.predict` are the grid (``t`` ``(n_t,)``, ``x``
``(n_x,)``) and, as keywords, the contexts ``context_x`` ``(B, N_c, 2)`` (``(t, x)`` pairs) and
``context_y`` ``(B, N_c, 1)`` (or ``(B, N_c)``), and the parameters ``params`` ``(B,)`` or
``(B, 1)``. Each model uses what it needs (the GP the contexts, the FNOs the parameters) and
raises :class:`FieldInputError` if it is missing, malformed or not finite.

What each model is told
-----------------------
The GP sees only the contexts, like the ANP. The FNO bases are told the parameter ``p`` (an
oracle the ANP and the GP do not have): they are operator surrogates of the parameter-to-
solution map, as the issue describes them, so their predictions do not depend on the context
set (for the ensemble all test functions of one parameter get the same prediction). Their
uncertainty is model (epistemic) uncertainty about that map: ensemble disagreement or dropout
noise, plus the learned variance head.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.neural_pde.spectral import SpectralConv1d
from sciml.surrogates.probconserv.update import ConservedPrediction, conservation_update

__all__ = [
    "ExactGPField",
    "FNOEnsembleField",
    "FNOTrainConfig",
    "FieldFNO",
    "FieldInputError",
    "FieldPrediction",
    "MCDropout",
    "MCDropoutField",
    "MeanVarianceField",
    "mc_dropout",
]

CovKind = Literal["diag", "lowrank", "dense"]


class FieldInputError(SciMLError, ValueError):
    """Bad input to a base field model (shape, missing input, NaN/inf, unfitted model)."""


# =========================================================================== prediction
@dataclass(frozen=True)
class FieldPrediction:
    """A Gaussian prediction of ``B`` space-time fields, per time slice.

    Attributes
    ----------
    mean : Tensor, shape ``(B, n_t, n_x)``, float64
        Predictive mean (units of ``u``).
    variance : Tensor, shape ``(B, n_t, n_x)``, float64
        Marginal predictive variance ``>= 0`` (units of ``u^2``), the diagonal of ``cov``.
    cov_kind : {"diag", "lowrank", "dense"}
        Format of ``cov`` (as ``cov_kind`` of :func:`conservation_update`).
    cov : Tensor or (Tensor, Tensor)
        ``"diag"``: the variance; ``"lowrank"``: ``(factor (B, n_t, n_x, r), diag (B, n_t, n_x))``
        with ``Sigma = F F^T + diag(d)``; ``"dense"``: ``(B, n_t, n_x, n_x)``.
    info : dict
        Model-specific extras (e.g. the number of members, fitted hyperparameters).
    """

    mean: Tensor
    variance: Tensor
    cov_kind: CovKind
    cov: Any
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mean.ndim != 3 or self.variance.shape != self.mean.shape:
            raise FieldInputError(
                f"FieldPrediction: mean and variance must have the same shape (B, n_t, n_x), got "
                f"{tuple(self.mean.shape)} and {tuple(self.variance.shape)}")
        if self.cov_kind not in ("diag", "lowrank", "dense"):
            raise FieldInputError(f"FieldPrediction: unknown cov_kind {self.cov_kind!r}")

    @property
    def batch(self) -> int:
        return int(self.mean.shape[0])

    @property
    def grid_shape(self) -> tuple[int, int]:
        """``(n_t, n_x)``."""
        return int(self.mean.shape[1]), int(self.mean.shape[2])

    def conserve(self, G: Any, b: Any, *, hard: bool = False, sigma_g: float = 0.0,
                 return_full_cov: bool | None = None) -> ConservedPrediction:
        """The ProbConserv update (or HardC, ``hard=True``) of this prediction on ``G u(t) = b(t)``.

        ``G`` ``(n_c, n_x)``, ``b`` ``(B, n_t, n_c)`` or ``(n_t, n_c)``; see
        :func:`~sciml.surrogates.probconserv.conservation_update`.
        """
        return conservation_update(self.mean, self.cov, G, b, sigma_g=sigma_g, cov_kind=self.cov_kind,
                                   hard=hard, return_full_cov=return_full_cov)

    def at_times(self, index: int | slice | Sequence[int]) -> FieldPrediction:
        """The prediction restricted to some time indices (keeps the time axis)."""
        idx = slice(index, index + 1) if isinstance(index, int) else index

        def cut(a: Tensor) -> Tensor:
            return a[:, idx]

        if self.cov_kind == "lowrank":
            cov: Any = (cut(self.cov[0]), cut(self.cov[1]))
        else:
            cov = cut(self.cov)
        return FieldPrediction(cut(self.mean), cut(self.variance), self.cov_kind, cov, dict(self.info))

    def cov_at(self, i_t: int) -> Tensor:
        """Dense covariance ``(B, n_x, n_x)`` of the profiles at time index ``i_t``."""
        if self.cov_kind == "diag":
            return torch.diag_embed(self.cov[:, i_t])
        if self.cov_kind == "lowrank":
            f, d = self.cov[0][:, i_t], self.cov[1][:, i_t]
            return f @ f.transpose(-1, -2) + torch.diag_embed(d)
        return self.cov[:, i_t]


@runtime_checkable
class MeanVarianceField(Protocol):
    """A probabilistic surrogate of a space-time field that ProbConserv can update.

    ``predict(t, x, *, context_x=None, context_y=None, params=None, generator=None)`` returns
    a :class:`FieldPrediction` of shape ``(B, n_t, n_x)`` (see the module docstring for the
    inputs); ``name`` labels the benchmark rows (``"GP"``, ``"Ensemble"``, ``"MCDropout"``).
    """

    name: str

    def predict(self, t: Any, x: Any, *, context_x: Any = None, context_y: Any = None,
                params: Any = None, generator: torch.Generator | None = None) -> FieldPrediction: ...


# =========================================================================== validation
def _grid_1d(a: Any, name: str) -> Tensor:
    try:
        t = torch.tensor(np.array(a.detach().cpu() if isinstance(a, Tensor) else a, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise FieldInputError(f"{name} must be a 1D array of numbers: {exc}") from exc
    if t.ndim != 1 or t.numel() < 2:
        raise FieldInputError(f"{name} must be a 1D array with at least 2 points, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise FieldInputError(f"{name} contains NaN or infinite values")
    if not bool((t[1:] > t[:-1]).all()):
        raise FieldInputError(f"{name} must be strictly increasing")
    return t


def _finite(t: Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise FieldInputError(f"{name} contains {n_bad} NaN or infinite value(s); all values must be finite")


def _contexts(context_x: Any, context_y: Any) -> tuple[Tensor, Tensor]:
    """``(B, N_c, 2)`` and ``(B, N_c)`` float64 contexts, validated."""
    if context_x is None or context_y is None:
        raise FieldInputError("this model conditions on context points: pass context_x (B, N_c, 2) and "
                              "context_y (B, N_c, 1)")
    try:
        cx = torch.as_tensor(context_x).detach().cpu().to(torch.float64)
        cy = torch.as_tensor(context_y).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise FieldInputError(f"context_x / context_y must be arrays of numbers: {exc}") from exc
    if cx.ndim != 3 or cx.shape[-1] != 2 or cx.shape[1] < 1 or cx.shape[0] < 1:
        raise FieldInputError(f"context_x must have shape (B, N_c, 2) with (t, x) pairs, got {tuple(cx.shape)}")
    if cy.ndim == 3 and cy.shape[-1] == 1:
        cy = cy[..., 0]
    if cy.shape != cx.shape[:2]:
        raise FieldInputError(
            f"context_y must have shape (B, N_c, 1) or (B, N_c) = {tuple(cx.shape[:2])} to match context_x, "
            f"got {tuple(torch.as_tensor(context_y).shape)}")
    _finite(cx, "context_x")
    _finite(cy, "context_y")
    return cx, cy


def _params(params: Any) -> Tensor:
    """``(B,)`` float64 parameters, validated."""
    if params is None:
        raise FieldInputError("this model is conditioned on the physical parameter: pass params (B,) or (B, 1)")
    try:
        p = torch.as_tensor(params).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise FieldInputError(f"params must be numbers of shape (B,) or (B, 1): {exc}") from exc
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    elif p.ndim == 0:
        p = p[None]
    if p.ndim != 1 or p.numel() < 1:
        raise FieldInputError(f"params must have shape (B,) or (B, 1), got {tuple(torch.as_tensor(params).shape)}")
    _finite(p, "params")
    return p


def _range(r: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a pair (lo, hi) of numbers, got {r!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"{name} must be a finite pair with lo < hi, got {r!r}")
    return lo, hi


def _int(v: Any, name: str, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _nonneg_diag(cov: Tensor) -> Tensor:
    """Symmetrise a batch of covariances and lift round-off negative diagonal entries to 0."""
    cov = 0.5 * (cov + cov.transpose(-1, -2))
    d = torch.diagonal(cov, dim1=-2, dim2=-1)
    return cov + torch.diag_embed((-d).clamp_min(0.0))


# =========================================================================== exact GP
def _gp_model(train_x: Tensor, train_y: Tensor, noise_floor: float) -> Any:
    import gpytorch

    class _ExactGP(gpytorch.models.ExactGP):
        def __init__(self, x: Tensor, y: Tensor, likelihood: Any) -> None:
            super().__init__(x, y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=2))

        def forward(self, x: Tensor) -> Any:
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    lik = gpytorch.likelihoods.GaussianLikelihood(
        noise_constraint=gpytorch.constraints.GreaterThan(noise_floor)).to(torch.float64)
    return _ExactGP(train_x, train_y, lik).to(torch.float64)


class ExactGPField:
    """Exact GP over ``(t, x)`` (GPyTorch), conditioned on each function's context points.

    Model: constant mean, ``ScaleKernel(RBF)`` with one lengthscale per input (ARD) on inputs
    rescaled to ``[0, 1]`` by ``t_range`` and ``x_range``, Gaussian likelihood with noise
    ``>= noise_floor``; everything in float64.

    Hyperparameters (``hyper``):

    ``"train"`` (default)
        Shared by all test functions and learned on *training* functions before testing:
        :meth:`fit` maximises the sum of the exact log marginal likelihoods of ``F`` training
        functions (parameters from the training range, each with its own random context set)
        with Adam. This is the GP counterpart of the ANP's training (the model learns what the
        family looks like from the training range; a test function only contributes its
        contexts), it is deterministic and cheap at test time, and it is calibrated across
        the family: 100 points of a single Stefan solution give short lengthscales and a tiny
        noise that make the GP overconfident at the jump.
    ``"per_function"``
        The usual GP practice: for each test function, ``refit_steps`` L-BFGS steps of its own
        marginal likelihood, starting from the current (trained or default) hyperparameters.

    Measured (quick benchmark, 101 x 101 grid, 20 test functions, mean over functions):
    per-function refits fit the smooth heat solutions much better (``k = 1``: MSE 1.6e-8 vs
    1.2e-6, LL 8.1 vs 3.9) and lower the Stefan MSE (0.010 vs 0.014 at ``u* = 0.6``) but are
    overconfident there (LL -2.6 vs +0.7; HardC-GP LL -31 vs +0.5), so ``"train"`` is the
    default and ``"per_function"`` the option for smooth problems.

    :meth:`predict` returns the posterior of the latent function (no likelihood noise) on the
    grid: the mean and the **dense** posterior covariance of each time slice,
    ``cov_kind="dense"``, ``(B, n_t, n_x, n_x)``, from GPyTorch's exact (Cholesky) prediction
    with the grid batched over times. Round-off negative diagonal entries are set to 0.

    Parameters
    ----------
    t_range, x_range : (float, float)
        Domain used to rescale the inputs to ``[0, 1]``.
    hyper : {"train", "per_function"}
    noise_floor : float
        Lower bound of the likelihood noise variance (units of ``u^2``).
    lr, train_steps : float, int
        Adam settings of :meth:`fit`.
    refit_steps : int
        L-BFGS iterations per test function (``hyper="per_function"``).
    name : str
        Row label.
    """

    def __init__(self, t_range: tuple[float, float], x_range: tuple[float, float], *,
                 hyper: Literal["train", "per_function"] = "train", noise_floor: float = 1e-8,
                 lr: float = 0.05, train_steps: int = 150, refit_steps: int = 30, name: str = "GP") -> None:
        self.t_range = _range(t_range, "t_range")
        self.x_range = _range(x_range, "x_range")
        if hyper not in ("train", "per_function"):
            raise ConfigError(f"hyper must be 'train' or 'per_function', got {hyper!r}")
        if not (isinstance(noise_floor, (int, float)) and math.isfinite(noise_floor) and noise_floor > 0):
            raise ConfigError(f"noise_floor must be a number > 0, got {noise_floor!r}")
        self.hyper = hyper
        self.noise_floor = float(noise_floor)
        self.lr = float(lr)
        self.train_steps = _int(train_steps, "train_steps", 0)
        self.refit_steps = _int(refit_steps, "refit_steps", 0)
        self.name = name
        self.fitted = False
        self.fit_seconds = 0.0
        self.history: list[float] = []
        dummy_x = torch.zeros(1, 2, dtype=torch.float64)
        self.model = _gp_model(dummy_x, torch.zeros(1, dtype=torch.float64), self.noise_floor)
        self._init_hypers()

    # ------------------------------------------------------------------ helpers
    def _init_hypers(self) -> None:
        m = self.model
        m.covar_module.base_kernel.lengthscale = torch.tensor([[0.2, 0.2]], dtype=torch.float64)
        m.covar_module.outputscale = torch.tensor(0.1, dtype=torch.float64)
        m.likelihood.noise = torch.tensor(max(1e-5, 10 * self.noise_floor), dtype=torch.float64)

    def _scale(self, tx: Tensor) -> Tensor:
        """``(..., 2)`` ``(t, x)`` pairs -> ``[0, 1]^2``."""
        lo = torch.tensor([self.t_range[0], self.x_range[0]], dtype=torch.float64)
        hi = torch.tensor([self.t_range[1], self.x_range[1]], dtype=torch.float64)
        return (tx - lo) / (hi - lo)

    def hyperparameters(self) -> dict[str, Any]:
        """Current hyperparameters (lengthscales in the rescaled ``[0, 1]`` units)."""
        m = self.model
        with torch.no_grad():
            ls = m.covar_module.base_kernel.lengthscale
            return {"lengthscale_t": float(ls[0, 0]), "lengthscale_x": float(ls[0, 1]),
                    "outputscale": float(m.covar_module.outputscale),
                    "noise": float(m.likelihood.noise), "mean": float(m.mean_module.constant)}

    def _optimise(self, model: Any, x: Tensor, y: Tensor, steps: int, *, lbfgs: bool) -> list[float]:
        import gpytorch

        model.set_train_data(inputs=x, targets=y, strict=False)
        model.train()
        model.likelihood.train()
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
        losses: list[float] = []
        with gpytorch.settings.max_cholesky_size(10**6):
            if lbfgs:
                opt: Any = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

                def closure() -> Tensor:
                    opt.zero_grad()
                    loss = -mll(model(x), y).sum()
                    loss.backward()
                    return loss

                if steps > 0:
                    losses.append(float(opt.step(closure).detach()))
            else:
                opt = torch.optim.Adam(model.parameters(), lr=self.lr)
                for _ in range(steps):
                    opt.zero_grad()
                    loss = -mll(model(x), y).sum()
                    loss.backward()
                    opt.step()
                    losses.append(float(loss.detach()))
        model.eval()
        model.likelihood.eval()
        return losses

    # ------------------------------------------------------------------ API
    def fit(self, context_x: Any, context_y: Any) -> ExactGPField:
        """Learn shared hyperparameters on ``F`` training functions (sum of log marginal likelihoods).

        Parameters
        ----------
        context_x : array_like, shape ``(F, N_c, 2)``
            ``(t, x)`` context points of each training function.
        context_y : array_like, shape ``(F, N_c, 1)`` or ``(F, N_c)``
            Solution values there.
        """
        cx, cy = _contexts(context_x, context_y)
        x = self._scale(cx)
        with torch.no_grad():
            self.model.mean_module.constant = cy.mean()
            self.model.covar_module.outputscale = cy.var().clamp_min(1e-6)
        t0 = time.perf_counter()
        self.history = self._optimise(self.model, x, cy, self.train_steps, lbfgs=False)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, t: Any, x: Any, *, context_x: Any = None, context_y: Any = None,
                params: Any = None, generator: torch.Generator | None = None) -> FieldPrediction:
        """Posterior on the ``n_t x n_x`` grid given each function's contexts (``params`` unused).

        Returns a :class:`FieldPrediction` with ``cov_kind="dense"``, ``cov`` ``(B, n_t, n_x, n_x)``;
        ``info`` holds the shared hyperparameters (with ``hyper="per_function"``: the starting
        point of each function's refit, which runs on a copy of the model).
        """
        import gpytorch

        tg, xg = _grid_1d(t, "t"), _grid_1d(x, "x")
        cx, cy = _contexts(context_x, context_y)
        n_t, n_x = tg.numel(), xg.numel()
        grid = torch.stack(torch.meshgrid(tg, xg, indexing="ij"), dim=-1)  # (n_t, n_x, 2)
        grid = self._scale(grid)
        means, covs = [], []
        for j in range(cx.shape[0]):
            xj, yj = self._scale(cx[j]), cy[j]
            model = self.model
            if self.hyper == "per_function":
                model = copy.deepcopy(self.model)
                self._optimise(model, xj, yj, self.refit_steps, lbfgs=True)
            model.set_train_data(inputs=xj, targets=yj, strict=False)
            model.eval()
            model.likelihood.eval()
            with (torch.no_grad(), gpytorch.settings.fast_pred_var(False),
                  gpytorch.settings.max_cholesky_size(10**6)):
                post = model(grid)  # batch over times: mean (n_t, n_x), cov (n_t, n_x, n_x)
                means.append(post.mean.reshape(n_t, n_x))
                covs.append(_nonneg_diag(post.covariance_matrix.reshape(n_t, n_x, n_x)))
        mean = torch.stack(means)
        cov = torch.stack(covs)
        var = torch.diagonal(cov, dim1=-2, dim2=-1).clone()
        _finite(mean, "GP posterior mean")
        info = {"hyper": self.hyper, **self.hyperparameters()}
        return FieldPrediction(mean, var, "dense", cov, info)


# =========================================================================== FNO bases
class MCDropout(nn.Module):
    """Dropout whose randomness can be switched on independently of ``module.training``.

    * ``mc = False`` (default): ordinary dropout (random in ``.train()``, identity in ``.eval()``).
    * ``mc = True``: random in both modes — Monte Carlo dropout at inference while every other
      layer stays in ``.eval()`` behaviour (set by :func:`mc_dropout`).

    ``channelwise=True`` drops whole channels of a ``(batch, channels, n_x)`` feature map (one
    mask value per sample and channel, as :class:`torch.nn.Dropout1d`), so a dropout draw
    perturbs a profile coherently in ``x`` rather than adding white noise per grid point.
    Masks come from ``generator`` when set (reproducible draws), else from the global RNG.
    Kept units are scaled by ``1 / (1 - p)``.
    """

    def __init__(self, p: float = 0.1, *, channelwise: bool = True) -> None:
        super().__init__()
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            raise ConfigError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.channelwise = bool(channelwise)
        self.mc = False
        self.generator: torch.Generator | None = None

    @property
    def active(self) -> bool:
        """Whether the next forward pass is random."""
        return self.p > 0 and (self.training or self.mc)

    def forward(self, z: Tensor) -> Tensor:
        if not self.active:
            return z
        shape = (*z.shape[:2], *([1] * (z.ndim - 2))) if self.channelwise else z.shape
        u = torch.rand(shape, generator=self.generator, dtype=z.dtype, device=z.device)
        return z * (u >= self.p).to(z.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, channelwise={self.channelwise}, mc={self.mc}"


@contextlib.contextmanager
def mc_dropout(module: nn.Module, generator: torch.Generator | None = None) -> Iterator[nn.Module]:
    """Inference with MC dropout: ``module.eval()`` with only its :class:`MCDropout` layers random.

    On exit the ``training`` flag of every submodule and the ``mc`` flag and generator of every
    :class:`MCDropout` are restored to what they were on entry.
    """
    modes = {m: m.training for m in module.modules()}
    drops = [m for m in module.modules() if isinstance(m, MCDropout)]
    saved = [(m.mc, m.generator) for m in drops]
    module.eval()
    for m in drops:
        m.mc = True
        m.generator = generator
    try:
        yield module
    finally:
        for m, (mc, gen) in zip(drops, saved, strict=True):
            m.mc, m.generator = mc, gen
        for m, mode in modes.items():
            m.training = mode


class FieldFNO(nn.Module):
    """1D FNO over ``x`` mapping ``(p, t)`` to the profile ``u(t, .)`` and a variance.

    Input channels (all on the ``x`` grid): the normalised parameter and time as constant
    channels and the normalised coordinate ``x`` in ``[0, 1]``. Architecture::

        z = lift([p, t, x])                                  (1x1 conv -> width)
        z = pad_right(z, pad)                                (zero padding: non-periodic x)
        z = dropout(gelu(spectral_l(z) + pointwise_l(z)))    l = 1 .. n_layers (no gelu/dropout after the last)
        z = crop(z)
        mean, raw = proj2(dropout(gelu(proj1(z))))           (1x1 convs: width -> proj_hidden -> 2)
        variance = softplus(raw) + min_variance              (if variance_head)

    ``dropout`` is an :class:`MCDropout` (identity when ``dropout = 0``). Each time slice is an
    independent sample of the batch, so the network never mixes information across times; the
    conservation constraint also acts per time.

    Shapes: ``forward(inputs (N, 3, n_x)) -> (mean (N, n_x), variance (N, n_x) or None)``.
    """

    def __init__(self, *, width: int = 24, modes: int = 16, n_layers: int = 4, proj_hidden: int = 64,
                 pad: int = 16, dropout: float = 0.0, variance_head: bool = True,
                 min_variance: float = 1e-6) -> None:
        super().__init__()
        _int(width, "width", 1)
        _int(modes, "modes", 1)
        _int(n_layers, "n_layers", 1)
        _int(proj_hidden, "proj_hidden", 1)
        _int(pad, "pad", 0)
        self.pad = int(pad)
        self.variance_head = bool(variance_head)
        self.min_variance = float(min_variance)
        self.lift = nn.Conv1d(3, width, 1)
        self.spectral = nn.ModuleList(SpectralConv1d(width, width, modes) for _ in range(n_layers))
        self.pointwise = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in range(n_layers))
        self.drops = nn.ModuleList(MCDropout(dropout) for _ in range(n_layers))
        self.proj1 = nn.Conv1d(width, proj_hidden, 1)
        self.proj_drop = MCDropout(dropout)
        self.proj2 = nn.Conv1d(proj_hidden, 2 if variance_head else 1, 1)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
        z = self.lift(inputs)
        if self.pad:
            z = F.pad(z, (0, self.pad))
        n = len(self.spectral)
        for i, (sc, pw, dr) in enumerate(zip(self.spectral, self.pointwise, self.drops, strict=True)):
            z = sc(z) + pw(z)
            if i < n - 1:
                z = dr(F.gelu(z))
        if self.pad:
            z = z[..., : z.shape[-1] - self.pad]
        out = self.proj2(self.proj_drop(F.gelu(self.proj1(z))))
        mean = out[:, 0]
        var = F.softplus(out[:, 1]) + self.min_variance if self.variance_head else None
        return mean, var


@dataclass(frozen=True)
class FNOTrainConfig:
    """Training of one :class:`FieldFNO` on exact solutions (per ensemble member, or the dropout net).

    ``steps`` Adam steps (learning rate ``lr``, cosine decay to 0, gradient clipping at
    ``grad_clip``), each on ``batch_size`` random ``(p, t)`` slices of the training data. Loss:
    ``MSE(mean, u) + NLL(u | mean.detach(), variance)`` — the mean is fitted by least squares
    alone and the variance head by the Gaussian likelihood of the (detached) residual, which
    keeps the mean's training as stable as plain regression.
    """

    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    grad_clip: float | None = 1.0
    width: int = 24
    modes: int = 16
    n_layers: int = 4
    proj_hidden: int = 64
    pad: int = 16
    variance_head: bool = True
    min_variance: float = 1e-6

    def build(self, dropout: float = 0.0) -> FieldFNO:
        return FieldFNO(width=self.width, modes=self.modes, n_layers=self.n_layers, proj_hidden=self.proj_hidden,
                        pad=self.pad, dropout=dropout, variance_head=self.variance_head,
                        min_variance=self.min_variance)


class _FNOFieldBase:
    """Shared input handling of the FNO fields: normalisation and training data."""

    name: str

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float],
                 config: FNOTrainConfig | None) -> None:
        self.param_range = _range(param_range, "param_range")
        self.t_range = _range(t_range, "t_range")
        self.config = config or FNOTrainConfig()
        _int(self.config.steps, "steps", 0)
        _int(self.config.batch_size, "batch_size", 1)
        self.x_range: tuple[float, float] | None = None  # set by fit: the training grid's extent
        self.fitted = False
        self.fit_seconds = 0.0

    def _inputs(self, params: Tensor, t: Tensor, x: Tensor) -> Tensor:
        """``(P * n_t, 3, n_x)`` float32 inputs, rows ordered ``(p, t)`` time-fastest."""
        lo, hi = self.param_range
        pn = 2.0 * (params - lo) / (hi - lo) - 1.0  # [-1, 1] on the training range
        tn = (t - self.t_range[0]) / (self.t_range[1] - self.t_range[0])
        x_lo, x_hi = self.x_range if self.x_range is not None else (float(x[0]), float(x[-1]))
        xn = (x - x_lo) / (x_hi - x_lo)
        n_p, n_t, n_x = pn.numel(), tn.numel(), xn.numel()
        chans = torch.stack([
            pn[:, None, None].expand(n_p, n_t, n_x),
            tn[None, :, None].expand(n_p, n_t, n_x),
            xn[None, None, :].expand(n_p, n_t, n_x)], dim=2)  # (P, n_t, 3, n_x)
        return chans.reshape(n_p * n_t, 3, n_x).to(torch.float32)

    def _training_tensors(self, params: Any, t: Any, x: Any, u: Any) -> tuple[Tensor, Tensor]:
        p = _params(params)
        tg, xg = _grid_1d(t, "t"), _grid_1d(x, "x")
        ut = torch.tensor(np.array(u.detach().cpu() if isinstance(u, Tensor) else u, dtype=np.float64))
        if ut.shape != (p.numel(), tg.numel(), xg.numel()):
            raise FieldInputError(
                f"training solutions u must have shape (P, n_t, n_x) = ({p.numel()}, {tg.numel()}, {xg.numel()}), "
                f"got {tuple(ut.shape)}")
        _finite(ut, "training solutions u")
        self.x_range = (float(xg[0]), float(xg[-1]))
        return self._inputs(p, tg, xg), ut.reshape(-1, xg.numel()).to(torch.float32)

    def _check_predict(self, t: Any, x: Any, params: Any) -> tuple[Tensor, Tensor, Tensor]:
        if not self.fitted:
            raise FieldInputError(f"{type(self).__name__}: call fit(...) before predict(...)")
        return _params(params), _grid_1d(t, "t"), _grid_1d(x, "x")


def _train_fno(net: FieldFNO, inputs: Tensor, targets: Tensor, cfg: FNOTrainConfig, seed: int) -> list[float]:
    """Train ``net`` in place on ``(inputs (N, 3, n_x), targets (N, n_x))``; returns the loss history."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    net.train()
    hist: list[float] = []
    n = inputs.shape[0]
    bs = min(cfg.batch_size, n)
    for _ in range(cfg.steps):
        idx = torch.randint(0, n, (bs,), generator=gen)
        xb, yb = inputs[idx], targets[idx]
        mean, var = net(xb)
        loss = F.mse_loss(mean, yb)
        if var is not None:
            loss = loss + 0.5 * (torch.log(var) + (yb - mean.detach()) ** 2 / var).mean()
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        hist.append(float(loss.detach()))
    net.eval()
    return hist


def _lowrank_prediction(outputs: Sequence[tuple[Tensor, Tensor | None]], n_p: int, n_t: int, n_x: int,
                        min_variance: float, info: dict[str, Any]) -> FieldPrediction:
    """Moments of ``S`` equally weighted draws as a low-rank-plus-diagonal Gaussian.

    ``outputs``: the ``S`` networks' (or passes') ``(mean, variance or None)``, each
    ``(P * n_t, n_x)``; the variance heads are used only if every draw has one.

    ``Sigma = F F^T + diag(d)`` with ``F = (mu_s - mean) / sqrt(S)`` (``S`` columns) and
    ``d = mean_s sigma_s^2`` (the variance heads; ``min_variance`` without heads), i.e. the
    covariance of the equal mixture of ``N(mu_s, diag(sigma_s^2))`` (divisor ``S``).
    """
    means = torch.stack([mu for mu, _ in outputs])
    variances = torch.stack([v for _, v in outputs]) if all(v is not None for _, v in outputs) else None
    m = means.to(torch.float64).reshape(-1, n_p, n_t, n_x)
    s = m.shape[0]
    mean = m.mean(0)
    factor = ((m - mean) / math.sqrt(s)).permute(1, 2, 3, 0).contiguous()  # (P, n_t, n_x, S)
    if variances is not None:
        diag = variances.to(torch.float64).reshape(s, n_p, n_t, n_x).mean(0)
    else:
        diag = torch.full_like(mean, float(min_variance))
    var = diag + (factor * factor).sum(-1)
    _finite(mean, "predicted mean")
    return FieldPrediction(mean, var, "lowrank", (factor, diag), info)


class FNOEnsembleField(_FNOFieldBase):
    """Deep ensemble (Lakshminarayanan et al., 2017) of ``M`` :class:`FieldFNO` members.

    Each member is initialised and trained with its own seed (``seed + 1000 m``: initialisation
    and minibatch order) on the same exact solutions, with a Gaussian variance head
    (:class:`FNOTrainConfig`; ``variance_head=False`` for mean-only members). The prediction is
    the equal mixture of the members' Gaussians: mean ``(1/M) sum_m mu_m``, covariance per time
    ``F F^T + diag(d)`` with ``F = (mu_m - mean) / sqrt(M)`` (rank ``M``) and ``d`` the mean of
    the members' variance heads (``min_variance`` without heads), ``cov_kind="lowrank"``. With
    identical members ``F = 0`` and the variance is ``d``.

    The members see the parameter ``p`` (normalised to ``[-1, 1]`` on ``param_range``) and the
    time ``t`` (normalised by ``t_range``); ``predict`` ignores contexts.
    """

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float], *, n_members: int = 4,
                 config: FNOTrainConfig | None = None, name: str = "Ensemble") -> None:
        super().__init__(param_range, t_range, config)
        self.n_members = _int(n_members, "n_members", 1)
        self.name = name
        self.members: list[FieldFNO] = []
        self.histories: list[list[float]] = []

    def fit(self, params: Any, t: Any, x: Any, u: Any, *, seed: int = 0) -> FNOEnsembleField:
        """Train the members on exact solutions ``u`` ``(P, n_t, n_x)`` of parameters ``params`` ``(P,)``."""
        inputs, targets = self._training_tensors(params, t, x, u)
        t0 = time.perf_counter()
        self.members, self.histories = [], []
        for m in range(self.n_members):
            torch.manual_seed(seed + 1000 * m)
            net = self.config.build()
            self.histories.append(_train_fno(net, inputs, targets, self.config, seed + 1000 * m))
            self.members.append(net)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, t: Any, x: Any, *, context_x: Any = None, context_y: Any = None,
                params: Any = None, generator: torch.Generator | None = None) -> FieldPrediction:
        """Mixture of the members for each parameter; ``cov_kind="lowrank"`` with rank ``M``."""
        p, tg, xg = self._check_predict(t, x, params)
        inputs = self._inputs(p, tg, xg)
        with torch.no_grad():
            outputs = [net.eval()(inputs) for net in self.members]
        return _lowrank_prediction(outputs, p.numel(), tg.numel(), xg.numel(), self.config.min_variance,
                                   {"n_members": self.n_members})


class MCDropoutField(_FNOFieldBase):
    """MC dropout (Gal & Ghahramani, 2016) on one :class:`FieldFNO` with channel dropout ``p_drop``.

    Trained once (``seed``). At inference the network is put in ``.eval()`` and **only** its
    :class:`MCDropout` layers are made random (:func:`mc_dropout`, which restores the previous
    ``training`` flags afterwards); ``n_passes`` forward passes with masks from ``generator``
    give the equal mixture of the passes' Gaussians (variance head), ``cov_kind="lowrank"`` of
    rank ``n_passes`` as in :class:`FNOEnsembleField`. The reference code of ProbConserv keeps
    the whole network in ``.train()`` mode at inference, which would also change every other
    mode-dependent layer (batch norm statistics, other dropout); here only the dropout layers
    are stochastic. The masks of different passes, and of different calls, are independent
    draws of ``generator`` (the global RNG when ``None``).
    """

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float], *, p_drop: float = 0.1,
                 n_passes: int = 20, config: FNOTrainConfig | None = None, name: str = "MCDropout") -> None:
        super().__init__(param_range, t_range, config)
        if not (isinstance(p_drop, (int, float)) and 0.0 <= p_drop < 1.0):
            raise ConfigError(f"p_drop must be in [0, 1), got {p_drop!r}")
        self.p_drop = float(p_drop)
        self.n_passes = _int(n_passes, "n_passes", 1)
        self.name = name
        self.net: FieldFNO | None = None
        self.history: list[float] = []

    def fit(self, params: Any, t: Any, x: Any, u: Any, *, seed: int = 0) -> MCDropoutField:
        """Train the dropout network on exact solutions ``u`` ``(P, n_t, n_x)``."""
        inputs, targets = self._training_tensors(params, t, x, u)
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        self.net = self.config.build(dropout=self.p_drop)
        self.history = _train_fno(self.net, inputs, targets, self.config, seed)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, t: Any, x: Any, *, context_x: Any = None, context_y: Any = None,
                params: Any = None, generator: torch.Generator | None = None) -> FieldPrediction:
        """``n_passes`` MC-dropout passes per parameter; ``cov_kind="lowrank"`` with rank ``n_passes``."""
        p, tg, xg = self._check_predict(t, x, params)
        assert self.net is not None
        inputs = self._inputs(p, tg, xg)
        with torch.no_grad(), mc_dropout(self.net, generator):
            outputs = [self.net(inputs) for _ in range(self.n_passes)]
        return _lowrank_prediction(outputs, p.numel(), tg.numel(), xg.numel(), self.config.min_variance,
                                   {"n_passes": self.n_passes, "p_drop": self.p_drop})
