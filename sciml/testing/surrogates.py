"""The Surrogate contract suite."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from sciml.surrogates.base import Surrogate
from sciml.surrogates.posterior import Posterior
from sciml.testing._assert import require

__all__ = ["check_surrogate"]


def _tensors(obj: Any) -> list[Tensor]:
    """Every tensor reachable in ``obj`` (attributes, mappings, sequences)."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    if hasattr(obj, "__dict__"):
        return _tensors(vars(obj))
    return []


def _modes(surrogate: Any) -> list[bool]:
    """The train/eval flag of every module the surrogate is or holds as an attribute."""
    modules = [surrogate] if isinstance(surrogate, nn.Module) else []
    modules += [m for m in getattr(surrogate, "__dict__", {}).values() if isinstance(m, nn.Module)]
    return [m.training for module in modules for m in module.modules()]


def check_surrogate(surrogate: Surrogate, inputs: Any, *, n_samples: int = 2000) -> Posterior:
    """Check that ``surrogate.predict(inputs)`` keeps the :class:`~sciml.surrogates.base.Surrogate` contract.

    The posterior must have finite ``mean`` and ``variance`` of one shape with
    ``variance >= 0``; ``sample(n)`` must give ``(n, *shape)`` finite draws, the same for the
    same seed, whose moments agree with ``mean`` and ``variance`` (per point within eight
    standard errors; the total variance within 10 %); a deterministic posterior has zero
    variance and draws equal to its mean. ``predict`` must not change its inputs, must leave
    the train/eval mode of the surrogate's modules as it found it, and must give the same
    mean and variance for the same inputs.

    Returns
    -------
    Posterior
        The posterior of ``inputs``, for further checks by the caller.

    Raises
    ------
    AssertionError
        The first rule broken, named.
    """
    require(isinstance(surrogate, Surrogate), f"{type(surrogate).__name__} does not satisfy the Surrogate protocol")
    before = [t.detach().clone() for t in _tensors(inputs)]
    modes = _modes(surrogate)
    posterior = surrogate.predict(inputs)
    require(isinstance(posterior, Posterior), f"predict returned {type(posterior).__name__}, not a Posterior")
    require(_modes(surrogate) == modes, "predict must leave the modules' train/eval mode as it found it")
    after = _tensors(inputs)
    require(len(after) == len(before) and all(torch.equal(a, b) for a, b in zip(after, before, strict=True)),
            "predict must not change its inputs")
    mean, variance = posterior.mean, posterior.variance
    _check_moments(posterior, mean, variance, n_samples)
    again = surrogate.predict(copy.deepcopy(inputs))
    require(torch.equal(again.mean, mean) and torch.equal(again.variance, variance),
            "predict must give the same posterior for the same inputs")
    return posterior


def _check_moments(posterior: Posterior, mean: Tensor, variance: Tensor, n_samples: int) -> None:
    require(isinstance(mean, Tensor) and isinstance(variance, Tensor), "mean and variance must be tensors")
    require(mean.shape == variance.shape, f"mean {tuple(mean.shape)} and variance {tuple(variance.shape)} differ")
    require(bool(torch.isfinite(mean).all()) and bool(torch.isfinite(variance).all()),
            "mean and variance must be finite")
    require(bool((variance >= 0).all()), "variance must be >= 0")
    draws = posterior.sample(n_samples, generator=0)
    require(draws.shape == (n_samples, *mean.shape), f"sample({n_samples}) has shape {tuple(draws.shape)}")
    require(bool(torch.isfinite(draws).all()), "draws must be finite")
    require(torch.equal(posterior.sample(5, generator=11), posterior.sample(5, generator=11)),
            "the same seed must give the same draws")
    if getattr(posterior, "is_deterministic", False):
        require(bool((variance == 0).all()), "a deterministic posterior has zero variance")
        require(bool((draws == mean).all()), "a deterministic posterior's draws equal its mean")
        return
    d, m, v = draws.double(), mean.double(), variance.double()
    spread = (v / n_samples).sqrt()
    z = (d.mean(0) - m).abs() / spread.clamp_min(1e-300)
    require(bool(((z <= 8) | (spread == 0)).all()), f"sample mean is {float(z.max()):.1f} standard errors from the mean")
    total = float(v.sum())
    if total > 0:
        ratio = float(d.var(0).sum()) / total
        require(0.9 <= ratio <= 1.1, f"sample variance / variance = {ratio:.3f}, outside [0.9, 1.1]")
