"""The ProbConserv study's evaluation: shock levels, test functions, the ANP variants, rows and plot data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.studies.probconserv_evaluation import (
    anp_variants,
    evaluate_anps,
    front_levels,
    make_test_functions,
    profiles_and_positions,
)
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, AttentiveNeuralProcess

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_front_levels_stefan_and_none_for_heat():
    st = CONSERVATION_PROBLEMS["stefan"]
    lv = front_levels(st, 0.6, 0.05)
    xf = float(st.front_position(0.05, 0.6))
    assert lv[0] == pytest.approx((0.06, xf), rel=1e-6) and lv[1] == pytest.approx((0.3, xf), rel=1e-6)
    assert front_levels(CONSERVATION_PROBLEMS["heat"], 1.0, 0.5) is None


def test_test_functions_and_anp_variants_conserve():
    st = CONSERVATION_PROBLEMS["stefan"]
    test = make_test_functions(st, 0.6, eval_grid=(11, 21), n_functions=3, seed=(5, 2, 0), n_context=20)
    assert test.truth.shape == (3, 11, 21) and test.batch.target_x.shape == (3, 11 * 21, 2)
    assert test.thresholds is not None and test.t_eval == pytest.approx(0.05)
    same = make_test_functions(st, 0.6, eval_grid=(11, 21), n_functions=3, seed=(5, 2, 0), n_context=20,
                               n_target=1, dtype=torch.float64)
    torch.testing.assert_close(same.batch.context_x.to(torch.float32), test.batch.context_x)
    torch.manual_seed(0)
    model = AttentiveNeuralProcess(x_dim=2, y_dim=1, hidden=8, latent_dim=4, n_heads=2)
    preds = anp_variants(model, test, slice(0, 2), n_latent_samples=3, generator=torch.Generator().manual_seed(0))
    assert list(preds) == ["ANP", "HardC-ANP", "ProbConserv-ANP"]
    for name, pr in preds.items():
        assert pr.mean.shape == (2, 11, 21) and pr.variance.shape == (2, 11, 21)
        assert pr.cov_eval.shape == (2, 21, 21) and pr.mean.dtype == torch.float64
        ce = torch.einsum("btx,cx->btc", pr.mean, test.g) - test.b
        if name != "ANP":
            assert float(ce.abs().max()) < 1e-10
    # ProbConserv's covariance at t_eval has G in its null space (exact conservation)
    gs = preds["ProbConserv-ANP"].cov_eval @ test.g[0]
    assert float(gs.abs().max()) < 1e-10 * float(preds["ANP"].cov_eval.abs().max())
    # the ANP's marginal variance at t_eval is the diagonal of its full covariance
    torch.testing.assert_close(torch.diagonal(preds["ANP"].cov_eval, dim1=-2, dim2=-1),
                               preds["ANP"].variance[:, test.i_eval])
    only = anp_variants(model, test, n_latent_samples=2, name="SoftC-ANP", updates=False, full_cov=False)
    assert list(only) == ["SoftC-ANP"] and only["SoftC-ANP"].cov_eval is None
    with pytest.raises(ValueError, match="whole"):
        anp_variants(model, same, n_latent_samples=2)
    with pytest.raises(ValueError, match="n_functions"):
        make_test_functions(st, 0.6, eval_grid=(11, 21), n_functions=0, seed=(0,))


def test_evaluate_anps_rows_and_plot_data():
    st = CONSERVATION_PROBLEMS["stefan"]
    test = make_test_functions(st, 0.6, eval_grid=(11, 21), n_functions=3, seed=(5, 2, 0), n_context=20)
    torch.manual_seed(0)
    a = AttentiveNeuralProcess(x_dim=2, y_dim=1, hidden=8, latent_dim=4, n_heads=2)
    torch.manual_seed(1)
    c = AttentiveNeuralProcess(x_dim=2, y_dim=1, hidden=8, latent_dim=4, n_heads=2)
    kw = dict(n_latent_samples=2, n_shock_samples=8, seed=test.seed, eval_batch=2)
    alone = evaluate_anps({"ANP": a}, test, **kw)
    both = evaluate_anps({"ANP": a, "SoftC-ANP": c}, test, **kw)
    assert alone.models == ["ANP", "HardC-ANP", "ProbConserv-ANP"]
    assert both.models == ["ANP", "HardC-ANP", "ProbConserv-ANP", "SoftC-ANP"]
    for name in alone.models:  # a model's numbers do not depend on the models after it
        assert alone.summary(name) == both.summary(name)
    rows = test.rows(alone, alone.models, n_latent_samples=2)
    assert [r["model"] for r in rows] == alone.models and rows[0]["n_functions"] == 3
    assert rows[2]["ce_rel"] < 1e-10 and rows[0]["ce_rel"] > 1e-6 and rows[0]["shock_error"] >= 0
    with pytest.raises(ValueError, match="not among"):
        evaluate_anps({"ANP": a}, test, updates=("SoftC-ANP",), **kw)
    preds = anp_variants(a, test, slice(0, 1), n_latent_samples=2, generator=torch.Generator().manual_seed(0))
    profiles, positions = profiles_and_positions(preds, test, n_samples=50, generator=3)
    assert list(profiles) == list(positions) == ["ANP", "HardC-ANP", "ProbConserv-ANP"]
    np.testing.assert_array_equal(profiles["ANP"][0], preds["ANP"].mean[0, test.i_eval].numpy())
    assert positions["ANP"].shape == (50,)
    assert np.all((positions["ANP"] >= 0) & (positions["ANP"] <= 1))
