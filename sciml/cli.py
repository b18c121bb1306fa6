"""The ``sciml`` command line.

::

    sciml run workflows/quickstart.yaml          # run a workflow
    sciml data generate datasets/burgers_small.yaml
    sciml data info data/burgers_small.nc
    sciml bench solvers --json bench.json

Errors caused by bad input (configuration, files, parameters) print one clear message and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sciml.errors import SciMLError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scientific ML and surrogate modelling.")
data_app = typer.Typer(no_args_is_help=True, help="Generate and inspect datasets.")
app.add_typer(data_app, name="data")

#: benchmark name -> "module:function"; each function takes ``quick: bool`` and returns a BenchReport.
BENCHMARKS: dict[str, str] = {
    "solvers": "sciml.bench.solvers:run_solvers_benchmark",
    "cape": "sciml.bench.cape:run_cape_benchmark",
    "probconserv": "sciml.bench.probconserv:run_probconserv_benchmark",
    "mfbo": "sciml.bench.mfbo:run_mfbo_benchmark",
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
    path = generate(spec, output=plan.output, executor=_executor(executor), overwrite=overwrite)
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning sciml errors into a message and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SciMLError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
