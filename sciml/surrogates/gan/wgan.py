"""WGAN-GP generator of histories as a Surrogate, trained on the one training loop.

The critic ``D`` and the generator ``G`` (:mod:`sciml.surrogates.gan.networks`) work on
standardised histories ``(x - mean_t) / scale`` (``mean_t``: the training mean per channel and
time, ``scale``: one overall standard deviation) and standardised parameters; the
standardisation is kept in buffers beside the weights. One unit of
:func:`~sciml.surrogates.training.run_training` is one generator update, its batches are
``n_critic`` critic batches and one generator batch, and :meth:`WGANTask.step` does the update
the batch asks for (Gulrajani et al. 2017, Algorithm 1):

* critic: ``L_D = E[D(G(z))] - E[D(x)] + lambda E[(||grad D(xhat)|| - 1)^2]`` (Adam on ``D``);
* generator: ``L_G = -E[D(G(z))]`` (Adam on ``G``).

A conditional model draws the parameters of the generated histories from the training rows
of the batch. Batches (data rows without replacement, ``z``, ``eps``) of step ``k`` are drawn
from ``stream_seed(seed, k, 0)``, so a resumed run equals an uninterrupted one. Each record
of ``metrics.jsonl`` (every ``log_every`` steps): ``step``, ``wasserstein`` (the critic's
estimate ``E[D(x)] - E[D(G(z))]``), ``critic_loss`` and ``gradient_penalty`` (means over the
step's critic updates) and ``generator_loss``.

Defaults follow the paper: ``lambda = 10``, ``n_critic = 5``, Adam(1e-4, betas (0, 0.9)).

References
----------
I. Gulrajani et al., "Improved training of Wasserstein GANs", NeurIPS 2017.
H. Boukraichi, N. Akkari, F. Casenave, D. Ryckelynck, "Uncertainty quantification in a
mechanical submodel driven by a Wasserstein-GAN", IFAC-PapersOnLine (2022).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import torch
from pydantic import Field
from torch import Tensor, nn

from sciml.config import StrictModel
from sciml.surrogates.gan.data import (
    GenerationRequest,
    HistoryData,
    HistoryInputError,
    as_history_data,
    as_request,
)
from sciml.surrogates.gan.networks import ConvGenerator, Critic, PCAGenerator
from sciml.surrogates.gan.pca import fit_pca
from sciml.surrogates.gan.penalty import gradient_penalty
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.training import (
    LoopResult,
    TrainingTask,
    UnitEnd,
    apply_update,
    as_config,
    run_training,
    stream_seed,
)
from sciml.surrogates.training.checkpoints import model_config
from sciml.surrogates.training.fingerprints import batch_fingerprint

__all__ = ["WGANGP", "CriticBatch", "GeneratorBatch", "WGANConfig", "WGANModules", "WGANTask", "history_scale"]

FAMILY = "wgan_gp"


class WGANConfig(StrictModel):
    """Training and architecture of :class:`WGANGP` (``n_steps``: generator updates)."""

    n_steps: int = Field(2000, ge=0)
    n_critic: int = Field(5, ge=1)
    gp_weight: float = Field(10.0, ge=0, allow_inf_nan=False)
    lr: float = Field(1e-4, gt=0, allow_inf_nan=False)
    betas: tuple[float, float] = (0.0, 0.9)
    batch_size: int = Field(64, ge=1)
    noise_dim: int = Field(16, ge=1)
    generator: Literal["pca_mlp", "conv"] = "pca_mlp"
    n_components: int | None = Field(None, ge=1)
    variance_fraction: float = Field(0.999, gt=0, le=1)
    hidden: int = Field(128, ge=1)
    n_layers: int = Field(3, ge=1)
    conv_channels: int = Field(64, ge=1)
    n_upsample: int = Field(3, ge=0)
    critic_hidden: int = Field(128, ge=1)
    critic_layers: int = Field(3, ge=1)
    seed: int = 0
    n_draws: int = Field(256, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    log_every: int = Field(1, ge=1)
    progress: bool | None = None


class WGANModules(nn.Module):
    """Generator, critic and the standardisation of histories and parameters (buffers).

    ``generator(z, p_std) -> (N, C, T)`` standardised histories; ``critic(x_std, p_std) -> (N,)``.
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, n_channels: int, n_time: int, n_params: int) -> None:
        super().__init__()
        self.generator, self.critic = generator, critic
        self.sizes = {"n_channels": n_channels, "n_time": n_time, "n_params": n_params}
        self.register_buffer("x_mean", torch.zeros(n_channels, n_time))
        self.register_buffer("x_scale", torch.ones(()))
        self.register_buffer("p_mean", torch.zeros(n_params))
        self.register_buffer("p_scale", torch.ones(n_params))

    def get_config(self) -> dict[str, Any]:
        return {**self.sizes,
                "generator": type(self.generator).__name__, "generator_config": model_config(self.generator),
                "critic": type(self.critic).__name__, "critic_config": model_config(self.critic)}

    def set_standardisation(self, x: Tensor, params: Tensor | None) -> None:
        """Mean per channel and time and one overall standard deviation of ``x (N, C, T)``; mean and
        standard deviation per parameter (a constant's is 1)."""
        self.x_mean.copy_(x.mean(0))
        self.x_scale.fill_(history_scale(x))
        if params is not None:
            std = params.std(0) if params.shape[0] > 1 else torch.ones(params.shape[1], dtype=params.dtype)
            self.p_mean.copy_(params.mean(0))
            self.p_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def standardise_x(self, x: Tensor) -> Tensor:
        return ((x - self.x_mean.to(x.dtype)) / self.x_scale.to(x.dtype)).to(self.x_mean.dtype)

    def standardise_p(self, params: Tensor | None) -> Tensor | None:
        if params is None:
            return None
        return ((params - self.p_mean.to(params.dtype)) / self.p_scale.to(params.dtype)).to(self.p_mean.dtype)

    def generate(self, z: Tensor, params: Tensor | None = None) -> Tensor:
        """Histories ``(N, C, T)`` in the data's units from noise ``z`` and raw parameters ``params``."""
        return self.x_mean + self.x_scale * self.generator(z, self.standardise_p(params))


def history_scale(x: Tensor) -> float:
    """One overall standard deviation of histories ``x (N, ...)`` about their mean history (1 if zero)."""
    scale = float((x - x.mean(0)).square().mean().sqrt())
    return scale if scale > 0 else 1.0


@dataclass(frozen=True)
class CriticBatch:
    """One critic update: data rows ``index (B,)``, noise ``z (B, noise_dim)``, interpolation ``eps (B,)``."""

    index: Tensor
    z: Tensor
    eps: Tensor


@dataclass(frozen=True)
class GeneratorBatch:
    """One generator update: noise ``z (B, noise_dim)``; parameters from data rows ``index (B,)``."""

    index: Tensor
    z: Tensor


class WGANTask(TrainingTask):
    """WGAN-GP on the one loop: a unit is ``n_critic`` critic updates then one generator update."""

    family = FAMILY
    label = "WGAN-GP"
    unit = "step"
    resumable_changes = frozenset({"n_steps", "checkpoint_every", "log_every", "progress", "n_draws"})
    divergence_hint = "Try a smaller lr, or check the histories for extreme values."

    def __init__(self, modules: WGANModules, x: Tensor, params: Tensor | None, config: WGANConfig,
                 fingerprint: str | None = None) -> None:
        self.model, self.config, self.x, self.params, self.fingerprint = modules, config, x, params, fingerprint
        self.n_units, self.seed = config.n_steps, config.seed
        self.checkpoint_every, self.progress = config.checkpoint_every, config.progress
        self.batch_size = min(config.batch_size, int(x.shape[0]))
        adam = {"lr": config.lr, "betas": tuple(config.betas), "foreach": True}
        self.critic_optimizer = torch.optim.Adam(modules.critic.parameters(), **adam)
        self.generator_optimizer = torch.optim.Adam(modules.generator.parameters(), **adam)
        self.window: dict[str, list[float]] = {"wasserstein": [], "critic_loss": [], "gradient_penalty": []}
        self.generator_loss = math.nan

    def stateful(self) -> dict[str, Any]:
        return {"critic_optimizer": self.critic_optimizer, "generator_optimizer": self.generator_optimizer}

    def data_fingerprint(self) -> str | None:
        return self.fingerprint

    def batches(self, unit: int) -> Iterable[CriticBatch | GeneratorBatch]:
        g = torch.Generator().manual_seed(stream_seed(self.seed, unit, 0))
        n, b, nz = int(self.x.shape[0]), self.batch_size, self.config.noise_dim
        out: list[CriticBatch | GeneratorBatch] = []
        for _ in range(self.config.n_critic):
            out.append(CriticBatch(torch.randperm(n, generator=g)[:b], torch.randn(b, nz, generator=g),
                                   torch.rand(b, generator=g)))
        out.append(GeneratorBatch(torch.randperm(n, generator=g)[:b], torch.randn(b, nz, generator=g)))
        self.window = {k: [] for k in self.window}
        return out

    def _rows(self, index: Tensor) -> Tensor | None:
        return None if self.params is None else self.params[index]

    def step(self, unit: int, index: int, batch: CriticBatch | GeneratorBatch) -> float:
        gen, critic = self.model.generator, self.model.critic
        p = self._rows(batch.index)
        if isinstance(batch, CriticBatch):
            real = self.x[batch.index]
            with torch.no_grad():
                fake = gen(batch.z, p)
            d_real, d_fake = critic(real, p).mean(), critic(fake, p).mean()
            gp = gradient_penalty(lambda h: critic(h, p), real, fake, weight=self.config.gp_weight, eps=batch.eps)
            loss = d_fake - d_real + gp
            value, _ = apply_update(loss, self.critic_optimizer, critic, what="critic loss")
            self.window["wasserstein"].append(float((d_real - d_fake).detach()))
            self.window["critic_loss"].append(value)
            self.window["gradient_penalty"].append(float(gp.detach()))
            return value
        loss = -critic(gen(batch.z, p), p).mean()
        self.generator_loss, _ = apply_update(loss, self.generator_optimizer, gen, what="generator loss")
        return sum(self.window["wasserstein"]) / len(self.window["wasserstein"])

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        if (unit + 1) % self.config.log_every and unit + 1 != self.n_units:
            return UnitEnd()
        record: dict[str, Any] = {"step": unit + 1}
        record.update({k: sum(v) / len(v) for k, v in self.window.items()})
        record["generator_loss"] = self.generator_loss
        return UnitEnd(record=record)


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    modes = [m.training for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, mode in zip(module.modules(), modes, strict=True):
            m.training = mode


class WGANGP:
    """A WGAN-GP generator of histories behind the Surrogate interface.

    Parameters
    ----------
    config : WGANConfig or mapping, optional
    generator, critic : nn.Module, optional
        Replace the networks built from ``config`` (copied at each ``fit``):
        ``generator(z (N, noise_dim), p (N, P) or None) -> (N, C, T)`` and
        ``critic(x (N, C, T), p) -> (N,)``, both on standardised values.

    ``predict(inputs)`` returns a :class:`~sciml.surrogates.posterior.SamplePosterior` of
    generated histories: ``inputs`` an int ``n`` (unconditional; draws ``(n, *event_shape)``),
    parameters ``(B, P)`` (``config.n_draws`` draws, ``(n_draws, B, *event_shape)``) or a
    :class:`~sciml.surrogates.gan.data.GenerationRequest` (its seed; default 0). A finished
    run is loaded from its checkpoint by ``fit(data, run_dir=..., resume=True)`` with the same
    data and configuration (no step is left to train).
    """

    def __init__(self, config: WGANConfig | Mapping[str, Any] | None = None, *, generator: nn.Module | None = None,
                 critic: nn.Module | None = None) -> None:
        self.config = as_config(config, WGANConfig, "WGAN-GP configuration")
        self._given = (generator, critic)
        self.modules: WGANModules | None = None
        self.event_shape: tuple[int, ...] = ()
        self.param_names: tuple[str, ...] = ()
        self.loop: LoopResult | None = None

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The metric records of the training (empty before ``fit``)."""
        return [] if self.loop is None else self.loop.history

    def _build(self, data: HistoryData) -> tuple[WGANModules, Tensor, Tensor | None]:
        cfg, (c, t), p = self.config, data.x.shape[1:], data.n_params
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            gen, critic = (copy.deepcopy(m) if m is not None else None for m in self._given)
            basis = None
            if gen is None and cfg.generator == "pca_mlp":
                standard = (data.x - data.x.mean(0)) / history_scale(data.x)
                basis = fit_pca(standard.reshape(data.x.shape[0], -1), cfg.n_components,
                                variance_fraction=cfg.variance_fraction)
                gen = PCAGenerator(cfg.noise_dim, p, c, t, basis.n_components, hidden=cfg.hidden, n_layers=cfg.n_layers)
            elif gen is None:
                gen = ConvGenerator(cfg.noise_dim, p, c, t, channels=cfg.conv_channels, n_upsample=cfg.n_upsample)
            critic = critic or Critic(c, t, p, hidden=cfg.critic_hidden, n_layers=cfg.critic_layers)
        modules = WGANModules(gen, critic, c, t, p)
        modules.set_standardisation(data.x, data.params)
        if basis is not None:
            gen.set_basis(basis.components.float(), basis.scales.float())
        return modules, modules.standardise_x(data.x), modules.standardise_p(data.params)

    def fit(self, data: Any, *, variable: str | None = None, params: Any = None, run_dir: str | Path | None = None,
            resume: bool = False, stop_after: int | None = None) -> Self:
        """Train on histories ``data`` (and parameters ``params``) for ``config.n_steps`` generator steps.

        Parameters
        ----------
        data : Tensor, array, DataArray or Dataset
            Histories ``(N, [n_channels,] n_time)`` (see :func:`~sciml.surrogates.gan.data.as_history_data`).
        variable : str, optional
            The history variable when ``data`` is a Dataset.
        params : array ``(N, P)`` or names of per-sample Dataset variables, optional
            Conditioning parameters (None: unconditional).
        run_dir, resume, stop_after
            As :func:`~sciml.surrogates.training.run_training`: checkpoints in ``run_dir``; a
            resume on other data or another configuration is refused.

        Raises
        ------
        HistoryInputError
            Bad histories or parameters.
        ConfigError
            ``n_components`` larger than the data allow; bad ``stop_after``.
        CheckpointError, TrainingDivergedError
            As :func:`~sciml.surrogates.training.run_training`.
        """
        hd = as_history_data(data, variable=variable, params=params)
        modules, x, p = self._build(hd)
        task = WGANTask(modules, x, p, self.config, batch_fingerprint({"x": hd.x, "params": hd.params}))
        loop = run_training(task, run_dir, resume=resume, stop_after=stop_after)
        self.modules, self.loop, self.event_shape, self.param_names = modules, loop, hd.event_shape, hd.param_names
        return self

    def generate(self, n: int, params: Any = None, *, seed: int = 0) -> Tensor:
        """``n`` histories ``(n, *event_shape)`` (or ``(n, B, *event_shape)`` for parameters ``(B, P)``), float32.

        Raises
        ------
        HistoryInputError
            Not fitted; a count or parameters that do not fit the model.
        """
        if self.modules is None:
            raise HistoryInputError("WGANGP: call fit(...) before generating")
        n, p, seed = as_request(GenerationRequest(n, params, seed), self.n_params, self.config.n_draws)
        rows = 1 if p is None else int(p.shape[0])
        z = torch.randn(n * rows, self.config.noise_dim, generator=torch.Generator().manual_seed(seed))
        reps = None if p is None else p.to(torch.float32).repeat(n, 1)
        with torch.no_grad(), _eval_mode(self.modules):
            out = self.modules.generate(z, reps)
        return out.reshape(n, *self.event_shape) if p is None else out.reshape(n, rows, *self.event_shape)

    def predict(self, inputs: Any) -> SamplePosterior:
        """The empirical distribution of generated histories (see the class docstring)."""
        if self.modules is None:
            raise HistoryInputError("WGANGP: call fit(...) before predict(...)")
        n, p, seed = as_request(inputs, self.n_params, self.config.n_draws)
        return SamplePosterior(self.generate(n, p, seed=seed))


