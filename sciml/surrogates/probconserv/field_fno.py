"""A Fourier neural operator over ``x`` for ProbConserv's field bases, and its training.

:class:`FieldFNO` maps the physical parameter ``p`` and the time ``t`` (constant channels) plus
the coordinate ``x`` to the profile ``u(t, .)`` and a variance (Gaussian head); the deep
ensemble (:class:`~sciml.surrogates.probconserv.ensemble.FNOEnsembleField`) and MC dropout
(:class:`~sciml.surrogates.probconserv.dropout.MCDropoutField`) are built on it, behind
:class:`FNOField` (input normalisation, training data, the low-rank posterior of ``S`` draws).
It is not :class:`sciml.surrogates.neural_pde.FNO`: ``x`` is not periodic here (zero padding
on the right), dropout sits between the Fourier layers (:class:`MCDropout`), the head has a
variance channel, and ``x`` enters as its normalised coordinate; the neural-PDE FNO is a
periodic next-frame solver with none of these. The FNO fields are told ``p`` (an oracle the
ANP and the GP do not have): their uncertainty is model uncertainty about the
parameter-to-solution map.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.surrogates.neural_pde.spectral import SpectralConv1d
from sciml.surrogates.training import TrainingTask, apply_update, run_training
from sciml.surrogates.probconserv.inputs import (
    FieldInputError,
    FieldInputs,
    check_int,
    check_range,
    finite,
    grid_1d,
    params_1d,
)
from sciml.surrogates.probconserv.posteriors import FieldPosterior

__all__ = [
    "FNOField",
    "FNOTrainConfig",
    "FieldFNO",
    "MCDropout",
    "lowrank_posterior",
    "mc_dropout",
    "train_field_fno",
]


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
        check_int(width, "width", 1)
        check_int(modes, "modes", 1)
        check_int(n_layers, "n_layers", 1)
        check_int(proj_hidden, "proj_hidden", 1)
        check_int(pad, "pad", 0)
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



class FNOTrainConfig(StrictModel):
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



class FieldFNOTraining(TrainingTask):
    """One :class:`FieldFNO` on the common loop: one unit = one Adam step on a random batch.

    Seeds the global torch RNG with ``seed`` (the dropout masks) and draws the batch indices
    from a generator seeded ``seed + 1``; the learning rate decays to 0 on a cosine.
    """

    family = "probconserv.field_fno"
    label = "FieldFNO"
    unit = "step"
    checkpoint_every = 1_000_000

    def __init__(self, net: FieldFNO, inputs: Tensor, targets: Tensor, cfg: FNOTrainConfig, seed: int) -> None:
        self.model, self.config, self.seed, self.progress = net, cfg, int(seed), False
        self.inputs, self.targets = inputs, targets
        self.n_units = cfg.steps
        self.batch_size = min(cfg.batch_size, inputs.shape[0])
        self.optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(cfg.steps, 1))
        self.losses: list[float] = []

    def seed_run(self) -> None:
        torch.manual_seed(self.seed)
        self.generator = torch.Generator().manual_seed(self.seed + 1)

    def stateful(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler}

    def batches(self, unit: int) -> Iterator[Tensor]:
        yield torch.randint(0, self.inputs.shape[0], (self.batch_size,), generator=self.generator)

    def step(self, unit: int, index: int, batch: Tensor) -> float:
        xb, yb = self.inputs[batch], self.targets[batch]
        mean, var = self.model(xb)
        loss = F.mse_loss(mean, yb)
        if var is not None:
            loss = loss + 0.5 * (torch.log(var) + (yb - mean.detach()) ** 2 / var).mean()
        value, _ = apply_update(loss, self.optimizer, self.model, grad_clip=self.config.grad_clip)
        self.scheduler.step()
        self.losses.append(value)
        return value


def train_field_fno(net: FieldFNO, inputs: Tensor, targets: Tensor, cfg: FNOTrainConfig, seed: int) -> list[float]:
    """Train ``net`` in place on ``(inputs (N, 3, n_x), targets (N, n_x))``; returns the loss history.

    :class:`FieldFNOTraining` in memory on :func:`~sciml.surrogates.training.run_training`;
    ``net`` is left in ``.eval()``.

    Raises
    ------
    TrainingDivergedError
        A loss or a weight became NaN/inf.
    """
    task = FieldFNOTraining(net, inputs, targets, cfg, seed)
    net.train()
    run_training(task, None)
    net.eval()
    return task.losses


def lowrank_posterior(outputs: Sequence[tuple[Tensor, Tensor | None]], n_p: int, n_t: int, n_x: int,
                      min_variance: float, info: dict[str, Any]) -> FieldPosterior:
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
    finite(mean, "predicted mean")
    return FieldPosterior(mean, var, "lowrank", (factor, diag), info)



class FNOField:
    """Shared input handling of the FNO fields: normalisation, training data and inputs.

    The parameter is normalised to ``[-1, 1]`` on ``param_range``, the time by ``t_range``, and
    ``x`` by the training grid's extent (set by ``fit``).
    """

    name: str

    def __init__(self, param_range: tuple[float, float], t_range: tuple[float, float],
                 config: FNOTrainConfig | None) -> None:
        self.param_range = check_range(param_range, "param_range")
        self.t_range = check_range(t_range, "t_range")
        self.config = config or FNOTrainConfig()
        check_int(self.config.steps, "steps", 0)
        check_int(self.config.batch_size, "batch_size", 1)
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
        p = params_1d(params)
        tg, xg = grid_1d(t, "t"), grid_1d(x, "x")
        ut = torch.tensor(np.array(u.detach().cpu() if isinstance(u, Tensor) else u, dtype=np.float64))
        if ut.shape != (p.numel(), tg.numel(), xg.numel()):
            raise FieldInputError(
                f"training solutions u must have shape (P, n_t, n_x) = ({p.numel()}, {tg.numel()}, {xg.numel()}), "
                f"got {tuple(ut.shape)}")
        finite(ut, "training solutions u")
        self.x_range = (float(xg[0]), float(xg[-1]))
        return self._inputs(p, tg, xg), ut.reshape(-1, xg.numel()).to(torch.float32)

    def fit(self, params: Any, t: Any, x: Any, u: Any, *, seed: int = 0) -> Self:
        """Train on exact solutions ``u`` ``(P, n_t, n_x)`` of parameters ``params`` ``(P,)`` on the grid ``(t, x)``.

        Raises
        ------
        FieldInputError
            Shapes that do not match, or non-finite values.
        """
        net_inputs, targets = self._training_tensors(params, t, x, u)
        t0 = time.perf_counter()
        self._train(net_inputs, targets, seed)
        self.fit_seconds = time.perf_counter() - t0
        self.fitted = True
        return self

    def predict(self, inputs: FieldInputs) -> FieldPosterior:
        """The equal mixture of the model's draws for each parameter ``inputs.params`` (contexts unused).

        Returns
        -------
        FieldPosterior
            ``cov_kind="lowrank"`` (rank = number of draws), shape ``(B, n_t, n_x)``.

        Raises
        ------
        FieldInputError
            Not fitted; missing or malformed ``params`` or grid.
        """
        if not self.fitted:
            raise FieldInputError(f"{type(self).__name__}: call fit(...) before predict(...)")
        p = inputs.parameters()
        tg, xg = inputs.grid()
        with torch.no_grad():
            outputs = self._draws(self._inputs(p, tg, xg), inputs)
        return lowrank_posterior(outputs, p.numel(), tg.numel(), xg.numel(), self.config.min_variance, self._info())

    def _train(self, net_inputs: Tensor, targets: Tensor, seed: int) -> None:
        """Build and train the network(s) on ``(net_inputs (N, 3, n_x), targets (N, n_x))``."""
        raise NotImplementedError

    def _draws(self, net_inputs: Tensor, inputs: FieldInputs) -> list[tuple[Tensor, Tensor | None]]:
        """The ``S`` ``(mean, variance)`` outputs, each ``(P * n_t, n_x)``, whose mixture is the prediction."""
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        return {}
