"""Every ProbConserv field model, and ProbConserv around each, keeps the Surrogate contract.

Tiny models on tiny grids: the ANP (latent mixture), the exact GP (dense per-time covariance),
the FNO ensemble and MC dropout (low rank plus diagonal). Around each base, ProbConserv's mean
conserves to round-off, its variance does not grow, and its draws conserve too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.surrogates.probconserv import (
    CONSERVATION_PROBLEMS,
    AttentiveNeuralProcess,
    ExactGPField,
    FieldInputError,
    FieldInputs,
    FNOEnsembleField,
    FNOTrainConfig,
    LinearConstraint,
    MCDropoutField,
    ProbConserv,
    ProblemConstraint,
)
from sciml.testing import check_surrogate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_FNO = FNOTrainConfig(steps=10, batch_size=8, width=4, modes=4, n_layers=2, proj_hidden=8, pad=4)
GRID = (5, 11)
BASES = ("ANP", "GP", "Ensemble", "MCDropout")


def _problem():
    return CONSERVATION_PROBLEMS["stefan"]


def _inputs(seed: int = 0) -> FieldInputs:
    pr = _problem()
    batch = pr.sample_batch(np.array([0.6, 0.65]), n_context=15, n_target=1, rng=np.random.default_rng(seed),
                            grid=GRID, dtype=torch.float64)
    t, x = pr.target_grid(*GRID)
    return FieldInputs(t, x, context_x=batch.context_x, context_y=batch.context_y, params=batch.params, seed=3,
                       n_samples=4)


def _base(name: str):
    pr = _problem()
    rng = np.random.default_rng(1)
    if name == "ANP":
        torch.manual_seed(0)
        return AttentiveNeuralProcess(hidden=8, latent_dim=4, n_heads=2,
                                      input_range=(pr.t_range, pr.x_range))
    if name == "GP":
        tb = pr.sample_batch(pr.sample_params(3, rng), n_context=15, n_target=1, rng=rng, grid=GRID,
                             dtype=torch.float64)
        return ExactGPField(pr.t_range, pr.x_range, train_steps=5).fit(tb.context_x, tb.context_y)
    ps = pr.sample_params(4, rng)
    t, x = pr.target_grid(*GRID)
    u = pr.solution_on_grid(ps, t, x)
    if name == "Ensemble":
        return FNOEnsembleField(pr.train_range, pr.t_range, n_members=3, config=TINY_FNO).fit(ps, t, x, u)
    return MCDropoutField(pr.train_range, pr.t_range, p_drop=0.3, n_passes=5, config=TINY_FNO).fit(ps, t, x, u)


@pytest.fixture(scope="module", params=BASES)
def base(request):
    return _base(request.param)


def test_field_models_keep_the_surrogate_contract(base):
    inputs = _inputs()
    post = check_surrogate(base, inputs)
    assert post.mean.shape == (2, *GRID) and post.mean.dtype == torch.float64
    assert float(post.variance.min()) > 0


@pytest.mark.parametrize("hard", [False, True])
def test_probconserv_around_every_base_keeps_the_contract_and_conserves(base, hard):
    pr = _problem()
    inputs = _inputs()
    model = ProbConserv(base, ProblemConstraint(pr), hard=hard)
    post = check_surrogate(model, inputs)
    before = base.predict(inputs)
    t, x = pr.target_grid(*GRID)
    G, b_fn = pr.constraint(t, x)
    b = torch.as_tensor(b_fn(np.array([0.6, 0.65])))
    g = torch.as_tensor(G)
    ce_before = (before.mean @ g.T - b).abs().max()
    ce = (post.mean @ g.T - b).abs().max()
    assert float(ce_before) > 1e-6 and float(ce) < 1e-12
    mixture = base.__class__ is AttentiveNeuralProcess
    if hard:  # HardC keeps the (component) variance
        torch.testing.assert_close(post.variances if mixture else post.variance,
                                   before.variances if mixture else before.variance, rtol=0, atol=0)
    else:  # ProbConserv does not add variance (per mixture component for the ANP)
        if mixture:
            assert bool((post.variances <= before.variances + 1e-15).all())
            assert float(post.variance.sum()) < float(before.variance.sum())
        else:
            assert bool((post.variance <= before.variance + 1e-15).all())
        draws = post.sample(50, generator=1)  # Matheron's rule: every draw conserves
        assert float((draws @ g.T - b).abs().max()) < 1e-10


def test_probconserv_name_constraint_and_errors():
    pr = _problem()
    anp = _base("ANP")
    assert ProbConserv(anp, ProblemConstraint(pr)).name == "ProbConserv-AttentiveNeuralProcess"
    gp = _base("GP")
    assert ProbConserv(gp, ProblemConstraint(pr), hard=True).name == "HardC-GP"
    inputs = _inputs()
    no_params = FieldInputs(inputs.t, inputs.x, context_x=inputs.context_x, context_y=inputs.context_y)
    with pytest.raises(FieldInputError, match="needs params"):
        ProbConserv(gp, ProblemConstraint(pr)).predict(no_params)
    # a fixed constraint gives the same posterior as the problem's for the same b
    t, x = pr.target_grid(*GRID)
    G, b_fn = pr.constraint(t, x)
    fixed = ProbConserv(gp, LinearConstraint(G, b_fn(np.array([0.6, 0.65])))).predict(no_params)
    torch.testing.assert_close(fixed.mean, ProbConserv(gp, ProblemConstraint(pr)).predict(inputs).mean,
                               rtol=0, atol=0)
    with pytest.raises(ValueError, match="sigma_g"):
        ProbConserv(gp, ProblemConstraint(pr), sigma_g=-1.0)


def test_anp_predict_on_inputs_is_predict_targets_on_the_time_major_grid():
    from sciml.surrogates.probconserv import ANPInputError, grid_points

    anp = _base("ANP")
    inputs = _inputs()
    post = anp.predict(inputs)
    t, x = inputs.t, inputs.x
    target = torch.tensor(np.broadcast_to(grid_points(t, x), (2, t.size * x.size, 2)), dtype=torch.float32)
    ref = anp.predict_targets(inputs.context_x.float(), inputs.context_y.float(), target, n_samples=4,
                              generator=torch.Generator().manual_seed(3))
    assert post.means.shape == (4, 2, *GRID) and post.z.shape == (4, 2, 4)
    torch.testing.assert_close(post.means, ref.means[..., 0].double().reshape(4, 2, *GRID), rtol=0, atol=0)
    torch.testing.assert_close(post.variances, ref.variances[..., 0].double().reshape(4, 2, *GRID), rtol=0, atol=0)
    with pytest.raises(FieldInputError, match="pass context_x"):
        anp.predict(FieldInputs(t, x))
    with pytest.raises(ANPInputError, match="y_dim = 1"):
        AttentiveNeuralProcess(y_dim=2, hidden=8, latent_dim=4, n_heads=2).predict(inputs)
