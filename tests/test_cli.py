"""The sciml command line: the main job, data commands, bench, and clean errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sciml.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def test_quickstart_workflow_runs_and_writes_outputs(tmp_path, capsys):
    code, out, err = run_cli(["run", str(ROOT / "workflows" / "quickstart.yaml"),
                              "--output-dir", str(tmp_path / "qs"), "--executor", "inprocess"], capsys)
    assert code == 0, err
    qs = tmp_path / "qs"
    for name in ("burgers.nc", "trajectories.png", "summary.json", "summary.md", "config.resolved.yaml"):
        assert (qs / name).is_file(), name
    summary = json.loads((qs / "summary.json").read_text())
    assert summary["dims"] == {"sample": 24, "t": 41, "x": 128}
    assert summary["parameters"]["nu"]["values"] == [0.01, 0.1, 1.0]
    assert (qs / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the small CAPE model was trained (checkpoint loads with weights_only) and evaluated
    import math

    import torch

    ckpt = torch.load(qs / "cape" / "best.pt", weights_only=True)
    assert ckpt["model_class"].endswith("CAPE")
    evaluation = json.loads((qs / "cape_test.json").read_text())
    for key in ("rmse", "nrmse", "crmse", "max_error", "brmse", "frmse_low"):
        assert math.isfinite(evaluation[key]) and evaluation[key] >= 0
    assert len(evaluation["error_vs_time"]["t"]) == 20  # 21 frames (t_stride 2), first one given
    for name in ("cape_test_rollouts.png", "cape_test_error_vs_time.png"):
        assert (qs / name).read_bytes()[:4] == b"\x89PNG"
    # a second run reuses the dataset instead of regenerating it
    code, out, err = run_cli(["run", str(ROOT / "workflows" / "quickstart.yaml"),
                              "--output-dir", str(qs), "--executor", "inprocess"], capsys)
    assert code == 0 and "is up to date; skipped" in out and "(resuming)" in out


def test_data_generate_and_info(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    shutil.copy(ROOT / "datasets" / "advection_small.yaml", recipe)
    out_file = tmp_path / "adv.nc"
    code, out, err = run_cli(["data", "generate", str(recipe), "--output", str(out_file)], capsys)
    assert code == 0, err
    assert "design:     sobol, 4 point(s)" in out and "samples:    8 in 4 task(s)" in out
    code, out, err = run_cli(["data", "info", str(out_file)], capsys)
    assert code == 0, err
    assert "dims: sample=8, t=41, x=128" in out
    assert "parameter beta (1): 4 distinct" in out
    assert "generator: advection1d" in out
    code, out, err = run_cli(["data", "info", "--json", "--no-stats", str(out_file)], capsys)
    info = json.loads(out)
    assert info["dims"]["sample"] == 8 and "mean" not in info["fields"]["u"]


def test_dry_run_writes_nothing(tmp_path, capsys):
    out_file = tmp_path / "x.nc"
    code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "burgers_small.yaml"),
                              "--output", str(out_file), "--dry-run"], capsys)
    assert code == 0 and "samples:    24 in 6 task(s)" in out
    assert list(tmp_path.iterdir()) == []


def test_bad_recipe_exits_2_with_message_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "datasets" / "burgers_small.yaml").read_text().replace("{nu: 1.0}", "{nu: -1.0}"))
    code, out, err = run_cli(["data", "generate", str(bad), "--output", str(tmp_path / "o.nc")], capsys)
    assert code == 2
    assert err.startswith("error: ") and str(bad) in err and "nu=-1 is out of range" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_info_on_foreign_file_is_a_clear_error(tmp_path, capsys):
    junk = tmp_path / "junk.nc"
    junk.write_text("this is not netcdf")
    code, out, err = run_cli(["data", "info", str(junk)], capsys)
    assert code == 2 and str(junk) in err


def _pdebench_file(path: Path, tensor=None) -> Path:
    """A PDEBench-layout file (``tensor`` unless None, coordinates, ``Nu``)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        if tensor is not None:
            f["tensor"] = tensor
        f["x-coordinate"] = np.linspace(0, 1, 8, dtype=np.float32)
        f["t-coordinate"] = np.arange(6, dtype=np.float32) * 0.1
        f.attrs["Nu"] = 0.01
    return path


def test_info_on_pdebench_file(tmp_path, capsys):
    import numpy as np

    tensor = np.random.default_rng(0).normal(size=(4, 5, 8)).astype(np.float32)
    path = _pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5", tensor)
    code, out, err = run_cli(["data", "info", "--json", str(path)], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["dims"] == {"sample": 4, "t": 5, "x": 8}
    assert info["coordinates"]["t"]["max"] == pytest.approx(0.4)
    a = tensor.astype(np.float64)
    assert info["fields"]["u"]["min"] == a.min() and info["fields"]["u"]["max"] == a.max()
    assert info["fields"]["u"]["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert info["fields"]["u"]["std"] == pytest.approx(a.std(), rel=1e-12)
    code, out, err = run_cli(["data", "info", str(path)], capsys)
    assert code == 0 and "parameter nu (1): 1 distinct: 0.01" in out and "generator: pdebench-file" in out


def test_info_on_pdebench_file_without_tensor(tmp_path, capsys):
    path = _pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    code, out, err = run_cli(["data", "info", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: not a PDEBench file: the root dataset 'tensor' is missing")
    assert "datasets present: ['t-coordinate', 'x-coordinate']" in err
    assert "phony" not in err and "provenance" not in err and "Traceback" not in err
    # the same in a fresh process, as a user runs it
    res = subprocess.run([sys.executable, "-m", "sciml.cli", "data", "info", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    assert "the root dataset 'tensor' is missing" in res.stderr


def test_unknown_benchmark(capsys):
    code, out, err = run_cli(["bench", "nonesuch"], capsys)
    assert code == 2 and "unknown benchmark 'nonesuch'; accepted: ['cape', 'mfbo', 'probconserv', 'solvers']" in err


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "sciml"
    assert exe.exists()
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for command in ("run", "data", "bench"):
        assert command in res.stdout


def test_bench_options_a_benchmark_does_not_support(capsys, tmp_path):
    code, out, err = run_cli(["bench", "solvers", "--quick", "--work-dir", str(tmp_path)], capsys)
    assert code == 2 and "benchmark 'solvers' does not support --work-dir" in err
    code, out, err = run_cli(["bench", "mfbo", "--quick", "--only", "rosen"], capsys)
    assert code == 2 and "only: no problem 'rosen' in this mode" in err
