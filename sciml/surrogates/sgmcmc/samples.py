"""Posterior weight samples: state dicts from chains or ensemble members, on disk and in memory.

A sample is a model's ``state_dict`` in the one checkpoint format of
:mod:`sciml.surrogates.training.checkpoints` (``kind = "sample"``, plus ``chain`` and
``step``), written atomically to ``<run_dir>/samples/step_<step>.pt`` and read back with
``weights_only=True``. :class:`WeightSamples` holds many of them (with their chain ids and
steps), loads one into a model and predicts with all of them: a
:class:`~sciml.surrogates.posterior.SamplePosterior` of ``M`` draws.
:class:`SampledSurrogate` is that prediction behind the
:class:`~sciml.surrogates.base.Surrogate` interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sciml.errors import ConfigError, FileFormatError
from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    class_name,
    load_checkpoint,
    load_model_state,
    model_config,
    save_checkpoint,
    to_primitive,
)

__all__ = ["SAMPLES_DIR", "OutputFn", "SampledSurrogate", "WeightSamples", "sample_path", "save_sample"]

#: the folder of a run that holds its samples
SAMPLES_DIR = "samples"
#: what a model predicts for ``inputs``: a tensor, or ``(mean, noise variance)``
OutputFn = Callable[[nn.Module, Any], "Tensor | tuple[Tensor, Tensor]"]


def sample_path(run_dir: str | Path, step: int) -> Path:
    """``<run_dir>/samples/step_<step, 9 digits>.pt``."""
    return Path(run_dir) / SAMPLES_DIR / f"step_{int(step):09d}.pt"


def save_sample(run_dir: str | Path, model: nn.Module, *, family: str, step: int, chain: int,
                train_config: Mapping[str, Any] | None = None) -> Path:
    """Write ``model``'s weights as sample ``step`` of chain ``chain`` (atomically); return the path."""
    path = sample_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "family": family, "kind": "sample",
        "unit": "step", "completed": int(step), "model_class": class_name(model), "model_config": model_config(model),
        "model_state": to_primitive(model.state_dict()), "train_config": to_primitive(dict(train_config or {})),
        "torch_version": str(torch.__version__), "chain": int(chain), "step": int(step),
    }, path)
    return path


def _restore_modes(model: nn.Module, modes: list[bool]) -> None:
    for module, mode in zip(model.modules(), modes, strict=True):
        module.training = mode


@dataclass
class WeightSamples:
    """Weight samples: ``states[i]`` is a state dict drawn by chain ``chains[i]`` after ``steps[i]`` steps.

    Attributes
    ----------
    states : list of dict
    chains, steps : list of int
    model_class : str or None
        ``module.QualName`` of the model they belong to (checked by :meth:`load_into`).
    model_config : dict or None

    Raises
    ------
    ConfigError
        Lists of different lengths.
    """

    states: list[dict[str, Tensor]]
    chains: list[int]
    steps: list[int]
    model_class: str | None = None
    model_config: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        if not len(self.states) == len(self.chains) == len(self.steps):
            raise ConfigError(f"states, chains and steps differ in length: {len(self.states)}, {len(self.chains)}, "
                              f"{len(self.steps)}")

    def __len__(self) -> int:
        return len(self.states)

    @classmethod
    def concat(cls, parts: Sequence[WeightSamples]) -> WeightSamples:
        """The samples of ``parts`` one after the other (their model classes must agree)."""
        classes = {p.model_class for p in parts if p.model_class is not None}
        if len(classes) > 1:
            raise ConfigError(f"cannot join samples of different models: {sorted(classes)}")
        first = next((p for p in parts if p.model_class is not None), None)
        return cls([s for p in parts for s in p.states], [c for p in parts for c in p.chains],
                   [t for p in parts for t in p.steps], None if first is None else first.model_class,
                   None if first is None else first.model_config)

    @classmethod
    def load(cls, run_dirs: str | Path | Sequence[str | Path]) -> WeightSamples:
        """The samples under ``<run_dir>/samples/`` of one or several runs, in run then step order.

        Raises
        ------
        FileFormatError
            A folder without samples, or a file that is not a sample checkpoint.
        """
        dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
        states, chains, steps, cls_name, cfg = [], [], [], None, None
        for run_dir in dirs:
            files = sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.pt"))
            if not files:
                raise FileFormatError(f"no samples in {Path(run_dir) / SAMPLES_DIR}")
            for path in files:
                ckpt = load_checkpoint(path)
                if ckpt.get("kind") != "sample":
                    raise FileFormatError(f"{path}: not a weight sample (kind {ckpt.get('kind')!r})")
                states.append(ckpt["model_state"])
                chains.append(int(ckpt["chain"]))
                steps.append(int(ckpt["step"]))
                cls_name, cfg = ckpt["model_class"], ckpt.get("model_config")
        return cls(states, chains, steps, cls_name, cfg)

    def load_into(self, model: nn.Module, index: int) -> nn.Module:
        """Load sample ``index`` into ``model`` (in place) and return it.

        Raises
        ------
        CheckpointError
            The samples belong to another model class or configuration, or do not fit.
        """
        if self.model_class is None:
            model.load_state_dict(self.states[index])
            return model
        ckpt = {"model_class": self.model_class, "model_config": self.model_config, "model_state": self.states[index]}
        load_model_state(model, ckpt, Path(f"<weight sample {index}>"))
        return model

    def stack(self) -> dict[str, Tensor]:
        """Every state entry stacked over the samples: name -> ``(M, *shape)`` (for ``torch.func``)."""
        if not self.states:
            raise ConfigError("no samples to stack")
        return {name: torch.stack([s[name] for s in self.states]) for name in self.states[0]}

    def by_chain(self, names: Sequence[str] | None = None) -> Tensor:
        """The floating-point entries (``names``, default all) flattened, as ``(chains, draws, K)``
        for :mod:`sciml.surrogates.sgmcmc.diagnostics`.

        Raises
        ------
        ConfigError
            Chains with different numbers of draws, or no samples.
        """
        if not self.states:
            raise ConfigError("no samples")
        keys = list(names) if names is not None else [k for k, v in self.states[0].items() if v.is_floating_point()]
        rows = torch.stack([torch.cat([s[k].detach().reshape(-1).double().cpu() for k in keys]) for s in self.states])
        ids = sorted(set(self.chains))
        per = [[i for i, c in enumerate(self.chains) if c == cid] for cid in ids]
        if len({len(p) for p in per}) != 1:
            raise ConfigError(f"chains hold different numbers of draws: {[len(p) for p in per]}")
        return torch.stack([rows[p] for p in per])

    def predict(self, model: nn.Module, inputs: Any, *, output: OutputFn | None = None,
                enable_grad: bool = False) -> SamplePosterior:
        """Predict ``inputs`` with every sample: a :class:`SamplePosterior` of ``len(self)`` draws.

        Parameters
        ----------
        model : nn.Module
            A model of the samples' class; its weights and train/eval modes are restored after.
        inputs : Any
        output : callable ``(model, inputs) -> Tensor or (Tensor, Tensor)``, optional
            The prediction of one sample (default ``model(inputs)``); a pair is
            ``(mean, noise variance)`` (e.g. a learned :class:`GaussianNoise` ``variance``).
        enable_grad : bool
            Run with autograd on (e.g. forces as ``-dE/dx``); outputs are detached.
        """
        if not self.states:
            raise ConfigError("no samples to predict with")
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        modes = [m.training for m in model.modules()]
        model.eval()
        means, variances = [], []
        try:
            for index in range(len(self)):
                self.load_into(model, index)
                with torch.set_grad_enabled(enable_grad):
                    out = model(inputs) if output is None else output(model, inputs)
                mean, var = out if isinstance(out, tuple) else (out, None)
                means.append(mean.detach())
                variances.append(None if var is None else torch.broadcast_to(var.detach(), mean.shape))
        finally:
            model.load_state_dict(saved)
            _restore_modes(model, modes)
        noise = None if any(v is None for v in variances) else torch.stack(variances)  # type: ignore[misc]
        return SamplePosterior(torch.stack(means), noise)


@dataclass
class SampledSurrogate:
    """A model with weight samples behind the Surrogate interface: ``predict(inputs) -> SamplePosterior``.

    Attributes
    ----------
    model : nn.Module
    samples : WeightSamples
    output : callable, optional
        As in :meth:`WeightSamples.predict`.
    enable_grad : bool
    """

    model: nn.Module
    samples: WeightSamples
    output: OutputFn | None = None
    enable_grad: bool = False

    def predict(self, inputs: Any) -> SamplePosterior:
        return self.samples.predict(self.model, inputs, output=self.output, enable_grad=self.enable_grad)
