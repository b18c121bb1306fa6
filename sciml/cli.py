"""The ``sciml`` command line.

::

    sciml run workflows/quickstart.yaml          # run a workflow
    sciml data generate datasets/burgers_small.yaml
    sciml data info data/burgers_small.nc
    sciml bench solvers --json bench.json

Exit status and messages (see :func:`main`): bad input (configuration, files, parameters,
a folder that cannot be written) prints one ``error: ...`` line and exits 2; a usage error
(missing argument, unknown option or command) prints the usage and exits 2; no command at
all prints the help and exits 2; Ctrl-C prints ``interrupted`` and exits 130. None of them
prints a traceback: only a bug in sciml does.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn, Optional

import typer
import typer.core
import typer.main

from sciml.errors import SciMLError

#: Name shown in usage lines and help.
PROG = "sciml"
#: Exit status of bad input and of usage errors (click's convention).
EXIT_USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130

#: Seconds between two interrupts of the main thread after Ctrl-C was lost in a finalizer.
_INTERRUPT_RETRY_S = 0.05

#: Exception classes of the click that typer runs on: typer 0.29 bundles its own copy
#: (``typer._click``) and no longer uses the ``click`` package; older typer re-exports
#: click's. ``typer.BadParameter`` is defined in that module either way.
click_exceptions: ModuleType = sys.modules[typer.BadParameter.__module__]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scientific ML and surrogate modelling.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and inspect datasets.")
app.add_typer(data_app, name="data")

#: benchmark name -> "module:function"; each function takes ``quick: bool`` and returns a BenchReport.
BENCHMARKS: dict[str, str] = {
    "solvers": "sciml.bench.solvers:run_solvers_benchmark",
    "cape": "sciml.bench.cape:run_cape_benchmark",
    "probconserv": "sciml.bench.probconserv:run_probconserv_benchmark",
    "mfbo": "sciml.bench.mfbo:run_mfbo_benchmark",
    "potentials": "sciml.bench.potentials:run_potentials_benchmark",
    "bnn_bo": "sciml.bench.bnn_bo:run_bnn_bo_benchmark",
    "wgan": "sciml.bench.wgan:run_wgan_benchmark",
    "carpool": "sciml.bench.carpool:run_carpool_benchmark",
}

#: executors the command line can choose (Slurm needs its options, from a YAML file)
LOCAL_EXECUTORS = ("inprocess", "process", "dask")

ExecutorOpt = Annotated[
    Optional[str],
    typer.Option("--executor", help=f"Override the executor: {', '.join(LOCAL_EXECUTORS)}."),
]


def _executor(kind: str | None) -> dict | None:
    if kind is None:
        return None
    if kind not in LOCAL_EXECUTORS:
        raise SciMLError(f"--executor {kind!r}: accepted values are {list(LOCAL_EXECUTORS)}")
    return {"kind": kind}


@app.command()
def run(
    workflow: Annotated[Path, typer.Argument(help="Workflow YAML file.")],
    output_dir: Annotated[Optional[Path], typer.Option(help="Output folder (default: runs/<name>).")] = None,
    executor: ExecutorOpt = None,
) -> None:
    """Run a workflow (generate data, train, optimise, analyse) described in YAML."""
    from sciml.workflows.runner import run_workflow

    ctx = run_workflow(workflow, output_dir=output_dir, executor=_executor(executor), log=typer.echo)
    typer.echo(f"done: outputs in {ctx.output_dir}")
    for name, path in ctx.artefacts.items():
        typer.echo(f"  {name}: {path}")


@data_app.command("generate")
def data_generate(
    recipe: Annotated[Path, typer.Argument(help="Dataset recipe YAML (datasets/*.yaml).")],
    output: Annotated[Optional[Path], typer.Option(help="Override the recipe's output path.")] = None,
    executor: ExecutorOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and show the plan; run nothing.")] = False,
    size_check: Annotated[bool, typer.Option(
        help="Refuse a campaign whose estimated disk or memory need exceeds what this machine has.")] = True,
) -> None:
    """Run a simulator over a parameter design and write one NetCDF file."""
    from sciml.workflows.campaign import describe_plan, generate, plan_campaign
    from sciml.config import load_config
    from sciml.workflows.recipe import DatasetRecipe

    spec = load_config(recipe, DatasetRecipe)
    plan = plan_campaign(spec, source=str(recipe), output=output)
    typer.echo(describe_plan(plan))
    if dry_run:
        return
    path = generate(spec, output=plan.output, executor=_executor(executor), overwrite=overwrite,
                    check_size=size_check, log=lambda message: typer.echo(message, err=True))
    typer.echo(f"wrote {path}")


@data_app.command("info")
def data_info(
    path: Annotated[Path, typer.Argument(help="A sciml NetCDF file or a PDEBench HDF5 file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    stats: Annotated[bool, typer.Option(help="Compute field statistics (reads the data).")] = True,
) -> None:
    """Describe a dataset file: dims, variables, parameters and provenance.

    The file is read lazily and the statistics in bounded blocks, so memory does not grow
    with the file's size.
    """
    from sciml.data.describe import format_summary, summarize_file

    summary = summarize_file(path, statistics=stats)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary, path=path))


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help=f"Benchmark: {', '.join(BENCHMARKS)}.")],
    quick: Annotated[bool, typer.Option(help="Small version that runs in a few minutes.")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Where to write the JSON report.")] = None,
    work_dir: Annotated[Optional[Path], typer.Option(
        "--work-dir", help="Keep each finished job (and long runs' state) here; a rerun with the same "
                           "directory resumes instead of starting over (benchmarks that support it).")] = None,
    only: Annotated[Optional[str], typer.Option(
        help="Comma-separated subset to run, e.g. 'park91a,burgers_shock_time/mfmes' (benchmarks that "
             "support it).")] = None,
) -> None:
    """Run a benchmark: print a table and write JSON (default bench-results/NAME.json)."""
    import inspect

    if name not in BENCHMARKS:
        raise SciMLError(f"unknown benchmark {name!r}; accepted: {sorted(BENCHMARKS)}")
    module, _, func = BENCHMARKS[name].partition(":")
    run = getattr(importlib.import_module(module), func)
    kwargs: dict[str, object] = {"quick": quick}
    accepted = inspect.signature(run).parameters
    for option, key, value in (("--work-dir", "work_dir", work_dir),
                               ("--only", "only", None if only is None else [x for x in only.split(",") if x.strip()])):
        if value is None:
            continue
        if key not in accepted:
            raise SciMLError(f"benchmark {name!r} does not support {option}")
        kwargs[key] = value
    report = run(**kwargs)
    typer.echo(report.format_table())
    out = json_path or Path("bench-results") / f"{name}{'-quick' if quick else ''}.json"
    report.write_json(out)
    typer.echo(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``sciml`` console script: run a command, then exit.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Raises
    ------
    SystemExit
        Always. Status 0 on success and for ``--help``. Status 2 for bad input (a
        :class:`~sciml.errors.SciMLError`, or an ``OSError`` such as a read-only output
        folder: one ``error: ...`` line on stderr) and for usage errors (usage, a hint and an
        ``Error: ...`` line; no command at all: the help). Status 130 on Ctrl-C (one
        ``interrupted`` line). Any other exception is a bug and propagates with its traceback.
    """
    try:
        status = run_command(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # a second Ctrl-C, or one delivered again, after the first was handled
        status = _report("interrupted", EXIT_INTERRUPTED)
    sys.exit(status)


def run_command(args: list[str]) -> int:
    """Parse ``args``, run the command and return the exit status (see :func:`main`).

    The click command is driven directly (``make_context`` and ``invoke``) rather than
    through typer's ``main``, whose handling of Ctrl-C and of usage errors in
    non-standalone mode changes between typer releases. While it runs,
    :class:`_UnraisableGuard` makes sure that Ctrl-C is not lost in a finalizer.
    """
    with _UnraisableGuard() as guard:
        try:
            return _dispatch(typer.main.get_command(app), args)
        except KeyboardInterrupt:
            guard.interrupted = True
            guard.stop()
            return _report("interrupted", EXIT_INTERRUPTED)


class _UnraisableGuard:
    """``sys.unraisablehook`` while a command runs, for a reliable Ctrl-C.

    * Ctrl-C raises ``KeyboardInterrupt`` wherever the main thread is; in a finalizer or a
      weakref callback Python cannot propagate it: it reports it ("Exception ignored") and
      goes on. The guard drops that report and interrupts the main thread again, every
      :data:`_INTERRUPT_RETRY_S` seconds until :meth:`stop`.
    * After Ctrl-C (``interrupted``), the finalizers of objects it left half-built (e.g. an
      h5netcdf file interrupted in its constructor) may fail; those reports are dropped.
    * Anything else goes to the hook it replaces.

    Used as a context manager, which installs it and then restores the previous hook, once
    the objects the interrupted frames held have been freed. In the main thread it also makes
    Python's own ``KeyboardInterrupt`` handler the SIGINT handler for the duration (a library
    may have left SIGINT ignored or routed to a no-op, which would swallow Ctrl-C and the
    interrupts sent again), and restores the previous one.
    """

    def __init__(self) -> None:
        self.previous: Callable[[Any], object] = sys.unraisablehook
        self.interrupted = False
        self._stopped = threading.Event()
        self._retry: threading.Thread | None = None
        self._sigint: Any = None

    def __enter__(self) -> _UnraisableGuard:
        self.previous = sys.unraisablehook
        sys.unraisablehook = self
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
            if self.interrupted:
                gc.collect()  # reference cycles of the interrupted frames, while reports are dropped
        finally:
            sys.unraisablehook = self.previous
            if self._sigint is not None:
                signal.signal(signal.SIGINT, self._sigint)

    def __call__(self, unraisable: Any) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            if self._retry is None and not self.interrupted:
                self._retry = threading.Thread(target=self._interrupt_until_stopped, daemon=True,
                                               name="sciml-interrupt-retry")
                self._retry.start()
        elif not self.interrupted:
            self.previous(unraisable)

    def _interrupt_until_stopped(self) -> None:
        while not self._stopped.wait(_INTERRUPT_RETRY_S):
            _thread.interrupt_main(signal.SIGINT)

    def stop(self) -> None:
        """Stop interrupting the main thread (an interrupt already sent may still arrive)."""
        self._stopped.set()
        if self._retry is not None:
            self._retry.join()


def _dispatch(command: typer.core.TyperGroup, args: list[str]) -> int:
    """Run ``command`` on ``args``; return the exit status of any outcome but Ctrl-C and bugs."""
    try:
        with command.make_context(PROG, args) as ctx:
            command.invoke(ctx)
    except SciMLError as exc:
        return _report(f"error: {exc}", EXIT_USAGE)
    except click_exceptions.ClickException as exc:
        exc.show()  # usage, "Try 'sciml CMD --help' for help." and "Error: ..."
        return exc.exit_code
    except typer.Exit as exc:  # --help, ctx.exit(code)
        return exc.exit_code
    except typer.Abort:
        return _report("aborted", 1)
    except OSError as exc:
        return _report_os_error(exc)
    return 0


def _report(message: str, status: int) -> int:
    """Print ``message`` as one line on stderr and return ``status``."""
    typer.echo(message, err=True)
    return status


def _report_os_error(exc: OSError) -> int:
    """Report an OS error as ``error: PATH: reason`` and return 2 (1, silently, for a closed pipe)."""
    if isinstance(exc, BrokenPipeError):  # e.g. ``sciml data info f.nc | head -1``
        with contextlib.suppress(OSError, ValueError):  # no flush error at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if exc.filename is None:
        return _report(f"error: {exc}", EXIT_USAGE)
    path = os.fsdecode(exc.filename)
    if exc.filename2 is not None:
        path = f"{path} -> {os.fsdecode(exc.filename2)}"
    return _report(f"error: {path}: {exc.strerror or exc}", EXIT_USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
