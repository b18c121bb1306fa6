"""The CAPE curriculum: tanh share of self-fed steps and its mapping to rollout steps."""

from __future__ import annotations

import math

import pytest

from sciml.surrogates.neural_pde.curriculum import Curriculum, normalised_epoch, self_fed_share

# (1 + tanh((e - 0.5) / 0.2)) / 2 evaluated independently: tanh(2.5) = 0.98661429815143...,
# tanh(1.25) = 0.84828363995751...
EXPECTED = {
    0.0: 0.0066928509242848554,
    0.25: 0.07585818002124355,
    0.5: 0.5,
    0.75: 0.9241418199787566,
    1.0: 0.9933071490757153,
}


@pytest.mark.parametrize("e", sorted(EXPECTED))
def test_share_formula(e: float) -> None:
    assert self_fed_share(e) == pytest.approx(EXPECTED[e], abs=1e-14)


def test_share_per_epoch_follows_the_formula() -> None:
    c = Curriculum()
    # 5 epochs: e = epoch / 4 = 0, 0.25, 0.5, 0.75, 1
    got = [c.share(epoch, 5) for epoch in range(5)]
    assert got == pytest.approx([EXPECTED[e] for e in (0.0, 0.25, 0.5, 0.75, 1.0)], abs=1e-14)
    # symmetric about the centre, monotone
    assert got[0] + got[4] == pytest.approx(1.0, abs=1e-14)
    assert all(a < b for a, b in zip(got, got[1:]))


def test_centre_and_width() -> None:
    c = Curriculum(centre=0.3, width=0.1)
    # epoch 3 of 11 -> e = 0.3 (the centre)
    assert c.share(3, 11) == pytest.approx(0.5, abs=1e-14)
    assert c.share(4, 11) == pytest.approx((1 + math.tanh(1.0)) / 2, abs=1e-14)


def test_warmup_epochs_are_teacher_forced_and_shift_the_ramp() -> None:
    c = Curriculum()
    assert [c.share(e, 7, warmup_epochs=2) for e in (0, 1)] == [0.0, 0.0]
    # curriculum epochs 2..6 -> e = 0, 0.25, ..., 1
    got = [c.share(e, 7, warmup_epochs=2) for e in range(2, 7)]
    assert got == pytest.approx([EXPECTED[e] for e in (0.0, 0.25, 0.5, 0.75, 1.0)], abs=1e-14)
    assert normalised_epoch(4, 7, 2) == 0.5
    assert normalised_epoch(0, 1) == 1.0  # a single epoch is the end of the ramp


def test_limits() -> None:
    tf, ar = Curriculum(kind="teacher_forcing"), Curriculum(kind="autoregressive")
    for epoch in range(6):
        assert tf.share(epoch, 6) == 0.0
        assert ar.share(epoch, 6) == 1.0
    assert tf.feedback_mask(0.0, 5) == [False] * 5
    assert ar.feedback_mask(1.0, 5) == [True] * 5
    assert Curriculum(order="teacher_forced_first").feedback_mask(1.0, 3) == [True] * 3


def test_share_to_steps() -> None:
    c = Curriculum()
    assert c.feedback_mask(0.5, 4) == [True, True, False, False]
    assert Curriculum(order="teacher_forced_first").feedback_mask(0.5, 4) == [False, False, True, True]
    assert Curriculum.self_fed_steps(0.5, 5) == 3  # halves round up
    assert Curriculum.self_fed_steps(0.49, 5) == 2
    # tanh ramp over 5 epochs with 10-step rollouts: 0, 1, 5, 9, 10 self-fed steps
    assert [sum(c.feedback_mask(c.share(e, 5), 10)) for e in range(5)] == [0, 1, 5, 9, 10]


def test_bad_values() -> None:
    with pytest.raises(ValueError, match="kind"):
        Curriculum(kind="linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width"):
        Curriculum(width=0.0)
    with pytest.raises(ValueError, match="order"):
        Curriculum(order="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share"):
        Curriculum.self_fed_steps(1.5, 4)
