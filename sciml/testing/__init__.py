"""Contract suites: one function per contract that any implementation must pass.

In the spirit of GPyTorch's base test cases, an implementation's test only supplies an
instance (and its inputs); the assertions are shared::

    from sciml.testing import check_executor, check_simulator, check_surrogate

    check_simulator(MySimulator(n_cells=32))
    check_surrogate(MySurrogate().fit(data), inputs)
    with MyExecutor() as ex:
        check_executor(ex)

Each raises ``AssertionError`` with a message that names the broken rule.
"""

from sciml.testing.executors import check_executor
from sciml.testing.simulators import check_simulator
from sciml.testing.surrogates import check_surrogate

__all__ = ["check_executor", "check_simulator", "check_surrogate"]
