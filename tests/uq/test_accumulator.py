"""The one metric accumulator: running sums, per-sample values, maxima."""

from __future__ import annotations

import math

import pytest
import torch

from sciml.uq.accumulator import MetricAccumulator, mean_and_se


def test_sums_over_uneven_batches_equal_the_sum_over_the_whole():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    acc = MetricAccumulator()
    for part in (x[:2], x[2:3], x[3:]):
        acc.add_sum("a", part)
    torch.testing.assert_close(acc.sum("a"), x.sum(0), rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(acc.mean("a"), x.mean(0), rtol=1e-15, atol=1e-15)
    assert acc.count("a") == 7


def test_values_keep_their_order_and_give_mean_and_standard_error():
    acc = MetricAccumulator()
    acc.add_values("ll", [1.0, 2.0])
    acc.add_values("ll", (4.0,))
    assert acc.values("ll") == [1.0, 2.0, 4.0] and acc.count("ll") == 3
    mean, se = acc.summary("ll")
    assert mean == pytest.approx(7 / 3, rel=1e-15)
    # std with ddof 1 of (1, 2, 4): sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3)
    assert se == pytest.approx(math.sqrt(7 / 3) / math.sqrt(3), rel=1e-14)
    assert math.isnan(mean_and_se([2.0])[1])


def test_maxima_and_missing_keys():
    acc = MetricAccumulator()
    for v in (0.5, 3.0, -1.0):
        acc.add_max("err", v)
    assert acc.max("err") == 3.0 and acc.has("err") and not acc.has("rmse")
    with pytest.raises(KeyError, match=r"nothing accumulated under 'rmse'; accumulated: \[\]"):
        acc.mean("rmse")
    with pytest.raises(ValueError, match="no values"):
        mean_and_se([])
