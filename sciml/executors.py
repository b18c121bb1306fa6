"""Executors: map a function over tasks in-process, in a process pool, on Dask or on Slurm.

Every executor satisfies :class:`Executor`::

    with make_executor({"kind": "dask", "n_workers": 2}) as ex:
        for index, result in ex.map(fn, tasks):
            ...

``map`` yields ``(index, result)`` pairs *as tasks complete* (not necessarily in order), so a
caller can persist each result at once: a crash then loses only the tasks in flight. A task
that raises re-raises in ``map`` and the tasks not yet started are cancelled. Functions and
tasks must be picklable for every kind but ``inprocess`` (module-level functions, plain data).
The contract suite is :func:`sciml.testing.check_executor`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from sciml.errors import ConfigError
from sciml.progress import progress

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Maps a function over tasks and yields ``(index, result)`` as tasks complete."""

    name: str

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *, desc: str = "") -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _ExecutorBase:
    name = "base"
    show_progress: bool | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - trivial
        return None


class InProcessExecutor(_ExecutorBase):
    """Runs tasks one after the other in the calling process (debugging, tests, tiny jobs)."""

    name = "inprocess"

    def __init__(self, *, show_progress: bool | None = None) -> None:
        self.show_progress = show_progress

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "") -> Iterator[tuple[int, R]]:
        """Apply ``fn`` to each task in order, yielding ``(index, result)``."""
        with progress(total=len(tasks), desc=desc or "tasks", enabled=self.show_progress) as bar:
            for i, task in enumerate(tasks):
                result = fn(task)
                bar.update(1)
                yield i, result


#: environment variables that size the thread pools of the numerical libraries
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


#: seconds between a worker's checks that its parent is alive
_PARENT_POLL_S = 0.5


def _exit_when_orphaned(parent_pid: int) -> None:
    """Watchdog thread of a worker: exit at once when the parent process is gone (``kill -9`` included)."""
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)  # no cleanup: the parent that would collect results is dead


def _start_worker(n_threads: int, environment: Mapping[str, str], parent_pid: int) -> None:
    """Worker initializer: size the thread pools of libraries the tasks import later, set ``environment``,
    and watch the parent so that the worker dies with it."""
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(n_threads)
    os.environ.update(environment)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True, name="sciml-parent-watch").start()


def _cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return False


def _numpy_dispatch_targets() -> list[str]:
    """The CPU features numpy chooses its loops by at run time (``numpy._core`` from numpy 2)."""
    try:
        from numpy._core import _multiarray_umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath
    return list(getattr(_multiarray_umath, "__cpu_dispatch__", []))


def portable_numerics_environment() -> dict[str, str]:
    """Environment that makes torch, MKL and OpenBLAS take the same code paths on every x86-64 CPU.

    The numerical libraries pick kernels by instruction set (AVX-512, AVX2, ...), and kernels
    of different vector widths sum in different orders: a seeded run that fits models and
    optimises acquisitions then diverges between machines after the first round-off
    difference. This pins MKL's conditional numerical reproducibility branch
    (``MKL_CBWR=COMPATIBLE``), torch's CPU kernels (``ATEN_CPU_CAPABILITY=avx2``, a ceiling),
    numpy's AVX-512 loops off (``NPY_DISABLE_CPU_FEATURES``, the installed numpy's AVX-512
    dispatch targets) and, where the CPU has AVX2, OpenBLAS's kernels
    (``OPENBLAS_CORETYPE=Haswell``). With the same library versions and thread count, results
    then agree across x86-64 machines with AVX2; other CPUs (ARM) or versions can still
    differ. Only processes started with it take effect (the libraries read it when they
    load): see :class:`ProcessPoolExecutor`'s ``environment``.

    Returns
    -------
    dict of str to str
    """
    env = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2"}
    wide = [f for f in _numpy_dispatch_targets() if f.startswith(("AVX512", "X86_V4", "AMX"))]
    if wide:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(wide)
    if _cpu_has_avx2():
        env["OPENBLAS_CORETYPE"] = "Haswell"
    return env


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` for the duration of the block, then restore it."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_environment(environment: Mapping[str, str] | None, start_method: str) -> dict[str, str]:
    env = dict(environment or {})
    if env and start_method != "spawn":
        raise ConfigError(f"process executor: environment needs start_method 'spawn' (a {start_method!r} "
                          "worker starts from a process whose libraries have already read theirs)")
    bad = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str) or not k]
    if bad:
        raise ConfigError(f"process executor: environment names and values must be strings; bad: {bad}")
    return env


class ProcessPoolExecutor(_ExecutorBase):
    """Runs tasks in a pool of fresh worker processes on this machine.

    Workers exit within about half a second once the process that made the pool is gone
    (``kill -9`` included), so an interrupted run leaves no worker writing behind it.

    Parameters
    ----------
    n_workers : int
        Worker processes (``>= 1``).
    threads_per_worker : int
        Threads of the numerical libraries (torch, OpenMP, BLAS, numba) in each worker, set
        through the environment before a task imports them.
    start_method : {"spawn", "forkserver", "fork"}
        How workers start; ``spawn`` (the default) shares no state with the caller.
    show_progress : bool or None
        Progress bar; ``None`` means "when stderr is a TTY".
    environment : mapping of str to str, optional
        Variables the workers start with (e.g. :func:`portable_numerics_environment`), for
        libraries that read them when they load; needs ``start_method="spawn"``. The caller's
        own environment is unchanged afterwards.

    Raises
    ------
    ConfigError
        Bad sizes, an unknown start method, or ``environment`` with another start method or
        with names or values that are not strings.
    """

    name = "process"

    def __init__(self, *, n_workers: int = 2, threads_per_worker: int = 1, start_method: str = "spawn",
                 show_progress: bool | None = None, environment: Mapping[str, str] | None = None) -> None:
        for label, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"process executor: {label} must be an integer >= 1, got {value!r}")
        methods = multiprocessing.get_all_start_methods()
        if start_method not in methods:
            raise ConfigError(f"process executor: unknown start_method {start_method!r}; accepted: {methods}")
        env = _check_environment(environment, start_method)
        self.show_progress = show_progress
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.environment = env
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=n_workers, mp_context=multiprocessing.get_context(start_method),
            initializer=_start_worker, initargs=(threads_per_worker, env, os.getpid()))
        if env:  # start every worker now, from an environment that has it (a worker starts in ~0.1 s:
            # none is idle before the last submit, so each submit starts one)
            with _environment(env):
                for future in [self._pool.submit(os.getpid) for _ in range(n_workers)]:
                    future.result()

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "") -> Iterator[tuple[int, R]]:
        """Submit every task, then yield ``(index, result)`` as each completes."""
        futures = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        try:
            with progress(total=len(tasks), desc=desc or "tasks", enabled=self.show_progress) as bar:
                for future in concurrent.futures.as_completed(futures):
                    result = future.result()
                    bar.update(1)
                    yield futures[future], result
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (tasks not yet started are cancelled)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


_DISTRIBUTED_LOGGERS = ("distributed", "tornado")


def _quiet_logging() -> None:
    """In a worker that is about to be shut down: log only critical messages of distributed."""
    for name in _DISTRIBUTED_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[None]:
    """Only critical messages of distributed in this process inside the block (levels restored)."""
    loggers = [logging.getLogger(name) for name in _DISTRIBUTED_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        _quiet_logging()
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this block (main thread only; elsewhere a no-op), so that child
    processes started in it inherit the ignored signal: a Ctrl-C at the terminal then
    interrupts the parent alone, which shuts its workers down, instead of every worker
    printing its own ``KeyboardInterrupt`` traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DaskExecutor(_ExecutorBase):
    """Runs tasks on a Dask cluster: a ``LocalCluster`` by default, or an existing scheduler.

    Parameters
    ----------
    n_workers : int
        Worker processes of the local cluster.
    threads_per_worker : int
        Threads per worker process.
    address : str, optional
        Address of a running scheduler (``tcp://host:8786``); no cluster is started.
    cluster : object, optional
        A ready ``distributed`` cluster object (e.g. a ``SLURMCluster``) to connect to.
    memory_limit : str
        Per-worker memory limit of the local cluster (Dask syntax, ``"4GiB"``).
    show_progress : bool or None
        Progress bar; ``None`` means "when stderr is a TTY".
    """

    name = "dask"

    def __init__(
        self,
        *,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        address: str | None = None,
        cluster: Any = None,
        memory_limit: str = "auto",
        show_progress: bool | None = None,
    ) -> None:
        from distributed import Client, LocalCluster

        self.show_progress = show_progress
        self._own_cluster = None
        self._outstanding: list[Any] = []
        if address is not None:
            self.client = Client(address)
        elif cluster is not None:
            self.client = Client(cluster)
        else:
            with sigint_ignored():  # the workers inherit it: Ctrl-C reaches this process only
                self._own_cluster = LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=threads_per_worker,
                    processes=True,
                    memory_limit=memory_limit,
                    dashboard_address=None,
                )
            self.client = Client(self._own_cluster)

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *, desc: str = "") -> Iterator[tuple[int, R]]:
        """Submit every task, then yield ``(index, result)`` as each completes.

        A task that raises re-raises its exception here (with the remote traceback); the
        tasks still running are cancelled.
        """
        from distributed import as_completed

        futures = [self.client.submit(fn, task, pure=False) for task in tasks]
        self._outstanding = futures
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            with progress(total=len(tasks), desc=desc or "tasks", enabled=self.show_progress) as bar:
                for future in as_completed(futures):
                    result = future.result()
                    bar.update(1)
                    yield index[future.key], result
        finally:
            self._cancel_outstanding()

    def _cancel_outstanding(self) -> None:
        pending = [f for f in self._outstanding if not f.done()]
        self._outstanding = []
        if pending and self.client.status == "running":
            self.client.cancel(pending)

    def close(self) -> None:
        """Cancel what is still running, close the client and the cluster it started (if any).

        The shutdown is quiet: the messages distributed logs while a cluster goes down under
        running tasks (cancelled tasks, heartbeats to a closed scheduler) are silenced in this
        process and in the cluster's workers.
        """
        with _quiet_loggers():
            try:
                if self._own_cluster is not None and self.client.status == "running":
                    self.client.run(_quiet_logging)
                self._cancel_outstanding()
            finally:
                self.client.close()
                if self._own_cluster is not None:
                    self._own_cluster.close()


def slurm_executor(
    *,
    jobs: int = 1,
    cores: int = 1,
    memory: str = "2GiB",
    walltime: str = "00:30:00",
    queue: str | None = None,
    account: str | None = None,
    job_extra_directives: Sequence[str] = (),
    interface: str | None = None,
    show_progress: bool | None = None,
) -> DaskExecutor:
    """A :class:`DaskExecutor` whose workers are Slurm jobs started by ``dask-jobqueue``.

    Parameters
    ----------
    jobs : int
        Number of Slurm jobs (each one Dask worker process).
    cores, memory, walltime, queue, account, job_extra_directives
        Passed to :class:`dask_jobqueue.SLURMCluster`.
    interface : str, optional
        Network interface of the scheduler and workers (``"lo"`` on a one-node cluster;
        default: Dask's choice, the interface that reaches other nodes).

    Notes
    -----
    Workers run in Slurm jobs that import functions by name: map functions defined in an
    installed module (such as :func:`sciml.workflows.campaign.run_task`), not in a script.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Slurm executor needs dask-jobqueue: pip install 'sciml[hpc]'"
        ) from exc
    cluster = SLURMCluster(
        cores=cores,
        processes=1,
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        job_extra_directives=list(job_extra_directives),
        interface=interface,
    )
    cluster.scale(jobs=jobs)
    executor = DaskExecutor(cluster=cluster, show_progress=show_progress)
    executor._own_cluster = cluster
    return executor


#: executor kind -> constructor; the kinds a configuration may name
EXECUTORS: dict[str, Callable[..., _ExecutorBase]] = {
    "inprocess": InProcessExecutor,
    "process": ProcessPoolExecutor,
    "dask": DaskExecutor,
    "slurm": slurm_executor,
}
EXECUTOR_KINDS = tuple(EXECUTORS)


def make_executor(config: Mapping[str, Any] | None = None) -> _ExecutorBase:
    """Build an executor from a configuration mapping.

    Parameters
    ----------
    config : mapping, optional
        ``{"kind": one of EXECUTOR_KINDS, ...options}``; default ``{"kind": "dask"}`` (a local
        cluster with two single-threaded workers).

    Raises
    ------
    ConfigError
        An unknown kind or options its constructor does not take.
    """
    cfg = dict(config or {"kind": "dask"})
    kind = cfg.pop("kind", "dask")
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor kind {kind!r}; accepted: {list(EXECUTOR_KINDS)}")
    try:
        return EXECUTORS[kind](**cfg)
    except TypeError as exc:
        raise ConfigError(f"bad options for executor {kind!r}: {exc}") from None
