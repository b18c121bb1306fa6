"""A trained autoregressive neural PDE solver as a sciml Simulator (:class:`NeuralSolverSimulator`).

Wrapped this way, a trained model (CAPE, FNO, U-Net of :mod:`sciml.surrogates.neural_pde`) can
stand wherever a simulator can: as an information source of a BO problem beside the solver
(:class:`sciml.bo.sources.Source`), in a campaign, in a UQ study. A reference grid simulator
supplies what the model does not: the parameter space, the grid and frames, the initial state
for a seed and the dataset layout, so that the same objective applies to both.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.data.schema import provenance_attrs
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.base import ParameterSpace, check_finite, check_n_samples
from sciml.surrogates.neural_pde.protocol import rollout

__all__ = ["NeuralSolverSimulator"]


class NeuralSolverSimulator:
    """A trained autoregressive neural PDE solver as a sciml Simulator.

    The ``reference`` grid simulator supplies what the model does not: the parameter space,
    the grid and the frame times, the initial state (drawn from the same seed, so a surrogate
    run and a solver run with the same seed start from the same state) and the dataset layout.
    One model step advances one frame of the reference, so the model must have been trained
    on frames ``reference.t_final / (reference.n_frames - 1)`` apart (checked when
    ``frame_dt`` is given); it runs on the reference's grid (an FNO runs at any resolution;
    convolutional models such as the U-Net, and CAPE's stencils, only at the trained one).
    The module's train/eval mode is left as the caller set it: a run switches it to eval and
    back.

    Parameters
    ----------
    solver : torch.nn.Module
        A :class:`~sciml.surrogates.neural_pde.protocol.NeuralPDESolver` with one field
        variable, one spatial dimension and ``initial_step == 1`` (the first frame is the
        initial state).
    reference : PDESimulator1D
        A sciml 1-D grid simulator (``initial_state``, ``to_dataset``, ``x``, ``t``,
        ``n_frames``), e.g. :class:`~sciml.simulators.pde.burgers.BurgersSimulator`.
    parameters : sequence of str
        Names (in ``reference.parameter_space``) of the model's PDE parameters, in the order
        of its ``params`` columns; ``()`` for a parameter-blind model. Other parameters act
        through the reference's initial state only.
    cost : float
        Declared cost of one run (``> 0``), in whatever units the caller's cost model uses
        (e.g. relative to one run of the target solver).
    frame_dt : float, optional
        Time between the frames the model was trained on; must equal the reference's frame
        spacing (relative tolerance 1e-6).
    name : str, optional
        Default ``"<reference name>-surrogate"``.

    Raises
    ------
    ConfigError
        A model that does not fit (variables, dimensions, history length, parameter count, time
        step), or a bad cost.
    ParameterError
        A parameter name the reference does not know.
    """

    version = "1"

    def __init__(self, solver: torch.nn.Module, reference: Any, *, parameters: Sequence[str], cost: float,
                 frame_dt: float | None = None, name: str | None = None) -> None:
        attrs = {k: getattr(solver, k, None) for k in ("n_vars", "initial_step", "n_params", "spatial_dims")}
        if not isinstance(solver, torch.nn.Module) or any(v is None for v in attrs.values()):
            raise ConfigError(f"solver must be a neural PDE solver module (n_vars, initial_step, n_params, "
                              f"spatial_dims), got {type(solver).__name__}")
        if (attrs["n_vars"], attrs["spatial_dims"], attrs["initial_step"]) != (1, 1, 1):
            raise ConfigError(f"{type(solver).__name__}: NeuralSolverSimulator needs n_vars=1, spatial_dims=1 and "
                              f"initial_step=1 (the first frame is the initial state); got {attrs}")
        for method in ("initial_state", "to_dataset"):
            if not callable(getattr(reference, method, None)):
                raise ConfigError(f"reference must be a sciml 1-D grid simulator (with {method}), "
                                  f"got {type(reference).__name__}")
        space = reference.parameter_space
        names = [str(p) for p in parameters]
        unknown = [p for p in names if p not in space.names]
        if unknown:
            raise ParameterError(f"{reference.name}: unknown parameter(s) {unknown}; accepted: {space.describe()}")
        if len(names) != int(attrs["n_params"]):
            raise ConfigError(f"{type(solver).__name__} takes {attrs['n_params']} PDE parameter(s), "
                              f"but parameters={names}")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost <= 0:
            raise ConfigError(f"cost must be a finite number > 0, got {cost!r}")
        ref_dt = float(reference.t_final) / (int(reference.n_frames) - 1)
        if frame_dt is not None and not math.isclose(float(frame_dt), ref_dt, rel_tol=1e-6):
            raise ConfigError(f"{type(solver).__name__} steps {float(frame_dt):g} in time, but the reference's "
                              f"frames are t_final / (n_frames - 1) = {ref_dt:g} apart")
        self.solver = solver
        self.reference = reference
        self.parameters = tuple(names)
        self._cost = float(cost)
        self.name = name or f"{reference.name}-surrogate"

    @property
    def parameter_space(self) -> ParameterSpace:
        """The reference simulator's parameter space."""
        return self.reference.parameter_space

    def cost(self, params: Mapping[str, float]) -> float:
        """The declared cost of one run (independent of ``params``)."""
        return self._cost

    def config(self) -> dict[str, Any]:
        """What the surrogate is: its reference, parameters, cost and model (class and size)."""
        n_weights = sum(int(p.numel()) for p in self.solver.parameters())
        digest = hashlib.sha256()
        for key, value in sorted(self.solver.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().to("cpu").contiguous().numpy().tobytes())
        return {"kind": "neural_solver", "name": self.name, "reference": self.reference.config(),
                "parameters": list(self.parameters), "cost": self._cost,
                "model_class": f"{type(self.solver).__module__}.{type(self.solver).__qualname__}",
                "n_weights": n_weights, "weights_sha256": digest.hexdigest()}

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """Roll the model out from the reference's initial state for ``seed``.

        Returns
        -------
        xarray.Dataset
            ``u`` of shape ``(n_samples, n_frames, n_cells)`` on the reference's grid and
            frames, in the reference's layout; ``generator`` is this simulator's name.

        Raises
        ------
        ParameterError
            Parameters outside the parameter space.
        SimulationError
            Non-finite values in the rollout.
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        ref = self.reference
        u0 = np.asarray(ref.initial_state(np.random.default_rng(seed), n, p), dtype=np.float64)  # (n, n_cells)
        weight = next(self.solver.parameters(), None)
        dtype = weight.dtype if weight is not None else torch.float32
        device = weight.device if weight is not None else torch.device("cpu")
        initial = torch.as_tensor(u0, dtype=dtype, device=device).reshape(n, 1, 1, u0.shape[-1])
        theta = (torch.tensor([[float(p[k]) for k in self.parameters]] * n, dtype=dtype, device=device)
                 if self.parameters else None)
        training = self.solver.training
        self.solver.eval()  # (BatchNorm and dropout in eval form; the caller's mode is restored)
        try:
            with torch.no_grad():
                traj = rollout(self.solver, initial, int(ref.n_frames) - 1, theta)  # (n, 1, n_frames, n_cells)
        finally:
            self.solver.train(training)
        u = traj[:, 0].to(device="cpu", dtype=torch.float64).numpy().astype(getattr(ref, "dtype", np.float64))
        check_finite({"u": u}, simulator=self.name, params=p, seed=seed)
        ds = ref.to_dataset(u, p, seed=seed)
        ds.attrs.update(provenance_attrs(generator=self.name, generator_version=self.version,
                                         parameters={"config": self.config(), "params": dict(p)}, seed=seed))
        return ds
