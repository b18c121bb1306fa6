"""CARPool on viscous Burgers: the finite-volume solver with a trained CAPE-FNO as its control variate.

The QoI is the fluctuation energy at the final time, ``E'(T) = 0.5 <(u - <u>)^2>_x``, averaged
over random initial conditions (:class:`~sciml.simulators.pde.initial_conditions.SineSumIC` with
a random offset) at one viscosity ``nu``. It measures what the shocks have not yet dissipated:
the mean ``<u>`` is conserved (and known exactly from the initial state, so it is left out to keep
the correlation honest), and a surrogate on a grid ``x_factor`` times coarser rolled out
autoregressively tracks ``E'(T)`` well but not exactly, and with a bias (a coarse model
dissipates at a different rate): correlated, not perfect.

The study (:func:`burgers_cape_runs`, then :func:`burgers_cape_rows`):

1. **surrogate** -- a CAPE-FNO (:func:`~sciml.surrogates.neural_pde.build_solver`) trained with
   :class:`~sciml.surrogates.neural_pde.Trainer` on solver trajectories coarsened to its grid
   (data cell averages, as PDEBench's reduced data), or reloaded from ``work_dir``;
2. **pairs** -- ``N_max = max(n_pairs)`` (solver, surrogate) runs with shared seeds through
   :func:`~sciml.uq.control_variates.paired_runs`; the estimate at ``N`` uses the first ``N``;
3. **cheap runs** -- ``n_cheap`` surrogate-only runs (batched) for ``mu_c``;
4. **truth pool** -- ``n_truth`` more pairs (batched): the truth is the mean of their solver QoIs,
   and disjoint groups of ``N`` of them give the empirical variances of both estimators;
5. **timings** -- CPU seconds of one solver run, one surrogate run and one batched cheap run.

Every initial state is drawn from its own seed (``default_rng(seed)``), so a batched run of a
seed gives the same state as a single run of it. Seeds: pairs ``base + i``, truth pool
``base + 1e6 + i``, cheap runs ``base + 2e6 + i``, training ``base + 3e6 + i`` with
``base = 1e7 seed``.

Variance reduction at equal solver runs: ``Var(y) / N`` (plain mean of the ``N`` solver runs)
over the CARPool estimator's variance (:class:`~sciml.uq.control_variates.CARPoolEstimate`,
residual plus ``mu_c`` terms, univariate ``beta`` fitted on the pairs); empirically, the ratio of
the variances of both estimators over the truth pool's disjoint groups (plus the shared
``mu_c`` term). CPU seconds at equal accuracy: the plain mean needs ``N * reduction`` solver runs
to reach the CARPool variance at ``N`` pairs, CARPool ``N`` solver and surrogate runs and
``n_cheap`` batched cheap runs (training reported apart, ``cpu_s_train``).

Reference: N. Chartier, B. Wandelt, Y. Akrami, F. Villaescusa-Navarro, MNRAS 503 (2021) 1897.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, model_validator

from sciml.config import StrictModel, as_config
from sciml.errors import ConfigError

__all__ = [
    "BurgersCarpoolRuns",
    "BurgersCarpoolSettings",
    "as_settings",
    "burgers_cape_pair",
    "burgers_cape_rows",
    "burgers_cape_runs",
    "fluctuation_energy",
    "preset_settings",
]

STAGE = "burgers_cape"
#: Row fields that are measured CPU times (they differ between identical runs).
TIMING_FIELDS = ("cpu_s_plain", "cpu_s_carpool", "cpu_s_solver_run", "cpu_s_surrogate_run", "cpu_s_cheap_run",
                 "cpu_s_train")
_SEED_STRIDE = 10_000_000
_OFFSETS = {"pairs": 0, "truth": 1_000_000, "cheap": 2_000_000, "train": 3_000_000}


class BurgersCarpoolSettings(StrictModel):
    """Sizes of the Burgers/CAPE CARPool study (quick and full presets: :func:`preset_settings`).

    Physics: ``nu``, solver grid ``n_cells`` on ``[0, 1)``, ``n_frames`` frames up to ``t_final``,
    initial offsets ``|c| ~ U(ic_offset_range)``. Surrogate: CAPE-FNO on ``n_cells / x_factor``
    cells (``width``, ``modes``, ``n_layers``, ``cape_hidden``, ``cape_modes``), trained on
    ``n_train`` trajectories (1/8 for validation) for ``epochs`` (``warmup_epochs`` of them for the
    CAPE block) at rate ``lr``. CARPool: estimates at each of ``n_pairs`` (the largest is the
    summary's), ``n_cheap`` cheap runs, ``n_truth`` truth-pool pairs; ``timing_runs`` runs timed
    per model; ``seed`` sets every seed.
    """

    nu: float = Field(0.01, ge=1e-4, le=10.0)
    n_cells: int = Field(256, ge=8)
    x_factor: int = Field(4, ge=1)
    t_final: float = Field(0.5, gt=0)
    n_frames: int = Field(11, ge=2)
    ic_offset_range: tuple[float, float] = (0.2, 0.6)
    n_train: int = Field(128, ge=4)
    epochs: int = Field(20, ge=1)
    warmup_epochs: int = Field(3, ge=0)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(16, ge=1)
    modes: int = Field(8, ge=1)
    n_layers: int = Field(3, ge=1)
    cape_hidden: int = Field(8, ge=1)
    cape_modes: int = Field(8, ge=1)
    n_pairs: tuple[int, ...] = Field((5, 10, 30), min_length=1)
    n_cheap: int = Field(2000, ge=2)
    n_truth: int = Field(3000, ge=8)
    timing_runs: int = Field(10, ge=1)
    seed: int = Field(0, ge=0, le=99)

    @model_validator(mode="after")
    def _consistent(self) -> BurgersCarpoolSettings:
        if self.n_cells % self.x_factor:
            raise ValueError(f"x_factor={self.x_factor} must divide n_cells={self.n_cells}")
        if self.n_cells // self.x_factor < 4:
            raise ValueError(f"x_factor={self.x_factor} leaves {self.n_cells // self.x_factor} surrogate cells; "
                             "n_cells / x_factor must be >= 4")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} must be smaller than epochs={self.epochs}")
        if any(n < 4 for n in self.n_pairs) or len(set(self.n_pairs)) != len(self.n_pairs):
            raise ValueError(f"n_pairs must be distinct counts >= 4 (a fitted beta needs N >= 4); got {self.n_pairs}")
        if self.n_truth < 2 * max(self.n_pairs):
            raise ValueError(f"n_truth={self.n_truth} must be >= 2 max(n_pairs) = {2 * max(self.n_pairs)} "
                             "(two groups at least for the empirical variances)")
        lo, hi = self.ic_offset_range
        if not 0 <= lo <= hi:
            raise ValueError(f"ic_offset_range must be (lo, hi) with 0 <= lo <= hi; got {self.ic_offset_range}")
        if self.n_train // 8 < 1:
            raise ValueError(f"n_train={self.n_train} must be >= 8 (1/8 of it validates)")
        return self

    def training_fingerprint(self) -> dict[str, Any]:
        """The fields that determine the trained surrogate."""
        keys = ("nu", "n_cells", "x_factor", "t_final", "n_frames", "ic_offset_range", "n_train", "epochs",
                "warmup_epochs", "batch_size", "lr", "width", "modes", "n_layers", "cape_hidden", "cape_modes",
                "seed")
        return {k: getattr(self, k) for k in keys}


def preset_settings(quick: bool) -> BurgersCarpoolSettings:
    """Quick (minutes on 2 CPU cores, training included) or full sizes."""
    if quick:
        return BurgersCarpoolSettings()
    return BurgersCarpoolSettings(n_cells=1024, x_factor=8, n_frames=21, n_train=512, epochs=60,
                                  warmup_epochs=10, width=24, modes=12, n_layers=4, cape_hidden=16,
                                  n_pairs=(5, 10, 30, 100), n_cheap=20000, n_truth=20000, timing_runs=40)


def as_settings(settings: BurgersCarpoolSettings | Mapping[str, Any] | None, *,
                quick: bool = True) -> BurgersCarpoolSettings:
    """``settings`` validated: ``None`` gives the preset, a mapping overrides the preset's fields.

    Raises
    ------
    ConfigError
        A bad field: one line per field with the bad value and what is accepted.
    """
    if isinstance(settings, BurgersCarpoolSettings):
        return settings
    base = preset_settings(quick)
    if settings is None:
        return base
    if not isinstance(settings, Mapping):
        raise ConfigError(f"settings must be a mapping or BurgersCarpoolSettings; got {type(settings).__name__}")
    return as_config({**base.model_dump(), **dict(settings)}, BurgersCarpoolSettings, "Burgers CARPool settings")


# ----------------------------------------------------------------------------- QoI and models
def fluctuation_energy(u: Any) -> np.ndarray:
    """``0.5 <(u - <u>)^2>`` over the last axis (cells of a uniform periodic grid); shape ``u.shape[:-1]``."""
    a = np.asarray(u, dtype=np.float64)
    return 0.5 * np.mean((a - a.mean(axis=-1, keepdims=True)) ** 2, axis=-1)


def solver_qoi(ds: Any) -> np.ndarray:
    """QoI of one solver run (a Dataset with ``u`` of shape ``(1, n_frames, n_cells)``): ``E'`` at the last frame."""
    return fluctuation_energy(np.asarray(ds["u"].values)[0, -1])


def surrogate_qoi(mean: Any) -> np.ndarray:
    """QoI of one surrogate rollout (``mean`` of shape ``(1, 1, n_steps, n_cells)``): ``E'`` at the last frame."""
    return fluctuation_energy(torch.as_tensor(mean)[0, 0, -1].double().numpy())


def simulator(s: BurgersCarpoolSettings) -> Any:
    """The study's solver (:class:`~sciml.simulators.pde.burgers.BurgersSimulator`)."""
    from sciml.simulators.pde import BurgersSimulator, SineSumIC

    return BurgersSimulator(n_cells=s.n_cells, t_final=s.t_final, n_frames=s.n_frames,
                            initial_condition=SineSumIC(offset_range=s.ic_offset_range))


def initial_states(sim: Any, seeds: Sequence[int], params: Mapping[str, float]) -> np.ndarray:
    """``(len(seeds), n_cells)``: the state ``sim.run(params, seed=s)`` starts from, per seed."""
    rows = [np.asarray(sim.initial_state(np.random.default_rng(int(s)), 1, params), dtype=sim.dtype)[0]
            for s in seeds]
    return np.stack(rows) if rows else np.zeros((0, sim.n_cells), dtype=sim.dtype)


@dataclass(frozen=True)
class SurrogateInputs:
    """``(params, seed) -> RolloutRequest``: the solver's initial state for ``seed``, coarsened by ``x_factor``."""

    sim: Any
    x_factor: int

    def batch(self, seeds: Sequence[int], params: Mapping[str, float]) -> Any:
        """One request for all ``seeds`` (batch order = seed order)."""
        from sciml.data.torch_dataset import coarsen
        from sciml.surrogates.neural_pde import RolloutRequest

        u0 = coarsen(initial_states(self.sim, seeds, params).astype(np.float64), self.x_factor, 1)
        initial = torch.as_tensor(u0[:, None, None], dtype=torch.float32)
        theta = torch.full((len(seeds), 1), float(params["nu"]), dtype=torch.float32)
        return RolloutRequest(initial, int(self.sim.n_frames) - 1, theta)

    def __call__(self, params: Mapping[str, float], seed: int) -> Any:
        return self.batch([seed], params)


def _seeds(s: BurgersCarpoolSettings, kind: str, n: int) -> list[int]:
    base = s.seed * _SEED_STRIDE + _OFFSETS[kind]
    return [base + i for i in range(int(n))]


def solve_seeds(sim: Any, seeds: Sequence[int], params: Mapping[str, float]) -> np.ndarray:
    """``(len(seeds), n_frames, n_cells)``: the solver runs of ``seeds``, integrated as one batch."""
    return sim.integrate(initial_states(sim, seeds, params), sim.parameter_space.validate(params))[0]


def _build_model(s: BurgersCarpoolSettings) -> torch.nn.Module:
    from sciml.surrogates.neural_pde import build_solver

    return build_solver("cape_fno", n_vars=1, n_params=1, width=s.width, modes=s.modes, n_layers=s.n_layers,
                        cape_hidden=s.cape_hidden, cape_modes=s.cape_modes, param_scale=1e-3,
                        param_bounds=(s.nu, s.nu), seed=s.seed)


def train_surrogate(s: BurgersCarpoolSettings, run_dir: str | Path | None = None,
                    log: Callable[[str], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The study's CAPE-FNO, trained on ``n_train`` solver runs, or reloaded from ``run_dir``.

    ``run_dir/surrogate.json`` (written last) marks a finished training of the same
    :meth:`~BurgersCarpoolSettings.training_fingerprint`; its ``best.pt`` is then loaded and nothing
    is trained. An unfinished run in ``run_dir`` is resumed.

    Returns
    -------
    model : torch.nn.Module
        In eval mode; one step advances ``t_final / (n_frames - 1)`` on ``n_cells / x_factor`` cells.
    info : dict
        ``val_nrmse`` (best epoch), ``best_epoch``, ``cpu_s_train`` (data and training), ``reused``.

    Raises
    ------
    ConfigError
        ``run_dir`` holds a surrogate trained with other settings.
    """
    from torch.utils.data import Subset

    from sciml.data.torch_dataset import InMemoryTrajectoryDataset, coarsen
    from sciml.fingerprint import stable_hash
    from sciml.surrogates.neural_pde import Trainer, TrainConfig, load_weights

    model, fp = _build_model(s), stable_hash(s.training_fingerprint())
    marker = None if run_dir is None else Path(run_dir) / "surrogate.json"
    if marker is not None and marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("fingerprint") != fp:
            raise ConfigError(f"{marker.parent} holds a surrogate trained with other settings; use another work_dir")
        load_weights(model, marker.parent / "best.pt")
        return model.eval(), {**info["info"], "reused": True}
    cpu0, sim = time.process_time(), simulator(s)
    u = solve_seeds(sim, _seeds(s, "train", s.n_train), {"nu": s.nu})
    traj = torch.as_tensor(coarsen(u.astype(np.float64), s.x_factor, 1)[:, None], dtype=torch.float32)
    data = InMemoryTrajectoryDataset.from_tensors(traj, torch.full((s.n_train, 1), s.nu, dtype=torch.float32))
    n_val = s.n_train // 8
    train, val = Subset(data, list(range(n_val, s.n_train))), Subset(data, list(range(n_val)))
    config = TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, warmup_epochs=s.warmup_epochs,
                         aux_loss_weight=0.3, seed=s.seed, progress=False)
    if log is not None:
        log(f"burgers_cape: training a CAPE-FNO on {s.n_train} trajectories for {s.epochs} epochs")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(run_dir) if run_dir is not None else Path(tmp)
        result = Trainer(model, config, out).fit(train, val, resume=True)
        load_weights(model, result.best_checkpoint)
    info = {"val_nrmse": float(result.best_metric), "best_epoch": result.best_epoch,
            "cpu_s_train": time.process_time() - cpu0}
    if marker is not None:
        marker.write_text(json.dumps({"fingerprint": fp, "settings": s.training_fingerprint(), "info": info}))
    return model.eval(), {**info, "reused": False}


# ----------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class BurgersCarpoolRuns:
    """What the study ran (:func:`burgers_cape_runs`); :func:`burgers_cape_rows` reduces it to rows.

    Attributes
    ----------
    settings : BurgersCarpoolSettings
    pairs : PairedRuns
        ``max(n_pairs)`` (solver, surrogate) QoIs with their shared seeds (``pairs.cheap`` is None).
    cheap : ndarray, shape ``(n_cheap,)``
        Surrogate-only QoIs for ``mu_c``.
    truth_y, truth_c : ndarray, shape ``(n_truth,)``
        Solver and surrogate QoIs of the truth pool.
    cpu_s : dict
        CPU seconds: ``solver_run``, ``surrogate_run`` (one run each, mean of ``timing_runs``),
        ``cheap_run`` (one batched surrogate run), ``train`` (data and training; 0 work when reused).
    surrogate : dict
        :func:`train_surrogate`'s info.
    """

    settings: BurgersCarpoolSettings
    pairs: Any
    cheap: np.ndarray
    truth_y: np.ndarray
    truth_c: np.ndarray
    cpu_s: dict[str, float]
    surrogate: dict[str, Any]


def surrogate_batch(model: torch.nn.Module, inputs: SurrogateInputs, seeds: Sequence[int],
                    params: Mapping[str, float], chunk: int = 500) -> np.ndarray:
    """``(len(seeds),)``: the surrogate QoIs of ``seeds``, rolled out in batches of ``chunk``."""
    out = []
    for lo in range(0, len(seeds), chunk):
        mean = model.predict(inputs.batch(seeds[lo:lo + chunk], params)).mean  # (b, 1, n_steps, cells)
        out.append(fluctuation_energy(mean[:, 0, -1].double().numpy()))
    return np.concatenate(out) if out else np.zeros(0)


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    value = fn()
    return value, time.process_time() - start


def _time_single_runs(sim: Any, model: torch.nn.Module, inputs: SurrogateInputs, seeds: Sequence[int],
                      params: Mapping[str, float]) -> tuple[float, float]:
    """Mean CPU seconds of one solver run and of one surrogate run (as :func:`paired_runs` runs them)."""
    _, t_solver = _cpu(lambda: [solver_qoi(sim.run(params, seed=s)) for s in seeds])
    _, t_model = _cpu(lambda: [surrogate_qoi(model.predict(inputs(params, s)).mean) for s in seeds])
    return t_solver / len(seeds), t_model / len(seeds)


def burgers_cape_runs(settings: Mapping[str, Any] | BurgersCarpoolSettings | None = None, *, quick: bool = True,
                      executor: Any = None, work_dir: str | Path | None = None,
                      log: Callable[[str], None] | None = None) -> BurgersCarpoolRuns:
    """Train (or reload) the surrogate and run the pairs, the cheap runs and the truth pool.

    Parameters
    ----------
    settings : mapping or BurgersCarpoolSettings, optional
        Overrides of the preset (see :func:`as_settings`).
    quick : bool
        Which preset.
    executor : Executor or mapping, optional
        Runs the pairs (:func:`~sciml.uq.control_variates.paired_runs`); default in-process.
    work_dir : path, optional
        Keeps the trained surrogate (``surrogate-<hash>/``) for later calls; default: none kept.
    log : callable, optional
        Receives progress lines.

    Raises
    ------
    ConfigError
        Bad settings (each bad field named).
    """
    from sciml.fingerprint import stable_hash
    from sciml.uq.control_variates import paired_runs

    s = as_settings(settings, quick=quick)
    run_dir = None
    if work_dir is not None:
        run_dir = Path(work_dir) / f"surrogate-{stable_hash(s.training_fingerprint())[:12]}"
        run_dir.mkdir(parents=True, exist_ok=True)
    model, info = train_surrogate(s, run_dir, log)
    sim, params = simulator(s), {"nu": s.nu}
    inputs = SurrogateInputs(sim, s.x_factor)
    n_max = max(s.n_pairs)
    if log is not None:
        log(f"burgers_cape: {n_max} pairs, {s.n_cheap} cheap runs, {s.n_truth} truth-pool pairs")
    pairs = paired_runs(sim, model, solver_qoi, params, _seeds(s, "pairs", n_max), cheap_qoi=surrogate_qoi,
                        cheap_inputs=inputs, executor=executor)
    cheap_seeds = _seeds(s, "cheap", s.n_cheap)
    cheap, t_cheap = _cpu(lambda: surrogate_batch(model, inputs, cheap_seeds, params))
    truth_seeds = _seeds(s, "truth", s.n_truth)
    truth_y = fluctuation_energy(solve_seeds(sim, truth_seeds, params)[:, -1])
    truth_c = surrogate_batch(model, inputs, truth_seeds, params)
    t_solver, t_model = _time_single_runs(sim, model, inputs, truth_seeds[:s.timing_runs], params)
    cpu_s = {"solver_run": t_solver, "surrogate_run": t_model, "cheap_run": t_cheap / s.n_cheap,
             "train": float(info["cpu_s_train"])}
    return BurgersCarpoolRuns(s, pairs, cheap, truth_y, truth_c, cpu_s, info)


# ----------------------------------------------------------------------------- rows
def empirical_reduction(y: np.ndarray, c: np.ndarray, cheap: np.ndarray, n: int) -> tuple[float, int]:
    """``(Var(plain) / Var(CARPool), R)`` over the ``R = len(y) // n`` disjoint groups of ``n`` pairs.

    Each group gives the plain mean of its ``y`` and its CARPool estimate (univariate ``beta``,
    ``mu_c`` from ``cheap``); the CARPool variance adds the shared ``mu_c`` term
    ``mean(beta^2) Var(cheap) / M``, which the spread over groups cannot show.
    """
    from sciml.uq.control_variates import carpool

    r = len(y) // n
    if r < 2:
        raise ConfigError(f"the empirical variance at N={n} needs >= 2 groups; the pool holds {len(y)} pairs")
    ests = [carpool(y[i * n:(i + 1) * n], c[i * n:(i + 1) * n], cheap=cheap) for i in range(r)]
    x = np.array([float(e.mean) for e in ests])
    beta2 = np.mean([float(e.beta[0]) ** 2 for e in ests])
    plain = y[:r * n].reshape(r, n).mean(axis=1)
    var_cp = x.var(ddof=1) + beta2 * cheap.var(ddof=1) / cheap.size
    return float(plain.var(ddof=1) / var_cp), r


def _row(runs: BurgersCarpoolRuns, n: int) -> dict[str, Any]:
    from sciml.uq.control_variates import carpool

    p, t = runs.pairs, runs.cpu_s
    est = carpool(p.y[:n], p.c[:n], cheap=runs.cheap, seeds_y=p.seeds[:n], seeds_c=p.seeds[:n])
    truth, truth_se = float(runs.truth_y.mean()), float(runs.truth_y.std(ddof=1) / math.sqrt(runs.truth_y.size))
    reduction = float(est.variance_reduction)
    emp, n_groups = empirical_reduction(runs.truth_y, runs.truth_c, runs.cheap, n)
    m = runs.cheap.size
    return {
        "stage": STAGE, "what": "n_pairs", "n_pairs": n, "n_cheap": m, "estimate": float(est.mean),
        "std_error": float(est.std_error), "plain_mean": float(est.plain_mean),
        "plain_std_error": math.sqrt(float(est.plain_variance)), "variance_reduction": reduction,
        "variance_reduction_empirical": emp, "n_groups": n_groups, "rho": float(est.rho),
        "gain": float(est.gain), "beta": float(est.beta[0]), "truth": truth, "truth_std_error": truth_se,
        "bias_sigma": (float(est.mean) - truth) / math.sqrt(float(est.variance) + truth_se**2),
        "cpu_s_plain": n * reduction * t["solver_run"],
        "cpu_s_carpool": n * (t["solver_run"] + t["surrogate_run"]) + m * t["cheap_run"],
    }


def burgers_cape_rows(runs: BurgersCarpoolRuns) -> list[dict[str, Any]]:
    """One row per ``N`` of ``settings.n_pairs`` (``"what": "n_pairs"``) and a ``"summary"`` row.

    Per ``N`` (first ``N`` pairs): ``estimate``, ``std_error``, ``plain_mean``, ``plain_std_error``,
    ``variance_reduction`` (:attr:`CARPoolEstimate.variance_reduction`), ``variance_reduction_empirical``
    over ``n_groups`` groups of the truth pool (:func:`empirical_reduction`), ``rho``, ``gain``,
    ``beta``, ``truth`` (mean of the truth pool's solver QoIs) and ``truth_std_error``,
    ``bias_sigma = (estimate - truth) / sqrt(std_error^2 + truth_std_error^2)``, ``cpu_s_plain``
    (``N * variance_reduction`` solver runs) and ``cpu_s_carpool`` (``N`` pairs and the cheap runs).
    The summary repeats the row of the largest ``N`` (the ``variance_reduction`` the benchmark
    checks) with the surrogate's ``val_nrmse``, ``cpu_s_train``, the per-run CPU seconds and the
    truth pool's correlation ``rho_truth`` of solver and surrogate QoIs.
    """
    s = runs.settings
    rows = [_row(runs, n) for n in sorted(s.n_pairs)]
    top = rows[-1]
    summary = {**top, "what": "summary", "qoi": "fluctuation_energy_t_final", "nu": s.nu,
               "n_truth": int(runs.truth_y.size),
               "rho_truth": float(np.corrcoef(runs.truth_y, runs.truth_c)[0, 1]),
               "surrogate_mean_truth_pool": float(runs.truth_c.mean()),
               "val_nrmse": float(runs.surrogate["val_nrmse"]), "cpu_s_train": float(runs.cpu_s["train"]),
               "cpu_s_solver_run": runs.cpu_s["solver_run"], "cpu_s_surrogate_run": runs.cpu_s["surrogate_run"],
               "cpu_s_cheap_run": runs.cpu_s["cheap_run"]}
    return [*rows, summary]


def burgers_cape_pair(settings: Mapping[str, Any] | BurgersCarpoolSettings | None = None, *, quick: bool = True,
                      executor: Any = None, work_dir: str | Path | None = None,
                      log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The Burgers/CAPE CARPool study as benchmark rows: :func:`burgers_cape_rows` of :func:`burgers_cape_runs`.

    The benchmark's figure is the summary row's ``variance_reduction`` (at ``N = max(n_pairs)``,
    equal solver runs). Fields in :data:`TIMING_FIELDS` are measured CPU seconds; every other field
    is reproducible from the settings (and equal when the surrogate is reloaded from ``work_dir``).

    Raises
    ------
    ConfigError
        Bad settings (each bad field named), or a ``work_dir`` whose surrogate has other settings.
    """
    return burgers_cape_rows(burgers_cape_runs(settings, quick=quick, executor=executor, work_dir=work_dir,
                                               log=log))
