"""The common benchmark report: references from outside a run, and checks against them."""

from __future__ import annotations

import json

import pytest

from sciml.bench.report import BenchReport, Reference

PAPER = Reference(name="paper_mse", value=2.0e-3, units="1", source="A. Author et al., 2023, Table 1",
                  date="2023-07-01", note="their model")


def _report() -> BenchReport:
    report = BenchReport(benchmark="demo", mode="quick", config={}, machine={"cpu_count": 1})
    report.results.append({"model": "ours", "mse": 1.5e-3})
    return report


def test_references_and_the_checks_that_use_them_round_trip_through_json(tmp_path):
    report = _report()
    report.add_reference(PAPER)
    report.add_reference_check("mse_vs_reference_paper", 1.5e-3, "<=", "paper_mse", factor=1.1)
    report.add_check("mse_ours", 1.5e-3, "<=", 1.0)
    data = json.loads(report.write_json(tmp_path / "demo.json").read_text())
    assert data["references"] == [{"name": "paper_mse", "value": 2.0e-3, "units": "1",
                                   "source": "A. Author et al., 2023, Table 1", "date": "2023-07-01",
                                   "note": "their model"}]
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["mse_vs_reference_paper"] == {"name": "mse_vs_reference_paper", "value": 1.5e-3, "op": "<=",
                                                 "target": pytest.approx(2.2e-3, rel=1e-15), "holds": True,
                                                 "reference": "paper_mse"}
    assert "reference" not in by_name["mse_ours"]
    table = report.format_table()
    assert "paper_mse" in table and "A. Author et al., 2023, Table 1" in table


def test_a_check_against_a_reference_must_say_so_and_name_a_recorded_one():
    report = _report()
    report.add_reference(PAPER)
    with pytest.raises(ValueError, match="its name must say 'reference'"):
        report.add_reference_check("mse_vs_paper", 1.5e-3, "<=", "paper_mse")
    with pytest.raises(KeyError, match=r"no reference 'other'; recorded: \['paper_mse'\]"):
        report.add_reference_check("mse_vs_reference_other", 1.5e-3, "<=", "other")
    with pytest.raises(ValueError, match="'paper_mse' is already recorded"):
        report.add_reference(PAPER)
    assert report.checks == []
