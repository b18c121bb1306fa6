"""The Surrogate contract: ``predict(inputs) -> Posterior``.

A surrogate maps inputs to a :class:`~sciml.surrogates.posterior.Posterior` (``mean``,
``variance``, ``sample(n)``)::

    surrogate = SomeSurrogate(...).fit(train_data)     # optional; returns self
    posterior = surrogate.predict(inputs)
    posterior.mean, posterior.variance                 # tensors of one shape
    posterior.sample(8, generator=0)                   # (8, *mean.shape)

``inputs`` is one object whose type each family defines (a rollout request for the neural
PDE solvers, a space-time grid with contexts for the field models). ``predict`` is a pure
function of the surrogate's state and its inputs: it does not change the inputs, leaves a
module's train/eval mode as it found it, and gives the same posterior for the same inputs
(stochastic models take their seed in the inputs). Deterministic surrogates return a
:class:`~sciml.surrogates.posterior.DeterministicPosterior`. The contract suite is
:func:`sciml.testing.check_surrogate`; UQ metrics, ProbConserv and BO take any surrogate
through it.
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

from sciml.surrogates.posterior import Posterior

__all__ = ["FittableSurrogate", "Surrogate"]


@runtime_checkable
class Surrogate(Protocol):
    """Predicts a :class:`~sciml.surrogates.posterior.Posterior` from inputs."""

    def predict(self, inputs: Any) -> Posterior: ...


@runtime_checkable
class FittableSurrogate(Surrogate, Protocol):
    """A surrogate that also learns from data: ``fit(data)`` sets its state and returns it."""

    def fit(self, data: Any) -> Self: ...
