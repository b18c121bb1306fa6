"""Posterior objects returned by surrogates."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.surrogates.base import DeterministicPosterior, GaussianPosterior, Posterior


def test_deterministic_posterior_has_zero_variance_and_constant_samples():
    p = DeterministicPosterior(np.arange(6.0).reshape(2, 3))
    assert isinstance(p, Posterior) and p.is_deterministic
    np.testing.assert_array_equal(p.variance, np.zeros((2, 3)))
    s = p.sample(4)
    assert s.shape == (4, 2, 3)
    np.testing.assert_array_equal(s[3], p.mean)
    with pytest.raises(ValueError, match="n must be >= 1"):
        p.sample(0)


def test_gaussian_posterior_samples_have_the_right_moments():
    mean = np.array([1.0, -2.0])
    var = np.array([0.25, 4.0])
    s = GaussianPosterior(mean, var).sample(200_000, seed=1)
    np.testing.assert_allclose(s.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(s.var(axis=0), var, rtol=0.02)
    np.testing.assert_array_equal(GaussianPosterior(mean, var).sample(3, seed=7),
                                  GaussianPosterior(mean, var).sample(3, seed=7))


def test_gaussian_posterior_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        GaussianPosterior(np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        GaussianPosterior(np.zeros(2), np.array([1.0, -1.0]))
