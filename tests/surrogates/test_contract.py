"""The surrogate contract suite accepts a correct surrogate and fails broken ones.

Each family runs its implementations through :func:`sciml.testing.check_surrogate` in its own
``test_contract.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciml.surrogates.posterior import DeterministicPosterior, GaussianPosterior
from sciml.testing import check_surrogate

class _Affine(nn.Module):
    """A toy surrogate: Gaussian with mean ``2 x`` and variance ``x^2``; broken on request."""

    def __init__(self, fault: str = "") -> None:
        super().__init__()
        self.fault = fault

    def predict(self, x: torch.Tensor):
        if self.fault == "mode":
            self.train(not self.training)
        if self.fault == "inputs":
            x.add_(1.0)
        if self.fault == "deterministic":
            return DeterministicPosterior(2 * x + torch.rand(()))
        if self.fault == "moments":
            return _WrongSpread(2 * x, x**2)
        return GaussianPosterior(2 * x, x**2)


class _WrongSpread(GaussianPosterior):
    def sample(self, n, *, generator=0):
        return super().sample(n, generator=generator) * 3


def test_the_suite_accepts_a_correct_surrogate():
    x = torch.linspace(0.5, 2.0, 7, dtype=torch.float64)
    post = check_surrogate(_Affine().eval(), x)
    torch.testing.assert_close(post.mean, 2 * x)


@pytest.mark.parametrize("fault, message", [
    ("mode", "train/eval mode"),
    ("inputs", "must not change its inputs"),
    ("deterministic", "same posterior for the same inputs"),
    ("moments", "standard errors from the mean"),
])
def test_the_suite_fails_a_broken_surrogate(fault, message):
    x = torch.linspace(0.5, 2.0, 7, dtype=torch.float64)
    with pytest.raises(AssertionError, match=message):
        check_surrogate(_Affine(fault), x)


def test_the_suite_fails_an_object_without_predict():
    with pytest.raises(AssertionError, match="does not satisfy the Surrogate protocol"):
        check_surrogate(object(), torch.zeros(2))
