"""Attentive neural process and its ELBO / SoftC trainer.

Tiny ANPs (hidden 8-16) and a synthetic solution family ``u(t, x) = a sin(pi x) exp(-t)``
(random ``a`` per task, random context and target points) keep the file to a few seconds.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from sciml.errors import ConfigError, FileFormatError
from sciml.surrogates.probconserv.anp import (
    ANPInputError,
    ANPOutput,
    AttentiveNeuralProcess,
    kl_diag_gaussians,
)
from sciml.surrogates.probconserv.training import (
    ANPTrainConfig,
    beta_weighted_loss,
    ANPTrainer,
    BatchError,
    CheckpointError,
    TaskBatch,
    TrainingDivergedError,
    load_checkpoint,
    load_weights,
    mean_derivatives,
    pde_residual_penalty,
)
from sciml.surrogates.probconserv.update import conservation_update_samples

torch.set_num_threads(1)

SMALL = dict(hidden=8, latent_dim=4, n_heads=2, n_self_attention=1, n_cross_attention=1, mlp_layers=1)


def tiny_anp(seed: int = 0, **kwargs) -> AttentiveNeuralProcess:
    torch.manual_seed(seed)
    return AttentiveNeuralProcess(**{**SMALL, **kwargs})


def sine_batch(step: int, gen: torch.Generator, *, batch: int = 4, n_c: int = 10, n_t: int = 16,
               dtype: torch.dtype = torch.float32) -> TaskBatch:
    """Tasks ``u = a sin(pi x) exp(-t)``, ``a ~ U(0.5, 2)``, points uniform in ``[0, 1]^2``."""
    a = 0.5 + 1.5 * torch.rand(batch, 1, 1, generator=gen, dtype=dtype)
    cx = torch.rand(batch, n_c, 2, generator=gen, dtype=dtype)
    tx = torch.rand(batch, n_t, 2, generator=gen, dtype=dtype)

    def u(p: Tensor) -> Tensor:
        return a * torch.sin(math.pi * p[..., 1:2]) * torch.exp(-p[..., 0:1])

    return TaskBatch(cx, u(cx), tx, u(tx), params=a[:, :, 0])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _val(t: Tensor) -> float:
    return float(t.detach())


# =========================================================================== model
@pytest.mark.parametrize(("b", "n_c", "n_t"), [(1, 1, 1), (3, 5, 7), (2, 17, 4)])
def test_shapes_and_loss_parts(b: int, n_c: int, n_t: int) -> None:
    model = tiny_anp()
    data = sine_batch(0, _gen(b), batch=b, n_c=n_c, n_t=n_t)
    out = model(data.context_x, data.context_y, data.target_x, generator=_gen(1))
    assert out.mean.requires_grad
    assert isinstance(out, ANPOutput)
    assert out.mean.shape == out.variance.shape == (b, n_t, 1)
    assert out.z.shape == out.prior_mu.shape == (b, 4)
    assert out.loss is None and out.posterior_mu is None
    assert bool((out.variance > 0).all())

    with torch.no_grad():
        out = model(data.context_x, data.context_y, data.target_x, data.target_y, generator=_gen(1))
    assert out.loss.shape == ()
    assert torch.allclose(out.loss, out.nll + out.kl)
    assert out.kl_per_task.shape == (b,)
    assert torch.allclose(out.kl, out.kl_per_task.mean() / n_t)
    # nll = mean over targets of -log N(y | mean, variance)
    ref = -torch.distributions.Normal(out.mean, out.std).log_prob(data.target_y).mean()
    assert float(out.nll) == pytest.approx(float(ref), rel=1e-5, abs=1e-6)
    # min_std bounds the predictive standard deviation
    assert float(out.std.min()) >= model.min_std
    assert float(out.posterior_sigma.min()) >= 0.1 and float(out.posterior_sigma.max()) <= 1.0


def test_predict_mixture_moments_and_components() -> None:
    model = tiny_anp(dropout=0.2)
    data = sine_batch(0, _gen(0), batch=3, n_c=6, n_t=9)
    pred = model.predict_targets(data.context_x, data.context_y, data.target_x, n_samples=5, generator=_gen(3))
    assert pred.means.shape == pred.variances.shape == (5, 3, 9, 1)
    assert pred.mean.shape == pred.variance.shape == (3, 9, 1)
    assert pred.z.shape == (5, 3, 4) and pred.n_samples == 5
    direct_mean = pred.means.mean(0)
    direct_var = pred.variances.mean(0) + pred.means.var(0, unbiased=False)
    torch.testing.assert_close(pred.mean, direct_mean)
    torch.testing.assert_close(pred.variance, direct_var)
    assert bool((pred.variance > 0).all()) and bool((pred.variances > 0).all())
    assert float(pred.means.std(0).max()) > 0  # the latent draws differ
    # each component equals forward() with that latent (eval mode: no dropout)
    model.eval()
    for s in (0, 4):
        out = model(data.context_x, data.context_y, data.target_x, z=pred.z[s])
        torch.testing.assert_close(out.mean, pred.means[s])
        torch.testing.assert_close(out.variance, pred.variances[s])
    # chunking the targets changes nothing
    chunked = model.predict_targets(data.context_x, data.context_y, data.target_x, n_samples=5, generator=_gen(3),
                                    target_chunk=4)
    torch.testing.assert_close(chunked.means, pred.means)
    posterior = pred.to_posterior()
    assert posterior.mean.shape == (3, 9, 1)


@torch.no_grad()
def test_permutation_invariance_over_contexts() -> None:
    model = tiny_anp(seed=1, dropout=0.3).eval()
    data = sine_batch(0, _gen(5), batch=2, n_c=12, n_t=7)
    perm = torch.randperm(12, generator=_gen(6))
    cx_p, cy_p = data.context_x[:, perm], data.context_y[:, perm]
    for kwargs in ({"latent": "mean"}, {"z": torch.randn(2, 4, generator=_gen(7))}):
        a = model(data.context_x, data.context_y, data.target_x, **kwargs)
        b = model(cx_p, cy_p, data.target_x, **kwargs)
        assert float((a.mean - b.mean).abs().max()) < 1e-5
        assert float((a.variance - b.variance).abs().max()) < 1e-5
        assert float((a.prior_mu - b.prior_mu).abs().max()) < 1e-5
    # the same generator seed gives the same sample from the (invariant) prior
    a = model(data.context_x, data.context_y, data.target_x, generator=_gen(8))
    b = model(cx_p, cy_p, data.target_x, generator=_gen(8))
    assert float((a.mean - b.mean).abs().max()) < 1e-5
    # the context does matter
    c = model(data.context_x, data.context_y * 3.0, data.target_x, latent="mean")
    assert float((a.mean - c.mean).abs().max()) > 1e-4


def test_kl_closed_form_and_nonnegative() -> None:
    mu_q, s_q = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.5])
    mu_p, s_p = torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.5])
    # dim 0: 0.5 (1/4 - 1 - 2 log(1/2) + 1/4); dim 1: identical Gaussians -> 0
    expected = 0.5 * (0.25 - 1.0 + 2.0 * math.log(2.0) + 0.25)
    assert float(kl_diag_gaussians(mu_q, s_q, mu_p, s_p)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.4431471805599453)
    # agrees with torch.distributions on random cases, and is exactly 0 for equal Gaussians
    g = _gen(0)
    mq, mp = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    sq, sp = torch.rand(5, 3, generator=g) + 0.1, torch.rand(5, 3, generator=g) + 0.1
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mq, sq), torch.distributions.Normal(mp, sp))
    torch.testing.assert_close(kl_diag_gaussians(mq, sq, mp, sp), ref.sum(-1))
    assert float(kl_diag_gaussians(mq, sq, mq, sq).abs().max()) == 0.0
    # inside the model: KL(posterior || prior) per task, >= 0
    model = tiny_anp()
    data = sine_batch(0, _gen(1), batch=3)
    out = model(data.context_x, data.context_y, data.target_x, data.target_y, generator=_gen(2))
    torch.testing.assert_close(
        out.kl_per_task, kl_diag_gaussians(out.posterior_mu, out.posterior_sigma, out.prior_mu, out.prior_sigma)
    )
    assert bool((out.kl_per_task >= 0).all()) and float(out.kl.detach()) >= 0


def test_input_validation() -> None:
    model = tiny_anp()
    d = sine_batch(0, _gen(0), batch=2)
    with pytest.raises(ANPInputError, match=r"context_x must have shape \(B, N, x_dim\)"):
        model(d.context_x[..., :1], d.context_y, d.target_x)
    with pytest.raises(ANPInputError, match="batch size 1, but context_x has 2"):
        model(d.context_x, d.context_y, d.target_x[:1])
    with pytest.raises(ANPInputError, match="at least one task and one context point"):
        model(d.context_x[:, :0], d.context_y[:, :0], d.target_x)
    with pytest.raises(ANPInputError, match="context_y has 9 points but context_x has 10"):
        model(d.context_x, d.context_y[:, :9], d.target_x)
    bad = d.target_y.clone()
    bad[0, 3, 0] = float("nan")
    with pytest.raises(ANPInputError, match="target_y contains 1 NaN"):
        model(d.context_x, d.context_y, d.target_x, bad)
    with pytest.raises(ANPInputError, match="floating point"):
        model(d.context_x.long(), d.context_y, d.target_x)
    with pytest.raises(ANPInputError, match="n_samples"):
        model.predict_targets(d.context_x, d.context_y, d.target_x, n_samples=0)
    with pytest.raises(ANPInputError, match="z must have shape"):
        model(d.context_x, d.context_y, d.target_x, z=torch.zeros(2, 5))
    assert issubclass(ANPInputError, ValueError)
    with pytest.raises(ConfigError, match="n_heads"):
        AttentiveNeuralProcess(hidden=10, n_heads=4)
    with pytest.raises(ConfigError, match="min_std"):
        AttentiveNeuralProcess(**SMALL, min_std=0.0)
    with pytest.raises(ConfigError, match="activation"):
        AttentiveNeuralProcess(**SMALL, activation="sigmoid")


def test_eval_is_deterministic_and_dropout_off() -> None:
    model = tiny_anp(dropout=0.5)
    d = sine_batch(0, _gen(0), batch=2)
    p1 = model.predict_targets(d.context_x, d.context_y, d.target_x, n_samples=3, generator=_gen(11))
    p2 = model.predict_targets(d.context_x, d.context_y, d.target_x, n_samples=3, generator=_gen(11))
    assert torch.equal(p1.means, p2.means) and torch.equal(p1.variances, p2.variances)
    assert model.training  # predict() restores the mode
    model.eval()
    a = model(d.context_x, d.context_y, d.target_x, latent="mean")
    b = model(d.context_x, d.context_y, d.target_x, latent="mean")
    assert torch.equal(a.mean, b.mean)
    model.train()
    a = model(d.context_x, d.context_y, d.target_x, latent="mean")
    b = model(d.context_x, d.context_y, d.target_x, latent="mean")
    assert not torch.equal(a.mean, b.mean)  # dropout is active in training only
    # the latent draw is reproducible from the generator (no dropout)
    plain = tiny_anp()
    a = plain(d.context_x, d.context_y, d.target_x, d.target_y, generator=_gen(4))
    b = plain(d.context_x, d.context_y, d.target_x, d.target_y, generator=_gen(4))
    assert torch.equal(a.z, b.z) and torch.equal(a.loss, b.loss)


def test_predict_feeds_conservation_update_samples() -> None:
    """Targets on an (n_t x n_x) grid: per-sample update, then exact conservation of the mixture mean."""
    model = tiny_anp()
    d = sine_batch(0, _gen(0), batch=2)
    n_t, n_x = 3, 5
    t, x = torch.meshgrid(torch.linspace(0, 1, n_t), torch.linspace(0, 1, n_x), indexing="ij")
    grid = torch.stack([t, x], dim=-1).reshape(1, n_t * n_x, 2).expand(2, -1, -1)
    pred = model.predict_targets(d.context_x, d.context_y, grid, n_samples=4, generator=_gen(1))
    means = pred.means.reshape(4, 2, n_t, n_x)
    variances = pred.variances.reshape(4, 2, n_t, n_x)
    g = torch.full((1, n_x), 1.0 / n_x)
    b = torch.zeros(n_t, 1)
    out = conservation_update_samples(means, variances, g, b)
    assert float((out.mean @ g.T).abs().max()) < 1e-5
    assert out.variance.shape == (2, n_t, n_x)


# =========================================================================== SoftC penalty
class HeatStandIn(nn.Module):
    """Mean ``u = sin(pi x) exp(-rate t)`` (no parameters used): exact heat solution iff rate = k pi^2."""

    def __init__(self, rate: Tensor | float, kind: str = "heat") -> None:
        super().__init__()
        self.rate = rate
        self.kind = kind
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, context_x, context_y, target_x, target_y=None, *, generator=None):
        t, x = target_x[..., 0:1], target_x[..., 1:2]
        if self.kind == "poly":
            mean = t + x**2
        else:
            mean = torch.sin(math.pi * x) * torch.exp(-self.rate * t)
        return SimpleNamespace(mean=mean + 0 * self.dummy)


def heat_residual(u, u_t, u_x, u_xx, params):
    """``u_t - k u_xx`` with ``k = params[:, 0]`` per task."""
    return u_t - params[:, None, 0:1] * u_xx


def test_pde_residual_penalty_exact_and_wrong_solutions() -> None:
    d = sine_batch(0, _gen(0), batch=3, n_t=25, dtype=torch.float64)
    k = torch.tensor([[0.1], [0.2], [0.05]], dtype=torch.float64)
    batch = TaskBatch(d.context_x, d.context_y, d.target_x, d.target_y, params=k)
    # exact solution of u_t = k u_xx, per task
    exact = HeatStandIn(k[:, :, None] * math.pi**2)
    assert _val(pde_residual_penalty(exact, batch, heat_residual)) < 1e-20
    # u = t + x^2: u_t = 1, u_xx = 2 -> residual 1 - 2k at every point
    poly = HeatStandIn(0.0, kind="poly")
    expected = float(((1 - 2 * k) ** 2).mean())
    assert _val(pde_residual_penalty(poly, batch, heat_residual)) == pytest.approx(expected, rel=1e-12)
    # wrong decay rate 1: residual = (k pi^2 - 1) u
    wrong = HeatStandIn(1.0)
    t, x = batch.target_x[..., 0:1], batch.target_x[..., 1:2]
    u = torch.sin(math.pi * x) * torch.exp(-t)
    expected = float((((k[:, :, None] * math.pi**2 - 1) * u) ** 2).mean())
    got = _val(pde_residual_penalty(wrong, batch, heat_residual))
    assert got > 1e-3 and got == pytest.approx(expected, rel=1e-12)
    # a mapping works as a batch too, and a batch without target_x is refused
    as_dict = {"context_x": d.context_x, "context_y": d.context_y, "target_x": d.target_x, "params": k}
    assert _val(pde_residual_penalty(wrong, as_dict, heat_residual)) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(BatchError, match="no 'target_x'"):
        pde_residual_penalty(wrong, {"context_x": d.context_x, "context_y": d.context_y}, heat_residual)


def test_anp_derivatives_match_finite_differences_and_backprop() -> None:
    model = tiny_anp(activation="tanh").double().eval()
    d = sine_batch(0, _gen(0), batch=2, n_t=6, dtype=torch.float64)
    points = d.target_x.clone().requires_grad_(True)
    # the posterior latent (with target_y) must not leak target_x derivatives
    out = model(d.context_x, d.context_y, points, d.target_y, latent="mean")
    u_t, u_x, u_xx = mean_derivatives(out.mean, points)
    h = 1e-4

    def mean_at(p: Tensor) -> Tensor:
        return model(d.context_x, d.context_y, p, z=out.z).mean.detach()

    def shifted(col: int, delta: float) -> Tensor:
        p = d.target_x.clone()
        p[..., col] += delta
        return mean_at(p)

    u0 = mean_at(d.target_x)
    torch.testing.assert_close(u_t.detach(), (shifted(0, h) - shifted(0, -h)) / (2 * h), atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(u_x.detach(), (shifted(1, h) - shifted(1, -h)) / (2 * h), atol=1e-7, rtol=1e-5)
    fd_xx = (shifted(1, h) - 2 * u0 + shifted(1, -h)) / h**2
    torch.testing.assert_close(u_xx.detach(), fd_xx, atol=1e-5, rtol=1e-4)
    assert float(u_xx.detach().abs().max()) > 1e-4
    # the penalty is differentiable with respect to the weights (biases of the last layer drop
    # out of u_t - k u_xx, so only the weights are checked)
    model.train()
    penalty = pde_residual_penalty(model, d, heat_residual, generator=_gen(1))
    penalty.backward()
    grads = [p.grad for n, p in model.named_parameters() if n.endswith("weight")]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


# =========================================================================== training
def test_training_reduces_nll(tmp_path) -> None:
    model = tiny_anp(seed=0, hidden=16, latent_dim=8)
    held_out = [sine_batch(0, _gen(10_000 + i), batch=8, n_c=10, n_t=20) for i in range(4)]

    def eval_loss() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            outs = [model(b.context_x, b.context_y, b.target_x, b.target_y, generator=_gen(1)) for b in held_out]
            pred = [model(b.context_x, b.context_y, b.target_x, latent="mean").mean for b in held_out]
        model.train()
        mse = sum(float(((p - b.target_y) ** 2).mean()) for p, b in zip(pred, held_out, strict=True)) / 4
        return sum(float(o.loss) for o in outs) / 4, mse

    loss0, mse0 = eval_loss()
    cfg = ANPTrainConfig(steps=200, batch_size=8, lr=3e-3, seed=0, checkpoint_every=200, log_every=50)
    result = ANPTrainer(model, cfg, tmp_path).fit(lambda s, g: sine_batch(s, g, batch=8, n_c=10, n_t=20))
    loss1, mse1 = eval_loss()
    assert result.steps_completed == 200 and len(result.history) == 4
    assert loss1 < loss0 - 0.5, (loss0, loss1)
    assert mse1 < mse0 / 5, (mse0, mse1)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert load_checkpoint(tmp_path / "last.pt")["steps_completed"] == 200
    assert [r["step"] for r in rows] == [50, 100, 150, 200]
    first, last = rows[0], rows[-1]
    assert last["loss"] < first["loss"]
    for r in rows:
        assert r["loss"] == pytest.approx(r["nll"] + r["kl"], rel=1e-6, abs=1e-9)
        assert r["kl"] >= 0 and r["softc"] is None


def _fit_config(**kwargs) -> ANPTrainConfig:
    base = dict(steps=20, batch_size=4, lr=1e-2, seed=3, checkpoint_every=5, log_every=3)
    return ANPTrainConfig(**{**base, **kwargs})


def test_resume_is_bit_for_bit(tmp_path) -> None:
    straight = tiny_anp(seed=0, dropout=0.1)  # dropout: the global RNG state must be restored too
    r_straight = ANPTrainer(straight, _fit_config(), tmp_path / "a").fit(sine_batch)

    first = tiny_anp(seed=0, dropout=0.1)
    r1 = ANPTrainer(first, _fit_config(), tmp_path / "b").fit(sine_batch, stop_after_steps=10)
    assert r1.steps_completed == 10 and load_checkpoint(tmp_path / "b" / "last.pt")["steps_completed"] == 10
    torch.manual_seed(1234)  # disturb the global RNG between the two calls
    second = tiny_anp(seed=99, dropout=0.1)  # other initial weights: everything comes from last.pt
    r2 = ANPTrainer(second, _fit_config(), tmp_path / "b").fit(sine_batch, resume=True)
    assert r2.resumed_from_step == 10 and r2.steps_completed == 20

    s_a, s_b = straight.state_dict(), second.state_dict()
    assert s_a.keys() == s_b.keys()
    for key in s_a:
        assert torch.equal(s_a[key], s_b[key]), key

    def strip(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert strip(r2.history) == strip(r_straight.history)
    assert [h["step"] for h in r2.history] == [3, 6, 9, 12, 15, 18, 20]
    # resuming a finished run does nothing; a fresh fit on an existing run is refused
    again = ANPTrainer(second, _fit_config(), tmp_path / "b").fit(sine_batch, resume=True)
    assert again.steps_completed == 20
    with pytest.raises(CheckpointError, match="pass resume=True"):
        ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "b").fit(sine_batch)
    with pytest.raises(CheckpointError, match="lr: 0.01 -> 0.001"):
        ANPTrainer(tiny_anp(dropout=0.1), _fit_config(lr=1e-3, steps=30), tmp_path / "b").fit(sine_batch, resume=True)


def test_resume_on_other_data_is_refused(tmp_path) -> None:
    def shifted(step: int, gen: torch.Generator) -> TaskBatch:
        b = sine_batch(step, gen)
        return TaskBatch(b.context_x, b.context_y + 0.01, b.target_x, b.target_y + 0.01, params=b.params)

    ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "a").fit(sine_batch, stop_after_steps=5)
    with pytest.raises(CheckpointError, match="the training data changed since it was written"):
        ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "a").fit(shifted, resume=True)
    assert ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "a").fit(sine_batch, resume=True).resumed_from_step == 5
    # an explicit fingerprint of the data replaces that of the first batch
    ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "b").fit(sine_batch, stop_after_steps=5, data_fingerprint="v1")
    with pytest.raises(CheckpointError, match="training data changed"):
        ANPTrainer(tiny_anp(), _fit_config(), tmp_path / "b").fit(sine_batch, resume=True, data_fingerprint="v2")


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path) -> None:
    def exploding(step: int, gen: torch.Generator) -> TaskBatch:
        b = sine_batch(step, gen)
        if step >= 7:  # finite inputs, but (y - mean)^2 overflows float32
            return TaskBatch(b.context_x, b.context_y, b.target_x, b.target_y * 1e30)
        return b

    trainer = ANPTrainer(tiny_anp(), _fit_config(), tmp_path)
    with pytest.raises(TrainingDivergedError, match=r"loss is (inf|nan) at step 7 .*after 5 steps\) is kept"):
        trainer.fit(exploding)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["steps_completed"] == 5
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model_state"].values())
    # metrics.jsonl was written with that checkpoint: the records up to step 5 (log_every = 3)
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [3]


def test_checkpoint_of_another_model_is_refused(tmp_path) -> None:
    class OtherANP(AttentiveNeuralProcess):
        pass

    torch.manual_seed(0)
    other = OtherANP(**SMALL)
    ANPTrainer(other, _fit_config(steps=2), tmp_path).fit(sine_batch)
    with pytest.raises(CheckpointError, match=r"holds a .*OtherANP model, but the model given is a .*AttentiveNeural"):
        ANPTrainer(tiny_anp(), _fit_config(steps=4), tmp_path).fit(sine_batch, resume=True)
    with pytest.raises(CheckpointError, match="OtherANP"):
        load_weights(tiny_anp(), tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="another configuration .*hidden: 8 -> 16"):
        load_weights(OtherANP(**{**SMALL, "hidden": 16}), tmp_path / "last.pt")
    loaded = OtherANP(**SMALL)
    load_weights(loaded, tmp_path / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), other.state_dict().values(),
                                                 strict=True))
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "sciml.neural_pde.checkpoint", "model_state": {}}, foreign)
    with pytest.raises(FileFormatError, match="not a sciml ANP checkpoint"):
        load_weights(loaded, foreign)
    with pytest.raises(FileFormatError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_softc_training_and_config_errors(tmp_path) -> None:
    model = tiny_anp(activation="gelu")
    cfg = _fit_config(steps=3, softc_weight=0.5, log_every=1)
    result = ANPTrainer(model, cfg, tmp_path / "softc", pde_residual=heat_residual).fit(sine_batch)
    softc = [h["softc"] for h in result.history]
    assert len(softc) == 3 and all(s is not None and s > 0 and math.isfinite(s) for s in softc)
    for h in result.history:  # the logged loss is the whole objective
        assert h["loss"] == pytest.approx(h["nll"] + h["kl"] + 0.5 * h["softc"], rel=1e-6)

    with pytest.raises(ConfigError, match="needs a pde_residual"):
        ANPTrainer(model, cfg, tmp_path / "x")
    with pytest.raises(ConfigError, match="invalid ANP training configuration"):
        ANPTrainer(model, {"steps": 3, "epochs": 2}, tmp_path / "x")
    with pytest.raises(BatchError, match="2 task\\(s\\), but config.batch_size = 4"):
        ANPTrainer(model, _fit_config(), tmp_path / "y").fit(lambda s, g: sine_batch(s, g, batch=2))
    with pytest.raises(BatchError, match="step 0 .*no 'target_y'"):
        ANPTrainer(model, _fit_config(), tmp_path / "z").fit(
            lambda s, g: {k: v for k, v in vars(sine_batch(s, g)).items() if k != "target_y"}
        )
    nan_batch = sine_batch(0, _gen(0))
    nan_batch.context_y[0, 0, 0] = float("nan")
    with pytest.raises(ANPInputError, match="step 0 .*context_y contains 1 NaN"):
        ANPTrainer(model, _fit_config(), tmp_path / "w").fit(lambda s, g: nan_batch)


# =========================================================================== input normalisation
STEFAN_RANGE = ((0.0, 0.1), (0.0, 1.0))


def test_input_normalisation_is_applied_before_every_path() -> None:
    normed = tiny_anp(seed=0, input_range=STEFAN_RANGE)
    plain = tiny_anp(seed=0)
    # the same weights: the normalising model on raw inputs == the plain one on mapped inputs
    missing = plain.load_state_dict(normed.state_dict(), strict=False)
    assert missing.unexpected_keys == ["input_low", "input_high"] and not missing.missing_keys
    d = sine_batch(0, _gen(0), batch=3, n_t=7)
    scale = torch.tensor([0.1, 1.0])
    cx, tx = d.context_x * scale, d.target_x * scale  # t in [0, 0.1]
    cx_n, tx_n = 2 * d.context_x - 1, 2 * d.target_x - 1  # the same points mapped onto [-1, 1]^2
    torch.testing.assert_close(normed.normalize_inputs(tx), tx_n)
    torch.testing.assert_close(normed.normalize_inputs(torch.tensor([[0.0, 0.0], [0.1, 1.0]])),
                               torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    a = normed(cx, d.context_y, tx, d.target_y, latent="mean")
    b = plain(cx_n, d.context_y, tx_n, d.target_y, latent="mean")
    for name in ("mean", "variance", "prior_mu", "posterior_mu", "loss"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))
    pa = normed.predict_targets(cx, d.context_y, tx, n_samples=3, generator=_gen(2))
    pb = plain.predict_targets(cx_n, d.context_y, tx_n, n_samples=3, generator=_gen(2))
    torch.testing.assert_close(pa.means, pb.means)
    torch.testing.assert_close(normed.latent_distribution(cx, d.context_y),
                               plain.latent_distribution(cx_n, d.context_y))
    # without input_range nothing changes: no buffers, no config key (models of older versions)
    assert "input_range" not in plain.get_config() and "input_low" not in plain.state_dict()
    assert plain.normalize_inputs(tx) is tx


def test_input_normalisation_chain_rule_for_derivatives() -> None:
    model = tiny_anp(activation="tanh", input_range=((0.0, 0.1), (-1.0, 3.0))).double().eval()
    d = sine_batch(0, _gen(0), batch=2, n_t=5, dtype=torch.float64)
    raw = d.target_x * torch.tensor([0.1, 1.0], dtype=torch.float64)
    points = raw.clone().requires_grad_(True)
    out = model(d.context_x, d.context_y, points, latent="mean")
    u_t, u_x, _ = mean_derivatives(out.mean, points)
    h = 1e-6

    def shifted(col: int, delta: float) -> Tensor:
        p = raw.clone()
        p[..., col] += delta
        return model(d.context_x, d.context_y, p, z=out.z).mean.detach()

    torch.testing.assert_close(u_t.detach(), (shifted(0, h) - shifted(0, -h)) / (2 * h), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(u_x.detach(), (shifted(1, h) - shifted(1, -h)) / (2 * h), atol=1e-6, rtol=1e-5)


def test_input_range_config_roundtrip_and_validation() -> None:
    model = tiny_anp(input_range=STEFAN_RANGE).double()
    cfg = model.get_config()
    assert cfg["input_range"] == [[0.0, 0.1], [0.0, 1.0]]
    assert model.input_low.dtype == torch.float64  # buffers follow .double() / .to()
    rebuilt = AttentiveNeuralProcess(**cfg)
    assert rebuilt.get_config() == cfg
    assert json.loads(json.dumps(cfg)) == cfg
    for bad in ([(0.0, 1.0)], [(0.0, 1.0), (1.0, 1.0)], [(0.0, math.inf), (0.0, 1.0)], [(0.0, 1.0, 2.0), (0, 1)],
                "ab", 3):
        with pytest.raises(ConfigError, match="input_range must be"):
            AttentiveNeuralProcess(**SMALL, input_range=bad)


def test_input_range_saved_restored_and_checked_in_checkpoints(tmp_path) -> None:
    model = tiny_anp(seed=0, input_range=STEFAN_RANGE)
    ANPTrainer(model, _fit_config(steps=2), tmp_path / "normed").fit(sine_batch)
    ckpt = load_checkpoint(tmp_path / "normed" / "last.pt")
    assert ckpt["model_config"]["input_range"] == [[0.0, 0.1], [0.0, 1.0]]
    torch.testing.assert_close(ckpt["model_state"]["input_high"], torch.tensor([0.1, 1.0]))
    loaded = AttentiveNeuralProcess(**ckpt["model_config"])
    load_weights(loaded, tmp_path / "normed" / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    # a model without normalisation, or with another range, does not take these weights
    with pytest.raises(CheckpointError, match=r"input_range: \[\[0.0, 0.1\], \[0.0, 1.0\]\] -> None"):
        load_weights(tiny_anp(), tmp_path / "normed" / "last.pt")
    with pytest.raises(CheckpointError, match="input_range"):
        load_weights(tiny_anp(input_range=((0.0, 1.0), (0.0, 1.0))), tmp_path / "normed" / "last.pt")
    # a checkpoint without normalisation (as written before the option existed) is refused by a
    # normalising model, and loads into a plain one
    ANPTrainer(tiny_anp(seed=1), _fit_config(steps=2), tmp_path / "plain").fit(sine_batch)
    old = load_checkpoint(tmp_path / "plain" / "last.pt")
    assert "input_range" not in old["model_config"] and "input_low" not in old["model_state"]
    with pytest.raises(CheckpointError, match=r"input_range: None -> \[\[0.0, 0.1\], \[0.0, 1.0\]\]"):
        load_weights(tiny_anp(input_range=STEFAN_RANGE), tmp_path / "plain" / "last.pt")
    load_weights(tiny_anp(), tmp_path / "plain" / "last.pt")
    with pytest.raises(RuntimeError, match="Missing key.*input_low"):
        tiny_anp(input_range=STEFAN_RANGE).load_state_dict(old["model_state"])


# =========================================================================== learning-rate schedule
def test_lr_schedule_values() -> None:
    const = _fit_config(steps=10)
    assert [const.lr_at(k) for k in range(10)] == [1e-2] * 10
    warm = _fit_config(steps=10, warmup_steps=4)
    assert warm.lr_at(0) == pytest.approx(2.5e-3) and warm.lr_at(3) == pytest.approx(1e-2)
    assert warm.lr_at(9) == pytest.approx(1e-2)
    cos = _fit_config(steps=11, lr_schedule="cosine", warmup_steps=1)
    lrs = [cos.lr_at(k) for k in range(11)]
    assert lrs[0] == pytest.approx(1e-2) and lrs[1] == pytest.approx(1e-2)
    assert lrs[6] == pytest.approx(5e-3) and 0 < lrs[10] < 0.03 * 1e-2
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))
    with pytest.raises(ConfigError, match="warmup_steps"):
        ANPTrainer(tiny_anp(), {**_fit_config().model_dump(), "warmup_steps": 20}, "unused")
    with pytest.raises(ConfigError, match="lr_schedule"):
        ANPTrainer(tiny_anp(), {**_fit_config().model_dump(), "lr_schedule": "linear"}, "unused")


def test_lr_schedule_is_applied_and_resumable(tmp_path) -> None:
    cfg = _fit_config(lr_schedule="cosine", warmup_steps=2)
    straight = tiny_anp(seed=0)
    ANPTrainer(straight, cfg, tmp_path / "a").fit(sine_batch)
    first = tiny_anp(seed=0)
    ANPTrainer(first, cfg, tmp_path / "b").fit(sine_batch, stop_after_steps=7)
    opt_state = load_checkpoint(tmp_path / "b" / "last.pt")["optimizer_state"]
    assert opt_state["param_groups"][0]["lr"] == pytest.approx(cfg.lr_at(6))
    second = tiny_anp(seed=5)
    ANPTrainer(second, cfg, tmp_path / "b").fit(sine_batch, resume=True)
    for (key, a), b in zip(straight.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    # a constant-rate run differs from the cosine one
    const = tiny_anp(seed=0)
    ANPTrainer(const, _fit_config(), tmp_path / "c").fit(sine_batch)
    assert not torch.equal(const.decoder[0].weight, straight.decoder[0].weight)
    # the cosine decay is laid out over `steps`: changing it on resumption is refused
    ANPTrainer(tiny_anp(seed=0), cfg, tmp_path / "d").fit(sine_batch, stop_after_steps=5)
    with pytest.raises(CheckpointError, match="steps: 20 -> 30"):
        ANPTrainer(tiny_anp(seed=0), cfg.model_copy(update={"steps": 30}), tmp_path / "d").fit(sine_batch,
                                                                                               resume=True)


def test_runs_from_before_the_schedule_resume_with_a_constant_rate(tmp_path) -> None:
    ANPTrainer(tiny_anp(seed=0), _fit_config(), tmp_path).fit(sine_batch, stop_after_steps=5)
    path = tmp_path / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    for key in ("lr_schedule", "warmup_steps", "nll_beta"):
        del ckpt["train_config"][key]
    torch.save(ckpt, path)
    result = ANPTrainer(tiny_anp(seed=0), _fit_config(), tmp_path).fit(sine_batch, resume=True)
    assert result.steps_completed == 20
    with pytest.raises(CheckpointError, match="lr_schedule: 'constant' -> 'cosine'"):
        ANPTrainer(tiny_anp(seed=0), _fit_config(steps=30, lr_schedule="cosine"), tmp_path).fit(sine_batch,
                                                                                                resume=True)


def test_state_dict_with_another_input_range_is_refused() -> None:
    a = tiny_anp(input_range=STEFAN_RANGE)
    b = tiny_anp(input_range=((0.0, 1.0), (0.0, 1.0)))
    with pytest.raises(RuntimeError, match="input normalisation range"):
        b.load_state_dict(a.state_dict())
    tiny_anp(input_range=STEFAN_RANGE).load_state_dict(a.state_dict())


# =========================================================================== beta-NLL
def test_beta_weighted_loss_values_and_gradient_balance() -> None:
    model = tiny_anp(seed=0)
    d = sine_batch(0, _gen(0), batch=2, n_t=5)
    out = model(d.context_x, d.context_y, d.target_x, d.target_y, generator=_gen(1))
    torch.testing.assert_close(beta_weighted_loss(out, d.target_y, 0.0), out.loss)

    # gradient with respect to the means: (mu - y) / sigma^(2 - 2 beta), up to the common normalisation
    mean = torch.tensor([[[0.0], [0.0]]], requires_grad=True)
    var = torch.tensor([[[1e-4], [1e-1]]])
    y = torch.tensor([[[1.0], [1.0]]])
    for beta, expected in ((0.0, 1e3), (0.5, math.sqrt(1e3)), (1.0, 1.0)):
        fake = SimpleNamespace(mean=mean, variance=var, kl=torch.tensor(0.0))
        (grad,) = torch.autograd.grad(beta_weighted_loss(fake, y, beta), mean)
        assert float(grad[0, 0, 0] / grad[0, 1, 0]) == pytest.approx(expected, rel=1e-5), beta
    # the weights carry no gradient: the variance's stationary point is still (mu - y)^2
    v = torch.tensor([[[0.3]]], requires_grad=True)
    fake = SimpleNamespace(mean=torch.zeros(1, 1, 1), variance=v, kl=torch.tensor(0.0))
    (gv,) = torch.autograd.grad(beta_weighted_loss(fake, torch.full((1, 1, 1), math.sqrt(0.3)), 0.5), v)
    assert abs(float(gv)) < 1e-6


def test_trainer_with_beta_nll(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nll_beta"):
        ANPTrainer(tiny_anp(), {**_fit_config().model_dump(), "nll_beta": 1.5}, "unused")
    model = tiny_anp(seed=0)
    result = ANPTrainer(model, _fit_config(steps=6, nll_beta=0.5, log_every=2), tmp_path).fit(sine_batch)
    assert result.steps_completed == 6
    assert any(abs(r["loss"] - (r["nll"] + r["kl"])) > 1e-6 for r in result.history)
    plain = tiny_anp(seed=0)
    ANPTrainer(plain, _fit_config(steps=6, log_every=2), tmp_path / "plain").fit(sine_batch)
    assert not torch.equal(plain.decoder[0].weight, model.decoder[0].weight)
