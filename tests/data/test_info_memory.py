"""``sciml data info`` streams: its peak memory does not grow with the size of the file.

How memory is measured: peak resident memory (``ru_maxrss``) of the command, run as the
only child of a bare Python launcher that reports ``getrusage(RUSAGE_CHILDREN)``. The
launcher is needed because Linux carries the RSS high-water mark of the forking process
over ``exec``: a child forked straight from pytest would report pytest's own RSS (hundreds
of MB after other tests) whenever that is larger than its own peak. A limit on address
space (``RLIMIT_AS``) was not used: importing numpy, h5py and xarray maps a few hundred MB
of virtual memory that is never touched, and how much depends on the number of threads
(OpenBLAS stacks, malloc arenas), so such a limit would have to be loose or would fail on
another machine. Peak RSS counts only memory that is used.

The baseline is the same command on a tiny file of the same format; a field of
``FIELD_BYTES`` may add at most ``HEADROOM_BYTES`` to it, where reading the field whole
would add at least ``FIELD_BYTES``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

#: float32 field written to the large files (about 250 MiB): N x T x X.
N_SAMPLE, N_T, N_X = 320, 201, 1024
FIELD_BYTES = N_SAMPLE * N_T * N_X * 4

#: The most that the large file may add to the tiny file's peak RSS.
HEADROOM_BYTES = 64 * 2**20

#: Samples written (and read by the test's own statistics) per block.
BLOCK = 16


def _block(start: int, stop: int, n_t: int, n_x: int) -> np.ndarray:
    """Deterministic float32 values of samples ``start:stop``, shape ``(stop - start, n_t, n_x)``."""
    rng = np.random.default_rng(start)
    return rng.standard_normal((stop - start, n_t, n_x), dtype=np.float32) * 1.5 + 0.25


def write_pdebench(path: Path, n: int, n_t: int, n_x: int) -> Path:
    """A PDEBench-layout file (``tensor``, coordinates, ``Nu``) written block by block."""
    with h5py.File(path, "w") as f:
        d = f.create_dataset("tensor", shape=(n, n_t, n_x), dtype=np.float32)
        for i in range(0, n, BLOCK):
            d[i : i + BLOCK] = _block(i, min(n, i + BLOCK), n_t, n_x)
        f["x-coordinate"] = ((np.arange(n_x) + 0.5) / n_x).astype(np.float32)
        f["t-coordinate"] = (np.arange(n_t + 1) * 0.01).astype(np.float32)
        f.attrs["Nu"] = 0.01
    return path


def write_netcdf(path: Path, n: int, n_t: int, n_x: int) -> Path:
    """A sciml NetCDF4 file (``sciml.data.save``) whose field is a dask array, written block by block."""
    import dask
    import dask.array as da
    import xarray as xr

    from sciml.data import save
    from sciml.data.schema import field_dataset, provenance_attrs, validate

    template = field_dataset(
        {"u": np.zeros((1, n_t, n_x), np.float32)},
        coords={"t": np.arange(n_t) * 0.01, "x": (np.arange(n_x) + 0.5) / n_x},
        attrs=provenance_attrs(generator="test", generator_version="0", parameters={"n_x": n_x}, seed=0),
    )
    blocks = [
        da.from_delayed(dask.delayed(_block)(i, min(n, i + BLOCK), n_t, n_x),
                        shape=(min(n, i + BLOCK) - i, n_t, n_x), dtype=np.float32)
        for i in range(0, n, BLOCK)
    ]
    ds = xr.Dataset(
        {"u": xr.Variable(("sample", "t", "x"), da.concatenate(blocks), attrs=template["u"].attrs),
         "nu": xr.Variable(("sample",), np.full(n, 0.01),
                           attrs={"units": "1", "long_name": "nu", "role": "parameter"})},
        coords={"sample": xr.Variable(("sample",), np.arange(n), attrs=template["sample"].attrs),
                "t": template["t"], "x": template["x"]},
        attrs=template.attrs,
    )
    validate(ds, check_finite=False)
    with dask.config.set(scheduler="synchronous"):
        save(ds, path, chunk_samples=1, compression=None, validate=False)
    return path


WRITERS = {"pdebench": (write_pdebench, "data_Nu0.01.hdf5", "tensor"),
           "netcdf": (write_netcdf, "data.nc", "u")}


def expected_stats(path: Path, name: str) -> dict[str, float]:
    """min, max, mean, std (population) of dataset ``name``, read with h5py block by block."""
    sums, sums_sq, lo, hi, count = [], [], math.inf, -math.inf, 0
    with h5py.File(path, "r") as f:
        d = f[name]
        for i in range(0, d.shape[0], BLOCK):
            a = d[i : i + BLOCK].astype(np.float64)
            sums.append(float(a.sum()))
            sums_sq.append(float(np.square(a).sum()))
            lo, hi, count = min(lo, float(a.min())), max(hi, float(a.max())), count + a.size
    mean = math.fsum(sums) / count
    return {"min": lo, "max": hi, "mean": mean, "std": math.sqrt(math.fsum(sums_sq) / count - mean**2)}


#: Runs argv[2:] as its only child, with a timeout of argv[1] s; writes the child's peak
#: RSS (kB on Linux) to stdout after the child's own output.
LAUNCHER = """
import resource, subprocess, sys
try:
    rc = subprocess.run(sys.argv[2:], timeout=float(sys.argv[1])).returncode
except subprocess.TimeoutExpired:
    rc = 124
print(f"\\nMAXRSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(rc)
"""


def run_info(args: list[str], timeout: float = 120.0) -> tuple[int, str, str, int]:
    """Run ``sciml data info ARGS`` in a child; return its exit code, stdout, stderr and peak RSS (bytes)."""
    cmd = [sys.executable, "-c", LAUNCHER, str(timeout), sys.executable, "-m", "sciml.cli", "data", "info", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout + 30)
    out, _, rss = res.stdout.rpartition("\nMAXRSS_KB=")
    return res.returncode, out, res.stderr, int(rss) * 1024


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kB on Linux only")
@pytest.mark.parametrize("kind", ["pdebench", "netcdf"])
def test_info_memory_does_not_grow_with_the_file(tmp_path: Path, kind: str):
    write, name, dataset = WRITERS[kind]
    tiny = write(tmp_path / f"tiny_{name}", 3, 4, 5)
    big = write(tmp_path / name, N_SAMPLE, N_T, N_X)
    assert big.stat().st_size >= FIELD_BYTES > 3 * HEADROOM_BYTES
    summaries = {}
    for flags in (["--json"], ["--json", "--no-stats"]):
        code, out, err, baseline = run_info([*flags, str(tiny)])
        assert code == 0, err
        code, out, err, peak = run_info([*flags, str(big)])
        assert code == 0, err
        assert peak - baseline < HEADROOM_BYTES, (
            f"{flags}: peak RSS {peak / 2**20:.0f} MiB on a {FIELD_BYTES / 2**20:.0f} MiB field vs "
            f"{baseline / 2**20:.0f} MiB on a tiny file"
        )
        summaries[flags[-1]] = json.loads(out)
    for summary in summaries.values():
        assert summary["dims"] == {"sample": N_SAMPLE, "t": N_T, "x": N_X}
        assert summary["parameters"]["nu"]["values"] == [0.01]
        assert summary["coordinates"]["x"]["size"] == N_X
    assert "mean" not in summaries["--no-stats"]["fields"]["u"]
    field = summaries["--json"]["fields"]["u"]
    expected = expected_stats(big, dataset)
    assert field["min"] == expected["min"] and field["max"] == expected["max"]
    assert field["mean"] == pytest.approx(expected["mean"], rel=1e-9, abs=1e-12)
    assert field["std"] == pytest.approx(expected["std"], rel=1e-9)
