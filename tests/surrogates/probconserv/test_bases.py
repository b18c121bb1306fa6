"""Base field models of ProbConserv: exact GP, FNO ensemble, MC-dropout FNO."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS
from sciml.surrogates.base import Surrogate
from sciml.surrogates.probconserv import (
    ExactGPField,
    FieldFNO,
    FieldInputError,
    FieldInputs,
    FieldPosterior,
    FNOEnsembleField,
    FNOTrainConfig,
    MCDropoutField,
)
from sciml.surrogates.probconserv.field_fno import MCDropout, mc_dropout

TINY_FNO = FNOTrainConfig(steps=20, batch_size=8, width=4, modes=4, n_layers=2, proj_hidden=8, pad=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# =========================================================================== helpers
def set_gp_hypers(gp: ExactGPField, *, ls=(0.3, 0.5), outputscale=0.7, noise=1e-4, mean=0.2) -> None:
    m = gp.model
    m.covar_module.base_kernel.lengthscale = torch.tensor([ls], dtype=torch.float64)
    m.covar_module.outputscale = torch.tensor(outputscale, dtype=torch.float64)
    m.likelihood.noise = torch.tensor(noise, dtype=torch.float64)
    m.mean_module.constant = torch.tensor(mean, dtype=torch.float64)


def heat_contexts(n_fun: int, n_c: int, grid=(6, 7), seed=0, p=2.0):
    pr = CONSERVATION_PROBLEMS["heat"]
    rng = np.random.default_rng(seed)
    batch = pr.sample_batch(np.full(n_fun, p), n_context=n_c, n_target=1, rng=rng, grid=grid, dtype=torch.float64)
    t, x = pr.target_grid(*grid)
    return pr, t, x, batch


def numpy_gp_reference(t, x, cx, cy, *, t_range, x_range, ls, outputscale, noise, mean):
    """Dense Gaussian conditioning on the whole grid in numpy: mean (n_t, n_x), cov (N, N)."""
    def scale(p):
        return np.stack([(p[:, 0] - t_range[0]) / (t_range[1] - t_range[0]),
                         (p[:, 1] - x_range[0]) / (x_range[1] - x_range[0])], axis=1)

    tt, xx = np.meshgrid(t, x, indexing="ij")
    g = scale(np.stack([tt.ravel(), xx.ravel()], axis=1))
    c = scale(cx)

    def k(a, b):
        d = (a[:, None, :] - b[None, :, :]) / np.asarray(ls)
        return outputscale * np.exp(-0.5 * (d**2).sum(-1))

    kcc = k(c, c) + noise * np.eye(len(c))
    kgc = k(g, c)
    mu = mean + kgc @ np.linalg.solve(kcc, cy - mean)
    cov = k(g, g) - kgc @ np.linalg.solve(kcc, kgc.T)
    return mu.reshape(t.size, x.size), cov


def tiny_field_data(name="heat", grid=(5, 16), n_params=6, seed=0):
    pr = CONSERVATION_PROBLEMS[name]
    rng = np.random.default_rng(seed)
    ps = pr.sample_params(n_params, rng)
    t, x = pr.target_grid(*grid)
    return pr, ps, t, x, pr.solution_on_grid(ps, t, x)


# =========================================================================== exact GP
def test_gp_posterior_equals_numpy_gaussian_conditioning():
    pr, t, x, batch = heat_contexts(2, 9)
    gp = ExactGPField(pr.t_range, pr.x_range)
    hyp = dict(ls=(0.3, 0.5), outputscale=0.7, noise=1e-4, mean=0.2)
    set_gp_hypers(gp, **hyp)
    pred = gp.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y))
    assert pred.cov_kind == "dense"
    assert pred.mean.shape == (2, t.size, x.size) and pred.cov.shape == (2, t.size, x.size, x.size)
    assert pred.mean.dtype == torch.float64
    for j in range(2):
        mu, cov = numpy_gp_reference(t, x, batch.context_x[j].numpy(), batch.context_y[j, :, 0].numpy(),
                                     t_range=pr.t_range, x_range=pr.x_range, **hyp)
        np.testing.assert_allclose(pred.mean[j].numpy(), mu, rtol=0, atol=1e-10)
        for i in range(t.size):  # the per-time blocks of the joint covariance
            block = cov[i * x.size:(i + 1) * x.size, i * x.size:(i + 1) * x.size]
            np.testing.assert_allclose(pred.cov[j, i].numpy(), block, rtol=0, atol=1e-10)
        np.testing.assert_allclose(pred.variance[j].numpy(), np.diag(cov).reshape(t.size, x.size).clip(0),
                                   rtol=0, atol=1e-10)
    assert bool((pred.variance >= 0).all())


def test_gp_conservation_update_exact_and_variance_not_increased():
    pr, t, x, batch = heat_contexts(3, 12, grid=(5, 9), seed=1)
    gp = ExactGPField(pr.t_range, pr.x_range)
    set_gp_hypers(gp)
    pred = gp.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y))
    G, b_fn = pr.constraint(t, x)
    b = b_fn([2.0])[0]
    ce_before = np.abs(np.einsum("btx,cx->btc", pred.mean.numpy(), G) - b).max()
    assert ce_before > 1e-3  # the GP alone does not conserve
    upd = pred.conserve(G, b)
    ce = np.abs(np.einsum("btx,cx->btc", upd.mean.numpy(), G) - b).max()
    assert ce < 1e-12
    assert bool((upd.variance <= pred.variance + 1e-15).all())
    assert float((pred.variance - upd.variance).sum()) > 0  # and strictly decreased somewhere
    # the dense updated covariance has G Sigma~ G^T = 0 (no uncertainty left in the mass)
    gsg = torch.einsum("cx,btxy,dy->btcd", torch.as_tensor(G), upd.cov, torch.as_tensor(G))
    assert float(gsg.abs().max()) < 1e-12
    hard = pred.conserve(G, b, hard=True)
    assert np.abs(np.einsum("btx,cx->btc", hard.mean.numpy(), G) - b).max() < 1e-12
    torch.testing.assert_close(hard.variance, pred.variance)


def test_gp_fit_on_training_functions_increases_likelihood_and_per_function_refits():
    pr = CONSERVATION_PROBLEMS["heat"]
    rng = np.random.default_rng(3)
    tb = pr.sample_batch(pr.sample_params(4, rng), n_context=30, n_target=1, rng=rng, grid=(11, 11),
                         dtype=torch.float64)
    gp = ExactGPField(pr.t_range, pr.x_range, train_steps=40).fit(tb.context_x, tb.context_y)
    assert gp.fitted and len(gp.history) == 40
    assert gp.history[-1] < gp.history[0] - 1.0  # negative summed log marginal likelihood went down
    before = gp.hyperparameters()
    _, t, x, batch = heat_contexts(1, 30, grid=(5, 6), seed=4)
    shared = gp.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y))
    gp_pf = ExactGPField(pr.t_range, pr.x_range, hyper="per_function", refit_steps=5)
    gp_pf.model.load_state_dict(gp.model.state_dict())
    refit = gp_pf.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y))
    assert gp.hyperparameters() == before  # prediction does not change the shared hyperparameters
    assert gp_pf.hyperparameters() == pytest.approx(before)  # refits happen on a copy
    assert not torch.allclose(shared.mean, refit.mean, atol=1e-8)


def test_gp_bad_inputs():
    pr, t, x, batch = heat_contexts(2, 5)
    gp = ExactGPField(pr.t_range, pr.x_range)
    cy = batch.context_y.clone()
    cy[1, 2, 0] = float("nan")
    with pytest.raises(FieldInputError, match="context_y contains 1 NaN"):
        gp.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=cy))
    with pytest.raises(FieldInputError, match="context_x must have shape"):
        gp.predict(FieldInputs(t, x, context_x=batch.context_x[..., :1], context_y=batch.context_y))
    with pytest.raises(FieldInputError, match="context_y must have shape"):
        gp.predict(FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y[:, :3]))
    with pytest.raises(FieldInputError, match="pass context_x"):
        gp.predict(FieldInputs(t, x))
    with pytest.raises(FieldInputError, match="strictly increasing"):
        gp.predict(FieldInputs(t[::-1], x, context_x=batch.context_x, context_y=batch.context_y))
    with pytest.raises(FieldInputError, match="NaN"):
        gp.predict(FieldInputs(t, np.r_[x[:-1], np.nan], context_x=batch.context_x, context_y=batch.context_y))
    with pytest.raises(ConfigError):
        ExactGPField(pr.t_range, pr.x_range, hyper="bogus")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ExactGPField((1.0, 0.0), pr.x_range)
    assert issubclass(FieldInputError, SciMLError) and issubclass(FieldInputError, ValueError)


# =========================================================================== posterior container
def test_field_posterior_lowrank_cov_at_and_at_times():
    rng = np.random.default_rng(0)
    f = torch.as_tensor(rng.normal(size=(2, 3, 4, 5)))
    d = torch.as_tensor(rng.uniform(0.1, 1, size=(2, 3, 4)))
    mean = torch.as_tensor(rng.normal(size=(2, 3, 4)))
    pred = FieldPosterior(mean, d + (f * f).sum(-1), "lowrank", (f, d))
    dense = pred.cov_at(1)
    torch.testing.assert_close(dense, f[:, 1] @ f[:, 1].transpose(-1, -2) + torch.diag_embed(d[:, 1]))
    sub = pred.at_times(1)
    assert sub.mean.shape == (2, 1, 4) and sub.cov[0].shape == (2, 1, 4, 5)
    # the low-rank update equals the dense update of the same covariance
    G = np.full((1, 4), 0.25)
    b = np.ones((3, 1))
    dense_pred = FieldPosterior(mean, pred.variance, "dense",
                                 torch.stack([pred.cov_at(i) for i in range(3)], dim=1))
    lo, de = pred.conserve(G, b), dense_pred.conserve(G, b)
    torch.testing.assert_close(lo.mean, de.mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(lo.variance, de.variance, rtol=0, atol=1e-12)
    with pytest.raises(FieldInputError):
        FieldPosterior(mean, d[:, :2], "diag", d[:, :2])
    with pytest.raises(FieldInputError):
        FieldPosterior(mean, pred.variance, "full", None)  # type: ignore[arg-type]


def test_protocol_is_satisfied():
    pr = CONSERVATION_PROBLEMS["heat"]
    for fld in (ExactGPField(pr.t_range, pr.x_range),
                FNOEnsembleField(pr.train_range, pr.t_range, config=TINY_FNO),
                MCDropoutField(pr.train_range, pr.t_range, config=TINY_FNO)):
        assert isinstance(fld, Surrogate)


# =========================================================================== FNO ensemble
def test_ensemble_of_identical_members_has_only_the_head_variance():
    pr, ps, t, x, u = tiny_field_data()
    for head in (False, True):
        cfg = TINY_FNO.model_copy(update={"steps": 2, "variance_head": head})
        ens = FNOEnsembleField(pr.train_range, pr.t_range, n_members=3, config=cfg).fit(ps, t, x, u, seed=0)
        for m in ens.members[1:]:
            m.load_state_dict(ens.members[0].state_dict())
        pred = ens.predict(FieldInputs(t, x, params=[2.0, 4.0]))
        factor, diag = pred.cov
        assert pred.cov_kind == "lowrank" and factor.shape == (2, t.size, x.size, 3)
        assert float(factor.abs().max()) == 0.0
        torch.testing.assert_close(pred.variance, diag, rtol=0, atol=0)
        inputs = ens._inputs(torch.tensor([2.0, 4.0], dtype=torch.float64), torch.as_tensor(t), torch.as_tensor(x))
        with torch.no_grad():
            mu0, var0 = ens.members[0](inputs)
        torch.testing.assert_close(pred.mean, mu0.to(torch.float64).reshape(2, t.size, x.size))
        if head:
            torch.testing.assert_close(pred.variance, var0.to(torch.float64).reshape(2, t.size, x.size))
        else:
            assert float((pred.variance - cfg.min_variance).abs().max()) == 0.0


def test_ensemble_moments_are_those_of_the_member_mixture():
    pr, ps, t, x, u = tiny_field_data()
    ens = FNOEnsembleField(pr.train_range, pr.t_range, n_members=3, config=TINY_FNO).fit(ps, t, x, u, seed=5)
    pred = ens.predict(FieldInputs(t, x, params=np.array([[3.0]])))
    inputs = ens._inputs(torch.tensor([3.0], dtype=torch.float64), torch.as_tensor(t), torch.as_tensor(x))
    with torch.no_grad():
        outs = [m(inputs) for m in ens.members]
    mus = torch.stack([o[0] for o in outs]).to(torch.float64).reshape(3, 1, t.size, x.size)
    vs = torch.stack([o[1] for o in outs]).to(torch.float64).reshape(3, 1, t.size, x.size)
    torch.testing.assert_close(pred.mean, mus.mean(0))
    torch.testing.assert_close(pred.variance, vs.mean(0) + mus.var(0, unbiased=False))
    assert float(pred.variance.min()) > 0
    # members differ (own seeds), training reduced each member's loss
    assert not torch.allclose(mus[0], mus[1])
    for h in ens.histories:
        assert np.mean(h[-5:]) < np.mean(h[:5])
    # deterministic: same seed, same members
    again = FNOEnsembleField(pr.train_range, pr.t_range, n_members=3, config=TINY_FNO).fit(ps, t, x, u, seed=5)
    torch.testing.assert_close(again.predict(FieldInputs(t, x, params=[3.0])).mean, pred.mean, rtol=0, atol=0)


def test_fno_field_bad_inputs():
    pr, ps, t, x, u = tiny_field_data()
    ens = FNOEnsembleField(pr.train_range, pr.t_range, n_members=1, config=TINY_FNO)
    with pytest.raises(FieldInputError, match="before predict"):
        ens.predict(FieldInputs(t, x, params=[2.0]))
    with pytest.raises(FieldInputError, match="must have shape"):
        ens.fit(ps, t, x, u[:, :-1])
    bad = u.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(FieldInputError, match="infinite"):
        ens.fit(ps, t, x, bad)
    ens.fit(ps, t, x, u)
    with pytest.raises(FieldInputError, match="pass params"):
        ens.predict(FieldInputs(t, x))
    with pytest.raises(FieldInputError, match="params contains 1 NaN"):
        ens.predict(FieldInputs(t, x, params=[2.0, float("nan")]))
    with pytest.raises(FieldInputError, match="params must have shape"):
        ens.predict(FieldInputs(t, x, params=np.ones((2, 2))))
    with pytest.raises(ConfigError):
        FNOEnsembleField(pr.train_range, pr.t_range, n_members=0)
    with pytest.raises(ConfigError):
        MCDropoutField(pr.train_range, pr.t_range, p_drop=1.0)
    with pytest.raises(ConfigError):
        FieldFNO(width=0)


# =========================================================================== MC dropout
def test_mc_dropout_module_semantics():
    torch.manual_seed(0)
    drop = MCDropout(0.5)
    z = torch.ones(4, 6, 10)
    drop.eval()
    assert drop(z) is z  # eval, mc off: identity
    drop.mc = True
    out = drop(z)
    assert set(torch.unique(out).tolist()) <= {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert bool((out == out[..., :1]).all())  # channelwise: one mask value per (sample, channel)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    drop.generator = g1
    a = drop(z)
    drop.generator = g2
    torch.testing.assert_close(a, drop(z))  # reproducible from the generator
    drop.mc = False
    drop.train()
    assert not torch.equal(drop(z), z)  # ordinary dropout in train mode (P(all 24 channels kept) = 2^-24)
    elementwise = MCDropout(0.5, channelwise=False)
    elementwise.mc = True
    assert not bool((elementwise(z) == elementwise(z)[..., :1]).all())
    with pytest.raises(ConfigError):
        MCDropout(-0.1)


def test_mc_dropout_inference_is_eval_with_only_dropout_random():
    pr, ps, t, x, u = tiny_field_data()
    mc = MCDropoutField(pr.train_range, pr.t_range, p_drop=0.3, n_passes=8, config=TINY_FNO).fit(ps, t, x, u)
    net = mc.net
    assert not net.training  # fit leaves the network in eval mode
    seen: dict[str, list[bool]] = {"lift": [], "drop_active": []}
    h1 = net.lift.register_forward_pre_hook(lambda m, a: seen["lift"].append(m.training))
    h2 = net.drops[0].register_forward_pre_hook(lambda m, a: seen["drop_active"].append(m.active))
    pred = mc.predict(FieldInputs(t, x, params=[2.5], seed=torch.Generator().manual_seed(1)))
    h1.remove()
    h2.remove()
    assert seen["lift"] == [False] * 8  # every non-dropout module ran in eval mode
    assert seen["drop_active"] == [True] * 8  # the dropout layers were random
    assert not net.training and all(not m.training for m in net.modules())  # .eval() restored
    assert all(not d.mc and d.generator is None for d in net.modules() if isinstance(d, MCDropout))
    factor, _ = pred.cov
    assert pred.cov_kind == "lowrank" and factor.shape[-1] == 8 and float(factor.abs().max()) > 0
    # reproducible from the generator, different for another one
    again = mc.predict(FieldInputs(t, x, params=[2.5], seed=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(again.mean, pred.mean, rtol=0, atol=0)
    other = mc.predict(FieldInputs(t, x, params=[2.5], seed=torch.Generator().manual_seed(2)))
    assert not torch.allclose(other.mean, pred.mean)
    # after predict a plain forward pass is deterministic again
    inputs = mc._inputs(torch.tensor([2.5], dtype=torch.float64), torch.as_tensor(t), torch.as_tensor(x))
    with torch.no_grad():
        torch.testing.assert_close(net(inputs)[0], net(inputs)[0], rtol=0, atol=0)
    # a network that was in train mode is put back in train mode
    net.train()
    mc.predict(FieldInputs(t, x, params=[2.5]))
    assert net.training and all(m.training for m in net.modules())
    net.eval()


def test_mc_dropout_without_dropout_has_no_pass_variance():
    pr, ps, t, x, u = tiny_field_data()
    mc = MCDropoutField(pr.train_range, pr.t_range, p_drop=0.0, n_passes=4, config=TINY_FNO).fit(ps, t, x, u)
    pred = mc.predict(FieldInputs(t, x, params=[2.0, 3.0]))
    assert float(pred.cov[0].abs().max()) == 0.0
    torch.testing.assert_close(pred.variance, pred.cov[1], rtol=0, atol=0)


def test_mc_dropout_context_restores_on_error():
    net = FieldFNO(width=4, modes=4, n_layers=2, proj_hidden=8, pad=2, dropout=0.2)
    net.train()
    with pytest.raises(RuntimeError), mc_dropout(net):
        assert not net.training
        raise RuntimeError("boom")
    assert net.training and all(not d.mc for d in net.modules() if isinstance(d, MCDropout))


@pytest.mark.parametrize("name", ["heat", "stefan"])
def test_fno_field_conservation_update_on_lowrank_prediction(name):
    pr, ps, t, x, u = tiny_field_data(name, grid=(6, 17))
    ens = FNOEnsembleField(pr.train_range, pr.t_range, n_members=2, config=TINY_FNO).fit(ps, t, x, u, seed=1)
    p = pr.test_values[0]
    pred = ens.predict(FieldInputs(t, x, params=[p]))
    G, b_fn = pr.constraint(t, x)
    b = b_fn([p])[0]
    upd = pred.conserve(G, b)
    assert np.abs(np.einsum("btx,cx->btc", upd.mean.numpy(), G) - b).max() < 1e-10
    assert bool((upd.variance <= pred.variance + 1e-15).all())
    assert math.isfinite(float(upd.mean.sum()))
