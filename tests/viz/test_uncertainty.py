"""Uncertainty plots: bands from the variance, histograms, input errors, atomic files."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.viz.uncertainty import credible_band, plot_position_histograms, plot_profiles_with_bands


def test_band_uses_the_variance_not_the_standard_deviation():
    lo, hi = credible_band([1.0, 2.0], [4.0, 0.25], z=2.0)
    np.testing.assert_allclose(lo, [1.0 - 2.0 * 2.0, 2.0 - 2.0 * 0.5])
    np.testing.assert_allclose(hi, [1.0 + 2.0 * 2.0, 2.0 + 2.0 * 0.5])


def test_band_clips_round_off_and_rejects_negative_variance():
    lo, hi = credible_band([0.0, 1.0], [-1e-20, 0.0])
    assert lo[0] == hi[0] == 0.0 and lo[1] == hi[1] == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        credible_band([0.0, 0.0], [1.0, -0.5])
    with pytest.raises(ValueError, match="same shape"):
        credible_band([0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        credible_band([np.nan], [1.0])


def test_profile_and_histogram_pngs_are_written(tmp_path):
    x = np.linspace(0, 1, 50)
    truth = (x < 0.3).astype(float)
    preds = {"ANP": (truth * 0.9, np.full(50, 0.01)), "ProbConserv": (truth, np.zeros(50))}
    out = plot_profiles_with_bands(x, truth, preds, tmp_path / "profiles.png", title="t = 0.05")
    assert out.read_bytes()[:4] == b"\x89PNG"
    rng = np.random.default_rng(0)
    out2 = plot_position_histograms({"ANP": rng.normal(0.3, 0.02, 200), "ProbConserv": rng.normal(0.3, 0.01, 200)},
                                    tmp_path / "hist.png", true_position=0.3)
    assert out2.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hist.png", "profiles.png"]


def test_plot_input_errors_write_nothing(tmp_path):
    x = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="mean must have shape"):
        plot_profiles_with_bands(x, x, {"m": (np.zeros(4), np.zeros(4))}, tmp_path / "a.png")
    with pytest.raises(ValueError, match="empty"):
        plot_profiles_with_bands(x, x, {}, tmp_path / "a.png")
    with pytest.raises(ValueError, match="finite"):
        plot_position_histograms({"m": [0.1, np.inf]}, tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []
