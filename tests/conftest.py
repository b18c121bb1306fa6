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
    from sciml.executors import DaskExecutor

    ex = DaskExecutor(n_workers=2, threads_per_worker=1, show_progress=False)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a test module with one torch thread (tests run two at a time on two cores; tiny
    matrices gain nothing from more), then restore."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
