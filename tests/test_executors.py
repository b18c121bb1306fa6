"""Every executor kind passes the Executor contract suite; configuration errors are clear."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sciml.errors import ConfigError
from sciml.executors import (
    EXECUTOR_KINDS,
    InProcessExecutor,
    ProcessPoolExecutor,
    make_executor,
    _numpy_dispatch_targets,
    portable_numerics_environment,
)
from sciml.testing import check_executor
from sciml.testing.executors import square


def test_inprocess_executor_keeps_the_contract():
    with InProcessExecutor(show_progress=False) as ex:
        check_executor(ex)


def test_process_pool_executor_keeps_the_contract():
    with ProcessPoolExecutor(n_workers=2, show_progress=False) as ex:
        check_executor(ex)


def test_dask_executor_keeps_the_contract(dask_executor):
    check_executor(dask_executor)


def test_process_pool_workers_get_their_thread_count():
    with make_executor({"kind": "process", "n_workers": 1, "threads_per_worker": 3, "show_progress": False}) as ex:
        assert dict(ex.map(os.getenv, ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])) == {0: "3", 1: "3"}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads a process's start environment from /proc")
def test_process_pool_workers_start_with_the_environment_and_the_caller_keeps_its_own(monkeypatch):
    """The variables are in each worker's START environment (what a library reads when it loads),
    not only set later by the initializer; the caller's environment is restored."""
    monkeypatch.setenv("SCIML_TEST_VARIABLE", "caller")
    monkeypatch.delenv("SCIML_TEST_OTHER", raising=False)
    env = {"SCIML_TEST_VARIABLE": "worker", "SCIML_TEST_OTHER": "x=1"}
    with ProcessPoolExecutor(n_workers=2, environment=env, show_progress=False) as ex:
        starts = dict(ex.map(Path.read_bytes, [Path("/proc/self/environ")] * 4))
        assert dict(ex.map(os.getenv, ["SCIML_TEST_VARIABLE", "SCIML_TEST_OTHER"])) == {0: "worker", 1: "x=1"}
    for raw in starts.values():
        assert {b"SCIML_TEST_VARIABLE=worker", b"SCIML_TEST_OTHER=x=1"} <= set(raw.split(b"\0"))
    assert os.environ["SCIML_TEST_VARIABLE"] == "caller" and "SCIML_TEST_OTHER" not in os.environ


def test_process_pool_environment_needs_spawn_and_strings():
    with pytest.raises(ConfigError, match="environment needs start_method 'spawn'"):
        ProcessPoolExecutor(n_workers=1, start_method="forkserver", environment={"A": "1"})
    with pytest.raises(ConfigError, match=r"must be strings; bad: \['A'\]"):
        ProcessPoolExecutor(n_workers=1, environment={"A": 1})


def test_portable_numerics_environment_pins_mkl_and_torch_kernels():
    env = portable_numerics_environment()
    assert env["MKL_CBWR"] == "COMPATIBLE" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert set(env) <= {"MKL_CBWR", "ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES"}
    # numpy accepts the features it is told to disable (it warns on stderr for any it does not dispatch)
    assert set(env.get("NPY_DISABLE_CPU_FEATURES", "").split()) <= set(_numpy_dispatch_targets())


class _NotAnExecutor:
    name = "broken"

    def map(self, fn, tasks, *, desc=""):
        for i, task in enumerate(tasks[:-1]):  # loses the last task
            yield i, fn(task)

    def close(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_the_suite_fails_an_executor_that_loses_a_task():
    with pytest.raises(AssertionError, match="each index once"):
        check_executor(_NotAnExecutor())


def test_make_executor_rejects_unknown_kind_and_options():
    with pytest.raises(ConfigError, match=r"unknown executor kind 'mpi'; accepted: \['inprocess', 'process', "
                                          r"'dask', 'slurm'\]"):
        make_executor({"kind": "mpi"})
    with pytest.raises(ConfigError, match="bad options for executor 'inprocess'"):
        make_executor({"kind": "inprocess", "n_workers": 3})
    with pytest.raises(ConfigError, match="n_workers must be an integer >= 1, got 0"):
        make_executor({"kind": "process", "n_workers": 0})
    with pytest.raises(ConfigError, match="unknown start_method 'thread'"):
        make_executor({"kind": "process", "start_method": "thread"})
    assert EXECUTOR_KINDS == ("inprocess", "process", "dask", "slurm")


def test_make_executor_builds_inprocess():
    with make_executor({"kind": "inprocess", "show_progress": False}) as ex:
        assert dict(ex.map(square, [2, 3])) == {0: 4, 1: 9}


POOL_SCRIPT = """
import os, sys, time
from sciml.executors import ProcessPoolExecutor
ex = ProcessPoolExecutor(n_workers=2, show_progress=False)
futures = [ex._pool.submit(os.getpid) for _ in range(2)]
pids = sorted({f.result() for f in futures})
for _ in range(2):
    ex._pool.submit(time.sleep, 120)
print(" ".join(map(str, pids)), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its parent (now init) has not reaped it yet


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_workers_die_with_their_parent_after_kill_9():
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) >= 1 and all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "workers outlived their parent"
    finally:
        proc.kill()
