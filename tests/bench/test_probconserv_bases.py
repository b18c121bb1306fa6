"""``sciml bench probconserv`` on GP / FNO-ensemble / MC-dropout bases: rows, exact conservation, timing, checks."""

from __future__ import annotations

import pytest

from sciml.bench.probconserv_bases import evaluate_bases
from sciml.studies.probconserv import ProbConservSettings, build_model, evaluate_test_value
from sciml.studies.probconserv_bases import BASES, FieldBaseSettings, base_models
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS, FNOTrainConfig

PROTOCOL = ProbConservSettings(
    problems=("stefan",), train_grid=(21, 21), eval_grid=(21, 21), steps=1, softc_steps=1,
    n_functions=3, n_latent_samples=2, n_shock_samples=16, eval_batch=2, hidden=8, latent_dim=4, n_heads=2)
TINY = FieldBaseSettings(
    protocol=PROTOCOL, gp_train_functions=4, gp_train_steps=5,
    fno=FNOTrainConfig(steps=5, batch_size=8, width=4, modes=4, n_layers=2, proj_hidden=8, pad=4),
    fno_train_params=4, n_members=2, n_passes=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rows_layout_conservation_and_anp_row_keys():
    rows = evaluate_bases(["stefan"], settings=TINY, seed=0)
    models = [m for b in BASES for m in base_models(b)]
    values = CONSERVATION_PROBLEMS["stefan"].test_values
    assert [(r["test_value"], r["model"]) for r in rows] == [
        (v, m) for b in BASES for v in values for m in base_models(b)]
    assert {r["model"] for r in rows} == set(models)
    # the ANP benchmark's row keys are all there (same format), plus the base's extras
    anp = build_model(PROTOCOL, seed=0, problem=CONSERVATION_PROBLEMS["stefan"])
    anp_rows = evaluate_test_value(CONSERVATION_PROBLEMS["stefan"], {"ANP": anp, "SoftC-ANP": anp}, 0.6, PROTOCOL,
                                   seed=(PROTOCOL.eval_seed, 2, 0))
    extra = {"base", "cov_kind", "conditioning", "train_seconds", "predict_seconds", "update_seconds"}
    for r in rows:
        assert set(r) == set(anp_rows[0]) | extra
        assert r["n_functions"] == 3 and r["grid"] == "21x21"
        assert r["mse"] >= 0 and r["crps"] >= 0 and r["shock_error"] >= 0
        assert r["train_seconds"] > 0 and r["predict_seconds"] > 0
        if r["model"].startswith(("ProbConserv-", "HardC-")):
            assert r["ce_rel"] < 1e-10 and r["ce_max_worst"] < 1e-10
        else:
            assert r["ce_rel"] > 1e-4  # the bases alone do not conserve
    by = {(r["model"], r["test_value"]): r for r in rows}
    assert by[("GP", 0.6)]["cov_kind"] == "dense" and by[("Ensemble", 0.6)]["cov_kind"] == "lowrank"
    assert by[("GP", 0.6)]["conditioning"] == "context" and by[("MCDropout", 0.5)]["conditioning"] == "param"
    assert by[("Ensemble", 0.6)]["n_latent_samples"] == 2 and by[("MCDropout", 0.6)]["n_latent_samples"] == 3
    # the ensemble ignores the contexts: identical test functions, no spread of the MSE (float32 round-off)
    assert by[("Ensemble", 0.6)]["mse_se"] < 1e-6 * by[("Ensemble", 0.6)]["mse"]
    # HardC keeps the variance: with the same mean-independent variance the CRPS/LL differ only via the mean
    for b in BASES:
        assert by[(f"HardC-{b}", 0.6)]["mse"] != by[(b, 0.6)]["mse"]


def test_evaluate_bases_is_deterministic_and_validates():
    s = FieldBaseSettings(protocol=PROTOCOL, bases=("MCDropout",), fno=TINY.fno, fno_train_params=4, n_passes=3)
    a = evaluate_bases(["heat"], settings=s, seed=3)
    b = evaluate_bases(["heat"], settings=s, seed=3)
    keys = ("mse", "ll", "crps", "ce_eval", "ce_max")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    c = evaluate_bases(["heat"], settings=s, seed=4)
    assert [r["mse"] for r in c] != [r["mse"] for r in a]
    with pytest.raises(ValueError, match="unknown problem"):
        evaluate_bases(["nope"], settings=s)
    with pytest.raises(ValueError, match="unknown base"):
        evaluate_bases(["heat"], settings=FieldBaseSettings(protocol=PROTOCOL, bases=("ANP",)))


def test_benchmark_appends_base_rows_timing_rows_and_conservation_checks(tmp_path):

    from sciml.bench.probconserv import MODELS, run_probconserv_benchmark

    s = PROTOCOL.model_copy(update=dict(steps=2, softc_steps=1, batch_size=2, n_target_range=(16, 32), timing_grid=(11, 11),
                timing_repeats=1))
    bs = TINY.model_copy(update=dict(bases=("GP", "Ensemble")))
    report = run_probconserv_benchmark(settings=s, run_root=tmp_path, base_settings=bs)
    rows = report.results
    values = CONSERVATION_PROBLEMS["stefan"].test_values
    base_names = [m for b in ("GP", "Ensemble") for m in base_models(b)]
    assert report.config["models"] == [*MODELS, *base_names]
    assert report.config["bases"]["problems"] == ["stefan"]
    got = {(r["test_value"], r["model"]) for r in rows if "test_value" in r}
    assert got == {(v, m) for v in values for m in (*MODELS, *base_names)}
    # the bases see the ANP benchmark's test functions (same context seeds)
    seeds = {(r["model"], r["test_value"]): r["context_seed"] for r in rows if "context_seed" in r}
    for v in values:
        assert seeds[("GP", v)] == seeds[("ANP", v)] == seeds[("ProbConserv-Ensemble", v)]
    timing = {r["model"]: r for r in rows if str(r["model"]).startswith("timing")}
    assert set(timing) == {"timing", "timing-GP", "timing-Ensemble"}
    gp_first = [r for r in rows if r["model"] == "GP"]
    assert timing["timing-GP"]["n_functions"] == PROTOCOL.n_functions * len(values)
    assert timing["timing-GP"]["t_update_s"] == pytest.approx(
        sum(r["update_seconds"] for r in gp_first) / (PROTOCOL.n_functions * len(values)), rel=1e-12)
    assert timing["timing-GP"]["cov_kind"] == "dense"
    checks = {c.name: c for c in report.checks}
    # the overhead check is about the ANP only
    assert checks["update_overhead_max"].value == pytest.approx(
        timing["timing"]["t_update_s"] / timing["timing"]["t_predict_s"], rel=1e-12)
    for b in ("gp", "ensemble"):
        c = checks[f"ce_rel_probconserv_{b}_stefan"]
        assert c.holds and c.value == max(r["ce_rel"] for r in rows if r["model"].lower() == f"probconserv-{b}")
    assert "ProbConserv-GP" in report.format_table()


def test_base_plan_defaults_quick_full_and_custom():
    from sciml.bench.probconserv import QUICK_BASE_PROBLEMS, _base_plan
    from sciml.studies.probconserv import probconserv_settings

    q, f = probconserv_settings(True), probconserv_settings(False)
    bs, on = _base_plan(q, quick=True, custom=False, base_settings=None, base_problems=None)
    assert on == QUICK_BASE_PROBLEMS == ("stefan",) and bs.protocol == q and bs.n_members == 4
    bs, on = _base_plan(f, quick=False, custom=False, base_settings=None, base_problems=None)
    assert on == f.problems and len(on) == 5 and bs.protocol == f
    assert _base_plan(PROTOCOL, quick=False, custom=True, base_settings=None, base_problems=None) == (None, ())
    bs, on = _base_plan(PROTOCOL, quick=False, custom=True, base_settings=TINY, base_problems=None)
    assert on == ("stefan",) and bs.protocol is PROTOCOL
    with pytest.raises(ValueError, match="not among"):
        _base_plan(PROTOCOL, quick=False, custom=True, base_settings=TINY, base_problems=["heat"])
