"""The ProbConserv update layer: exact Gaussian conditioning on G u = b."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from sciml.errors import SciMLError
from sciml.surrogates.probconserv import (
    ConservationInputError,
    ConservationJitterWarning,
    ConservationLayer,
    ConservedPrediction,
    NotPositiveDefiniteError,
    conservation_update,
    conservation_update_samples,
)

B, T, NX = 2, 3, 7


# =========================================================================== helpers
def random_inputs(kind: str, n_c: int, seed: int, *, batch: int = B, n_t: int = T, n_x: int = NX,
                  rank: int = 3):
    """Random (mean, cov argument, dense Sigma, G, b) in float64 numpy."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(batch, n_t, n_x))
    if kind == "diag":
        var = rng.uniform(0.05, 2.0, size=(batch, n_t, n_x))
        cov_arg, dense = var, np.apply_along_axis(np.diag, -1, var)
    elif kind == "lowrank":
        f = rng.normal(size=(batch, n_t, n_x, rank)) * 0.7
        d = rng.uniform(0.05, 1.0, size=(batch, n_t, n_x))
        cov_arg = (f, d)
        dense = f @ np.swapaxes(f, -1, -2) + np.apply_along_axis(np.diag, -1, d)
    else:
        a = rng.normal(size=(batch, n_t, n_x, n_x)) / np.sqrt(n_x)
        dense = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(n_x)
        cov_arg = dense
    G = rng.uniform(0.0, 1.0, size=(n_c, n_x)) + (rng.normal(size=(n_c, n_x)) if n_c > 1 else 0.0)
    b = rng.normal(size=(batch, n_t, n_c))
    return mean, cov_arg, dense, G, b


def to_t(x):
    return tuple(torch.tensor(v) for v in x) if isinstance(x, tuple) else torch.tensor(x)


def reference_conditional(mu, sigma, G, b, sigma_g):
    """Condition the joint Gaussian of (u, y = G u + eps) on y = b, one (batch, time) at a time."""
    n_x, n_c = mu.shape[-1], G.shape[0]
    out_m, out_c = np.empty_like(mu), np.empty_like(sigma)
    for idx in np.ndindex(*mu.shape[:-1]):
        m, s = mu[idx], sigma[idx]
        joint_mean = np.concatenate([m, G @ m])
        joint_cov = np.block([[s, s @ G.T], [G @ s, G @ s @ G.T + sigma_g**2 * np.eye(n_c)]])
        muu, muy = joint_mean[:n_x], joint_mean[n_x:]
        suu, suy, syy = joint_cov[:n_x, :n_x], joint_cov[:n_x, n_x:], joint_cov[n_x:, n_x:]
        out_m[idx] = muu + suy @ np.linalg.solve(syy, b[idx] - muy)
        out_c[idx] = suu - suy @ np.linalg.solve(syy, suy.T)
    return out_m, out_c


# =========================================================================== exactness
@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
@pytest.mark.parametrize("n_c", [1, 2])
@pytest.mark.parametrize("sigma_g", [0.0, 0.3])
def test_update_equals_dense_gaussian_conditioning(kind, n_c, sigma_g):
    mean, cov_arg, dense, G, b = random_inputs(kind, n_c, seed=10 * n_c + int(10 * sigma_g))
    out = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, sigma_g=sigma_g, cov_kind=kind,
                              return_full_cov=True)
    ref_m, ref_c = reference_conditional(mean, dense, G, b, sigma_g)
    assert isinstance(out, ConservedPrediction)
    assert out.mean.shape == (B, T, NX) and out.variance.shape == (B, T, NX) and out.cov.shape == (B, T, NX, NX)
    np.testing.assert_allclose(out.mean.numpy(), ref_m, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.cov.numpy(), ref_c, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.variance.numpy(), np.diagonal(ref_c, axis1=-2, axis2=-1), rtol=0, atol=1e-10)


def test_noisy_update_equals_information_form():
    """sigma_g > 0: posterior precision Sigma^-1 + G^T G / s^2 (an algebraically different route)."""
    mean, cov_arg, dense, G, b = random_inputs("dense", 2, seed=3)
    s = 0.3
    out = conservation_update(torch.tensor(mean), torch.tensor(cov_arg), G, b, sigma_g=s, cov_kind="dense")
    for idx in np.ndindex(B, T):
        prec = np.linalg.inv(dense[idx]) + G.T @ G / s**2
        cov = np.linalg.inv(prec)
        m = cov @ (np.linalg.solve(dense[idx], mean[idx]) + G.T @ b[idx] / s**2)
        np.testing.assert_allclose(out.mean[idx].numpy(), m, rtol=0, atol=1e-9)
        np.testing.assert_allclose(out.cov[idx].numpy(), cov, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
def test_exact_conservation_of_the_updated_mean(kind):
    mean, cov_arg, _, G, b = random_inputs(kind, 2, seed=5)
    out = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, cov_kind=kind)
    ce = out.mean.numpy() @ G.T - b
    assert np.abs(mean @ G.T - b).max() > 0.1  # the input was far from conserving
    assert np.abs(ce).max() / np.abs(b).max() < 1e-10
    # float32: the layer keeps the dtype and conserves to single precision
    f32 = (tuple(torch.tensor(v, dtype=torch.float32) for v in cov_arg) if isinstance(cov_arg, tuple)
           else torch.tensor(cov_arg, dtype=torch.float32))
    out32 = conservation_update(torch.tensor(mean, dtype=torch.float32), f32, G, b, cov_kind=kind)
    assert out32.mean.dtype == torch.float32 and out32.variance.dtype == torch.float32
    ce32 = out32.mean.double().numpy() @ G.T - b
    assert np.abs(ce32).max() / np.abs(b).max() < 1e-5


@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
def test_infinite_constraint_noise_returns_the_input(kind):
    mean, cov_arg, dense, G, b = random_inputs(kind, 2, seed=6)
    out = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, sigma_g=1e12, cov_kind=kind,
                              return_full_cov=True)
    np.testing.assert_allclose(out.mean.numpy(), mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.cov.numpy(), dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.variance.numpy(), np.diagonal(dense, axis1=-2, axis2=-1), rtol=1e-12)


def test_variance_never_increases_and_stays_nonnegative():
    rng = np.random.default_rng(123)
    n_x = 9
    for seed in range(40):
        r = np.random.default_rng(seed)
        mean = r.normal(size=(3, 2, n_x)) * 10.0 ** r.integers(-3, 4)
        G = r.uniform(0.0, 1.0, size=(r.integers(1, 3), n_x))
        b = r.normal(size=(2, G.shape[0]))
        sg = float(rng.choice([0.0, 1e-6, 0.5]))
        # near-singular inputs: rank-1 dense + 1e-14 I, low rank with zero diagonal, tiny/zero variances
        a = r.normal(size=(3, 2, n_x, 1))
        cases = {
            "dense": a @ np.swapaxes(a, -1, -2) + 1e-14 * np.eye(n_x),
            "lowrank": (r.normal(size=(3, 2, n_x, 2)), np.zeros((3, 2, n_x))),
            "diag": r.uniform(0, 1, size=(3, 2, n_x)) * (r.uniform(size=(3, 2, n_x)) > 0.3) + 1e-300,
        }
        for kind, cov_arg in cases.items():
            dense = (cov_arg if kind == "dense" else
                     cov_arg[0] @ np.swapaxes(cov_arg[0], -1, -2) if kind == "lowrank" else
                     np.apply_along_axis(np.diag, -1, cov_arg))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConservationJitterWarning)
                out = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, sigma_g=sg, cov_kind=kind,
                                          return_full_cov=True)
            prior_var = np.diagonal(dense, axis1=-2, axis2=-1)
            var = out.variance.numpy()
            assert np.all(np.isfinite(var)) and np.all(np.isfinite(out.mean.numpy()))
            assert np.all(var >= 0.0)
            assert np.all(var <= prior_var + 1e-12 * prior_var.max()), (seed, kind)
            # and in the Loewner order: Sigma - Sigma~ is positive semi-definite
            drop = np.linalg.eigvalsh(dense - out.cov.numpy())
            assert drop.min() >= -1e-9 * max(1.0, np.abs(dense).max()), (seed, kind)


def test_update_is_the_exact_conditional_distribution_by_sampling():
    """Matheron's rule on prior samples gives exact conditional samples; compare moments."""
    rng = np.random.default_rng(7)
    n_x, n_c, n = 5, 2, 100_000
    mean, _, dense, G, b = random_inputs("dense", n_c, seed=8, batch=1, n_t=1, n_x=n_x)
    mu, sig, bb = mean[0, 0], dense[0, 0], b[0, 0]
    u = rng.multivariate_normal(mu, sig, size=n)
    k = sig @ G.T @ np.linalg.inv(G @ sig @ G.T)
    u_cond = u - (u @ G.T - bb) @ k.T
    np.testing.assert_allclose(u_cond @ G.T, np.broadcast_to(bb, (n, n_c)), atol=1e-10)
    out = conservation_update(torch.tensor(mean), torch.tensor(dense), G, b, cov_kind="dense")
    m_out, c_out = out.mean[0, 0].numpy(), out.cov[0, 0].numpy()
    se_mean = np.sqrt(np.diag(c_out) / n)
    assert np.all(np.abs(u_cond.mean(0) - m_out) < 5 * se_mean + 1e-12)
    se_cov = np.sqrt((np.outer(np.diag(c_out), np.diag(c_out)) + c_out**2) / n)
    assert np.all(np.abs(np.cov(u_cond.T, bias=True) - c_out) < 5 * se_cov + 1e-12)


@pytest.mark.parametrize("sigma_g", [0.0, 0.4])
def test_update_matches_rejection_sampling_of_the_condition(sigma_g):
    """Independent check: keep prior draws whose G u + eps falls in a narrow window around b."""
    rng = np.random.default_rng(11)
    n_x, n = 3, 1_000_000
    mu = np.array([0.3, -0.2, 0.5])
    a = rng.normal(size=(n_x, n_x))
    sig = a @ a.T / n_x + 0.2 * np.eye(n_x)
    G = np.array([[0.25, 0.5, 0.25]])
    sd_y = np.sqrt(G[0] @ sig @ G[0] + sigma_g**2)
    b = np.array([[[G[0] @ mu + 0.7 * sd_y]]])  # a typical, not a tail, observation
    u = rng.multivariate_normal(mu, sig, size=n)
    y = u @ G[0] + sigma_g * rng.standard_normal(n)
    half = 0.01 * sd_y
    keep = u[np.abs(y - b[0, 0, 0]) < half]
    assert keep.shape[0] > 2000
    out = conservation_update(torch.tensor(mu[None, None]), torch.tensor(sig[None, None]), G, b,
                              sigma_g=sigma_g, cov_kind="dense")
    m_out, c_out = out.mean[0, 0].numpy(), out.cov[0, 0].numpy()
    n_k = keep.shape[0]
    assert np.all(np.abs(keep.mean(0) - m_out) < 5 * np.sqrt(np.diag(c_out) / n_k))
    se_cov = np.sqrt((np.outer(np.diag(c_out), np.diag(c_out)) + c_out**2) / n_k)
    assert np.all(np.abs(np.cov(keep.T) - c_out) < 5 * se_cov)


# =========================================================================== HardC
@pytest.mark.parametrize("kind", ["diag", "lowrank", "dense"])
def test_hard_constraint_projects_the_mean_and_keeps_the_variance(kind):
    mean, cov_arg, dense, G, b = random_inputs(kind, 2, seed=21)
    out = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, cov_kind=kind, hard=True,
                              return_full_cov=True)
    proj = mean - (mean @ G.T - b) @ np.linalg.solve(G @ G.T, G)
    np.testing.assert_allclose(out.mean.numpy(), proj, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.mean.numpy() @ G.T, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.variance.numpy(), np.diagonal(dense, axis1=-2, axis2=-1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(out.cov.numpy(), dense, rtol=0, atol=1e-14)
    # HardC differs from ProbConserv's covariance-weighted correction for non-identity Sigma
    soft = conservation_update(torch.tensor(mean), to_t(cov_arg), G, b, cov_kind=kind)
    assert np.abs(soft.mean.numpy() - out.mean.numpy()).max() > 1e-3


# =========================================================================== latent samples
@pytest.mark.parametrize("kind", ["diag", "dense"])
def test_latent_sample_mixture_moments(kind):
    n_s = 4
    parts = [random_inputs(kind, 1, seed=30 + s) for s in range(n_s)]
    G, b = parts[0][3], parts[0][4]
    means = np.stack([p[0] for p in parts])
    covs = np.stack([p[1] for p in parts])
    out = conservation_update_samples(torch.tensor(means), torch.tensor(covs), G, b, cov_kind=kind,
                                      sigma_g=0.1, return_full_cov=True)
    refs = [reference_conditional(p[0], p[2], G, b, 0.1) for p in parts]
    rm = np.stack([r[0] for r in refs])
    rc = np.stack([r[1] for r in refs])
    mix_mean = rm.mean(0)
    mix_var = np.diagonal(rc, axis1=-2, axis2=-1).mean(0) + ((rm - mix_mean) ** 2).sum(0) / n_s
    mix_cov = rc.mean(0) + np.einsum("sbti,sbtj->btij", rm - mix_mean, rm - mix_mean) / n_s
    np.testing.assert_allclose(out.mean.numpy(), mix_mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.variance.numpy(), mix_var, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.cov.numpy(), mix_cov, rtol=0, atol=1e-10)
    assert out.variance.shape == (B, T, NX)


def test_latent_samples_lowrank_and_shared_b_per_batch():
    n_s, r = 3, 2
    rng = np.random.default_rng(40)
    means = rng.normal(size=(n_s, B, T, NX))
    f = rng.normal(size=(n_s, B, T, NX, r))
    d = rng.uniform(0.1, 1.0, size=(n_s, B, T, NX))
    G = np.ones((1, NX)) / NX
    b = rng.normal(size=(B, T, 1))
    out = conservation_update_samples(torch.tensor(means), (torch.tensor(f), torch.tensor(d)), G, b,
                                      cov_kind="lowrank")
    comps = [conservation_update(torch.tensor(means[s]), (torch.tensor(f[s]), torch.tensor(d[s])), G, b,
                                 cov_kind="lowrank") for s in range(n_s)]
    cm = torch.stack([c.mean for c in comps])
    cv = torch.stack([c.variance for c in comps])
    torch.testing.assert_close(out.mean, cm.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.variance, cv.mean(0) + cm.var(0, unbiased=False), rtol=0, atol=1e-12)
    # each component conserves exactly, so the mixture mean does too
    np.testing.assert_allclose(out.mean.numpy() @ G.T, b, atol=1e-12)


# =========================================================================== layer
def test_conservation_layer_matches_function_preserves_dtype_and_is_differentiable():
    mean, var, _, G, b = random_inputs("diag", 2, seed=50, batch=1, n_t=2, n_x=4)
    layer = ConservationLayer(G, sigma_g=0.2)
    assert "n_c=2" in repr(layer) and layer.G.dtype == torch.float64
    out = layer(torch.tensor(mean), torch.tensor(var), torch.tensor(b))
    ref = conservation_update(torch.tensor(mean), torch.tensor(var), G, b, sigma_g=0.2)
    torch.testing.assert_close(out.mean, ref.mean, rtol=0, atol=0)
    out32 = layer(torch.tensor(mean, dtype=torch.float32), torch.tensor(var, dtype=torch.float32), b)
    assert out32.mean.dtype == torch.float32
    torch.testing.assert_close(out32.mean.double(), ref.mean, rtol=1e-5, atol=1e-5)
    hard = ConservationLayer(G, hard=True)(torch.tensor(mean), torch.tensor(var), b)
    np.testing.assert_allclose(hard.mean.numpy() @ G.T, b, atol=1e-12)
    post = out.to_posterior()
    torch.testing.assert_close(post.variance, out.variance, rtol=0, atol=0)

    def f(m, v):
        o = conservation_update(m, v, G, b, sigma_g=0.2)
        return o.mean, o.variance

    m = torch.tensor(mean, requires_grad=True)
    v = torch.tensor(var, requires_grad=True)
    assert torch.autograd.gradcheck(f, (m, v), eps=1e-6, atol=1e-6)


# =========================================================================== bad input
def _good():
    mean, var, _, G, b = random_inputs("diag", 1, seed=60)
    return torch.tensor(mean), torch.tensor(var), G, b


def test_bad_shapes_and_values_raise_clear_value_errors():
    mean, var, G, b = _good()
    with pytest.raises(ConservationInputError, match=r"G must have shape \(n_c, n_x\) = \(n_c, 7\)"):
        conservation_update(mean, var, np.ones((1, NX + 1)), b)
    with pytest.raises(ConservationInputError, match=r"b must have shape \(batch, n_t, n_c\) = \(2, 3, 1\)"):
        conservation_update(mean, var, G, np.ones((T + 1, 1)))
    with pytest.raises(ConservationInputError, match=r"\(n_t, n_c\) = \(3, 1\)"):
        conservation_update(mean, var, G, np.ones((T, 2)))
    with pytest.raises(ConservationInputError, match="mean contains 1 NaN"):
        bad = mean.clone()
        bad[0, 1, 2] = float("nan")
        conservation_update(bad, var, G, b)
    with pytest.raises(ConservationInputError, match="b contains"):
        bad_b = b.copy()
        bad_b[0, 0, 0] = np.inf
        conservation_update(mean, var, G, bad_b)
    with pytest.raises(ConservationInputError, match="negative value"):
        bad_v = var.clone()
        bad_v[1, 2, 3] = -1e-3
        conservation_update(mean, bad_v, G, b)
    with pytest.raises(ConservationInputError, match=r"variance of shape \(batch, n_t, n_x\)"):
        conservation_update(mean, var[..., :-1], G, b)
    with pytest.raises(ConservationInputError, match="mean must have shape"):
        conservation_update(mean[0], var[0], G, b)
    with pytest.raises(ConservationInputError, match="cov_kind must be one of"):
        conservation_update(mean, var, G, b, cov_kind="full")
    with pytest.raises(ConservationInputError, match="sigma_g"):
        conservation_update(mean, var, G, b, sigma_g=-1.0)
    with pytest.raises(ConservationInputError, match="symmetric"):
        cov = torch.diag_embed(var)
        cov[0, 0, 0, 1] = 0.5
        conservation_update(mean, cov, G, b, cov_kind="dense")
    with pytest.raises(ConservationInputError, match="pair"):
        conservation_update(mean, var, G, b, cov_kind="lowrank")
    # every input error is a ValueError and a SciMLError (clean CLI message)
    assert issubclass(ConservationInputError, ValueError) and issubclass(ConservationInputError, SciMLError)
    assert issubclass(NotPositiveDefiniteError, ConservationInputError)


def _indefinite(delta: float):
    """Sigma = [[1, 1+d], [1+d, 1]] (eigenvalue -d), G = [1, -1]: G Sigma G^T = -2 d."""
    sig = torch.tensor([[1.0, 1.0 + delta], [1.0 + delta, 1.0]], dtype=torch.float64)[None, None]
    return torch.zeros(1, 1, 2, dtype=torch.float64), sig, np.array([[1.0, -1.0]]), np.array([[0.5]])


def test_non_psd_dense_covariance_gets_jitter_with_a_warning_or_raises():
    mean, sig, G, b = _indefinite(1e-9)
    with pytest.warns(ConservationJitterWarning, match=r"added jitter 1e-08 x scale"):
        out = conservation_update(mean, sig, G, b, cov_kind="dense")
    assert np.all(np.isfinite(out.mean.numpy()))
    mean, sig, G, b = _indefinite(1e-3)
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        conservation_update(mean, sig, G, b, cov_kind="dense")
    # a PSD covariance with a G Sigma G^T that is exactly singular is handled by jitter too
    mean, sig, G, b = _indefinite(0.0)
    with pytest.warns(ConservationJitterWarning):
        conservation_update(mean, sig, G, b, cov_kind="dense")
    with pytest.raises(ConservationInputError, match="negative value"):
        conservation_update(mean, -sig, G, b, cov_kind="dense")
