"""SG-MCMC chains on the one training loop, and several chains through any executor.

A chain is a :class:`SamplingTask` run by :func:`~sciml.surrogates.training.run_training`:
``last.pt`` checkpoints (the sampler's noise generator included), ``resume=True`` continuing
bit for bit, the divergence stop and progress lines come from the loop. After ``burn_in``
steps every ``thin``-th step of a sampling phase keeps the weights as a sample
(:mod:`sciml.surrogates.sgmcmc.samples`). :func:`run_chains` runs chains with their own seeds
(their own initial weights, noise and minibatches) through ``executor.map``, one run folder
each (``<run_dir>/chain_<c>``), and joins their samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn
from torch.utils.data import Dataset

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.executors import Executor, InProcessExecutor
from sciml.surrogates.sgmcmc.log_posterior import LogPosterior
from sciml.surrogates.sgmcmc.psgld import PSGLD
from sciml.surrogates.sgmcmc.sampler import Sampler
from sciml.surrogates.sgmcmc.samples import WeightSamples
from sciml.surrogates.sgmcmc.schedules import ConstantStep, CyclicalCosine, PolynomialDecay, StepSchedule
from sciml.surrogates.sgmcmc.sghmc import SGHMC
from sciml.surrogates.sgmcmc.sgld import SGLD
from sciml.surrogates.sgmcmc.task import PotentialTask
from sciml.surrogates.training import LoopResult, as_config, run_training, stream_seed

__all__ = ["ChainConfig", "ChainJob", "ChainResult", "ChainsResult", "SamplingTask", "build_model", "chain_seeds",
           "make_sampler", "make_schedule", "run_chain", "run_chain_job", "run_chains"]


class ChainConfig(StrictModel):
    """One SG-MCMC chain: sampler, step sizes, temperature, length, burn-in, thinning, batches.

    ``schedule``: ``constant`` (``lr``), ``polynomial`` (``lr (decay_b + t)^-decay_gamma``) or
    ``cyclical`` (``lr`` the largest step, ``n_cycles`` cycles over ``n_steps``, the first
    ``exploration`` fraction of each without noise or samples); see
    :mod:`sciml.surrogates.sgmcmc.schedules`. ``friction``: SGHMC's ``alpha``; ``rms_beta``,
    ``rms_eps``: pSGLD's preconditioner. ``batch_size=None``: full batch.
    """

    sampler: Literal["sgld", "psgld", "sghmc"] = "sgld"
    lr: float = Field(gt=0, allow_inf_nan=False)
    schedule: Literal["constant", "polynomial", "cyclical"] = "constant"
    decay_b: float = Field(1.0, gt=0)
    decay_gamma: float = Field(0.55, ge=0, le=1)
    n_cycles: int = Field(1, ge=1)
    exploration: float = Field(0.0, ge=0, lt=1)
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False)
    friction: float = Field(0.1, gt=0, le=1)
    rms_beta: float = Field(0.999, ge=0, lt=1)
    rms_eps: float = Field(1e-5, gt=0)
    n_steps: int = Field(ge=1)
    burn_in: int = Field(0, ge=0)
    thin: int = Field(1, ge=1)
    batch_size: int | None = Field(None, ge=1)
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)
    record_every: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _check_lengths(self) -> ChainConfig:
        if self.burn_in >= self.n_steps:
            raise ValueError(f"burn_in ({self.burn_in}) must be smaller than n_steps ({self.n_steps}): "
                             f"no step would be kept")
        if self.n_cycles > self.n_steps:
            raise ValueError(f"n_cycles ({self.n_cycles}) must not exceed n_steps ({self.n_steps})")
        return self


def make_schedule(config: ChainConfig) -> StepSchedule:
    """The step-size schedule that ``config`` describes."""
    if config.schedule == "polynomial":
        return PolynomialDecay(config.lr, config.decay_b, config.decay_gamma)
    if config.schedule == "cyclical":
        return CyclicalCosine(config.lr, config.n_steps, config.n_cycles, config.exploration)
    return ConstantStep(config.lr)


def make_sampler(params: Any, config: ChainConfig, generator: int | torch.Generator) -> Sampler:
    """The sampler that ``config`` names over ``params``, with its schedule and noise ``generator``."""
    lr, t = make_schedule(config), config.temperature
    if config.sampler == "psgld":
        return PSGLD(params, lr, beta=config.rms_beta, eps=config.rms_eps, temperature=t, generator=generator)
    if config.sampler == "sghmc":
        return SGHMC(params, lr, friction=config.friction, temperature=t, generator=generator)
    return SGLD(params, lr, temperature=t, generator=generator)


class SamplingTask(PotentialTask):
    """One SG-MCMC chain as a :class:`~sciml.surrogates.training.TrainingTask` (see :class:`PotentialTask`).

    The sampler's noise generator is seeded ``stream_seed(config.seed, 0, 1)``; the samples
    are the weights after steps ``t >= burn_in`` with ``(t - burn_in) % thin == 0`` that are
    sampling steps of the schedule.
    """

    family = "sgmcmc"
    label = "SG-MCMC"
    divergence_hint = "Try a smaller lr (the sampler's documented step size), or check the data and the prior."

    def __init__(self, model: nn.Module, log_posterior: LogPosterior,
                 config: ChainConfig | Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(model, log_posterior, as_config(config, ChainConfig, "chain configuration"), **kwargs)

    def make_optimizer(self) -> Sampler:
        params = [p for p in self.model.parameters() if p.requires_grad]
        device = params[0].device if params else torch.device("cpu")
        gen = torch.Generator(device=device).manual_seed(stream_seed(self.seed, 0, 1))
        return make_sampler(params, self.config, gen)

    def collects(self, unit: int) -> bool:
        cfg = self.config
        return unit >= cfg.burn_in and (unit - cfg.burn_in) % cfg.thin == 0 and self.optimizer.schedule.sampling(unit)


@dataclass
class ChainResult:
    """A chain's samples and the loop's result (history, steps completed, run folder)."""

    samples: WeightSamples
    loop: LoopResult


def run_chain(model: nn.Module, log_posterior: LogPosterior, config: ChainConfig | Mapping[str, Any], *,
              dataset: Dataset | None = None, chain: int = 0, run_dir: str | Path | None = None,
              resume: bool = False, stop_after: int | None = None, progress: bool | None = None) -> ChainResult:
    """Run one chain on ``model`` (in place) and return its samples.

    Parameters
    ----------
    model : nn.Module
        The initial weights; the chain's last state on return.
    log_posterior : LogPosterior
    config : ChainConfig or mapping
    dataset : Dataset, optional
    chain : int
        The chain id stored with its samples.
    run_dir, resume, stop_after, progress
        As :func:`~sciml.surrogates.training.run_training`; samples go to ``run_dir/samples``.

    Raises
    ------
    ConfigError
        An invalid configuration (every bad field named).
    CheckpointError, TrainingDivergedError
        As :func:`~sciml.surrogates.training.run_training`.
    """
    task = SamplingTask(model, log_posterior, config, dataset=dataset, chain=chain, run_dir=run_dir,
                        progress=progress)
    loop = run_training(task, run_dir, resume=resume, stop_after=stop_after)
    return ChainResult(task.samples(), loop)


@dataclass(frozen=True)
class ChainJob:
    """Everything one chain needs, picklable for process executors (module-level callables)."""

    model_factory: Callable[[], nn.Module]
    log_posterior: LogPosterior
    config: ChainConfig
    chain: int
    dataset: Dataset | None = None
    run_dir: str | None = None
    resume: bool = False
    initial_state: Mapping[str, Tensor] | None = None
    progress: bool | None = None


def build_model(factory: Callable[[], nn.Module], seed: int, initial_state: Mapping[str, Tensor] | None) -> nn.Module:
    """``factory()`` with torch's global RNG seeded ``seed`` for its initialisation (the caller's
    RNG state is restored), then ``initial_state`` loaded when given."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory()
    if initial_state is not None:
        model.load_state_dict(dict(initial_state))
    return model


def run_chain_job(job: ChainJob) -> ChainResult:
    """Run one :class:`ChainJob` (the module-level function that executors map)."""
    model = build_model(job.model_factory, job.config.seed, job.initial_state)
    return run_chain(model, job.log_posterior, job.config, dataset=job.dataset, chain=job.chain,
                     run_dir=job.run_dir, resume=job.resume, progress=job.progress)


@dataclass
class ChainsResult:
    """The joined samples of several chains and each chain's loop result (in chain order)."""

    samples: WeightSamples
    chains: list[LoopResult]


def chain_seeds(base_seed: int, n_chains: int | None, seeds: Sequence[int] | None, *,
                what: str = "n_chains") -> list[int]:
    """``seeds`` (checked: distinct, ``n_chains`` of them when both are given), or
    ``base_seed + c`` for ``c < n_chains``.

    Raises
    ------
    ConfigError
        Neither a count >= 1 nor seeds, repeated seeds, or a count that disagrees with them.
    """
    if seeds is None:
        if n_chains is None or isinstance(n_chains, bool) or not isinstance(n_chains, int) or n_chains < 1:
            raise ConfigError(f"{what} must be an integer >= 1 (or give seeds); got {n_chains!r}")
        return [base_seed + c for c in range(n_chains)]
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or (n_chains is not None and n_chains != len(seeds)):
        raise ConfigError(f"seeds must be distinct, one per run; got {seeds} for {what}={n_chains}")
    return seeds


def run_chains(model_factory: Callable[[], nn.Module], log_posterior: LogPosterior,
               config: ChainConfig | Mapping[str, Any], *, n_chains: int | None = None,
               seeds: Sequence[int] | None = None, dataset: Dataset | None = None,
               executor: Executor | None = None, run_dir: str | Path | None = None, resume: bool = False,
               initial_state: Mapping[str, Tensor] | None = None, progress: bool | None = None) -> ChainsResult:
    """Run several chains with their own seeds through ``executor`` and join their samples.

    Chain ``c`` uses seed ``seeds[c]`` (default ``config.seed + c``) for its initial weights
    (``model_factory()`` under that seed, unless ``initial_state`` is given), its noise and
    its minibatches, and the folder ``<run_dir>/chain_<c:03d>`` (None: in memory).

    Parameters
    ----------
    model_factory : callable
        Builds the model (picklable, e.g. a module-level class or ``functools.partial``).
    executor : Executor, optional
        Default: in-process.
    progress : bool or None
        Each chain's progress (None: a bar on a terminal, plain lines otherwise; False: silent).

    Raises
    ------
    ConfigError
        An invalid configuration, ``n_chains`` < 1, repeated seeds.
    """
    config = as_config(config, ChainConfig, "chain configuration")
    root = None if run_dir is None else Path(run_dir)
    jobs = [ChainJob(model_factory, log_posterior, config.model_copy(update={"seed": s}), c, dataset,
                     None if root is None else str(root / f"chain_{c:03d}"), resume, initial_state, progress)
            for c, s in enumerate(chain_seeds(config.seed, n_chains, seeds))]
    results: dict[int, ChainResult] = {}
    for index, result in (executor or InProcessExecutor(show_progress=False)).map(run_chain_job, jobs,
                                                                                  desc="SG-MCMC chains"):
        results[index] = result
    ordered = [results[i] for i in range(len(jobs))]
    return ChainsResult(WeightSamples.concat([r.samples for r in ordered]), [r.loop for r in ordered])
