"""Trajectory plots: files written atomically, samples cover the parameter values."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.data.schema import field_dataset, provenance_attrs
from sciml.viz.trajectories import _spread_samples, plot_trajectories


def make(n=6, nu=(0.1, 0.1, 0.2, 0.2, 0.4, 0.4)):
    rng = np.random.default_rng(0)
    return field_dataset({"u": rng.normal(size=(n, 5, 16))},
                         coords={"t": np.linspace(0, 1, 5), "x": np.linspace(0, 1, 16)},
                         parameters={"nu": np.array(nu)},
                         attrs=provenance_attrs(generator="test", generator_version="0", parameters={}, seed=0))


def test_samples_cover_each_parameter_value_first():
    ds = make()
    assert _spread_samples(ds, ["nu"], 3) == [0, 2, 4]
    assert _spread_samples(ds, ["nu"], 2) == [0, 4]
    assert len(_spread_samples(ds, ["nu"], 10)) == 6


def test_png_is_written(tmp_path):
    out = plot_trajectories(make(), tmp_path / "p.png", n=3)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_wrong_dims_are_rejected(tmp_path):
    ds = make().rename_dims({"x": "y"}).rename_vars({"x": "y"})
    with pytest.raises(ValueError, match=r"needs dims \('sample', 't', 'x'\)"):
        plot_trajectories(ds, tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []
