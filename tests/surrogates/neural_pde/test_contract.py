"""Every neural PDE solver kind is a Surrogate: ``predict(RolloutRequest)`` passes the contract suite
and equals the autoregressive rollout; bad requests are clear errors."""

from __future__ import annotations

import pytest
import torch

from sciml.surrogates.base import Surrogate
from sciml.surrogates.neural_pde import (
    CAPE,
    FNO,
    SOLVER_KINDS,
    ConditionalSolver,
    RolloutRequest,
    UNet,
    build_solver,
    rollout,
)
from sciml.surrogates.posterior import DeterministicPosterior
from sciml.testing import check_surrogate

N_X = 16


def _solvers() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    small = dict(width=8, modes=4, n_layers=1, cape_hidden=4, cape_modes=4)
    out = {kind: build_solver(kind, **small, seed=1) for kind in SOLVER_KINDS}
    out["unet"] = UNet(1, 1, init_features=4)
    out["cape_unet"] = CAPE(UNet(1, 1, init_features=4, extra_in_channels=1), n_params=1, hidden=4, modes=4)
    out["conditional_unet"] = ConditionalSolver(UNet(1, 1, init_features=4, extra_in_channels=1), n_params=1)
    out["fno_2d"] = FNO(2, 1, width=8, modes=3, n_layers=1, spatial_dims=2)
    return out


SOLVERS = _solvers()


def _request(model: torch.nn.Module, n_steps: int = 3, batch: int = 2) -> RolloutRequest:
    g = torch.Generator().manual_seed(5)
    space = (N_X,) * model.spatial_dims
    initial = torch.randn(batch, model.n_vars, model.initial_step, *space, generator=g)
    params = 0.01 + torch.rand(batch, model.n_params, generator=g) if model.n_params else None
    return RolloutRequest(initial, n_steps, params)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_solver_kind_passes_the_surrogate_contract(name: str) -> None:
    model = SOLVERS[name]
    assert isinstance(model, Surrogate)
    model.train()  # predict runs in eval mode and gives the mode back
    request = _request(model)
    posterior = check_surrogate(model, request)
    assert isinstance(posterior, DeterministicPosterior) and model.training
    space = (N_X,) * model.spatial_dims
    assert posterior.mean.shape == (2, model.n_vars, 3, *space)
    model.eval()
    with torch.no_grad():
        frames = rollout(model, request.initial, 3, request.params)
    assert torch.equal(posterior.mean, frames[:, :, model.initial_step:])
    assert torch.equal(posterior.variance, torch.zeros_like(posterior.mean))


def test_bad_requests_are_clear_errors() -> None:
    model = SOLVERS["cape_fno"]
    good = _request(model)
    with pytest.raises(ValueError, match=r"initial must have shape \(batch, n_vars=1, initial_step=1"):
        model.predict(RolloutRequest(good.initial.repeat(1, 1, 2, 1), 2, good.params))
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        model.predict(RolloutRequest(good.initial, 0, good.params))
    with pytest.raises(ValueError, match="needs params"):
        model.predict(RolloutRequest(good.initial, 2))
