"""Workflow step ``wgan_submodel`` at a tiny size: rows against the study's functions, plots, a rerun
that reloads, the shipped workflow, and errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from sciml.config import load_config
from sciml.data import open_dataset
from sciml.errors import ConfigError
from sciml.studies import wgan_submodel as W
from sciml.workflows.context import WorkflowContext
from sciml.workflows.runner import RECORDS, prepare, run_workflow
from sciml.workflows.spec import WorkflowSpec
from sciml.workflows.steps.wgan_submodel import FULL, GPCA, WGAN, WGANSubmodelStep, study_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[2]

#: the study's tests' tiny() sizes, two WGAN-GP seeds
SETTINGS = {"resolution": 4, "geometry": {"half_width": 1.0, "half_height": 0.5, "hole_radius": 0.15,
                                          "window_half_width": 0.3},
            "t_final": 1.0, "n_steps": 8, "grid": 2, "n_train": 6, "n_test": 5, "n_mc": 4, "chunk_size": 4,
            "executor": {"kind": "inprocess"}, "wgan_seeds": [0, 1], "swd_projections": 16,
            "wgan": {"n_steps": 3, "batch_size": 4, "noise_dim": 2, "hidden": 8, "n_layers": 1, "critic_hidden": 8,
                     "critic_layers": 1, "checkpoint_every": 2, "log_every": 1}}


def _write(tmp_path: Path, step: dict) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump({"name": "wf", "steps": [{"kind": "wgan_submodel", **step},
                                                             {"kind": "summary", "dataset": "uq_test",
                                                              "file": "heldout"}]}))
    return path


def _mtimes(folder: Path) -> dict[str, int]:
    """Modification times of the files in ``folder`` (a reloaded WGAN-GP rewrites its ``metrics.jsonl``: left out)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "metrics.jsonl"}


def _metrics(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("metrics.jsonl"))}


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with open_dataset(path) as ds:
        return W.campaign_arrays(ds.load())


def _check_rows(rows: list[dict], s: W.WGANStudySettings, out: Path) -> None:
    """The rows are the study's functions applied to the step's own campaigns, trainings and samples."""
    train, test = _arrays(out / "uq" / "train.nc"), _arrays(out / "uq" / "test.nc")
    points = W.parameter_draws(s, "test")
    np.testing.assert_array_equal(test["params"], [[p[k] for k in W.PLATE_PARAMETERS.names] for p in points])
    by = {(r["qoi"], r["source"]): r for r in rows if r["stage"] == "qoi"}
    assert len(by) == 6
    gans = {seed: W.train_wgan(s, train["histories"], train["material"], seed=seed,
                               run_dir=out / "uq" / "wgan" / f"seed_{seed}") for seed in s.wgan_seeds}
    material = W.material_draws(s)
    mc_hist = W.generate_histories(gans[0], material, test["histories"].shape[1:], seed=s.seed)
    mc = W.submodel_qois(s, mc_hist, material)
    for q in W.QOIS:
        threshold = float(np.quantile(train[q], 0.9))
        assert by[(q, FULL)] == {"stage": "qoi", "qoi": q, "source": FULL, **W.qoi_estimates(test[q], threshold)}
        wgan = W.qoi_estimates(mc[q], threshold)
        assert {k: by[(q, WGAN)][k] for k in wgan} == pytest.approx(wgan, rel=1e-9)
        assert by[(q, WGAN)]["mean_rel_error"] == pytest.approx(
            abs(wgan["mean"] - by[(q, FULL)]["mean"]) / by[(q, FULL)]["mean"], rel=1e-9)
        assert by[(q, GPCA)]["n"] == 4.0 and by[(q, FULL)]["n"] == 5.0
    swd = {r["model"]: r for r in rows if r["stage"] == "swd"}
    for seed, gan in gans.items():
        h = W.generate_histories(gan, test["material"], test["histories"].shape[1:], seed=seed)
        assert swd["wgan_gp"][f"swd_seed_{seed}"] == pytest.approx(
            W.history_distance(s, h, test["histories"], seed=seed), rel=1e-9)
        assert swd["training_set"][f"swd_seed_{seed}"] == pytest.approx(
            W.history_distance(s, train["histories"], test["histories"], seed=seed), rel=1e-12)
    assert swd["wgan_gp"]["swd_mean"] == pytest.approx(np.mean([swd["wgan_gp"]["swd_seed_0"],
                                                               swd["wgan_gp"]["swd_seed_1"]]), rel=1e-12)
    campaign = {r["split"]: r for r in rows if r["stage"] == "campaign"}
    assert (campaign["train"]["n_runs"], campaign["test"]["n_runs"]) == (6.0, 5.0)
    assert campaign["test"]["history_values"] == 9 * 16 * 2  # n_steps + 1 frames, 16 interface nodes, x and y


@pytest.mark.fem
def test_tiny_step_writes_the_study_rows_and_plots_and_a_rerun_reloads(tmp_path):
    pytest.importorskip("dolfinx_solver")
    wf, out, lines = _write(tmp_path, {"name": "uq", "file": "uq", "settings": SETTINGS}), tmp_path / "out", []
    ctx = run_workflow(wf, output_dir=out, log=lines.append)
    data = json.loads((out / "uq.json").read_text())
    rows = data["rows"]
    for r in rows:  # a quantile's interval of 4 or 5 runs may be unbounded; every other figure is finite
        numbers = [v for k, v in r.items() if isinstance(v, float) and not k.startswith("q95_")]
        assert numbers and all(math.isfinite(v) for v in numbers), r
        assert not any(math.isnan(v) for v in r.values() if isinstance(v, float)), r
    s = study_settings(WGANSubmodelStep(settings=SETTINGS))
    assert data["settings"] == s.model_dump(mode="json") and data["interface_points"] == 16
    _check_rows(rows, s, out)
    gens = [r for r in rows if r["stage"] == "generator"]
    assert [(r["model"], r.get("seed"), r.get("n_steps")) for r in gens] == [
        ("wgan_gp", 0.0, 3.0), ("wgan_gp", 1.0, 3.0), ("gaussian_pca", None, None)]
    for name in ("uq_histories.png", "uq_qoi_histograms.png", "uq_training.png"):
        assert (out / name).stat().st_size > 1000
    assert ctx.datasets["uq_test"] == out / "uq" / "test.nc"
    assert json.loads((out / "heldout.json").read_text())["dims"]["sample"] == 5  # a later step reads the campaign
    assert not list((out / "uq" / "campaign").glob("*.nc"))  # chunks merged
    stored, metrics = _mtimes(out / "uq"), _metrics(out / "uq")
    assert len(metrics) == 2 and sum(f.endswith(".pt") for f in stored) >= 2
    assert {"train.nc", "test.nc", f"mc_{WGAN}.npz", f"mc_{GPCA}.npz"} <= set(stored)
    record = json.loads((out / RECORDS / "wgan_submodel-uq.json").read_text())

    # a rerun of the finished step reloads everything: same key, no file of the work folder rewritten
    lines.clear()
    run_workflow(wf, output_dir=out, log=lines.append)
    assert json.loads((out / RECORDS / "wgan_submodel-uq.json").read_text())["key"] == record["key"]
    assert not any("starting clean" in line for line in lines)
    assert _mtimes(out / "uq") == stored and _metrics(out / "uq") == metrics
    assert json.loads((out / "uq.json").read_text())["rows"] == rows
    assert any("campaign test: 5 full-model runs reloaded" in line for line in lines)
    assert any("(2 resumed or reloaded)" in line for line in lines)
    assert any("(2 of 2 reloaded)" in line for line in lines)

    # a run that lost one training and one Monte Carlo sample redoes only those, to the same rows (seeded)
    shutil.rmtree(out / "uq" / "wgan" / "seed_1")
    (out / "uq" / f"mc_{GPCA}.npz").unlink()
    lines.clear()
    run_workflow(wf, output_dir=out, log=lines.append)
    assert json.loads((out / "uq.json").read_text())["rows"] == rows
    now = _mtimes(out / "uq")
    assert {k for k in now if now[k] != stored.get(k)} == {f"mc_{GPCA}.npz"} | {k for k in now if "seed_1" in k}
    assert any("(1 resumed or reloaded)" in line for line in lines) and any("(1 of 2 reloaded)" in line
                                                                             for line in lines)


def test_shipped_workflow_parses_and_validates():
    path = ROOT / "workflows" / "wgan_submodel.yaml"
    spec = load_config(path, WorkflowSpec)
    ctx = WorkflowContext(name=spec.name, source=str(path), base_dir=path.parent, output_dir=ROOT / "runs" / "x")
    prepare(spec, ctx)
    step = spec.steps[0]
    assert isinstance(step, WGANSubmodelStep) and step.quick
    s = study_settings(step)
    assert s.n_mc >= s.n_test >= 100 and len(s.wgan_seeds) >= 2
    assert f"{step.name}_test" in ctx.produced


@pytest.mark.parametrize(("settings", "message"), [
    ({"n_train": 1}, r"wf\.yaml: field steps\.0\.settings\.n_train: Input should be greater than or equal to 2"),
    ({"n_trian": 10}, r"steps\.0\.settings\.n_trian: unknown field 'n_trian'; accepted fields: .*'n_train'"),
    ({"wgan": {"n_step": 3}},
     r"steps\.0\.settings\.wgan\.n_step: unknown field 'n_step'; accepted fields: .*'n_steps'"),
    ({"distribution": {"E": [0.8, 5.0]}},
     r"steps\.0\.settings: .*parameter E=5 is out of range; accepted: E in \[0\.5, 2\]"),
    ({"wgan_seeds": []}, r"steps\.0\.settings\.wgan_seeds: List should have at least 1 item"),
])
def test_bad_settings_are_config_errors_naming_the_field_before_any_work(tmp_path, settings, message):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message):
        run_workflow(_write(tmp_path, {"settings": settings}), output_dir=out)
    assert not out.exists()


def test_bad_step_fields_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"steps\.0\.wgan_submodel\.n_mc: unknown field 'n_mc'"):
        load_config(_write(tmp_path, {"n_mc": 3}), WorkflowSpec)
    with pytest.raises(ConfigError, match=r"steps\.0\.wgan_submodel\.quick: Input should be a valid boolean"):
        load_config(_write(tmp_path, {"quick": "perhaps"}), WorkflowSpec)


def test_settings_merge_into_the_preset_and_the_key_ignores_executors():
    s = study_settings(WGANSubmodelStep(settings={"n_train": 50, "wgan": {"n_steps": 7}}))
    quick = W.preset_settings(True)
    assert (s.n_train, s.wgan.n_steps, s.wgan.hidden, s.n_test) == (50, 7, quick.wgan.hidden, quick.n_test)
    full = study_settings(WGANSubmodelStep(quick=False))
    assert full == W.preset_settings(False) and full.resolution == 24
    ctx = WorkflowContext(name="wf", source="wf.yaml", base_dir=Path("."), output_dir=Path("out"))
    a = WGANSubmodelStep(settings={"executor": {"kind": "inprocess"}}).keyed_config(ctx, 0)
    b = WGANSubmodelStep(executor={"kind": "process", "n_workers": 3}).keyed_config(ctx, 0)
    assert a == b and "executor" not in a["settings"]
    assert WGANSubmodelStep(settings={"seed": 1}).keyed_config(ctx, 0)["settings"]["seed"] == 1
