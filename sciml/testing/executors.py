"""The Executor contract suite."""

from __future__ import annotations

from sciml.executors import Executor
from sciml.testing._assert import require

__all__ = ["check_executor"]


def square(x: int) -> int:
    """A task (module-level, so that every kind of worker can import it)."""
    return x * x


def fail_on_three(x: int) -> int:
    """A task that fails for ``x == 3``."""
    if x == 3:
        raise ValueError("task three failed")
    return x


def check_executor(executor: Executor, *, n_tasks: int = 13) -> None:
    """Check that ``executor`` maps functions over tasks as :class:`~sciml.executors.Executor` says.

    ``map`` must yield every index once with its result (in any order), yield nothing for no
    tasks, accept a ``desc``, and re-raise a task's exception with its message. The executor
    stays open (the caller closes it).

    Raises
    ------
    AssertionError
        The first rule broken, named.
    """
    require(isinstance(executor, Executor), f"{type(executor).__name__} does not satisfy the Executor protocol")
    require(isinstance(executor.name, str) and executor.name, "an executor has a non-empty name")
    tasks = list(range(n_tasks))
    pairs = list(executor.map(square, tasks, desc="contract"))
    indices = [i for i, _ in pairs]
    require(sorted(indices) == tasks, f"map must yield each index once; got {sorted(indices)}")
    require(dict(pairs) == {i: i * i for i in tasks}, f"map yielded wrong results: {dict(pairs)}")
    require(list(executor.map(square, [])) == [], "map over no tasks must yield nothing")
    try:
        list(executor.map(fail_on_three, [1, 2, 3, 4]))
    except ValueError as exc:
        require("task three failed" in str(exc), f"a task's exception must keep its message; got {exc!r}")
    else:
        raise AssertionError("a task's exception must propagate out of map")
    require(dict(executor.map(square, [5])) == {0: 25}, "the executor must still work after a failed task")
