"""Initial-condition families: seeded draws, the random offset, configuration round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.simulators.pde.initial_conditions import SineSumIC, initial_condition_from_config


def test_default_draw_has_no_offset_and_is_seeded():
    x = (np.arange(64) + 0.5) / 64
    ic = SineSumIC(p_abs=0.0, p_window=0.0)
    u = ic.sample(np.random.default_rng(0), x, 5, 1.0)
    # integer wavenumbers on the periodic unit interval: zero mean to round-off
    np.testing.assert_allclose(u.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_array_equal(u, ic.sample(np.random.default_rng(0), x, 5, 1.0))


def test_offset_range_sets_the_mean_magnitude():
    x = (np.arange(64) + 0.5) / 64
    ic = SineSumIC(p_abs=0.0, p_window=0.0, offset_range=(0.2, 0.5))
    means = ic.sample(np.random.default_rng(1), x, 400, 1.0).mean(axis=1)
    assert np.all((np.abs(means) >= 0.2 - 1e-12) & (np.abs(means) <= 0.5 + 1e-12))
    assert 0.3 < np.mean(means > 0) < 0.7
    twin = initial_condition_from_config(ic.config())
    assert twin == ic
    with pytest.raises(ValueError, match="offset_range"):
        SineSumIC(offset_range=(0.5, 0.2))
