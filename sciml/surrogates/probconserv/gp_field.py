"""An exact Gaussian process over ``(t, x)`` as a ProbConserv base model (GPyTorch).

:class:`ExactGPField` conditions on each function's context points (the ANP's protocol: random
grid points of one solution) and predicts the grid with a **dense** posterior covariance per
time slice, so the ProbConserv update moves mass coherently along the GP's correlations. It
sees only the contexts, like the ANP. Its hyperparameters are learned on training functions
(``hyper="train"``) or refitted per function (``"per_function"``); see the class. This GP is a
field model over space-time grids (float64, GPyTorch ``ExactGP``); the BoTorch models of
:mod:`sciml.bo` are fidelity-indexed surrogates of scalar objectives and sit above this layer.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Literal

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.probconserv.inputs import FieldInputs, check_int, check_range, contexts, finite
from sciml.surrogates.probconserv.posteriors import FieldPosterior

__all__ = ["ExactGPField", "GPHyper"]

#: How the GP's hyperparameters are set: learned once on training functions, or refitted per function.
GPHyper = Literal["train", "per_function"]
GP_HYPERS: tuple[str, ...] = ("train", "per_function")


def _nonneg_diag(cov: Tensor) -> Tensor:
    """Symmetrise a batch of covariances and lift round-off negative diagonal entries to 0."""
    cov = 0.5 * (cov + cov.transpose(-1, -2))
    d = torch.diagonal(cov, dim1=-2, dim2=-1)
    return cov + torch.diag_embed((-d).clamp_min(0.0))


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

    ``"train"`` is the default and ``"per_function"`` the option for smooth problems (the
    comparison is in ``docs/benchmarks.md``, ProbConserv section).

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
                 hyper: GPHyper = "train", noise_floor: float = 1e-8,
                 lr: float = 0.05, train_steps: int = 150, refit_steps: int = 30, name: str = "GP") -> None:
        self.t_range = check_range(t_range, "t_range")
        self.x_range = check_range(x_range, "x_range")
        if hyper not in GP_HYPERS:
            raise ConfigError(f"hyper must be one of {list(GP_HYPERS)}, got {hyper!r}")
        if not (isinstance(noise_floor, (int, float)) and math.isfinite(noise_floor) and noise_floor > 0):
            raise ConfigError(f"noise_floor must be a number > 0, got {noise_floor!r}")
        self.hyper = hyper
        self.noise_floor = float(noise_floor)
        self.lr = float(lr)
        self.train_steps = check_int(train_steps, "train_steps", 0)
        self.refit_steps = check_int(refit_steps, "refit_steps", 0)
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
        cx, cy = contexts(context_x, context_y)
        x = self._scale(cx)
        with torch.no_grad():
            self.model.mean_module.constant = cy.mean()
            self.model.covar_module.outputscale = cy.var().clamp_min(1e-6)
        t0 = time.perf_counter()
        self.history = self._optimise(self.model, x, cy, self.train_steps, lbfgs=False)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, inputs: FieldInputs) -> FieldPosterior:
        """Posterior on the ``n_t x n_x`` grid given each function's contexts (``params``, ``seed`` unused).

        Returns
        -------
        FieldPosterior
            ``cov_kind="dense"``, ``cov`` ``(B, n_t, n_x, n_x)``; ``info`` holds the shared
            hyperparameters (with ``hyper="per_function"``: the starting point of each
            function's refit, which runs on a copy of the model).

        Raises
        ------
        FieldInputError
            Missing or malformed contexts or grid.
        """
        import gpytorch

        tg, xg = inputs.grid()
        cx, cy = inputs.contexts()
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
        finite(mean, "GP posterior mean")
        info = {"hyper": self.hyper, **self.hyperparameters()}
        return FieldPosterior(mean, var, "dense", cov, info)
