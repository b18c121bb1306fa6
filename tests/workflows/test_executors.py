"""Contract tests: every Executor maps functions over tasks the same way."""

from __future__ import annotations

import pytest

from sciml.errors import ConfigError
from sciml.workflows.executors import Executor, InProcessExecutor, make_executor


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("task three failed")
    return x


@pytest.fixture(params=["inprocess", "dask"])
def executor(request, dask_executor):
    if request.param == "inprocess":
        return InProcessExecutor(show_progress=False)
    return dask_executor


def test_satisfies_protocol(executor):
    assert isinstance(executor, Executor)


def test_map_yields_every_index_once_with_its_result(executor):
    tasks = list(range(13))
    out = dict(executor.map(square, tasks))
    assert out == {i: i * i for i in tasks}


def test_map_of_no_tasks_yields_nothing(executor):
    assert list(executor.map(square, [])) == []


def test_task_exception_propagates_with_its_message(executor):
    with pytest.raises(ValueError, match="task three failed"):
        list(executor.map(fail_on_three, [1, 2, 3, 4]))


def test_make_executor_rejects_unknown_kind_and_options():
    with pytest.raises(ConfigError, match=r"unknown executor kind 'mpi'; accepted: \['inprocess', 'dask', 'slurm'\]"):
        make_executor({"kind": "mpi"})
    with pytest.raises(ConfigError, match="bad options for executor 'inprocess'"):
        make_executor({"kind": "inprocess", "n_workers": 3})


def test_make_executor_builds_inprocess():
    with make_executor({"kind": "inprocess", "show_progress": False}) as ex:
        assert dict(ex.map(square, [2, 3])) == {0: 4, 1: 9}
