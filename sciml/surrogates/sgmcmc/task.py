"""A training task on the potential ``U = -log p(theta | D)`` that keeps weight samples.

:class:`PotentialTask` is the part that SG-MCMC chains and ensemble members share on the one
training loop (:func:`~sciml.surrogates.training.run_training`): one unit is one step on a
minibatch of ``n`` of ``N`` examples (:func:`~sciml.surrogates.sgmcmc.batches.draw_batch`),
the step is ``apply_update`` of ``U`` (:class:`~sciml.surrogates.sgmcmc.log_posterior.LogPosterior`)
with the task's optimiser or sampler, and after the steps it :meth:`~PotentialTask.collects`
the weights are kept as a sample — written to ``<run_dir>/samples/`` (see
:mod:`sciml.surrogates.sgmcmc.samples`) or held in memory. A fresh run in a folder removes
the sample files of a run that never wrote ``last.pt``; a resumed run removes the samples
after its checkpoint (they are drawn again, identically).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn
from torch.utils.data import Dataset

from sciml.surrogates.sgmcmc.batches import dataset_size, draw_batch
from sciml.surrogates.sgmcmc.log_posterior import LogPosterior
from sciml.surrogates.sgmcmc.samples import SAMPLES_DIR, WeightSamples, save_sample
from sciml.surrogates.training import TrainingTask, UnitEnd, apply_update, seed_everything
from sciml.surrogates.training.checkpoints import class_name, model_config
from sciml.surrogates.training.fingerprints import dataset_fingerprint

__all__ = ["PotentialTask"]


class PotentialTask(TrainingTask):
    """Steps on ``U`` with :meth:`make_optimizer`'s optimiser; keeps the weights after the steps
    :meth:`collects` names (subclass both).

    Parameters
    ----------
    model : nn.Module
    log_posterior : LogPosterior
    config : pydantic model
        With the fields ``n_steps``, ``seed``, ``batch_size``, ``checkpoint_every`` and
        ``record_every``.
    dataset : Dataset, optional
        Map-style training data (None: ``U`` is the prior alone).
    chain : int
        The id stored with every sample.
    run_dir : path, optional
        Where samples are written (the run folder given to ``run_training``); None: in memory.
    progress : bool or None
    """

    unit = "step"

    def __init__(self, model: nn.Module, log_posterior: LogPosterior, config: BaseModel, *,
                 dataset: Dataset | None = None, chain: int = 0, run_dir: str | Path | None = None,
                 progress: bool | None = None) -> None:
        self.model, self.log_posterior, self.config, self.dataset = model, log_posterior, config, dataset
        self.n_units, self.seed = int(config.n_steps), int(config.seed)
        self.checkpoint_every, self.progress = int(config.checkpoint_every), progress
        self.chain, self.run_dir = int(chain), None if run_dir is None else Path(run_dir)
        self.n_data = None if dataset is None else dataset_size(dataset)
        self.optimizer = self.make_optimizer()
        self.kept: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.last_value = math.nan

    # -- what subclasses supply ------------------------------------------------------------
    def make_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser or sampler over ``self.model``'s parameters."""
        raise NotImplementedError

    def collects(self, unit: int) -> bool:
        """Whether the weights after step ``unit`` (0-based) are kept as a sample."""
        raise NotImplementedError

    # -- the loop's hooks -----------------------------------------------------------------
    def stateful(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer}

    def batches(self, unit: int) -> Iterable[Any]:
        if self.dataset is None:
            return [None]
        return [draw_batch(self.dataset, self.config.batch_size, self.seed, unit)]

    def step(self, unit: int, index: int, batch: Any) -> float:
        potential = self.log_posterior.potential(self.model, batch, self.n_data)
        self.last_value, _ = apply_update(potential, self.optimizer, self.model,
                                          what="potential U (negative log posterior)")
        return self.last_value

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        if self.collects(unit):
            self.keep(unit + 1)
        last = unit + 1 == self.n_units
        if (unit + 1) % self.config.record_every and not last:
            return UnitEnd()
        return UnitEnd(record={"step": unit + 1, "potential": self.last_value, "samples": self.n_kept(unit + 1)})

    def extras(self, kind: str, completed: int) -> dict[str, Any]:
        return {"chain": self.chain}

    def data_fingerprint(self) -> str | None:
        return None if self.dataset is None else dataset_fingerprint(self.dataset)

    def seed_run(self) -> None:
        seed_everything(self.seed)
        self._drop_samples_after(0)

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        self._drop_samples_after(int(ckpt["completed"]))

    # -- samples ----------------------------------------------------------------------------
    def keep(self, step: int) -> None:
        """Keep the current weights as the sample of ``step`` (a file, or in memory)."""
        if self.run_dir is None:
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.kept.append((step, state))
        else:
            save_sample(self.run_dir, self.model, family=self.family, step=step, chain=self.chain,
                        train_config=self.config.model_dump(mode="json"))

    def n_kept(self, upto: int) -> int:
        if self.run_dir is None:
            return sum(1 for step, _ in self.kept if step <= upto)
        return sum(1 for p in (self.run_dir / SAMPLES_DIR).glob("step_*.pt") if int(p.stem[5:]) <= upto)

    def _drop_samples_after(self, completed: int) -> None:
        self.kept = [(s, st) for s, st in self.kept if s <= completed]
        if self.run_dir is not None:
            for path in (self.run_dir / SAMPLES_DIR).glob("step_*.pt"):
                if int(path.stem[5:]) > completed:
                    path.unlink()

    def samples(self) -> WeightSamples:
        """The samples kept so far (read back from ``run_dir`` when there is one)."""
        if self.run_dir is not None and any((self.run_dir / SAMPLES_DIR).glob("step_*.pt")):
            return WeightSamples.load(self.run_dir)
        return WeightSamples([st for _, st in self.kept], [self.chain] * len(self.kept), [s for s, _ in self.kept],
                             class_name(self.model), model_config(self.model))
