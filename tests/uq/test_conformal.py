"""Split-conformal intervals: the finite-sample quantile by hand, nominal coverage on held-out data
over repeated seeded splits (mean within 1.5 % of 1 - alpha, never below it by more than three
standard errors) around two real sciml surrogates — a bootstrap ensemble of linear models
behind :class:`SampledSurrogate` (a :class:`SamplePosterior`) and the GPyTorch
:class:`ExactGPField` — and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sciml.surrogates.posterior import DeterministicPosterior, GaussianPosterior
from sciml.surrogates.probconserv.gp_field import ExactGPField
from sciml.surrogates.probconserv.inputs import FieldInputs
from sciml.surrogates.sgmcmc.samples import SampledSurrogate, WeightSamples
from sciml.uq import SplitConformal, conformal_quantile
from sciml.uq.metrics import MetricInputError

SPLITS = 100


def test_conformal_quantile_is_the_ceil_rank():
    scores = np.arange(1.0, 20.0)  # n = 19
    assert conformal_quantile(scores, 0.1) == 18.0  # k = ceil(20 * 0.9) = 18
    assert conformal_quantile(scores[::-1], 0.2) == 16.0  # ceil(20 * 0.8) = 16
    assert conformal_quantile(np.arange(9.0), 0.1) == 8.0  # n = 9: k = ceil(9.0) = 9, the largest
    np.testing.assert_array_equal(conformal_quantile(np.arange(40.0).reshape(20, 2), 0.5, axis=0), [20.0, 21.0])
    with pytest.raises(MetricInputError, match="too few calibration points.*n = 8, need n >= 9"):
        conformal_quantile(np.arange(8.0), 0.1)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(MetricInputError, match=r"alpha .* must lie in \(0, 1\)"):
            conformal_quantile(scores, bad)


def _features(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x, x**2, x**3], dim=-1)


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, generator=g, dtype=torch.float64) - 1
    noise = (0.1 + 0.3 * x.abs()) * torch.randn(n, generator=g, dtype=torch.float64)  # heteroscedastic
    return _features(x), torch.sin(3 * x) + noise


def _ensemble(members: int = 8) -> SampledSurrogate:
    """Bootstrap least-squares fits of a cubic, as the weight samples of one ``nn.Linear``."""
    feats, y = _data(200, seed=0)
    design = torch.cat([feats, torch.ones(len(y), 1, dtype=torch.float64)], dim=1)
    g = torch.Generator().manual_seed(1)
    states = []
    for _ in range(members):
        idx = torch.randint(len(y), (len(y),), generator=g)
        coef = torch.linalg.lstsq(design[idx], y[idx, None]).solution[:, 0]
        states.append({"weight": coef[None, :3].clone(), "bias": coef[3:].clone()})
    model = nn.Linear(3, 1).double()
    samples = WeightSamples(states, list(range(members)), [0] * members)
    return SampledSurrogate(model, samples, output=lambda m, inputs: m(inputs)[:, 0])


def _split_coverages(conf: SplitConformal, feats: torch.Tensor, y: torch.Tensor, n_cal: int) -> np.ndarray:
    rng = np.random.default_rng(123)
    out = []
    for _ in range(SPLITS):
        perm = torch.as_tensor(rng.permutation(len(y)))
        cal, test = perm[:n_cal], perm[n_cal:]
        conf.calibrate(feats[cal], y[cal])
        out.append(conf.predict(feats[test]).coverage(y[test].numpy()))
    return np.asarray(out)


@pytest.mark.parametrize(("score", "alpha", "quantiles"), [("absolute", 0.1, "samples"), ("normalized", 0.1, "samples"),
                                                           ("cqr", 0.1, "samples"), ("cqr", 0.2, "gaussian")])
def test_nominal_coverage_around_an_ensemble(score, alpha, quantiles):
    surrogate = _ensemble()
    feats, y = _data(1000, seed=5)  # held-out pool: 200 calibration / 800 test points per split
    conf = SplitConformal(surrogate, alpha=alpha, score=score, quantiles=quantiles, n_samples=32)
    cov = _split_coverages(conf, feats, y, n_cal=200)
    se = cov.std(ddof=1) / math.sqrt(SPLITS)
    assert cov.mean() >= 1 - alpha - 3 * se
    assert abs(cov.mean() - (1 - alpha)) < 0.015
    raw = surrogate.predict(feats)  # the ensemble's own spread is far too narrow
    lo, hi = np.quantile(raw.draws.numpy(), [alpha / 2, 1 - alpha / 2], axis=0)
    assert np.mean((y.numpy() >= lo) & (y.numpy() <= hi)) < 0.5


def test_nominal_coverage_around_the_exact_gp_field():
    t, x = np.linspace(0, 1, 12), np.linspace(0, 1, 12)
    truth = lambda tt, xx: np.sin(2 * np.pi * xx) * np.exp(-tt)  # noqa: E731
    rng = np.random.default_rng(0)
    ctx = rng.uniform(0, 1, (1, 30, 2))
    ctx_y = truth(ctx[..., 0], ctx[..., 1]) + 0.05 * rng.standard_normal((1, 30))
    gp = ExactGPField((0.0, 1.0), (0.0, 1.0))  # default hyperparameters, not fitted: conformal fixes the scale
    inputs = FieldInputs(t, x, context_x=ctx, context_y=ctx_y)
    post = gp.predict(inputs)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    y = (truth(tt, xx) + 0.05 * rng.standard_normal(tt.shape))[None]  # noisy observations of the grid
    conf = SplitConformal(gp, alpha=0.1, score="normalized")
    cov = []
    for _ in range(4 * SPLITS):
        cal = rng.permutation(y.size)[: y.size // 2]
        mask = np.zeros(y.size, dtype=bool)
        mask[cal] = True
        mask = mask.reshape(y.shape)
        conf.calibrate_posterior(post, y, where=mask)
        cov.append(conf.intervals(post).coverage(y, where=~mask))
    cov = np.asarray(cov)
    se = cov.std(ddof=1) / math.sqrt(cov.size)
    assert cov.mean() >= 0.9 - 3 * se and abs(cov.mean() - 0.9) < 0.02
    assert conf.n_calibration_ == y.size // 2
    again = conf.predict(inputs)  # predict = intervals of surrogate.predict(inputs)
    np.testing.assert_allclose(again.lower, conf.intervals(post).lower)
    assert np.all(again.upper > again.lower)


def test_intervals_by_hand_and_per_entry_quantiles():
    mean = torch.zeros(10, 2)
    post = GaussianPosterior(mean, torch.full((10, 2), 4.0))
    y = np.column_stack([np.arange(10.0), -2 * np.arange(10.0)])
    absolute = SplitConformal(_Fixed(post), alpha=0.1).calibrate_posterior(post, y)
    # scores |y|: 0 0 1 2 2 3 4 4 5 6 6 7 8 8 9 10 12 14 16 18; k = ceil(21 * 0.9) = 19 -> 16
    assert absolute.quantile_ == 16.0 and absolute.n_calibration_ == 20
    iv = absolute.intervals(post)
    np.testing.assert_array_equal(iv.lower, -16.0 * np.ones((10, 2)))
    assert iv.width.mean() == 32.0
    normalized = SplitConformal(_Fixed(post), alpha=0.1, score="normalized").calibrate_posterior(post, y)
    assert normalized.quantile_ == 8.0  # scores |y| / 2
    per_entry = SplitConformal(_Fixed(post), alpha=0.1, pooled=False).calibrate_posterior(post, y)
    np.testing.assert_array_equal(per_entry.quantile_, [9.0, 18.0])  # k = ceil(11 * 0.9) = 10 of 10
    gauss = SplitConformal(_Fixed(post), alpha=0.1, score="cqr", quantiles="gaussian").calibrate_posterior(post, y)
    z = 1.6448536269514722
    assert gauss.quantile_ == pytest.approx(16.0 - 2 * z, rel=1e-12)  # max(lo - y, y - hi) = |y| - z std
    assert gauss.intervals(post).upper[0, 0] == pytest.approx(16.0, rel=1e-12)


class _Fixed:
    def __init__(self, post):
        self.post = post

    def predict(self, inputs):
        return self.post


def test_errors():
    post = GaussianPosterior(torch.zeros(5), torch.ones(5))
    with pytest.raises(MetricInputError, match="alpha"):
        SplitConformal(_Fixed(post), alpha=1.0)
    with pytest.raises(MetricInputError, match="score must be one of"):
        SplitConformal(_Fixed(post), score="studentized")
    with pytest.raises(MetricInputError, match="predict"):
        SplitConformal(object())
    conf = SplitConformal(_Fixed(post), alpha=0.1)
    with pytest.raises(MetricInputError, match="calibrate the conformal predictor"):
        conf.intervals(post)
    with pytest.raises(MetricInputError, match="too few calibration points"):
        conf.calibrate(None, np.zeros(5))
    with pytest.raises(MetricInputError, match="shape"):
        conf.calibrate(None, np.zeros(4))
    det = DeterministicPosterior(torch.zeros(20))
    with pytest.raises(MetricInputError, match="deterministic"):
        SplitConformal(_Fixed(det), score="normalized").calibrate(None, np.ones(20))
    ok = SplitConformal(_Fixed(det), score="cqr").calibrate(None, np.linspace(-1, 1, 20))
    assert ok.quantile_ == pytest.approx(1.0)  # deterministic quantiles: the absolute score
    with pytest.raises(MetricInputError, match="boolean mask"):
        SplitConformal(_Fixed(det)).calibrate(None, np.ones(20), where=np.ones(20))
