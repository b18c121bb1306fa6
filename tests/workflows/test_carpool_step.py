"""Workflow step ``carpool_study`` at a tiny size: rows against the study's functions on the step's own runs,
the plots, a rerun that reloads, the Burgers/CAPE rows, the shipped workflow, and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.studies import carpool as C
from sciml.studies.carpool_stages import carpool_rows
from sciml.uq.control_variates import carpool
from sciml.workflows.context import WorkflowContext
from sciml.workflows.runner import prepare, run_workflow
from sciml.workflows.spec import WorkflowSpec
from sciml.workflows.steps import carpool_study as step_module
from sciml.workflows.steps.carpool_study import CARPoolStudyStep, study_settings

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ROOT = Path(__file__).resolve().parents[2]

#: the benchmark test's tiny() sizes: 8^3 particles, 3 k-bins, 16 pairs, N = 4 and 8
SETTINGS = {"n_particles": 8, "n_mesh": 8, "n_steps": 2, "n_pool": 16, "n_truth": 4, "n_cheap": 5,
            "n_pairs": [4, 8], "chunk_size": 4, "executor": {"kind": "inprocess"}}


def _write(tmp_path: Path, step: dict) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump({"name": "wf", "steps": [{"kind": "carpool_study", **step}]}))
    return path


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_rows(rows: list[dict], s: C.CARPoolStudySettings, work: Path) -> None:
    """The rows are the study's estimators applied to the step's own (reloaded) runs."""
    runs = {w: C.run_set(s, w, work_dir=work) for w in C.SETS}
    assert [r["n_new"] for r in runs.values()] == [0, 0, 0]
    assert [len(r["seeds"]) for r in runs.values()] == [16, 4, 5]
    assert rows[3:] == json.loads(json.dumps(carpool_rows(s, runs)))
    for r, w in zip(rows[:3], C.SETS):
        assert r["stage"] == "runs" and r["set"] == w
        for kind, cpu in runs[w]["cpu_s"].items():
            assert r[f"cpu_s_{kind}"] == pytest.approx(cpu.mean(), rel=1e-12)
    y, truth = runs["pairs"]["power"]["cosmo_pm"], runs["truth"]["power"]["cosmo_pm"]
    band = runs["pairs"]["k"] < s.k_max
    assert band.all()  # 3 bins, all below k_max = 0.2 h/Mpc
    by = {(r["cheap"], int(r["n_pairs"])): r for r in rows if r["stage"] == "carpool"}
    assert sorted(by) == [("cosmo_2lpt", 4), ("cosmo_2lpt", 8), ("cosmo_zeldovich", 4), ("cosmo_zeldovich", 8)]
    for (kind, n), row in by.items():
        c, cheap = runs["pairs"]["power"][kind], runs["cheap"]["power"][kind]
        # pooled: (s_y^2 / N) / (f_N s_r^2 / N + beta^2 s_c^2 / M), beta and moments over all 16 pairs
        est = carpool(y, c, cheap=cheap)
        s_r2 = np.var(y - est.beta * c, axis=0, ddof=1) * 15 / 14
        vr = (y.var(0, ddof=1) / n) / ((n - 2) / (n - 3) * s_r2 / n + est.beta**2 * cheap.var(0, ddof=1) / 5)
        np.testing.assert_allclose(row["variance_reduction_per_bin"], vr, rtol=1e-10)
        assert row["vr_min_k_lt_kmax"] == pytest.approx(vr.min(), rel=1e-10)
        # empirical: the 16 // N disjoint groups' CARPool and plain means
        groups = [carpool(y[g * n:(g + 1) * n], c[g * n:(g + 1) * n], cheap=cheap) for g in range(16 // n)]
        x = np.stack([g.mean for g in groups])
        mu_term = np.mean([g.beta**2 * g.mu_c_variance for g in groups], axis=0)
        plain = y.reshape(16 // n, n, -1).mean(axis=1)
        np.testing.assert_allclose(row["variance_reduction_groups_per_bin"],
                                   plain.var(0, ddof=1) / (x.var(0, ddof=1) + mu_term), rtol=1e-10)
        sigma = np.sqrt(x.var(0, ddof=1) / len(groups) + mu_term + truth.var(0, ddof=1) / 4)
        np.testing.assert_allclose(row["bias_sigma_per_bin"], (x.mean(0) - truth.mean(0)) / sigma, rtol=1e-10)
        assert row["n_groups"] == 16 // n and row["n_cheap"] == 5.0
    # at N = 16 the pooled formula is carpool's own figure
    np.testing.assert_allclose(C.pooled_variance_reduction(y, c, cheap, 16), est.variance_reduction, rtol=1e-12)


def test_tiny_step_writes_the_study_rows_and_plots_and_a_rerun_reloads(tmp_path):
    wf, out, lines = _write(tmp_path, {"name": "cp", "file": "pk", "settings": SETTINGS}), tmp_path / "out", []
    run_workflow(wf, output_dir=out, log=lines.append)
    data = json.loads((out / "pk.json").read_text())
    rows = data["rows"]
    assert [r["stage"] for r in rows] == ["runs"] * 3 + ["truth"] + ["carpool"] * 4
    for r in rows:
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float)), r
    s = study_settings(CARPoolStudyStep(settings=SETTINGS))
    assert data["settings"] == s.model_dump(mode="json") and not s.run_burgers
    assert data["runs_made_now"] == {"pairs": 16.0, "truth": 4.0, "cheap": 5.0}
    _check_rows(rows, s, out / "cp")
    for name in ("pk_variance_reduction.png", "pk_power_ratio.png"):
        assert (out / name).stat().st_size > 1000
    assert any("[cp] 2LPT N=4: variance reduction >= " in line for line in lines)
    stored = _mtimes(out / "cp")
    assert sorted(stored) == [f"runs/{w}-{i:04d}.npz" for w, n in (("cheap", 2), ("pairs", 4), ("truth", 1))
                              for i in range(n)]

    # a rerun of the finished step reloads every chunk: none rewritten, the same rows
    lines.clear()
    run_workflow(wf, output_dir=out, log=lines.append)
    again = json.loads((out / "pk.json").read_text())
    assert _mtimes(out / "cp") == stored
    assert again["rows"] == rows and again["runs_made_now"] == {"pairs": 0.0, "truth": 0.0, "cheap": 0.0}
    assert not any("starting clean" in line for line in lines)
    assert any("runs truth: 4 seed(s) x ['cosmo_pm'] (0 run now)" in line for line in lines)

    # a run that lost one chunk makes only that chunk, to the same rows (seeded runs; CPU seconds aside)
    (out / "cp" / "runs" / "pairs-0002.npz").unlink()
    run_workflow(wf, output_dir=out, log=lambda line: None)
    third = json.loads((out / "pk.json").read_text())
    assert third["runs_made_now"] == {"pairs": 4.0, "truth": 0.0, "cheap": 0.0}
    now = _mtimes(out / "cp")
    assert {k for k in now if now[k] != stored[k]} == {"runs/pairs-0002.npz"}
    for a, b in zip(third["rows"][3:], rows[3:]):
        assert {k: v for k, v in a.items() if "cpu" not in k} == {k: v for k, v in b.items() if "cpu" not in k}


def test_burgers_rows_are_the_pairs_and_a_rerun_reloads_them(tmp_path, monkeypatch):
    calls = []

    def burgers_cape_pair(settings, *, quick, executor=None, work_dir=None, log=None):
        calls.append((settings, quick, executor is not None, work_dir))
        return [{"stage": "burgers_cape", "what": "summary", "variance_reduction": 2.5, "n_pairs": 10}]

    monkeypatch.setattr(step_module, "burgers_cape_pair", burgers_cape_pair)
    settings = {**SETTINGS, "n_pool": 8, "n_pairs": [4], "cheap": ["cosmo_2lpt"], "burgers": {"n_pairs": [10]}}
    wf, out = _write(tmp_path, {"settings": settings, "burgers": True}), tmp_path / "out"
    run_workflow(wf, output_dir=out, log=lambda line: None)
    assert calls == [({"n_pairs": [10]}, True, True, out / "carpool" / "burgers")]
    rows = json.loads((out / "carpool.json").read_text())["rows"]
    assert [r["stage"] for r in rows] == ["runs"] * 3 + ["truth", "carpool", "burgers_cape"]
    assert rows[-1] == {"stage": "burgers_cape", "what": "summary", "variance_reduction": 2.5, "n_pairs": 10}
    lines: list[str] = []
    run_workflow(wf, output_dir=out, log=lines.append)
    assert len(calls) == 1 and "[carpool] burgers_cape: rows reloaded" in lines
    assert json.loads((out / "carpool.json").read_text())["rows"] == rows


def test_shipped_workflow_parses_and_validates():
    path = ROOT / "workflows" / "carpool_pk.yaml"
    spec = load_config(path, WorkflowSpec)
    ctx = WorkflowContext(name=spec.name, source=str(path), base_dir=path.parent, output_dir=ROOT / "runs" / "x")
    prepare(spec, ctx)
    step = spec.steps[0]
    assert isinstance(step, CARPoolStudyStep) and not step.burgers
    s = study_settings(step)
    assert s.n_pairs == [5, 10] and s.n_particles == 32 and s.cheap == ["cosmo_2lpt", "cosmo_zeldovich"]
    assert s.n_pool < C.preset_settings(True).n_pool and s.n_pool >= 10 * max(s.n_pairs)
    assert s.k_half_nyquist == pytest.approx(np.pi * 32 / 512)


@pytest.mark.parametrize(("step", "message"), [
    ({"settings": {"n_truth": 1}},
     r"wf\.yaml: field steps\.0\.settings\.n_truth: Input should be greater than or equal to 2 \(got 1\)"),
    ({"settings": {"n_poll": 10}}, r"steps\.0\.settings\.n_poll: unknown field 'n_poll'; accepted fields: .*'n_pool'"),
    ({"settings": {"n_pool": 12, "n_pairs": [4, 8]}},
     r"steps\.0\.settings: Value error, n_pool = 12 must hold at least 2 disjoint groups of the largest N = 8"),
    ({"settings": {"cheap": ["cosmo_pm"]}}, r"steps\.0\.settings\.cheap\.0: Input should be 'cosmo_2lpt' or"),
    ({"settings": {"run_burgers": True}},
     r"steps\.0\.settings\.run_burgers: not a setting of this step; set the step's field 'burgers'"),
    ({"burgers": True, "settings": {"burgers": {"n_pairs": [2]}}},
     r"steps\.0\.settings\.burgers: Value error, n_pairs must be distinct counts >= 4"),
    ({"burgers": True, "settings": {"burgers": {"epoch": 3}}},
     r"steps\.0\.settings\.burgers\.epoch: unknown field 'epoch'; accepted fields: .*'epochs'"),
])
def test_bad_settings_are_config_errors_naming_the_field_before_any_work(tmp_path, step, message):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message):
        run_workflow(_write(tmp_path, step), output_dir=out)
    assert not out.exists()


def test_bad_step_fields_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"steps\.0\.carpool_study\.n_pool: unknown field 'n_pool'"):
        load_config(_write(tmp_path, {"n_pool": 3}), WorkflowSpec)
    with pytest.raises(ConfigError, match=r"steps\.0\.carpool_study\.burgers: Input should be a valid boolean"):
        load_config(_write(tmp_path, {"burgers": "perhaps"}), WorkflowSpec)


def test_settings_merge_into_the_preset_and_the_key_ignores_executors():
    s = study_settings(CARPoolStudyStep(settings={"n_pool": 40, "n_pairs": [5, 10]}))
    quick = C.preset_settings(True)
    assert (s.n_pool, s.n_pairs, s.n_truth, s.n_particles) == (40, [5, 10], quick.n_truth, quick.n_particles)
    full = study_settings(CARPoolStudyStep(quick=False))
    assert full == C.preset_settings(False).model_copy(update={"run_burgers": False}) and full.n_particles == 64
    assert study_settings(CARPoolStudyStep(burgers=True)).run_burgers
    ctx = WorkflowContext(name="wf", source="wf.yaml", base_dir=Path("."), output_dir=Path("out"))
    a = CARPoolStudyStep(settings={"executor": {"kind": "inprocess"}}).keyed_config(ctx, 0)
    b = CARPoolStudyStep(executor={"kind": "process", "n_workers": 3}).keyed_config(ctx, 0)
    assert a == b and "executor" not in a["settings"]
    assert CARPoolStudyStep(settings={"seed": 1}).keyed_config(ctx, 0)["settings"]["seed"] == 1
    assert CARPoolStudyStep(burgers=True).keyed_config(ctx, 0)["settings"]["run_burgers"] is True
