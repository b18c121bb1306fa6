"""One large FE solve over ``k`` MPI ranks (``mpirun -n k``), the result gathered and written by rank 0.

Command line (every rank runs it; the mesh is partitioned and ghosted by DOLFINx)::

    mpirun -n 4 python -m sciml.simulators.fem.parallel --kind fem_diffusion2d \\
        --config '{"resolution": 256}' --params '{"xi_1": 1.0}' --seed 0 --out u.nc

From Python, :func:`run_mpi` launches that command with the ``mpirun`` next to
``sys.executable`` and reads the file back. The simulator's ``run`` evaluates the fields on
the output grid rank by rank and gathers them on rank 0, which writes the dataset atomically
(:func:`sciml.data.netcdf.save`); ``attrs["mpi_ranks"]`` records ``k``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from sciml.errors import ConfigError, SciMLError, SimulationError
from sciml.simulators.registry import build_simulator

__all__ = ["find_mpirun", "main", "run_mpi"]


def find_mpirun() -> Path | None:
    """The ``mpirun`` installed next to ``sys.executable`` (the venv's MPI), or ``None``."""
    path = Path(sys.executable).parent / "mpirun"
    return path if path.is_file() else None


def run_mpi(simulator_config: Mapping[str, Any], params: Mapping[str, float], n_ranks: int, *,
            seed: int = 0, n_samples: int = 1, out: str | Path | None = None,
            timeout: float | None = 600.0) -> xr.Dataset:
    """Run one simulation over ``n_ranks`` MPI processes and return its dataset.

    Parameters
    ----------
    simulator_config : mapping
        ``{"kind": name, **constructor_fields}`` (as :func:`~sciml.simulators.registry.build_simulator`).
    params : mapping
        Physical parameters.
    n_ranks : int
        MPI processes (``>= 1``).
    seed, n_samples : int
        As ``Simulator.run``.
    out : path, optional
        Where rank 0 writes the NetCDF file (default: a temporary file, removed after reading).
    timeout : float or None
        Seconds before the ``mpirun`` command is killed.

    Returns
    -------
    xarray.Dataset
        Loaded into memory.

    Raises
    ------
    ConfigError, ParameterError
        Bad configuration or parameters (checked here, before anything is launched).
    SimulationError
        No ``mpirun`` next to ``sys.executable``, or the MPI run failed or timed out (its
        error output in the message).
    """
    if isinstance(n_ranks, bool) or not isinstance(n_ranks, int) or n_ranks < 1:
        raise ConfigError(f"n_ranks must be an integer >= 1; got {n_ranks!r}")
    sim = build_simulator(simulator_config)
    sim.parameter_space.validate(params, source=sim.name)
    mpirun = find_mpirun()
    if mpirun is None:
        raise SimulationError(f"no mpirun next to {sys.executable}; install MPI with: pip install 'sciml[fem]'")
    cfg = {k: v for k, v in sim.config().items() if k != "kind"}
    with tempfile.TemporaryDirectory(prefix="sciml-mpi-") as tmp:
        path = Path(out) if out is not None else Path(tmp) / "result.nc"
        command = [str(mpirun), "-n", str(n_ranks), sys.executable, "-m", __name__, "--kind", sim.name,
                   "--config", json.dumps(cfg), "--params", json.dumps(dict(params)),
                   "--seed", str(seed), "--n-samples", str(n_samples), "--out", str(path)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SimulationError(f"mpirun -n {n_ranks} ({sim.name}) did not finish in {timeout} s") from exc
        if proc.returncode != 0:
            raise SimulationError(f"mpirun -n {n_ranks} ({sim.name}) failed with exit status {proc.returncode}:\n"
                                  f"{(proc.stderr or proc.stdout)[-4000:]}")
        from sciml.data.netcdf import open_dataset

        return open_dataset(path, lazy=False)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sciml.simulators.fem.parallel",
                                     description="One FE solve over the ranks of mpirun; rank 0 writes the dataset.")
    parser.add_argument("--kind", required=True, help="registered simulator name, e.g. fem_diffusion2d")
    parser.add_argument("--config", default="{}", help="constructor fields as JSON")
    parser.add_argument("--params", default="{}", help="physical parameters as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-samples", type=int, default=1)
    parser.add_argument("--out", required=True, help="NetCDF file written by rank 0")
    return parser.parse_args(argv)


def _solve(args: argparse.Namespace, comm: Any) -> None:
    try:
        config, params = json.loads(args.config), json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config and --params must be JSON objects: {exc}") from None
    sim = build_simulator({**config, "kind": args.kind}, source="--config")
    ds = sim.run(params, seed=args.seed, n_samples=args.n_samples, comm=comm)
    if comm.rank == 0:
        from sciml.data.netcdf import save

        ds.attrs["mpi_ranks"] = comm.size
        save(ds, args.out)
    comm.Barrier()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sciml.simulators.fem.parallel`` (every rank); returns the exit status."""
    from sciml.simulators.fem.backend import import_dolfinx

    args = _parse(argv)
    comm = import_dolfinx().MPI.COMM_WORLD
    try:
        _solve(args, comm)
    except SciMLError as exc:  # raised on every rank alike (collective validation and solves)
        if comm.rank == 0:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except Exception:  # a failure on one rank only would leave the others waiting
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
