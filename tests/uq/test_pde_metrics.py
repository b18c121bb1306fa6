"""Tests for sciml.uq.pde_metrics (PDEBench metrics of rollouts)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml.uq.pde_metrics import (
    METRIC_KEYS,
    RolloutMetrics,
    brmse,
    compute_metrics,
    crmse,
    frmse,
    max_error,
    nrmse,
    rmse,
)

F64 = torch.float64


def _hand_case() -> tuple[torch.Tensor, torch.Tensor]:
    """2 samples, 1 variable, 2 times, 4 cells; returns (pred, true)."""
    true = torch.tensor(
        [
            [[[1, 1, 1, 1], [2, 2, 2, 2]]],  # sample 0
            [[[3, 0, 0, 4], [2, -2, 2, -2]]],  # sample 1
        ],
        dtype=F64,
    )
    err = torch.tensor(
        [
            [[[1, 1, 1, 1], [0, 0, 0, 0]]],
            [[[1, 1, -1, -1], [0, 4, 0, 0]]],
        ],
        dtype=F64,
    )
    return true + err, true


# Hand derivation for _hand_case, frame (b, t) with error e and truth y:
#   frame   e              rms(e)  rms(y)  ratio  mean(e)  boundary rms (cells 0, 3)
#   (0,0)   [1,1,1,1]      1       1       1      1        sqrt((1+1)/2) = 1
#   (0,1)   [0,0,0,0]      0       2       0      0        0
#   (1,0)   [1,1,-1,-1]    1       5/2     2/5    0        sqrt((1+1)/2) = 1
#   (1,1)   [0,4,0,0]      2       2       1      1        0
# rmse  = (1 + 0 + 1 + 2) / 4 = 1
# nrmse_frame = (1 + 0 + 0.4 + 1) / 4 = 0.6 ; per time: t0 (1 + 0.4)/2 = 0.7, t1 (0 + 1)/2 = 0.5
# nrmse (whole trajectory per sample): sample 0 sum e^2 = 4, sum y^2 = 4 + 16 = 20 -> sqrt(1/5);
#   sample 1 sum e^2 = 4 + 16 = 20, sum y^2 = 9 + 16 + 16 = 41 -> sqrt(20/41); mean of the two
# crmse = mean_t sqrt(mean_b mean(e)^2): t0 sqrt((1 + 0)/2), t1 sqrt((0 + 1)/2) -> 1/sqrt(2)
# max   = 4
# brmse = (1 + 0 + 1 + 0) / 4 = 0.5
# Fourier (n=4, shells 0, 1, 2, all in the low band): |rfft(e)_k|^2 per frame
#   (0,0) [16, 0, 0]; (0,1) [0, 0, 0]; (1,0) [0, |2-2i|^2 = 8, 0]; (1,1) [16, 16, 16]
#   sqrt(mean_b)/4: t0 [sqrt(8)/4, 2/4, 0], t1 [sqrt(8)/4] * 3
#   low = (4 * sqrt(2)/2 + 1/2) / 6 = (2 sqrt(2) + 1/2) / 6 ; mid, high: no shells -> NaN
HAND = {
    "rmse": 1.0,
    "nrmse": (math.sqrt(1 / 5) + math.sqrt(20 / 41)) / 2,
    "nrmse_frame": 0.6,
    "crmse": 1 / math.sqrt(2),
    "max_error": 4.0,
    "brmse": 0.5,
    "frmse_low": (2 * math.sqrt(2) + 0.5) / 6,
}


def test_hand_computed_values():
    pred, true = _hand_case()
    out = compute_metrics(pred, true)
    assert tuple(out) == METRIC_KEYS
    for key, value in HAND.items():
        assert out[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert math.isnan(out["frmse_mid"]) and math.isnan(out["frmse_high"])
    acc = RolloutMetrics().update(pred, true)
    torch.testing.assert_close(acc.error_vs_time(), torch.tensor([0.7, 0.5], dtype=F64))
    torch.testing.assert_close(acc.error_vs_time("rmse"), torch.tensor([1.0, 1.0], dtype=F64))
    # error curve averages back to the scalar metric
    assert float(acc.error_vs_time().mean()) == pytest.approx(out["nrmse_frame"])


def test_hand_computed_skip_initial():
    # only t = 1: rms(e) 0, 2; ratio 0, 1; mean(e) 0, 1; boundary 0, 0; max 4;
    # shells 0..2: sqrt((0 + 16)/2)/4 = sqrt(2)/2 each.
    pred, true = _hand_case()
    out = compute_metrics(pred, true, skip_initial=1)
    assert out["rmse"] == pytest.approx(1.0)
    assert out["nrmse"] == pytest.approx(0.5)
    assert out["crmse"] == pytest.approx(1 / math.sqrt(2))
    assert out["max_error"] == 4.0
    assert out["brmse"] == 0.0
    assert out["frmse_low"] == pytest.approx(math.sqrt(2) / 2)
    acc = RolloutMetrics(skip_initial=1).update(pred, true)
    assert acc.error_vs_time().shape == (1,)


def test_functional_wrappers_agree():
    pred, true = _hand_case()
    assert rmse(pred, true) == pytest.approx(HAND["rmse"])
    assert nrmse(pred, true) == pytest.approx(HAND["nrmse"])
    assert crmse(pred, true) == pytest.approx(HAND["crmse"])
    assert max_error(pred, true) == HAND["max_error"]
    assert brmse(pred, true) == pytest.approx(HAND["brmse"])
    bands = frmse(pred, true)
    assert bands["low"] == pytest.approx(HAND["frmse_low"])


@pytest.mark.parametrize("space", [(16,), (8, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_identical_inputs_give_zero(space, dtype):
    g = torch.Generator().manual_seed(0)
    true = torch.randn(3, 2, 5, *space, generator=g, dtype=dtype)
    out = compute_metrics(true.clone(), true)
    for key, value in out.items():
        assert value == 0.0 or (math.isnan(value) and key.startswith("frmse")), key


@pytest.mark.parametrize("k0, band", [(2, "low"), (7, "mid"), (13, "high")])
def test_fourier_band_of_pure_sine_1d(k0, band):
    # error A sin(2 pi k0 x / n): |rfft|_k0 = A n / 2 -> amplitude A/2 in shell k0, zero elsewhere.
    # n = 32 has shells 0..16: low 0..3 (4 shells), mid 4..11 (8), high 12..16 (5);
    # the band value is the mean over its shells: (A/2) / n_shells.
    n, amp = 32, 0.3
    x = torch.arange(n, dtype=F64)
    true = torch.randn(2, 1, 3, n, generator=torch.Generator().manual_seed(1), dtype=F64)
    pred = true + amp * torch.sin(2 * math.pi * k0 * x / n)
    out = frmse(pred, true)
    n_shells = {"low": 4, "mid": 8, "high": 5}
    for name, value in out.items():
        expected = amp / 2 / n_shells[name] if name == band else 0.0
        assert value == pytest.approx(expected, abs=1e-13), name


def test_fourier_band_of_oblique_mode_2d():
    # e = A cos(2 pi (3 x - 4 y) / n): modes (3, -4) and (-3, 4), |F| = A n^2 / 2 each, weight
    # 1/2 each -> shell energy A^2 n^4 / 4 -> amplitude A/2 at radial shell |k| = 5 (mid band,
    # 8 shells 4..11) -> frmse_mid = A / 16. PDEBench's quadrant sum would miss this mode.
    n, amp = 32, 0.8
    ix, iy = torch.meshgrid(torch.arange(n, dtype=F64), torch.arange(n, dtype=F64), indexing="ij")
    err = amp * torch.cos(2 * math.pi * (3 * ix - 4 * iy) / n)
    true = torch.ones(1, 1, 2, n, n, dtype=F64)
    out = frmse(true + err, true)
    assert out["mid"] == pytest.approx(amp / 16, rel=1e-12)
    assert out["low"] == pytest.approx(0.0, abs=1e-13)
    assert out["high"] == pytest.approx(0.0, abs=1e-13)


def test_fourier_2d_axis_mode_matches_1d():
    # an error constant along y has the same band values as the 1D field it is built from
    n = 16
    g = torch.Generator().manual_seed(2)
    e1 = torch.randn(3, 2, 4, n, generator=g, dtype=F64)
    zeros1 = torch.zeros_like(e1)
    one_d = frmse(e1, zeros1)
    e2 = e1[..., None].expand(3, 2, 4, n, n).contiguous()
    two_d = frmse(e2, torch.zeros_like(e2))
    # same shells 0..8; in 2D the y-constant field only has modes with k_y = 0, so shell s
    # gets exactly the 1D mode |k_x| = s
    for name in ("low", "mid"):
        assert two_d[name] == pytest.approx(one_d[name], rel=1e-12)


def test_2d_hand_values():
    # 4x4 grid, 1 sample, 1 var, 1 time. Boundary = 12 of 16 cells (all but the 2x2 centre).
    true = torch.full((1, 1, 1, 4, 4), 2.0, dtype=F64)
    e = torch.zeros(1, 1, 1, 4, 4, dtype=F64)
    e[..., 1, 2] = 4.0  # interior cell only
    out = compute_metrics(true + e, true)
    assert out["brmse"] == 0.0
    assert out["rmse"] == pytest.approx(1.0)  # sqrt(16 / 16)
    assert out["nrmse"] == pytest.approx(0.5)  # 1 / rms(true) = 1 / 2
    assert out["crmse"] == pytest.approx(0.25)  # mean(e) = 4 / 16
    assert out["max_error"] == 4.0
    e.zero_()
    e[..., 0, 0] = 3.0  # one corner, counted once among 12 boundary cells
    out = compute_metrics(true + e, true)
    assert out["brmse"] == pytest.approx(math.sqrt(9 / 12))


def _pdebench_reference_1d(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """Independent re-derivation of PDEBench's 1D ``metric_func`` (single batch, L_x = 1).

    PDEBench layout is (batch, n_x, n_t, n_vars); we take channel-first input and permute.
    """
    p = pred.permute(0, 1, 3, 2)  # (b, v, x, t)
    y = true.permute(0, 1, 3, 2)
    e = p - y
    nx = e.shape[2]
    err = torch.sqrt(torch.mean(e**2, dim=2))  # (b, v, t)
    norm = torch.sqrt(torch.mean(y**2, dim=2))
    csv = torch.sqrt(torch.mean(torch.sum(e, dim=2) ** 2, dim=0)) / nx
    bd = torch.sqrt((e[:, :, 0] ** 2 + e[:, :, -1] ** 2) / 2)
    spec = torch.sqrt(torch.mean(torch.fft.rfft(e, dim=2).abs() ** 2, dim=0)) / nx  # (v, k, t)
    return {
        "rmse": float(err.mean()),
        "nrmse_frame": float((err / norm).mean()),
        "crmse": float(csv.mean()),
        "brmse": float(bd.mean()),
        "frmse_low": float(spec[:, :4].mean()),
        "frmse_mid": float(spec[:, 4:12].mean()),
        "frmse_high": float(spec[:, 12:].mean()),
    }


def test_matches_pdebench_definitions_1d():
    g = torch.Generator().manual_seed(3)
    true = torch.randn(5, 2, 6, 40, generator=g, dtype=F64)
    pred = true + 0.1 * torch.randn(5, 2, 6, 40, generator=g, dtype=F64)
    ours = compute_metrics(pred, true)
    ref = _pdebench_reference_1d(pred, true)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, rel=1e-12), key


def _split_strategy():
    return st.tuples(
        st.integers(1, 9),  # batch
        st.lists(st.integers(1, 8), min_size=0, max_size=6),  # split sizes (clipped below)
        st.sampled_from([(12,), (5, 6)]),
        st.integers(0, 2),  # skip_initial
        st.integers(0, 2**31 - 1),
    )


@settings(max_examples=40, deadline=None)
@given(_split_strategy())
def test_uneven_batches_equal_full_tensor(case):
    batch, sizes, space, skip, seed = case
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(batch, 2, 4, *space, generator=g, dtype=F64)
    pred = true + torch.randn(batch, 2, 4, *space, generator=g, dtype=F64) * 0.5
    full = RolloutMetrics(skip_initial=skip).update(pred, true)
    expected = full.compute()

    acc = RolloutMetrics(skip_initial=skip)
    start = 0
    for size in sizes:
        if start >= batch:
            break
        acc.update(pred[start : start + size], true[start : start + size])
        start += size
    if start < batch:
        acc.update(pred[start:], true[start:])
    assert acc.n_samples == batch
    got = acc.compute()
    for key in METRIC_KEYS:
        if math.isnan(expected[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key
    torch.testing.assert_close(acc.error_vs_time(), full.error_vs_time(), rtol=1e-12, atol=0)


def test_uneven_batches_not_mean_of_batch_means():
    # batch 1: one sample with nrmse 1; batch 2: three samples with nrmse 0.
    # mean over samples = 1/4; mean of per-batch means would be 1/2.
    true = torch.ones(4, 1, 1, 8, dtype=F64)
    pred = true.clone()
    pred[0] = 2.0
    acc = RolloutMetrics()
    acc.update(pred[:1], true[:1]).update(pred[1:], true[1:])
    assert acc.compute()["nrmse"] == pytest.approx(0.25)


def test_float32_input_close_to_float64():
    g = torch.Generator().manual_seed(4)
    true = torch.randn(3, 1, 4, 8, 8, generator=g, dtype=F64)
    pred = true + 0.2 * torch.randn(3, 1, 4, 8, 8, generator=g, dtype=F64)
    a = compute_metrics(pred, true)
    b = compute_metrics(pred.float(), true.float())
    for key in METRIC_KEYS:
        if not math.isnan(a[key]):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key


def test_shape_mismatch_message():
    a = torch.zeros(2, 1, 3, 8)
    with pytest.raises(ValueError, match=r"same shape.*\(2, 1, 3, 8\).*\(2, 1, 3, 9\)"):
        compute_metrics(a, torch.zeros(2, 1, 3, 9))


def test_wrong_ndim_message():
    with pytest.raises(ValueError, match="1D or"):
        compute_metrics(torch.zeros(2, 3, 8), torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="1D or"):
        compute_metrics(torch.zeros(1, 1, 2, 4, 4, 4), torch.zeros(1, 1, 2, 4, 4, 4))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("which", ["pred", "true"])
def test_nonfinite_input_message(bad, which):
    pred = torch.zeros(2, 1, 3, 8)
    true = torch.ones(2, 1, 3, 8)
    (pred if which == "pred" else true)[1, 0, 2, 5] = bad
    with pytest.raises(ValueError, match=f"{which} contains .*finite"):
        compute_metrics(pred, true)


def test_inconsistent_batches_and_bad_arguments():
    acc = RolloutMetrics().update(torch.zeros(2, 1, 3, 8), torch.ones(2, 1, 3, 8))
    with pytest.raises(ValueError, match="same \\(n_vars, n_t, \\*space\\)"):
        acc.update(torch.zeros(2, 1, 3, 16), torch.ones(2, 1, 3, 16))
    with pytest.raises(ValueError, match="skip_initial"):
        compute_metrics(torch.zeros(1, 1, 3, 8), torch.ones(1, 1, 3, 8), skip_initial=3)
    with pytest.raises(ValueError, match="no data"):
        RolloutMetrics().compute()
    with pytest.raises(ValueError, match="metric must be one of"):
        acc.error_vs_time("mae")
    with pytest.raises(ValueError, match="floating"):
        compute_metrics(torch.zeros(1, 1, 3, 8, dtype=torch.int64), torch.ones(1, 1, 3, 8))


def test_reset_forgets_batches():
    pred, true = _hand_case()
    acc = RolloutMetrics().update(pred * 3, true).reset().update(pred, true)
    assert acc.n_samples == 2
    assert acc.compute()["rmse"] == pytest.approx(HAND["rmse"])
