"""``sciml bench cape`` on a tiny problem: rows, matched parameter counts, checks from rows."""

from __future__ import annotations

import json
import operator

import pytest

from sciml.bench.cape import CapeBenchSettings, run_cape_benchmark

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}

TINY = CapeBenchSettings(
    n_cells_sim=32, x_factor=2, n_frames=6, t_final=0.5,
    n_train_per_value=2, n_val_per_value=1, n_test_per_value=1,
    epochs=1, batch_size=8, lr=1e-3, fno_width=8, fno_modes=4, fno_layers=1,
    cape_hidden=4, cape_modes=4, unroll_steps=None, timing_steps=2, pdes=("burgers",), seeds=(0,),
)


@pytest.mark.slow
def test_cape_benchmark_layout(tmp_path):
    report = run_cape_benchmark(settings=TINY, run_root=tmp_path / "runs")
    data = json.loads(report.write_json(tmp_path / "cape.json").read_text())
    assert set(data) == {"benchmark", "mode", "machine", "config", "results", "references", "checks"}
    rows = [r for r in data["results"] if r["seed"] != "mean"]
    models = {r["model"] for r in rows}
    assert models == {"CAPE-FNO", "FNO", "FNO-conditional", "FNO-2step"}
    assert {r["split"] for r in rows} == {"seen", "unseen"}
    counts = {r["model"]: r["n_params"] for r in rows}
    for name, n in counts.items():  # every baseline within 5% of CAPE-FNO's parameter count
        assert abs(n - counts["CAPE-FNO"]) <= 0.05 * counts["CAPE-FNO"], name
    for r in rows:
        assert 0 <= r["nrmse"] < 10 and r["train_step_ms"] > 0 and r["inference_ms_per_rollout"] > 0
    means = {r["model"]: r for r in data["results"] if r["seed"] == "mean" and r["split"] == "unseen"}
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["nrmse_reduction_cape_vs_fno_unseen_burgers"]["value"] == pytest.approx(
        1 - means["CAPE-FNO"]["nrmse"] / means["FNO"]["nrmse"])
    assert checks["train_step_time_ratio_cape_fno_vs_fno_burgers"]["value"] == pytest.approx(
        means["CAPE-FNO"]["train_step_ratio_vs_fno"])
    assert means["FNO"]["train_step_ratio_vs_fno"] == 1.0
    for c in data["checks"]:
        assert c["holds"] == _OPS[c["op"]](c["value"], c["target"])
    # each run kept its checkpoints and metrics
    assert (tmp_path / "runs" / "burgers" / "CAPE-FNO" / "seed0" / "last.pt").is_file()


def test_build_models_selection_builds_the_same_models():
    import torch

    from sciml.bench.cape import build_models, model_names

    full = build_models(TINY, seed=3)
    assert list(full) == model_names(TINY)
    for name in model_names(TINY):
        one = build_models(TINY, seed=3, names=[name])
        assert list(one) == [name]
        for a, b in zip(full[name].state_dict().values(), one[name].state_dict().values(), strict=True):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"unknown model name\(s\) \['GNN'\]; accepted"):
        build_models(TINY, seed=0, names=["GNN"])


@pytest.mark.slow
def test_rows_do_not_depend_on_the_executor(tmp_path):
    """Jobs on a 2-worker process executor give the rows of the in-process run, in the same
    order (up to float noise: the workers run one torch thread each)."""
    serial = run_cape_benchmark(settings=TINY, run_root=tmp_path / "a")
    pooled = run_cape_benchmark(settings=TINY.model_copy(update={"workers": 2}), run_root=tmp_path / "b")
    labels = ("pde", "split", "model", "seed", "n_params")
    assert [[r[k] for k in labels] for r in serial.results] == [[r[k] for k in labels] for r in pooled.results]
    for a, b in zip(serial.results, pooled.results, strict=True):
        for key in ("nrmse", "rmse", "max_error", "frmse_low"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, nan_ok=True), (a["model"], key)
    assert (tmp_path / "b" / "burgers" / "FNO" / "seed0" / "best.pt").is_file()
