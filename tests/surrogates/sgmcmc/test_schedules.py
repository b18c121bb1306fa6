"""Step-size schedules: their values in closed form, the sampling phases, bad input."""

from __future__ import annotations

import math

import pytest

from sciml.errors import ConfigError
from sciml.surrogates.sgmcmc import ConstantStep, CyclicalCosine, PolynomialDecay, StepSchedule
from sciml.surrogates.sgmcmc.schedules import as_schedule


def test_constant_and_polynomial_steps() -> None:
    assert ConstantStep(0.3)(0) == 0.3 == ConstantStep(0.3)(10_000)
    decay = PolynomialDecay(a=2.0, b=4.0, gamma=0.5)
    assert decay(0) == pytest.approx(1.0) and decay(12) == pytest.approx(0.5)
    assert all(decay.sampling(t) and ConstantStep(1.0).sampling(t) for t in (0, 5))
    assert isinstance(as_schedule(0.1), ConstantStep) and as_schedule(decay) is decay
    assert isinstance(decay, StepSchedule)


def test_cyclical_cosine_restarts_every_cycle_and_samples_late_in_each() -> None:
    s = CyclicalCosine(lr0=0.8, n_steps=100, n_cycles=4, exploration=0.4)
    assert s.cycle_length == 25
    assert s(0) == pytest.approx(0.8) and s(25) == pytest.approx(0.8) and s(75) == pytest.approx(0.8)
    assert s(5) == pytest.approx(0.4 * (math.cos(math.pi * 0.2) + 1))
    assert s(24) == pytest.approx(0.4 * (math.cos(math.pi * 24 / 25) + 1)) and s(24) < 0.01
    assert [s.sampling(t) for t in (0, 9, 10, 24, 25, 35)] == [False, False, True, True, False, True]
    uneven = CyclicalCosine(lr0=1.0, n_steps=10, n_cycles=3)
    assert uneven.cycle_length == 4 and uneven(8) == pytest.approx(1.0)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ConstantStep(0.0), r"step size lr must be a finite number > 0; got 0.0"),
    (lambda: PolynomialDecay(a=1.0, gamma=1.5), r"gamma must lie in \[0, 1\]"),
    (lambda: PolynomialDecay(a=1.0, b=-1.0), r"b must be a finite number > 0"),
    (lambda: CyclicalCosine(0.1, n_steps=10, n_cycles=11), r"n_cycles must be an integer in \[1, n_steps=10\]"),
    (lambda: CyclicalCosine(0.1, n_steps=10, exploration=1.0), r"exploration must lie in \[0, 1\)"),
    (lambda: CyclicalCosine(0.1, n_steps=0), r"n_steps must be an integer >= 1"),
    (lambda: ConstantStep(0.1)(-1), r"the step t must be an integer >= 0"),
])
def test_bad_schedules_are_named(make, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make()
