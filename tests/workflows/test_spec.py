"""Configuration validation: errors name the file, the field and the accepted values."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciml.errors import ConfigError
from sciml.config import load_config
from sciml.workflows.recipe import DatasetRecipe
from sciml.workflows.spec import WorkflowSpec

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
name: t
simulator: {kind: burgers1d, n_cells: 32}
design: {kind: list, points: [{nu: 0.1}]}
output: out.nc
"""


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", sorted((ROOT / "datasets").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_are_valid(path):
    recipe = load_config(path, DatasetRecipe)
    assert recipe.name == path.stem


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_workflows_are_valid(path):
    assert load_config(path, WorkflowSpec).name == path.stem


def test_good_recipe_defaults(tmp_path):
    r = load_config(write(tmp_path, GOOD), DatasetRecipe)
    assert r.samples_per_point == 1 and r.seed == 0
    assert r.executor.kind == "dask" and r.executor.n_workers == 2


def test_unknown_top_level_field_names_file_field_and_accepted(tmp_path):
    p = write(tmp_path, GOOD + "sampels_per_point: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, DatasetRecipe)
    msg = str(err.value)
    assert str(p) in msg
    assert "field sampels_per_point: unknown field 'sampels_per_point'" in msg
    assert "'samples_per_point'" in msg and "'design'" in msg


def test_unknown_nested_field_lists_that_models_fields(tmp_path):
    p = write(tmp_path, GOOD.replace("{kind: list, points: [{nu: 0.1}]}", "{kind: list, pointz: [{nu: 0.1}]}"))
    with pytest.raises(ConfigError) as err:
        load_config(p, DatasetRecipe)
    msg = str(err.value)
    assert "field design.list.pointz: unknown field 'pointz'; accepted fields: ['kind', 'points']" in msg


def test_wrong_type_names_field_and_value(tmp_path):
    p = write(tmp_path, GOOD + "samples_per_point: many\n")
    with pytest.raises(ConfigError, match=r"field samples_per_point: .*integer.*'many'"):
        load_config(p, DatasetRecipe)


def test_unknown_design_kind_lists_accepted_kinds(tmp_path):
    p = write(tmp_path, GOOD.replace("kind: list,", "kind: random,"))
    with pytest.raises(ConfigError) as err:
        load_config(p, DatasetRecipe)
    msg = str(err.value)
    assert "field design" in msg
    for kind in ("'list'", "'grid'", "'lhs'", "'sobol'"):
        assert kind in msg


def test_missing_required_field(tmp_path):
    p = write(tmp_path, GOOD.replace("output: out.nc\n", ""))
    with pytest.raises(ConfigError, match=r"field output: field required"):
        load_config(p, DatasetRecipe)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "name: [unclosed\n"), DatasetRecipe)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml", DatasetRecipe)
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"), DatasetRecipe)


def test_workflow_step_kind_and_fields(tmp_path):
    text = "name: w\nsteps:\n  - {kind: generate, recipe: r.yaml}\n  - {kind: plot_trajectories, dataset: data, m: 3}\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text, "w.yaml"), WorkflowSpec)
    assert "field steps.1.plot_trajectories.m: unknown field 'm'; accepted fields: ['dataset', 'file', 'kind', 'n']" in str(err.value)


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_model_configs_are_valid_and_build(path):
    from sciml.surrogates.neural_pde.factory import build_solver
    from sciml.workflows.steps.train_neural_pde import NeuralPDEModelSpec

    spec = load_config(path, NeuralPDEModelSpec)
    model = build_solver(spec.kind, n_vars=1, n_params=1, **spec.solver_kwargs())
    assert sum(p.numel() for p in model.parameters()) > 1000
