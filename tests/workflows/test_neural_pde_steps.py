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


@pytest.mark.slow
def test_trained_model_clamps_parameters_to_the_training_range(tmp_path):
    """clamp_params (default): the saved model carries the training data's parameter range."""
    import torch

    p = write(tmp_path, "  - kind: train_neural_pde\n    dataset: d\n    name: m\n    x_factor: 4\n"
                        "    t_stride: 4\n    val_fraction: 0.0\n"
                        "    model: {kind: cape_fno, width: 8, modes: 4, n_layers: 1, cape_hidden: 4,"
                        " cape_modes: 4}\n"
                        "    train: {epochs: 1, batch_size: 8}\n")
    run_workflow(p, output_dir=tmp_path / "out", executor={"kind": "inprocess"}, log=lambda m: None)
    state = torch.load(tmp_path / "out" / "m" / "best.pt", weights_only=True)["model_state"]
    # burgers_small.yaml: nu in {0.01, 0.1, 1.0}
    assert state["transform.lower"].tolist() == pytest.approx([0.01])
    assert state["transform.upper"].tolist() == pytest.approx([1.0])


@pytest.mark.slow
def test_training_step_is_reproducible_whatever_the_global_rng_state(tmp_path):
    """The model's initial weights come from the train seed, not the process's global RNG:
    the same workflow run twice (with different global states) saves identical weights."""
    import shutil

    import torch

    p = write(tmp_path, "  - kind: train_neural_pde\n    dataset: d\n    name: m\n    x_factor: 4\n"
                        "    t_stride: 4\n    val_fraction: 0.0\n"
                        "    model: {kind: cape_fno, width: 8, modes: 4, n_layers: 1, cape_hidden: 4,"
                        " cape_modes: 4}\n"
                        "    train: {epochs: 1, batch_size: 8, seed: 3}\n")
    states = []
    for global_seed in (0, 12345):
        torch.manual_seed(global_seed)
        shutil.rmtree(tmp_path / "out" / "m", ignore_errors=True)  # retrain; the dataset is reused
        run_workflow(p, output_dir=tmp_path / "out", executor={"kind": "inprocess"}, log=lambda m: None)
        states.append(torch.load(tmp_path / "out" / "m" / "last.pt", weights_only=True)["model_state"])
    assert states[0].keys() == states[1].keys()
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name
