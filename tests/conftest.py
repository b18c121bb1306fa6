"""Shared pytest fixtures and helpers."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def dask_executor():
    """One local Dask cluster (2 single-threaded workers) shared by the session's tests."""
    from sciml.workflows.executors import DaskExecutor

    ex = DaskExecutor(n_workers=2, threads_per_worker=1, show_progress=False)
    yield ex
    ex.close()
