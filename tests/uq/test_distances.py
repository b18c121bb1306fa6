"""Sliced Wasserstein distance (POT is not installed here): exact 1-D distances (sorting, scipy's
W_1 and a replicated brute force for unequal sizes), the shift identity SW_2^2 = mean (theta . delta)^2
and its expectation |delta|^2 / d, invariances, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance as scipy_w1

from sciml.uq import random_directions, sliced_wasserstein_distance, wasserstein_1d
from sciml.uq.metrics import MetricInputError


def test_equal_sizes_give_the_sorted_coupling():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=50), rng.gamma(2.0, size=50)
    for p in (1.0, 2.0, 3.0):
        expected = np.mean(np.abs(np.sort(u) - np.sort(v)) ** p) ** (1 / p)
        assert wasserstein_1d(u, v, p=p) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(("n", "m"), [(7, 3), (40, 25), (1, 9)])
def test_unequal_sizes_match_scipy_w1(n, m):
    rng = np.random.default_rng(n * m)
    u, v = rng.normal(size=n), rng.exponential(size=m) - 0.5
    assert wasserstein_1d(u, v, p=1) == pytest.approx(scipy_w1(u, v), rel=1e-12)


def test_unequal_sizes_match_the_replicated_brute_force_for_p2():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=6), rng.normal(1.0, 2.0, size=4)
    # replicated to lcm(6, 4) = 12 points each, the empirical measures are unchanged and sizes equal
    uu, vv = np.sort(np.repeat(u, 2)), np.sort(np.repeat(v, 3))
    assert wasserstein_1d(u, v, p=2) == pytest.approx(math.sqrt(np.mean((uu - vv) ** 2)), rel=1e-13)


def test_a_shift_gives_the_mean_squared_projection_of_the_shift_exactly():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 5))
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    theta = random_directions(5, 64, seed=9)
    sw = sliced_wasserstein_distance(x, x + delta, directions=theta, p=2)
    assert sw**2 == pytest.approx(np.mean((theta @ delta) ** 2), rel=1e-12)
    # and for p = 1 the mean absolute projection
    sw1 = sliced_wasserstein_distance(x, x + delta, directions=theta, p=1)
    assert sw1 == pytest.approx(np.mean(np.abs(theta @ delta)), rel=1e-12)


def test_two_gaussians_differing_by_a_shift_have_sw2_squared_near_the_closed_form():
    d, delta = 4, np.array([2.0, 0.0, -1.0, 1.0])
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4000, d)), rng.normal(size=(4000, d)) + delta
    sw2 = sliced_wasserstein_distance(x, y, n_projections=4000, seed=1) ** 2
    # E_theta (theta . delta)^2 = |delta|^2 / d; the sampling error of W_2^2 between two n = 4000
    # samples of one 1-D Gaussian is O(1e-3), the projection average's relative error ~ 1.5 %
    assert sw2 == pytest.approx(delta @ delta / d, rel=0.05)


def test_in_one_dimension_the_sliced_distance_is_the_wasserstein_distance():
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(30, 1)), rng.uniform(size=(45, 1))
    assert sliced_wasserstein_distance(u, v, n_projections=3) == pytest.approx(wasserstein_1d(u[:, 0], v[:, 0]))


def test_invariances_seeds_and_histories():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(80, 2, 6)), rng.normal(0.3, 1.2, size=(60, 2, 6))
    sw = sliced_wasserstein_distance(x, y, seed=3)
    assert sw == sliced_wasserstein_distance(torch.from_numpy(x), torch.from_numpy(y), seed=3)
    assert sw == pytest.approx(sliced_wasserstein_distance(y, x, seed=3), rel=1e-12)
    assert sw == pytest.approx(sliced_wasserstein_distance(x[::-1], y[rng.permutation(60)], seed=3), rel=1e-12)
    assert sliced_wasserstein_distance(2.5 * x, 2.5 * y, seed=3) == pytest.approx(2.5 * sw, rel=1e-12)
    assert sliced_wasserstein_distance(x, y, seed=4) != sw
    assert sliced_wasserstein_distance(x, x.copy()) == 0.0
    directions = random_directions(12, 10, seed=0)
    assert np.allclose(np.linalg.norm(directions, axis=1), 1.0)
    assert sliced_wasserstein_distance(x, y, directions=7 * directions) == pytest.approx(
        sliced_wasserstein_distance(x, y, directions=directions), rel=1e-12)


@pytest.mark.parametrize(("x", "y", "kwargs", "match"), [
    (np.zeros((3, 2)), np.zeros((3, 3)), {}, "same coordinates"),
    (np.zeros((0, 2)), np.zeros((3, 2)), {}, "n >= 1"),
    (np.array([[0.0, np.nan]]), np.zeros((3, 2)), {}, "non-finite"),
    (np.zeros((3, 2)), np.zeros((3, 2)), {"p": 0.5}, "p must be"),
    (np.zeros((3, 2)), np.zeros((3, 2)), {"n_projections": 0}, "n_projections"),
    (np.zeros((3, 2)), np.zeros((3, 2)), {"directions": np.zeros((4, 2))}, "non-zero rows"),
    (np.zeros((3, 2)), np.zeros((3, 2)), {"directions": np.ones((4, 3))}, r"shape \(L, 2\)"),
])
def test_bad_input_is_refused(x, y, kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        sliced_wasserstein_distance(x, y, **kwargs)


def test_wasserstein_1d_refuses_multivariate_samples():
    with pytest.raises(MetricInputError, match="1-D samples"):
        wasserstein_1d(np.zeros((3, 2)), np.zeros(3))
