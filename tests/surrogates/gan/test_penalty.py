"""Gradient penalty of WGAN-GP: a linear critic's closed form (value and weight gradient), an
autograd reference per sample and central differences on a tiny layer-norm critic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciml.surrogates.gan import Critic, gradient_penalty, interpolate


def _pair(n: int = 7, shape: tuple[int, ...] = (2, 5), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, *shape, generator=g, dtype=torch.float64),
            torch.randn(n, *shape, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("w_scale", [0.3, 1.0, 2.5])
def test_a_linear_critic_has_the_closed_form_penalty_and_weight_gradient(w_scale):
    real, fake = _pair()
    w = (w_scale * torch.randn(10, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    w.requires_grad_(True)
    gp = gradient_penalty(lambda x: x.reshape(x.shape[0], -1) @ w, real, fake, weight=10.0)
    norm = float(w.detach().norm())
    assert float(gp.detach()) == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-13, abs=1e-14)
    gp.backward()  # create_graph=True: the penalty is differentiable in the critic's weights
    expected = 2 * 10.0 * (norm - 1.0) * w.detach() / norm
    torch.testing.assert_close(w.grad, expected, rtol=1e-12, atol=1e-14)


def _tiny_critic() -> Critic:
    torch.manual_seed(0)
    critic = Critic(2, 5, 0, hidden=6, n_layers=2).double()
    with torch.no_grad():  # fixed, non-trivial weights (layer norm gains and biases included)
        for i, p in enumerate(critic.parameters()):
            p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.7 + i).reshape(p.shape))
    return critic


def test_the_penalty_equals_an_autograd_reference_computed_sample_by_sample():
    critic, (real, fake) = _tiny_critic(), _pair()
    eps = torch.linspace(0.05, 0.95, real.shape[0], dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, weight=10.0, eps=eps)
    terms = []
    for i in range(real.shape[0]):
        xhat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(xhat).sum(), xhat)
        terms.append((grad.norm() - 1.0) ** 2)
    assert float(gp.detach()) == pytest.approx(10.0 * float(torch.stack(terms).mean()), rel=1e-12)


def test_the_gradient_norms_agree_with_central_differences():
    critic, (real, fake) = _tiny_critic(), _pair(n=3)
    eps = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    xhat = interpolate(real, fake, eps)
    h, terms = 1e-6, []
    with torch.no_grad():
        for i in range(3):
            flat = xhat[i].reshape(-1)
            grad = torch.empty_like(flat)
            for j in range(flat.numel()):
                step = torch.zeros_like(flat)
                step[j] = h
                up, down = (critic((flat + s).reshape(1, 2, 5)) for s in (step, -step))
                grad[j] = (up - down).item() / (2 * h)
            terms.append((grad.norm() - 1.0) ** 2)
    gp = gradient_penalty(critic, real, fake, weight=3.0, eps=eps)
    assert float(gp.detach()) == pytest.approx(3.0 * float(torch.stack(terms).mean()), rel=1e-7)


def test_interpolates_are_per_sample_convex_combinations():
    real, fake = _pair(n=4)
    eps = torch.tensor([0.0, 1.0, 0.25, 0.5], dtype=torch.float64)
    xhat = interpolate(real, fake, eps)
    torch.testing.assert_close(xhat[0], fake[0], rtol=0, atol=0)
    torch.testing.assert_close(xhat[1], real[1], rtol=0, atol=0)
    torch.testing.assert_close(xhat[2], 0.25 * real[2] + 0.75 * fake[2])


def test_default_eps_come_from_the_generator_and_the_penalty_trains_the_critic_only():
    critic, (real, fake) = _tiny_critic(), _pair()
    fake = fake.clone().requires_grad_(True)
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    c = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(4))
    assert float(a.detach()) == float(b.detach()) != float(c.detach())
    a.backward()
    assert fake.grad is None
    # every critic weight gets a gradient except the output bias, on which grad_x D does not depend
    named = dict(critic.named_parameters())
    out_bias = f"net.{len(critic.net) - 1}.bias"
    assert named.pop(out_bias).grad is None and all(p.grad is not None for p in named.values())


def test_bad_shapes_are_refused():
    real, fake = _pair(n=4)
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_penalty(nn.Identity(), real, fake[:3])
    with pytest.raises(ValueError, match=r"eps must have shape \(4,\)"):
        gradient_penalty(nn.Identity(), real, fake, eps=torch.rand(4, 1))
