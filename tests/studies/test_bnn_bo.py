"""The GP-versus-BNN BO study: its non-stationary problem, per-seed traces on a shared initial
design, the JSON summary, and clear errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sciml.bo import AcquisitionSettings, forrester
from sciml.errors import ConfigError
from sciml.studies.bnn_bo import PROBLEMS, QUICK, compare_surrogates, gramacy_lee_2d, styblinski_tang

F64 = torch.float64
TINY = AcquisitionSettings(num_restarts=2, raw_samples=16, q=1, mc_samples=32, maxiter=15, batch_limit=4)
SMALL = {"adam_steps": 60, "n_steps": 60, "burn_in": 30, "thin": 10, "n_chains": 2, "width": 16}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_gramacy_lee_has_its_documented_minimum_and_flat_region():
    p = gramacy_lee_2d()
    assert p.dim == 2 and p.fidelity is None and not p.maximize
    x_star = torch.tensor([[-1.0 / math.sqrt(2.0), 0.0]], dtype=F64)
    assert float(p.evaluate(x_star)[0]) == pytest.approx(-0.428882, abs=1e-6) == p.optimum_value
    g = torch.linspace(-2.0, 6.0, 161, dtype=F64)
    values = p.evaluate(torch.cartesian_prod(g, g))
    assert float(values.min()) >= p.optimum_value - 1e-12
    far = torch.cartesian_prod(g, g).norm(dim=1) > 3.2
    assert float(values[far].abs().max()) < 1e-3 and float(far.double().mean()) > 0.6


def test_styblinski_tang_optimum_and_registry():
    p = styblinski_tang(10)
    assert p.name == "styblinski_tang_10" and p.dim == 10 and set(PROBLEMS) == {"gramacy_lee_2d", p.name}
    assert float(p.evaluate(p.optimizers)[0]) == pytest.approx(p.optimum_value, abs=1e-9)
    assert float(p.evaluate(torch.full((1, 10), 2.7468, dtype=F64))[0]) > p.optimum_value + 100  # the other well


def test_the_study_gives_per_seed_traces_on_a_shared_initial_design():
    study = compare_surrogates(models=("singletask", "bnn-sghmc"), seeds=(0, 1), budget=7, n_init=5,
                               settings=TINY, bnn_options=SMALL)
    assert [(r.model, r.seed) for r in study.runs] == [("singletask", 0), ("bnn-sghmc", 0), ("singletask", 1),
                                                       ("bnn-sghmc", 1)]
    for run in study.runs:
        assert len(run.best_regret) == 7 and run.final_regret == run.best_regret[-1] >= 0.0
        assert all(b <= a for a, b in zip(run.best_regret, run.best_regret[1:], strict=False))
        assert run.best_regret == [gramacy_lee_2d().simple_regret(v) for v in run.best_value]
    gp, bnn = study.runs[0], study.runs[1]
    assert gp.best_value[:5] == bnn.best_value[:5]  # the same Sobol design for both models
    summary = json.loads(json.dumps(study.summary()))
    assert set(summary["models"]) == {"singletask", "bnn-sghmc"} and summary["budget"] == 7
    per_seed = summary["models"]["bnn-sghmc"]["final_regret"]
    assert per_seed == {"0": study.runs[1].final_regret, "1": study.runs[3].final_regret}
    assert summary["models"]["bnn-sghmc"]["median"] == pytest.approx(sum(per_seed.values()) / 2)


def test_bad_studies_are_clear_errors():
    with pytest.raises(ConfigError, match="must have no fidelity and a known optimum"):
        compare_surrogates(forrester())
    with pytest.raises(ConfigError, match=r"unknown model 'bnn'; accepted: \['singletask', 'bnn-sghmc'"):
        compare_surrogates(models=("bnn",))
    with pytest.raises(ConfigError, match=r"unknown problem 'branin'; accepted: \['gramacy_lee_2d'"):
        compare_surrogates("branin")
    with pytest.raises(ConfigError, match=r"budget > n_init \(6\)"):
        compare_surrogates(budget=6)
    assert QUICK["budget"] > QUICK["n_init"] and len(QUICK["seeds"]) == 3
