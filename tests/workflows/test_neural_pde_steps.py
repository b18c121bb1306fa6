"""Workflow steps for neural PDE solvers: validation before work, training, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciml.errors import ConfigError
from sciml.workflows.runner import run_workflow

ROOT = Path(__file__).resolve().parents[2]

BASE = f"""
name: wf
steps:
  - {{kind: generate, name: d, recipe: {ROOT / 'datasets' / 'burgers_small.yaml'}}}
"""


def write(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "wf.yaml"
    p.write_text(BASE + extra)
    return p


def test_unknown_train_field_fails_before_any_work(tmp_path):
    p = write(tmp_path, "  - {kind: train_neural_pde, dataset: d, train: {epochs: 1, lr_max: 0.1}}\n")
    with pytest.raises(ConfigError) as err:
        run_workflow(p, output_dir=tmp_path / "out", executor={"kind": "inprocess"}, log=lambda m: None)
    msg = str(err.value)
    assert "steps.1.train" in msg and "unknown field 'lr_max'" in msg and "'epochs'" in msg
    assert not (tmp_path / "out").exists()


def test_evaluating_an_untrained_model_fails_before_any_work(tmp_path):
    p = write(tmp_path, "  - {kind: evaluate_neural_pde, model: ghost, dataset: d}\n")
    with pytest.raises(ConfigError, match=r"steps.1.model: 'ghost' is not trained by an earlier step"):
        run_workflow(p, output_dir=tmp_path / "out", executor={"kind": "inprocess"}, log=lambda m: None)
    assert not (tmp_path / "out").exists()


def test_unknown_model_kind_lists_the_accepted_ones(tmp_path):
    p = write(tmp_path, "  - {kind: train_neural_pde, dataset: d, model: {kind: transformer}}\n")
    with pytest.raises(ConfigError) as err:
        run_workflow(p, output_dir=tmp_path / "out", executor={"kind": "inprocess"}, log=lambda m: None)
    assert "'cape_fno'" in str(err.value) and "'conditional_fno'" in str(err.value)
