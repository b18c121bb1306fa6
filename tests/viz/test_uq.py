"""UQ figures: coverage against nominal and CARPool variance reduction are written; bad input errors."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.viz.uq import plot_coverage_vs_nominal, plot_variance_reduction


def test_pngs_are_written(tmp_path):
    nominal = np.array([0.5, 0.8, 0.9, 0.95])
    out = plot_coverage_vs_nominal({"split conformal": (nominal, nominal + 0.01, np.full(4, 0.005)),
                                    "raw ensemble": (nominal, nominal - 0.3)}, tmp_path / "coverage.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    k = np.geomspace(0.01, 0.5, 12)
    out2 = plot_variance_reduction(k, {"N = 5": 50 / (1 + 100 * k), "N = 10": 80 / (1 + 100 * k)},
                                   tmp_path / "carpool.pdf", gain=100 / (1 + 100 * k))
    assert out2.read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["carpool.pdf", "coverage.png"]


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="one length"):
        plot_coverage_vs_nominal({"a": ([0.5, 0.9], [0.5])}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="empty"):
        plot_coverage_vs_nominal({}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="positive"):
        plot_variance_reduction([0.1, 0.2], {"a": [1.0, 0.0]}, tmp_path / "v.png")
    with pytest.raises(ValueError, match="finite"):
        plot_variance_reduction([0.1, np.nan], {"a": [1.0, 2.0]}, tmp_path / "v.png")
    assert not list(tmp_path.iterdir())
