"""``sciml bench probconserv`` on a tiny problem: JSON layout, rows, exact conservation, checks from rows."""

from __future__ import annotations

import json
import operator

import pytest

from sciml.bench.probconserv import MODELS, run_probconserv_benchmark
from sciml.studies.probconserv import ProbConservSettings, build_model, probconserv_settings, train_config
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}

TINY = ProbConservSettings(
    problems=("stefan",), train_grid=(21, 21), eval_grid=(21, 21), steps=4, softc_steps=2,
    n_functions=3, n_latent_samples=3, n_shock_samples=8, n_target_range=(16, 32), batch_size=2,
    hidden=8, latent_dim=4, n_heads=2, eval_batch=2, timing_grid=(11, 11), timing_repeats=1,
    checkpoint_every=2,
)


@pytest.mark.slow
def test_probconserv_benchmark_layout(tmp_path):
    report = run_probconserv_benchmark(settings=TINY, run_root=tmp_path / "runs")
    data = json.loads(report.write_json(tmp_path / "probconserv.json").read_text())
    assert set(data) == {"benchmark", "mode", "machine", "config", "results", "references", "checks"}
    assert data["benchmark"] == "probconserv"
    assert data["config"]["settings"]["problems"] == ["stefan"]

    rows = [r for r in data["results"] if r["model"] in MODELS]
    test_values = CONSERVATION_PROBLEMS["stefan"].test_values
    assert {(r["test_value"], r["model"]) for r in rows} == {(v, m) for v in test_values for m in MODELS}
    assert len(rows) == len(test_values) * len(MODELS)
    for r in rows:
        assert r["n_functions"] == TINY.n_functions
        assert r["mse"] >= 0 and r["crps"] >= 0 and r["mse_se"] >= 0
        assert r["shock_error"] >= 0 and 0 < r["shock_threshold"] < 1  # Stefan has a front
        assert r["mean_front_mid_error"] >= abs(r["mean_front_mid_offset"]) - 1e-15  # mean |e| >= |mean e|
        assert r["eval_time"] == pytest.approx(CONSERVATION_PROBLEMS["stefan"].eval_time)
    for r in rows:  # ProbConserv and HardC conserve exactly (float64); the plain ANP does not
        if r["model"] in ("ProbConserv-ANP", "HardC-ANP"):
            assert r["ce_rel"] < 1e-10 and r["ce_max_worst"] < 1e-10 and r["ce_eval"] < 1e-10
    timing = [r for r in data["results"] if r["model"] == "timing"]
    assert len(timing) == 1 and timing[0]["t_predict_s"] > 0 and timing[0]["t_update_s"] > 0

    # every check recomputed from the rows
    def row(model, value=None):
        return next(r for r in rows if r["model"] == model and (value is None or r["test_value"] == value))

    expected = {
        "ce_rel_probconserv_stefan": max(r["ce_rel"] for r in rows if r["model"] == "ProbConserv-ANP"),
        "mse_probconserv_stefan_0.6_vs_reference_paper": row("ProbConserv-ANP", 0.6)["mse"],
        "front_error_mid_probconserv_stefan_0.6": row("ProbConserv-ANP", 0.6)["mean_front_mid_error"],
        "front_error_mid_probconserv_stefan_0.6_vs_reference_checkpoint": row("ProbConserv-ANP", 0.6)[
            "mean_front_mid_error"],
        "front_error_mid_gain_probconserv_vs_anp_stefan_0.6": (row("ANP", 0.6)["mean_front_mid_error"]
                                                               - row("ProbConserv-ANP", 0.6)["mean_front_mid_error"]),
        "ll_gain_probconserv_vs_anp_stefan_0.6": row("ProbConserv-ANP", 0.6)["ll"] - row("ANP", 0.6)["ll"],
        "update_overhead_max": timing[0]["t_update_s"] / timing[0]["t_predict_s"],
    }
    checks = {c["name"]: c for c in data["checks"]}
    assert set(checks) == set(expected)
    for name, value in expected.items():
        assert checks[name]["value"] == pytest.approx(value, rel=1e-12, abs=1e-300), name
    assert checks["ce_rel_probconserv_stefan"]["holds"]
    # the Stefan bars are absolute: the published MSE (a reference with its source) and 0.005
    refs = {r["name"]: r for r in data["references"]}
    mse_check = checks["mse_probconserv_stefan_0.6_vs_reference_paper"]
    assert mse_check["reference"] == "hansen2023_probconserv_anp_mse_stefan_0.6"
    assert mse_check["target"] == refs[mse_check["reference"]]["value"] == 1.87e-3 and "ICML 2023" in refs[
        mse_check["reference"]]["source"]
    assert checks["front_error_mid_probconserv_stefan_0.6"]["target"] == 0.005
    for c in data["checks"]:
        assert c["holds"] == _OPS[c["op"]](c["value"], c["target"])
    # training runs kept their checkpoints
    assert (tmp_path / "runs" / "stefan" / "anp" / "last.pt").is_file()
    assert (tmp_path / "runs" / "stefan" / "softc" / "last.pt").is_file()


@pytest.mark.slow
def test_models_normalise_inputs_to_the_problem_domain(tmp_path):

    from sciml.surrogates.probconserv.training import load_checkpoint

    stefan = CONSERVATION_PROBLEMS["stefan"]
    model = build_model(TINY, seed=0, problem=stefan)
    assert model.get_config()["input_range"] == [[0.0, 0.1], [0.0, 1.0]]
    plain = TINY.model_copy(update=dict(normalize_inputs=False))
    assert "input_range" not in build_model(plain, seed=0).get_config()
    with pytest.raises(ValueError, match="needs the problem"):
        build_model(TINY, seed=0)
    cos = TINY.model_copy(update=dict(lr_schedule="cosine", warmup_steps=100))
    cfg = train_config(cos, steps=4000, seed=3, softc_weight=0.5)
    assert (cfg.lr_schedule, cfg.warmup_steps, cfg.steps, cfg.seed, cfg.softc_weight) == ("cosine", 100, 4000, 3, 0.5)
    assert train_config(cos, steps=100, seed=0).warmup_steps == 10  # capped at a tenth of a short run

    run_probconserv_benchmark(settings=TINY.model_copy(update=dict(lr_schedule="cosine", warmup_steps=1)),
                              run_root=tmp_path)
    for run in ("anp", "softc"):
        ckpt = load_checkpoint(tmp_path / "stefan" / run / "last.pt")
        assert ckpt["model_config"]["input_range"] == [list(stefan.t_range), list(stefan.x_range)]
        assert ckpt["train_config"]["lr_schedule"] == "cosine"


def test_mode_settings_training_protocol():
    quick, full = probconserv_settings(True), probconserv_settings(False)
    assert quick.normalize_inputs and full.normalize_inputs
    assert (quick.lr_schedule, quick.warmup_steps, quick.nll_beta) == ("cosine", 100, 0.5)
    assert (full.lr_schedule, full.nll_beta) == ("cosine", 0.0)  # the paper's plain ELBO on a GPU budget


@pytest.mark.slow
def test_work_dir_and_only(tmp_path):

    from sciml.errors import ConfigError

    two = TINY.model_copy(update=dict(problems=("heat", "stefan")))
    report = run_probconserv_benchmark(settings=two, work_dir=tmp_path / "wd", only=["stefan"])
    assert {r["problem"] for r in report.results if r["model"] in MODELS} == {"stefan"}
    assert report.config["only"] == ["stefan"] and not (tmp_path / "wd" / "heat").exists()
    assert (tmp_path / "wd" / "stefan" / "anp" / "last.pt").is_file()
    assert {c.name for c in report.checks} >= {"ce_rel_probconserv_stefan",
                                               "mse_probconserv_stefan_0.6_vs_reference_paper"}
    assert not any("heat" in c.name for c in report.checks)
    # the same work dir again: the trained models are reloaded, the numbers are the same
    again = run_probconserv_benchmark(settings=two, work_dir=tmp_path / "wd", only=["stefan"])
    assert [c.value for c in again.checks if c.name != "update_overhead_max"] == \
        [c.value for c in report.checks if c.name != "update_overhead_max"]
    with pytest.raises(ConfigError, match=r"with other settings \(steps\)"):
        run_probconserv_benchmark(settings=two.model_copy(update=dict(steps=6)), work_dir=tmp_path / "wd")
    with pytest.raises(ConfigError, match=r"only: no problem\(s\) \['pme'\] in this mode"):
        run_probconserv_benchmark(settings=two, only=["pme"])
    with pytest.raises(ConfigError, match="work_dir or run_root, not both"):
        run_probconserv_benchmark(settings=two, work_dir=tmp_path / "a", run_root=tmp_path / "b")


def test_bad_only_writes_nothing(tmp_path):
    from sciml.errors import ConfigError

    with pytest.raises(ConfigError, match=r"only: no problem\(s\) \['pme'\] in this mode; accepted: \['stefan'\]"):
        run_probconserv_benchmark(settings=TINY, work_dir=tmp_path / "wd", only=["pme"])
    with pytest.raises(ConfigError, match=r"only selects nothing; give problems of this mode: \['stefan'\]"):
        run_probconserv_benchmark(settings=TINY, work_dir=tmp_path / "wd", only=[])
    assert not (tmp_path / "wd").exists()
