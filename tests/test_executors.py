"""Every executor kind passes the Executor contract suite; configuration errors are clear."""

from __future__ import annotations

import pytest

from sciml.errors import ConfigError
from sciml.executors import EXECUTOR_KINDS, InProcessExecutor, ProcessPoolExecutor, make_executor
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
    import os

    with make_executor({"kind": "process", "n_workers": 1, "threads_per_worker": 3, "show_progress": False}) as ex:
        assert dict(ex.map(os.getenv, ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])) == {0: "3", 1: "3"}


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
