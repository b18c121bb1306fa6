"""Recipe values that used to fail deep inside a run are refused when the recipe is read (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sciml.cli import main
from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.workflows.recipe import DatasetRecipe

RECIPE = """
name: t
simulator: {{kind: burgers1d, n_cells: 32}}
design: {{kind: list, points: [{{nu: 0.1}}]}}
seed: {seed}
executor: {{kind: inprocess}}
output: out.nc
"""


def write(tmp_path: Path, seed: object) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(seed=seed))
    return path


@pytest.mark.parametrize("seed, message", [
    (-3, "Input should be greater than or equal to 0 (got -3)"),
    (1.5, "Input should be a valid integer, got a number with a fractional part (got 1.5)"),
])
def test_a_bad_seed_names_the_file_the_field_and_the_accepted_values(tmp_path, seed, message):
    path = write(tmp_path, seed)
    with pytest.raises(ConfigError) as info:
        load_config(path, DatasetRecipe)
    assert str(info.value) == f"{path}: field seed: {message}"


@pytest.mark.parametrize("seed", [0, 7, 2**63])
def test_non_negative_seeds_are_accepted(tmp_path, seed):
    assert load_config(write(tmp_path, seed), DatasetRecipe).seed == seed


def test_negative_seed_from_the_command_line_is_one_line(tmp_path, capsys):
    path = write(tmp_path, -3)
    with pytest.raises(SystemExit) as info:
        main(["data", "generate", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == f"error: {path}: field seed: Input should be greater than or equal to 0 (got -3)\n"
