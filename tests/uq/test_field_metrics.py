"""Field metrics accumulated per function: MSE, LL, CRPS, conservation and shock-position errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.uq.accumulator import mean_and_se
from sciml.uq.field_metrics import FieldMetrics, sample_shock_positions


def _tiny_acc(**kw):
    """t = (0, 1), x = (0, 0.5, 1), G = trapezoid weights, b = 1 at both times, evaluation at t = 1."""
    t = np.array([0.0, 1.0])
    x = np.array([0.0, 0.5, 1.0])
    g = torch.tensor([[0.25, 0.5, 0.25]], dtype=torch.float64)
    b = torch.ones(2, 1, dtype=torch.float64)
    return FieldMetrics(t, x, g, b, eval_time=0.9, **kw)


def test_mse_ll_crps_and_conservation_errors_by_hand():
    acc = _tiny_acc()
    assert acc.i_eval == 1 and acc.t_eval == 1.0 and acc.b_scale == 1.0
    truth = torch.ones(2, 2, 3, dtype=torch.float64)
    mean = torch.ones(2, 2, 3, dtype=torch.float64)
    mean[0, 1] = torch.tensor([1.0, 2.0, 1.0])  # function 0 at t_eval: errors (0, 1, 0)
    mean[0, 0] = torch.tensor([3.0, 1.0, 1.0])  # function 0 at t = 0: G mu = 0.75 + 0.5 + 0.25 = 1.5
    mean[1, 1] = torch.tensor([0.0, 0.0, 0.0])  # function 1 at t_eval: errors (1, 1, 1), G mu = 0
    var = torch.full((2, 2, 3), 0.25, dtype=torch.float64)
    acc.record("M", mean, var, None, truth)
    d = acc.values("M")
    assert d["mse"] == pytest.approx([1 / 3, 1.0], rel=1e-14)
    # |CE| at t_eval: function 0: G mu = 0.25 + 1 + 0.25 = 1.5 -> 0.5; function 1: 0 -> 1
    assert d["ce_eval"] == pytest.approx([0.5, 1.0], rel=1e-14)
    assert d["ce_max"] == pytest.approx([0.5, 1.0], rel=1e-14)  # t = 0: 0.5 and 0
    assert d["ce_rel"] == pytest.approx([0.5, 1.0], rel=1e-14)
    # LL per point -0.5 log(2 pi v) - e^2 / (2 v), v = 0.25, mean over the 3 points
    ll0 = -0.5 * math.log(2 * math.pi * 0.25) - (1 / 3) * 1.0 / (2 * 0.25)
    ll1 = -0.5 * math.log(2 * math.pi * 0.25) - 1.0 / (2 * 0.25)
    assert d["ll"] == pytest.approx([ll0, ll1], rel=1e-12)
    assert "shock_error" not in d  # no thresholds
    s = acc.summary("M")
    assert s["mse"] == pytest.approx(2 / 3, rel=1e-14)
    # standard error with ddof = 1 of (1/3, 1): std = |1 - 1/3| / sqrt(2), se = std / sqrt(2) = 1/3
    assert s["mse_se"] == pytest.approx(1 / 3, rel=1e-12)
    assert s["ce_max_worst"] == 1.0 and s["ce_rel"] == 1.0
    assert "shock_error" not in s


def test_crps_of_an_exact_mean_is_the_closed_form():
    acc = _tiny_acc()
    truth = torch.full((1, 2, 3), 2.0, dtype=torch.float64)
    v = 0.04
    acc.record("exact", truth.clone(), torch.full_like(truth, v), None, truth)
    s = acc.summary("exact")
    sigma = math.sqrt(v)
    assert s["crps"] == pytest.approx(sigma * (2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi)), rel=1e-12)
    assert s["mse"] == 0.0 and math.isnan(s["mse_se"])  # one function: no standard error
    assert s["ce_max_worst"] == pytest.approx(1.0, rel=1e-14)  # G u = 2 against b = 1


def test_mean_and_se_ddof_one():
    m, se = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert se == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-14)  # std ddof=1 = sqrt(5/3)
    with pytest.raises(ValueError, match="no values"):
        mean_and_se([])


def test_shock_error_of_a_step_profile_with_zero_covariance():
    x = np.linspace(0.0, 1.0, 11)
    step = torch.as_tensor(np.where(x <= 0.3 + 1e-12, 1.0, 0.0))
    # zero covariance: every draw is the mean; the crossings interpolate between x = 0.3 and 0.4
    pos = sample_shock_positions(step[None], torch.zeros(1, 11, 11, dtype=torch.float64), x, [0.1, 0.5], 7)
    assert pos.shape == (2, 7, 1)
    np.testing.assert_allclose(pos[0], 0.39, rtol=1e-12)
    np.testing.assert_allclose(pos[1], 0.35, rtol=1e-12)
    t = np.array([0.0, 1.0])
    g = torch.full((1, 11), 0.1, dtype=torch.float64)
    b = torch.zeros(2, 1, dtype=torch.float64)
    acc = FieldMetrics(t, x, g, b, 1.0, thresholds=((0.1, 0.4), (0.5, 0.3)), n_shock_samples=5,
                            true_front=0.4)
    mean = step.expand(2, 2, 11).clone()
    acc.record("step", mean, torch.zeros_like(mean), torch.zeros(2, 11, 11, dtype=torch.float64), mean.clone())
    s = acc.summary("step")
    assert s["shock_error"] == pytest.approx(0.01, rel=1e-10) and s["shock_error_se"] == pytest.approx(0, abs=1e-15)
    assert s["shock_error_mid"] == pytest.approx(0.05, rel=1e-10)
    assert (s["shock_threshold"], s["shock_reference"], s["shock_threshold_mid"], s["shock_reference_mid"]) == (
        0.1, 0.4, 0.5, 0.3)
    assert s["true_front"] == 0.4 and s["n_shock_samples"] == 5
    # the front of the mean itself: 0.39 against 0.4 at level 0.1 (behind: offset < 0), 0.35 against 0.3 at 0.5
    assert s["mean_front_offset"] == pytest.approx(-0.01, rel=1e-10) and s["mean_front_error"] == pytest.approx(0.01)
    assert s["mean_front_mid_offset"] == pytest.approx(0.05, rel=1e-10)
    assert s["mean_front_mid_error"] == pytest.approx(0.05, rel=1e-10) and s["mean_front_mid_error_se"] == 0.0
    # b = 0: relative to the size of the integrand, max_t |G| |truth(t)| = 0.1 x 4 ones = 0.4
    assert float((mean[0].abs() @ g.abs().T).max()) == pytest.approx(0.4, rel=1e-14)
    assert s["ce_rel"] == pytest.approx(0.4 / 0.4, rel=1e-14)
    # without a covariance the shock errors are skipped
    acc.record("nocov", mean, torch.zeros_like(mean), None, mean.clone())
    assert "shock_error" not in acc.summary("nocov")
    assert acc.summary("nocov")["mean_front_mid_error"] == pytest.approx(0.05)  # needs no covariance
    with pytest.raises(KeyError, match="recorded"):
        acc.summary("other")


def test_record_validates_shapes():
    acc = _tiny_acc()
    with pytest.raises(ValueError, match="mean must have shape"):
        acc.record("M", torch.ones(1, 3, 3, dtype=torch.float64), torch.ones(1, 3, 3), None, torch.ones(1, 3, 3))
    with pytest.raises(ValueError, match="b must have shape"):
        FieldMetrics([0.0, 1.0], [0.0, 1.0], torch.ones(1, 2), torch.ones(3, 1), 0.5)


def test_relative_conservation_error_of_a_zero_mass_field_is_relative_to_the_size_of_the_field():
    """Heat on [0, 2 pi] with u = sin x: b = 0, so ce_rel divides by max_t int |u| dx = 4 e^{-k t}."""
    n_x, k = 400, 1.0
    x = (np.arange(n_x) + 0.5) * 2 * np.pi / n_x  # midpoints: G sin = 0 to round-off
    t = np.array([0.0, 0.5])
    g = torch.full((1, n_x), 2 * np.pi / n_x, dtype=torch.float64)
    truth = torch.as_tensor(np.exp(-k * t)[:, None] * np.sin(x)[None, :])[None]  # (1, n_t, n_x)
    metrics = FieldMetrics(t, x, g, torch.zeros(2, 1, dtype=torch.float64), 0.5)
    shifted = truth + 1e-3  # a prediction that adds mass 2 pi 1e-3 at every time
    metrics.record("shifted", shifted, torch.full_like(truth, 1e-4), None, truth)
    s = metrics.summary("shifted")
    size = float((truth[0].abs() @ g.abs().T).max())  # the midpoint sum of |sin x|, ~4
    assert size == pytest.approx(4.0, rel=1e-4)
    assert s["ce_max_worst"] == pytest.approx(2 * np.pi * 1e-3, rel=1e-12)
    assert s["ce_rel"] == pytest.approx(2 * np.pi * 1e-3 / size, rel=1e-12)
