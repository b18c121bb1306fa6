"""The sciml command line: the main job, data commands, bench, and clean errors."""

from __future__ import annotations

import json
import os
import re
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
    assert code == 2 and "unknown benchmark 'nonesuch'; accepted: ['bnn_bo', 'cape', 'carpool', 'mfbo', 'potentials', 'probconserv', 'solvers', 'wgan']" in err


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


# ------------------------------------------------ usage errors, Ctrl-C, OS errors (issue 16)
SCIML = Path(sys.executable).parent / "sciml"


def test_no_arguments_prints_the_help_and_exits_2(capsys):
    """No command is a usage error (click >= 8.2 and typer convention): the help, status 2."""
    for args, usage, a_command in (([], "Usage: sciml [OPTIONS] COMMAND", "bench"),
                                   (["data"], "Usage: sciml data [OPTIONS] COMMAND", "generate")):
        code, out, err = run_cli(args, capsys)
        assert code == 2, args
        assert usage in out + err and a_command in out + err  # the help, wherever typer prints it
        assert "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["run"], "Missing argument 'workflow'"),
    (["data", "generate"], "Missing argument 'recipe'"),
    (["bench"], "Missing argument 'name'"),
    (["--bogus"], "No such option: --bogus"),
    (["run", "--bogus", "x.yaml"], "No such option: --bogus"),
    (["nope"], "No such command 'nope'"),
    (["rn"], "Did you mean 'run'?"),
    (["data", "nope"], "No such command 'nope'"),
])
def test_usage_errors_print_usage_and_exit_2(args, message, capsys):
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith("Usage: sciml") and "--help' for help." in err
    assert err.splitlines()[-1].startswith("Error: ") and message in err.splitlines()[-1]
    assert "Traceback" not in err


def test_option_without_its_value_exits_2(capsys):
    """click's parser raises this one without a context: the error line only, no usage."""
    code, out, err = run_cli(["data", "generate", "r.yaml", "--executor"], capsys)
    assert code == 2 and out == ""
    assert err == "Error: Option '--executor' requires an argument.\n"


def test_help_exits_0(capsys):
    for args in (["--help"], ["data", "generate", "--help"], ["bench", "--help"]):
        code, out, err = run_cli(args, capsys)
        assert code == 0 and "Usage: sciml" in out and err == "", args


def test_usage_errors_of_the_installed_command(tmp_path):
    """As a user runs it: usage on stderr, status 2, no traceback."""
    for args in ([], ["nope"], ["run"], ["data", "generate", "--bogus"]):
        res = subprocess.run([str(SCIML), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert "Usage: sciml" in res.stdout + res.stderr and "Traceback" not in res.stderr


def test_ctrl_c_in_a_command_prints_one_line_and_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    _interrupt_generate(monkeypatch, interrupted)
    code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                              "--output", str(tmp_path / "x.nc")], capsys)
    assert code == 130 and err == "interrupted\n"
    assert list(tmp_path.iterdir()) == []


def _interrupt_generate(monkeypatch, body) -> None:
    """Make ``sciml data generate`` run ``body`` instead of generating."""
    import sciml.workflows.campaign as campaign

    monkeypatch.setattr(campaign, "generate", lambda *args, **kwargs: body())


class _Finalized:
    def __del__(self):
        raise KeyboardInterrupt  # Ctrl-C landing in a finalizer


def _ctrl_c_in_a_finalizer_then_wait() -> None:
    """A command body whose Ctrl-C lands in a finalizer; it fails if no interrupt follows in 10 s."""
    import time

    _Finalized()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise AssertionError("the interrupt was lost")


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_lost_in_a_finalizer_is_delivered_again(tmp_path, capsys, monkeypatch):
    """Python only reports a KeyboardInterrupt raised in a finalizer and goes on; sciml
    interrupts the main thread again."""
    _interrupt_generate(monkeypatch, _ctrl_c_in_a_finalizer_then_wait)
    hook = sys.unraisablehook
    code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                              "--output", str(tmp_path / "x.nc")], capsys)
    assert code == 130 and err == "interrupted\n"
    assert sys.unraisablehook is hook


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_is_delivered_even_if_a_library_left_sigint_ignored(tmp_path, capsys, monkeypatch):
    import signal

    _interrupt_generate(monkeypatch, _ctrl_c_in_a_finalizer_then_wait)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                                  "--output", str(tmp_path / "x.nc")], capsys)
        assert code == 130 and err == "interrupted\n"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the caller's handler is restored
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_finalizers_of_objects_ctrl_c_left_half_built_stay_quiet(tmp_path, capsys, monkeypatch):
    class HalfBuilt:  # as an h5netcdf file interrupted in its constructor
        def __init__(self):
            raise KeyboardInterrupt

        def __del__(self):
            self._closed  # AttributeError: never set

    _interrupt_generate(monkeypatch, HalfBuilt)
    hook = sys.unraisablehook
    code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                              "--output", str(tmp_path / "x.nc")], capsys)
    assert code == 130 and err == "interrupted\n"
    assert sys.unraisablehook is hook


#: many one-sample tasks: long enough to be interrupted, each one short
LONG_RECIPE = """\
name: long_advection
simulator: {kind: advection1d, n_cells: 64, n_frames: 11, t_final: 0.5}
design: {kind: lhs, n: 2000, bounds: {beta: [0.1, 1.0]}}
samples_per_task: 1
seed: 1
executor: {kind: inprocess}
output: out/long.nc
"""


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as at a terminal, even under a runner that ignores it


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("executor", ["inprocess", "dask"])
def test_sigint_to_a_running_generate_exits_130_and_leaves_no_partial_file(tmp_path, executor):
    """Ctrl-C at a terminal signals the whole process group: the workers of a Dask cluster too."""
    import signal
    import time

    recipe = LONG_RECIPE.replace("executor: {kind: inprocess}", f"executor: {{kind: {executor}}}")
    (tmp_path / "long.yaml").write_text(recipe)
    out, parts = tmp_path / "out" / "long.nc", tmp_path / "out" / "long.nc.parts"
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen([str(SCIML), "data", "generate", "long.yaml"], cwd=tmp_path,
                                stdout=stdout, stderr=stderr, start_new_session=True, preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 90
            while not (parts.is_dir() and any(parts.glob("task-*.nc"))):  # inside the task loop
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.rstrip().splitlines()[-1] == "interrupted" or executor == "dask", err
    assert "\ninterrupted\n" in "\n" + err
    assert not out.exists() and list(tmp_path.rglob("*.tmp")) == []
    assert 0 < len(list(parts.glob("task-*.nc"))) < 2000  # finished parts are kept for a rerun


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch):
    """An existing folder nothing can be created in (mode 0o555).

    Mode bits do not bind root: under root, ``os.mkdir`` and ``os.open(O_CREAT)`` refuse
    entries in the folder with ``EACCES`` as the kernel does for other users.
    """
    import errno

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        real_mkdir, real_open = os.mkdir, os.open

        def refuse(path) -> None:
            if Path(os.fsdecode(path)).parent == folder:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

        def mkdir(path, mode=0o777, *, dir_fd=None):
            refuse(path)
            return real_mkdir(path, mode, dir_fd=dir_fd)

        def open_(path, flags, mode=0o777, *, dir_fd=None):
            if flags & os.O_CREAT:
                refuse(path)
            return real_open(path, flags, mode, dir_fd=dir_fd)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", open_)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("command", ["data", "run"])
def test_output_in_a_read_only_folder_is_one_line_and_leaves_nothing(command, read_only_dir, capsys):
    if command == "data":
        args = ["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                "--output", str(read_only_dir / "adv.nc")]
    else:
        args = ["run", str(ROOT / "workflows" / "quickstart.yaml"), "--output-dir", str(read_only_dir / "qs"),
                "--executor", "inprocess"]
    code, out, err = run_cli(args, capsys)
    assert code == 2, err
    assert err.startswith(f"error: {read_only_dir}{os.sep}") and err.endswith(": Permission denied\n")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(read_only_dir.iterdir()) == []


def test_output_below_a_file_is_one_line(tmp_path, capsys):
    """A real OS refusal (no patching, whoever runs the tests): the parent is a file."""
    (tmp_path / "f").write_text("")
    code, out, err = run_cli(["data", "generate", str(ROOT / "datasets" / "advection_small.yaml"),
                              "--output", str(tmp_path / "f" / "adv.nc")], capsys)
    assert code == 2
    # the first write to fail names the path (the folder itself, or an entry in it) and the reason
    assert re.fullmatch(rf"error: {re.escape(str(tmp_path / 'f'))}\S*: (Not a directory|File exists)\n", err), err
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
