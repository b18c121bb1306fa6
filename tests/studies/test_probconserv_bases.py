"""The ProbConserv study on field bases: oracle metrics in closed form, shared contexts, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.studies.probconserv import ProbConservSettings
from sciml.studies.probconserv_bases import BASES, FieldBaseSettings, evaluate_field, field_base_settings, fit_base
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, FieldPosterior

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class OracleField:
    """Predicts the exact solution with a constant diagonal variance (a known answer for every metric)."""

    name = "Oracle"

    def __init__(self, problem, variance):
        self.problem, self.v = problem, variance
        self.calls = []

    def predict(self, inputs):
        self.calls.append((inputs.context_x.clone(), inputs.params.clone()))
        mean = torch.as_tensor(self.problem.solution_on_grid(inputs.params[:, 0].numpy(), inputs.t, inputs.x))
        var = torch.full_like(mean, self.v)
        return FieldPosterior(mean, var, "diag", var)


def test_oracle_metrics_have_closed_forms_and_contexts_match_the_anp_benchmark():
    pr = CONSERVATION_PROBLEMS["heat"]
    s = FieldBaseSettings(protocol=ProbConservSettings(
        problems=("heat",), train_grid=(21, 21), eval_grid=(21, 41), steps=1, softc_steps=1, n_functions=4,
        n_latent_samples=1, n_shock_samples=4, eval_batch=3, n_context=10))
    v = 1e-4
    oracle = OracleField(pr, v)
    rows = evaluate_field(pr, oracle, "Oracle", 1.0, s, seed=(1234, 0, 0), base_id=0, train_seed=0)
    base, hard, pc = rows
    assert [r["model"] for r in rows] == ["Oracle", "HardC-Oracle", "ProbConserv-Oracle"]
    assert base["mse"] == 0.0
    assert base["ll"] == pytest.approx(-0.5 * math.log(2 * math.pi * v), rel=1e-12)
    sigma = math.sqrt(v)
    assert base["crps"] == pytest.approx(sigma * (2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi)), rel=1e-12)
    # the exact solution conserves up to the trapezoid rule's quadrature error, which the update removes
    t, x = pr.target_grid(21, 41)
    G, b_fn = pr.constraint(t, x)
    u = pr.solution_on_grid([1.0], t, x)
    quad = np.abs(np.einsum("btx,cx->btc", u, G) - b_fn([1.0])).max()
    assert base["ce_max_worst"] == pytest.approx(quad, rel=1e-9)
    assert pc["ce_max_worst"] < 1e-12 and hard["ce_max_worst"] < 1e-12
    # with a diagonal constant variance, ProbConserv's mean update equals the HardC projection
    assert pc["mse"] == pytest.approx(hard["mse"], rel=1e-9)
    assert pc["mse"] > 0  # moving the exact grid values by the quadrature error
    assert "shock_error" not in base  # heat has no front
    # contexts: the same draws as the ANP benchmark (first the context, by seed (eval_seed, problem, value))
    rng = np.random.default_rng([1234, 0, 0, 0])
    ref = pr.sample_batch(np.full(4, 1.0), n_context=10, n_target=None, rng=rng, grid=(21, 41))
    got = torch.cat([c[0] for c in oracle.calls])
    torch.testing.assert_close(got.to(torch.float32), ref.context_x)
    assert [len(c[0]) for c in oracle.calls] == [3, 1]  # eval_batch chunks


def test_quick_settings_sizes():
    q, f = field_base_settings(True), field_base_settings(False)
    assert q.protocol.eval_grid == (101, 101) and q.protocol.n_context == 100
    assert q.n_members >= 3 and q.fno.steps < f.fno.steps and f.protocol.eval_grid == (201, 201)


def test_settings_are_strict_models_with_named_choices():
    s = field_base_settings(True)
    assert s.bases == BASES == ("GP", "Ensemble", "MCDropout")
    with pytest.raises(ValueError, match="unknown field 'n_memberz'|Extra inputs"):
        FieldBaseSettings(protocol=s.protocol, n_memberz=3)
    with pytest.raises(ValueError, match="GP"):
        FieldBaseSettings(protocol=s.protocol, bases=("ANP",))
    with pytest.raises(ValueError, match="unknown base 'ANP'"):
        fit_base("ANP", CONSERVATION_PROBLEMS["heat"], s, seed=0, problem_id=0)
