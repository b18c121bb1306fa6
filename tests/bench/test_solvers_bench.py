"""``sciml bench solvers`` on a tiny grid: JSON layout and checks computed from the rows."""

from __future__ import annotations

import json
import operator

from sciml.bench.solvers import run_solvers_benchmark

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def test_solvers_benchmark_layout(tmp_path) -> None:
    report = run_solvers_benchmark(n_samples=4, n_reference=2, nus=(1.0,), n_cells=64, n_frames=5,
                                   t_final=0.1, seed=3)
    path = report.write_json(tmp_path / "solvers.json")
    data = json.loads(path.read_text())
    assert set(data) == {"benchmark", "mode", "machine", "config", "results", "references", "checks"}
    assert data["benchmark"] == "solvers" and data["mode"] == "full"
    assert data["config"]["extrapolated_to_1000_samples"] is True
    assert data["config"]["nus"] == [0.01, 1.0]
    rows = data["results"]
    assert [(r["nu"], r["implementation"]) for r in rows] == [
        (0.01, "numba"), (0.01, "numpy"), (1.0, "numba"), (1.0, "numpy"), (0.01, "numba sim.run")]
    assert all(r["steps_per_sample"] >= 4 and r["wall_s"] > 0 for r in rows)
    names = [c["name"] for c in data["checks"]]
    assert names == ["burgers_1000_samples_seconds_nu0.01", "slowest_nu_vs_nu0.01_ratio",
                     "burgers_1000_samples_seconds_nu0.01_vs_reference_pdebench", "speedup_vs_numpy_nu0.01"]
    for c in data["checks"]:
        assert c["holds"] == _OPS[c["op"]](c["value"], c["target"])
    by = {(r["nu"], r["implementation"]): r for r in rows}
    per_sample = {k: r["wall_s"] / r["samples"] for k, r in by.items()}
    checks = {c["name"]: c["value"] for c in data["checks"]}
    assert abs(checks["burgers_1000_samples_seconds_nu0.01"] - 1000 * per_sample[(0.01, "numba sim.run")]) < 1e-9
    assert abs(checks["speedup_vs_numpy_nu0.01"]
               - per_sample[(0.01, "numpy")] / per_sample[(0.01, "numba")]) < 1e-9
    # the external figure is a reference with its source; the check's value is our own seconds
    (ref,) = data["references"]
    assert ref["name"] == "pdebench_jax_burgers_seconds_per_1000_nu0.01" and ref["value"] == 3600.0
    assert ref["source"] and ref["date"] and ref["units"] == "s"
    vs_ref = next(c for c in data["checks"] if "reference" in c["name"])
    assert vs_ref["reference"] == ref["name"] and vs_ref["target"] == ref["value"] / 60.0
    assert vs_ref["value"] == checks["burgers_1000_samples_seconds_nu0.01"]
    assert "check" in report.format_table() and "pdebench_jax_burgers" in report.format_table()
