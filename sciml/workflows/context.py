"""What the steps of one workflow run share: where it runs, what earlier steps produced."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WorkflowContext"]


@dataclass
class WorkflowContext:
    """State shared by the steps of one workflow run.

    Attributes
    ----------
    name : str
        The workflow's name.
    source : str
        Where the workflow comes from (its file), the prefix of every error message.
    base_dir, output_dir : Path
        Folder that relative recipe paths start from; folder of every output.
    executor : mapping, optional
        Executor configuration that overrides the steps' own (``{"kind": "inprocess"}``).
    log : callable
        Receives progress messages.
    produced : set of str
        Datasets the steps checked so far produce (filled by the validation pass).
    trained : dict
        Model specifications of the training steps checked so far, by step name.
    recipes : dict
        Resolved dataset recipes of the ``generate`` steps, by step index.
    datasets : dict
        Dataset files written so far, by step name.
    models : dict
        Records of the models trained so far (checkpoint, specification, data layout), by name.
    artefacts : dict
        Every output written, by label.
    keys : dict
        Keys of the steps run so far (:func:`sciml.workflows.runner.run_step`), by what they
        produce: ``"datasets:<name>"``, ``"models:<name>"``.
    digests : dict
        SHA-256 of input files with the size and modification time they were computed at, by
        path (kept in ``<output_dir>/.steps/digests.json`` between runs).
    """

    name: str
    source: str
    base_dir: Path
    output_dir: Path
    executor: Mapping[str, Any] | None = None
    log: Callable[[str], None] = print
    produced: set[str] = field(default_factory=set)
    trained: dict[str, Any] = field(default_factory=dict)
    recipes: dict[int, Any] = field(default_factory=dict)
    datasets: dict[str, Path] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    artefacts: dict[str, Path] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    digests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def where(self, index: int) -> str:
        """The prefix of the error messages about step ``index``."""
        return f"{self.source}: field steps.{index}"

    def executor_config(self, step_executor: Any = None, default: Mapping[str, Any] | None = None
                        ) -> dict[str, Any] | None:
        """The executor a step runs on: the workflow's (:attr:`executor`), else the step's own
        (an executor spec, or a mapping), else ``default``; ``None`` when none is given."""
        if self.executor is not None:
            return dict(self.executor)
        if step_executor is not None:
            return step_executor.model_dump() if hasattr(step_executor, "model_dump") else dict(step_executor)
        return None if default is None else dict(default)
