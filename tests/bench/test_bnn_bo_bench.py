"""``sciml bench bnn_bo`` on tiny sizes: one row per model, figures taken from the runs."""

from __future__ import annotations

import numpy as np
import pytest

import sciml.bench.bnn_bo as bench

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_rows_summarise_each_models_runs(monkeypatch):
    tiny = {"problems": ("gramacy_lee_2d",), "models": ("singletask", "bnn-ensemble"), "seeds": (0, 1),
            "budget": 8, "n_init": 6, "bnn_options": {"adam_steps": 20, "n_members": 2}}
    monkeypatch.setitem(bench.MODES, True, tiny)
    seen = []
    report = bench.run_bnn_bo_benchmark(quick=True, log=seen.append)
    assert [(r["problem"], r["model"]) for r in report.results] == [("gramacy_lee_2d", "singletask"),
                                                                     ("gramacy_lee_2d", "bnn-ensemble")]
    assert len(seen) == 4 and report.checks == []
    for row in report.results:
        per_seed = [row["final_regret_seed0"], row["final_regret_seed1"]]
        assert row["median_final_regret"] == pytest.approx(np.median(per_seed))
        assert row["min_final_regret"] == min(per_seed) and row["max_final_regret"] == max(per_seed)
        assert 0.0 <= row["min_final_regret"] and row["median_final_regret"] <= row["median_initial_regret"]
        assert row["budget"] == 8.0 and row["seeds"] == 2.0
