"""Deep ensembles and MC dropout behind the same posterior interface as the SG-MCMC samplers.

* **Deep ensemble** (Lakshminarayanan et al. 2017): ``M`` members, each the MAP of the same
  :class:`~sciml.surrogates.sgmcmc.log_posterior.LogPosterior` trained with Adam from its own
  seed (initial weights and minibatches) on the one training loop, members run through any
  executor. Each member's final weights are one sample (``chain`` = member index), so the
  result is :class:`~sciml.surrogates.sgmcmc.samples.WeightSamples` like a chain's and
  predicts a :class:`~sciml.surrogates.posterior.SamplePosterior`.
* **MC dropout** (Gal & Ghahramani 2016): ``T`` forward passes with the dropout layers
  active (every other module in eval mode) and the masks drawn from a seed; the passes are
  the draws of a :class:`~sciml.surrogates.posterior.SamplePosterior`.

References
----------
B. Lakshminarayanan, A. Pritzel, C. Blundell, "Simple and scalable predictive uncertainty
estimation using deep ensembles", NeurIPS 2017.
Y. Gal, Z. Ghahramani, "Dropout as a Bayesian approximation: representing model uncertainty
in deep learning", ICML 2016.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.executors import Executor, InProcessExecutor
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.sgmcmc.chains import build_model, chain_seeds
from sciml.surrogates.sgmcmc.log_posterior import LogPosterior
from sciml.surrogates.sgmcmc.samples import OutputFn, WeightSamples
from sciml.surrogates.sgmcmc.task import PotentialTask
from sciml.surrogates.training import LoopResult, as_config, run_training

__all__ = ["MCDropoutSurrogate", "MemberConfig", "MemberJob", "MemberTask", "EnsembleResult", "mc_dropout_posterior",
           "run_member_job", "train_ensemble"]


class MemberConfig(StrictModel):
    """One ensemble member: Adam on ``U`` for ``n_steps`` minibatch steps (``batch_size=None``: full batch)."""

    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    n_steps: int = Field(ge=1)
    batch_size: int | None = Field(None, ge=1)
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)
    record_every: int = Field(100, ge=1)


class MemberTask(PotentialTask):
    """One ensemble member as a training task: Adam on ``U``; the final weights are its sample."""

    family = "ensemble"
    label = "ensemble member"

    def __init__(self, model: nn.Module, log_posterior: LogPosterior,
                 config: MemberConfig | Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(model, log_posterior, as_config(config, MemberConfig, "ensemble member configuration"),
                         **kwargs)

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=self.config.lr)

    def collects(self, unit: int) -> bool:
        return unit + 1 == self.n_units


@dataclass(frozen=True)
class MemberJob:
    """Everything one member needs, picklable for process executors."""

    model_factory: Callable[[], nn.Module]
    log_posterior: LogPosterior
    config: MemberConfig
    member: int
    dataset: Dataset | None = None
    run_dir: str | None = None
    resume: bool = False
    progress: bool | None = None


def run_member_job(job: MemberJob) -> tuple[WeightSamples, LoopResult]:
    """Train one member (the module-level function that executors map); its sample and loop result."""
    model = build_model(job.model_factory, job.config.seed, None)
    task = MemberTask(model, job.log_posterior, job.config, dataset=job.dataset, chain=job.member,
                      run_dir=job.run_dir, progress=job.progress)
    loop = run_training(task, job.run_dir, resume=job.resume)
    return task.samples(), loop


@dataclass
class EnsembleResult:
    """The members' final weights (one sample each, ``chains`` = member index) and their loop results."""

    samples: WeightSamples
    members: list[LoopResult]


def train_ensemble(model_factory: Callable[[], nn.Module], log_posterior: LogPosterior,
                   config: MemberConfig | Mapping[str, Any], *, n_members: int | None = None,
                   seeds: Sequence[int] | None = None, dataset: Dataset | None = None,
                   executor: Executor | None = None, run_dir: str | Path | None = None,
                   resume: bool = False, progress: bool | None = None) -> EnsembleResult:
    """Train ``n_members`` members with their own seeds (default ``config.seed + m``) through ``executor``.

    Member ``m`` initialises ``model_factory()`` under its seed, draws its minibatches from
    it and runs in ``<run_dir>/member_<m:03d>`` (None: in memory). ``progress``: each member's
    progress (None: a bar on a terminal, plain lines otherwise; False: silent).

    Raises
    ------
    ConfigError
        An invalid configuration, ``n_members`` < 1, repeated seeds.
    """
    config = as_config(config, MemberConfig, "ensemble member configuration")
    root = None if run_dir is None else Path(run_dir)
    jobs = [MemberJob(model_factory, log_posterior, config.model_copy(update={"seed": s}), m, dataset,
                      None if root is None else str(root / f"member_{m:03d}"), resume, progress)
            for m, s in enumerate(chain_seeds(config.seed, n_members, seeds, what="n_members"))]
    results: dict[int, tuple[WeightSamples, LoopResult]] = {}
    for index, result in (executor or InProcessExecutor(show_progress=False)).map(run_member_job, jobs,
                                                                                  desc="ensemble members"):
        results[index] = result
    ordered = [results[i] for i in range(len(jobs))]
    return EnsembleResult(WeightSamples.concat([s for s, _ in ordered]), [loop for _, loop in ordered])


_DROPOUT = (nn.modules.dropout._DropoutNd,)


def mc_dropout_posterior(model: nn.Module, inputs: Any, n_samples: int, *, seed: int = 0,
                         output: OutputFn | None = None) -> SamplePosterior:
    """``n_samples`` forward passes with dropout active: a :class:`SamplePosterior` of them.

    The dropout layers run in train mode and every other module in eval mode; the masks
    come from torch's RNG seeded ``seed`` inside ``torch.random.fork_rng`` (the caller's RNG
    state and the modules' modes are restored).

    Raises
    ------
    ConfigError
        ``n_samples < 1``, or a model without dropout layers.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"n_samples must be an integer >= 1; got {n_samples!r}")
    if not any(isinstance(m, _DROPOUT) for m in model.modules()):
        raise ConfigError(f"{type(model).__name__} has no dropout layer: MC dropout would give {n_samples} equal draws")
    modes = [m.training for m in model.modules()]
    devices = [p.device for p in model.parameters() if p.device.type == "cuda"][:1]
    means, variances = [], []
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, _DROPOUT):
                m.train()
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for _ in range(n_samples):
                out = model(inputs) if output is None else output(model, inputs)
                mean, var = out if isinstance(out, tuple) else (out, None)
                means.append(mean.detach())
                variances.append(None if var is None else torch.broadcast_to(var.detach(), mean.shape))
    finally:
        for m, mode in zip(model.modules(), modes, strict=True):
            m.training = mode
    noise = None if any(v is None for v in variances) else torch.stack(variances)  # type: ignore[misc]
    return SamplePosterior(torch.stack(means), noise)


@dataclass
class MCDropoutSurrogate:
    """A dropout model behind the Surrogate interface: ``predict(inputs)`` = :func:`mc_dropout_posterior`."""

    model: nn.Module
    n_samples: int = 32
    seed: int = 0
    output: OutputFn | None = None

    def predict(self, inputs: Any) -> SamplePosterior:
        return mc_dropout_posterior(self.model, inputs, self.n_samples, seed=self.seed, output=self.output)
