"""Workflow step ``potentials_study`` at a tiny size: rows, plots, a rerun that reloads, and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.studies.potentials import PotentialStudySettings
from sciml.workflows.context import WorkflowContext
from sciml.workflows.runner import RECORDS, prepare, run_workflow
from sciml.workflows.spec import WorkflowSpec
from sciml.workflows.steps.potentials_study import PotentialsStudyStep, md_settings, study_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[2]

TINY = """name: wf
steps:
  - kind: potentials_study
    name: lj
    file: lj
    n_members: 2
    member_steps: 20
    chain_steps: 10
    md_samples: 4
    md_steps: 20
    md_equilibrate: 0
    md_stride: 5
    rdf_bins: 20
    settings:
      simulator: {n_equilibrate: 30, n_frames: 4, stride: 10}
      hidden_channels: 8
      num_filters: 8
      num_interactions: 1
      num_gaussians: 8
      member: {batch_size: 2}
      chain: {batch_size: 2}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return path


def _step_fields(**fields: object) -> str:
    return "name: wf\nsteps:\n  - kind: potentials_study\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items())


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*.pt"))}


def test_tiny_study_writes_rows_and_plots_and_a_rerun_reloads(tmp_path):
    wf, out, lines = _write(tmp_path, TINY), tmp_path / "out", []
    ctx = run_workflow(wf, output_dir=out, log=lines.append)
    data = json.loads((out / "lj.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["map", "ensemble", "sgmcmc_multi_chain", "sgmcmc_single_chain", "posterior_md_rdf"]
    for r in data["rows"]:
        numbers = [v for v in r.values() if isinstance(v, float)]
        assert numbers and all(math.isfinite(v) for v in numbers), r
    # 2 members; 2 chains of 10 steps, burn-in 5 (half, as the quick chain), thin 1 -> 5 samples each
    assert (rows["ensemble"]["n_samples"], rows["sgmcmc_multi_chain"]["n_samples"]) == (2.0, 10.0)
    assert rows["sgmcmc_single_chain"]["n_samples"] == 5.0 and rows["posterior_md_rdf"]["n_samples"] == 4.0
    assert rows["map"]["n_atoms"] == 108.0 and rows["map"]["frames_per_split"] == 4.0
    assert rows["ensemble"]["scale"] > 0 and 0 <= rows["posterior_md_rdf"]["reference_in_band_fraction"] <= 1
    assert len(data["rdf"]["r"]) == 20 and data["settings"]["chain"]["burn_in"] == 5
    assert data["md"]["md_samples"] == 4 and data["step"]["chain_steps"] == 10
    for name in ("lj_calibration.png", "lj_rdf.png"):
        assert (out / name).stat().st_size > 1000
    assert ctx.artefacts["potentials:lj"] == out / "lj.json"
    assert [r["resumed_from"] for r in data["runs"]["members"] + data["runs"]["chains"]] == [None] * 4
    samples = _mtimes(out / "lj")
    assert len([k for k in samples if "/samples/" in k]) == 2 + 10
    md_file = (out / "lj" / "posterior_md.nc").stat().st_mtime_ns
    record = json.loads((out / RECORDS / "potentials_study-lj.json").read_text())

    # a rerun of the finished step reloads everything: same key, no run trains a step
    lines.clear()
    run_workflow(wf, output_dir=out, log=lines.append)
    again = json.loads((out / "lj.json").read_text())
    assert json.loads((out / RECORDS / "potentials_study-lj.json").read_text())["key"] == record["key"]
    assert not any("starting clean" in line for line in lines)
    assert [(r["steps_completed"], r["resumed_from"]) for r in again["runs"]["members"]] == [(20, 20)] * 2
    assert [(r["steps_completed"], r["resumed_from"]) for r in again["runs"]["chains"]] == [(10, 10)] * 2
    assert _mtimes(out / "lj") == samples and (out / "lj" / "posterior_md.nc").stat().st_mtime_ns == md_file
    assert again["rows"] == data["rows"]
    assert any("reference MD reloaded" in line for line in lines)
    assert any("posterior MD of 4 samples reloaded" in line for line in lines)


@pytest.mark.parametrize(("fields", "message"), [
    ({"n_member": 3},
     r"field steps\.0\.potentials_study\.n_member: unknown field 'n_member'; accepted fields: .*'n_members'"),
    ({"n_members": 1}, r"field steps\.0\.potentials_study\.n_members: .*greater than or equal to 2"),
    ({"system": "argon"}, r"steps\.0\.potentials_study\.system: .*unknown system 'argon'; accepted: lj"),
    ({"md_samples": 1}, r"steps\.0\.potentials_study\.md_samples: .*greater than or equal to 2"),
    ({"md_timestep": -0.1}, r"steps\.0\.potentials_study\.md_timestep: .*greater than 0"),
])
def test_bad_fields_are_config_errors_naming_the_field(tmp_path, fields, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, _step_fields(**fields)), WorkflowSpec)


@pytest.mark.parametrize(("fields", "message"), [
    ({"settings": "{hidden_chanels: 8}"},
     r"wf\.yaml: field steps\.0\.settings\.hidden_chanels: unknown field 'hidden_chanels'; accepted fields: .*"
     r"'hidden_channels'"),
    ({"settings": "{member: {lr: -1}}"}, r"steps\.0\.settings\.member\.lr: .*greater than 0"),
    ({"settings": "{n_members: 3}"}, r"steps\.0\.settings\.n_members: set by the step's own field 'n_members'"),
    ({"settings": "{chain: {burn_in: 3}}"}, r"steps\.0\.settings\.chain\.burn_in: set by the step's own field"),
    ({"chain_steps": 10, "chain_burn_in": 10}, r"steps\.0\.chain_burn_in: the burn-in \(10 steps\) must be shorter"),
    ({"settings": "{params: {density: 0.95}}"}, r"steps\.0\.settings\.params: .*density"),
    ({"settings": "{cutoff: 2.6}"}, r"steps\.0\.settings\.cutoff: the box of 108 atoms .* less than twice the cutoff"),
    ({"settings": "{simulator: {n_atoms: 100}}"}, r"steps\.0\.settings\.simulator: .*n_atoms"),
    ({"settings": "{simulator: {kind: emt_metal}}"}, r"steps\.0\.settings\.simulator\.kind: the 'lj' system runs"),
])
def test_bad_settings_fail_the_check_before_any_work(tmp_path, fields, message):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message):
        run_workflow(_write(tmp_path, _step_fields(**fields)), output_dir=out)
    assert not out.exists()


def test_study_settings_resolve_the_step_fields():
    quick = study_settings(PotentialsStudyStep())
    assert quick == PotentialStudySettings()  # seed 0: the benchmark's quick settings
    s = study_settings(PotentialsStudyStep(seed=2, n_members=3, member_steps=7, chain_steps=20,
                                           settings={"simulator": {"n_frames": 5}, "hidden_channels": 8}))
    assert (s.seed, s.n_members, s.member.n_steps, s.member.seed, s.chain.seed) == (2, 3, 7, 2000, 2000)
    assert (s.chain.n_steps, s.chain.burn_in, s.chain.thin) == (20, 10, 2)  # quick chain 200 / 100 / 20, scaled
    assert s.simulator == {"kind": "lj_fluid", "n_atoms": 108, "n_equilibrate": 500, "n_frames": 5, "stride": 20}
    assert (s.hidden_channels, s.num_filters) == (8, 32)
    full = PotentialsStudyStep(quick=False, chain_burn_in=0, chain_thin=7)
    f = study_settings(full)
    assert (f.n_members, f.chain.n_steps, f.chain.burn_in, f.chain.thin, f.hidden_channels) == (8, 2000, 0, 7, 64)
    assert (md_settings(full)["md_samples"], md_settings(full)["md_steps"]) == (32, 2000)
    assert md_settings(PotentialsStudyStep())["md_samples"] == 16
    assert md_settings(PotentialsStudyStep(md_steps=50))["md_steps"] == 50
    bad = PotentialsStudyStep.model_construct(**{**PotentialsStudyStep().model_dump(), "system": "emt"})
    with pytest.raises(ConfigError, match=r"^x\.system: unknown system 'emt'; accepted: lj"):
        study_settings(bad, "x")


def test_shipped_workflow_checks_and_the_keys_ignore_the_executor(tmp_path):
    spec = load_config(ROOT / "workflows" / "potentials_lj.yaml", WorkflowSpec)
    ctx = WorkflowContext(name=spec.name, source="w", base_dir=tmp_path, output_dir=tmp_path)
    prepare(spec, ctx)  # builds the simulator, runs nothing
    step = spec.steps[0]
    assert isinstance(step, PotentialsStudyStep) and step.quick and step.executor is not None
    assert step.outputs(ctx) == [tmp_path / "lj", *(tmp_path / f"lj{s}" for s in (".json", "_calibration.png",
                                                                                  "_rdf.png"))]
    assert step.keyed_config(ctx, 0) == step.model_copy(update={"executor": None}).keyed_config(ctx, 0)
    assert "executor" not in step.keyed_config(ctx, 0) and step.keyed_config(ctx, 0)["md_samples"] == 16
