"""The ProbConserv study: ANP, HardC-ANP, ProbConserv-ANP and SoftC-ANP on a conservation law.

The protocol of Hansen et al., "Learning Physical Models that Can Respect Conservation Laws"
(ICML 2023), shared by ``sciml bench probconserv``, the ``probconserv_study`` workflow step and
the notebook: :class:`ProbConservSettings` (sizes of a mode, :func:`probconserv_settings`),
the ANP of the settings (:func:`build_model`), its training batches and configuration
(:func:`make_sample_batch_fn`, :func:`train_config`), the training of the ANP and the
SoftC-ANP of one problem (:func:`train_models`), and the rows of one test value
(:func:`evaluate_test_value`, through :mod:`sciml.studies.probconserv_evaluation`). The other
base models (GP, FNO ensemble, MC dropout) are in :mod:`sciml.studies.probconserv_bases`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from sciml.config import StrictModel
from sciml.studies.probconserv_evaluation import evaluate_anps, make_test_functions
from sciml.surrogates.probconserv import (
    CONSERVATION_PROBLEMS,
    ANPTrainConfig,
    ANPTrainer,
    AttentiveNeuralProcess,
    ConservationProblem,
)
from sciml.surrogates.probconserv.anp import Activation

__all__ = [
    "MODELS",
    "ProbConservSettings",
    "SoftCInit",
    "build_model",
    "evaluate_test_value",
    "make_sample_batch_fn",
    "probconserv_settings",
    "resolve_device",
    "train_config",
    "train_models",
    "train_seconds",
]

#: Model variants of every (problem, test value), in row order.
MODELS: tuple[str, ...] = ("ANP", "HardC-ANP", "ProbConserv-ANP", "SoftC-ANP")
#: How the SoftC-ANP starts: from the trained ANP's weights (then fine-tuned) or from scratch.
SoftCInit = Literal["anp", "scratch"]
SOFTC_INITS: tuple[str, ...] = ("anp", "scratch")
#: Learning-rate schedules of :class:`~sciml.surrogates.probconserv.ANPTrainConfig`.
LRSchedule = Literal["constant", "cosine"]


class ProbConservSettings(StrictModel):
    """Sizes of one mode of the study (see :func:`probconserv_settings`).

    Grids are ``(n_t, n_x)``. ``n_target_range`` is the inclusive range of the number of random
    target points per training step. ``softc_init`` is ``"anp"`` (start SoftC from the trained
    ANP, then ``softc_steps`` steps with the penalty) or ``"scratch"`` (``softc_steps`` steps
    from a fresh initialisation). ``device``: where the models train and predict (default
    ``"cuda"`` when available, else ``"cpu"``); metrics are computed on the CPU in float64.
    ``normalize_inputs``: the ANPs map ``(t, x)`` from the problem's domain onto ``[-1, 1]^2``
    (their ``input_range``). ``lr_schedule``, ``warmup_steps`` and ``nll_beta`` (beta-NLL
    weighting, 0 = plain ELBO) are passed to
    :class:`~sciml.surrogates.probconserv.ANPTrainConfig` (:func:`train_config`).
    """

    problems: tuple[str, ...]
    train_grid: tuple[int, int]
    eval_grid: tuple[int, int]
    steps: int
    softc_steps: int
    n_functions: int
    n_latent_samples: int
    n_shock_samples: int
    softc_init: SoftCInit = "anp"
    softc_weight: float = 1e-3
    n_context: int = 100
    n_target_range: tuple[int, int] = (128, 256)
    batch_size: int = 8
    lr: float = 5e-4
    lr_schedule: LRSchedule = "constant"
    warmup_steps: int = 0
    nll_beta: float = 0.0
    grad_clip: float | None = 1.0
    context_noise: float = 0.0
    hidden: int = 64
    latent_dim: int = 64
    n_heads: int = 4
    n_self_attention: int = 0
    n_cross_attention: int = 1
    mlp_layers: int = 2
    activation: Activation = "gelu"
    normalize_inputs: bool = True
    eval_batch: int = 5
    target_chunk: int | None = 8192
    timing_grid: tuple[int, int] = (201, 201)
    timing_repeats: int = 3
    seed: int = 0
    eval_seed: int = 1234
    checkpoint_every: int = 500
    device: str | None = None


def probconserv_settings(quick: bool) -> ProbConservSettings:
    """Quick mode: minutes on 2 CPU cores (heat, PME, Stefan). Full mode: the paper's grids and sizes (a GPU)."""
    if quick:
        return ProbConservSettings(
            problems=("heat", "pme", "stefan"), train_grid=(101, 101), eval_grid=(101, 101),
            steps=2000, softc_steps=100, softc_init="anp", n_functions=20, n_latent_samples=10,
            n_shock_samples=200, lr=1e-3, lr_schedule="cosine", warmup_steps=100, nll_beta=0.5,
        )
    return ProbConservSettings(
        problems=tuple(CONSERVATION_PROBLEMS), train_grid=(201, 201), eval_grid=(201, 201),
        steps=20_000, softc_steps=20_000, softc_init="scratch", n_functions=50, n_latent_samples=50,
        n_shock_samples=500, hidden=128, latent_dim=128, n_self_attention=2, n_cross_attention=2,
        batch_size=16, lr=3e-4, lr_schedule="cosine", warmup_steps=1000, eval_batch=5,
    )


# ----------------------------------------------------------------------------- training
def build_model(s: ProbConservSettings, *, seed: int, problem: ConservationProblem | None = None
                ) -> AttentiveNeuralProcess:
    """A freshly initialised ANP of the settings' size (initialisation seeded by ``seed``).

    With ``s.normalize_inputs`` the ANP maps ``(t, x)`` from the problem's domain
    ``(problem.t_range, problem.x_range)`` onto ``[-1, 1]^2`` (``input_range``; ``problem`` is
    then required, else ``ValueError``).
    """
    input_range = None
    if s.normalize_inputs:
        if problem is None:
            raise ValueError("build_model: normalize_inputs=True needs the problem (its t_range and x_range)")
        input_range = (tuple(problem.t_range), tuple(problem.x_range))
    torch.manual_seed(seed)
    return AttentiveNeuralProcess(
        x_dim=2, y_dim=1, hidden=s.hidden, latent_dim=s.latent_dim, n_heads=s.n_heads,
        n_self_attention=s.n_self_attention, n_cross_attention=s.n_cross_attention,
        mlp_layers=s.mlp_layers, activation=s.activation, input_range=input_range)


def make_sample_batch_fn(problem: ConservationProblem, s: ProbConservSettings) -> Callable[[int, torch.Generator], Any]:
    """``sample_batch_fn(step, generator)`` for :meth:`ANPTrainer.fit`: all randomness from ``generator``.

    Per step: a seed from ``generator``, then ``s.batch_size`` parameters from the training
    range, ``s.n_context`` contexts and a random number (``s.n_target_range``) of targets on
    ``s.train_grid``.
    """
    lo, hi = s.n_target_range
    n_pts = s.train_grid[0] * s.train_grid[1]
    lo, hi = min(lo, n_pts), min(hi, n_pts)

    def sample(step: int, generator: torch.Generator) -> Any:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        n_target = int(rng.integers(lo, hi + 1))
        params = problem.sample_params(s.batch_size, rng)
        return problem.sample_batch(params, n_context=s.n_context, n_target=n_target, rng=rng,
                                    grid=s.train_grid, noise_std=s.context_noise)

    return sample


def resolve_device(s: ProbConservSettings) -> torch.device:
    """``s.device``, or ``"cuda"`` when available, else ``"cpu"``."""
    if s.device is not None:
        return torch.device(s.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_seconds(result: Any) -> float:
    """Training wall time of a run from its metrics history (survives resumption), in seconds."""
    return float(sum(h.get("seconds") or 0.0 for h in result.history))


def _softc_residual(problem: ConservationProblem) -> Callable[..., Tensor]:
    def residual(u: Tensor, u_t: Tensor, u_x: Tensor, u_xx: Tensor, params: Tensor | None) -> Tensor:
        assert params is not None
        return problem.pde_residual(u, u_t, u_x, u_xx, params[:, :, None])  # (B, 1) -> (B, 1, 1)

    return residual


def train_config(s: ProbConservSettings, *, steps: int, seed: int, softc_weight: float = 0.0) -> ANPTrainConfig:
    """The :class:`~sciml.surrogates.probconserv.ANPTrainConfig` of one training run of the settings.

    The warm-up is capped at a tenth of ``steps`` (the short SoftC fine-tuning of quick mode).
    """
    return ANPTrainConfig(steps=steps, batch_size=s.batch_size, lr=s.lr, seed=seed,
                          checkpoint_every=s.checkpoint_every, log_every=max(1, min(50, steps)),
                          grad_clip=s.grad_clip, softc_weight=softc_weight, lr_schedule=s.lr_schedule,
                          nll_beta=s.nll_beta,
                          warmup_steps=min(s.warmup_steps, steps // 10))


def train_models(problem: ConservationProblem, s: ProbConservSettings, run_dir: Path,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or resume, or reload) the ANP and the SoftC-ANP of one problem.

    Checkpoints in ``run_dir / "anp"`` and ``run_dir / "softc"``.

    Returns
    -------
    dict
        ``{"ANP": model, "SoftC-ANP": model, "anp_result": ..., "softc_result": ...,
        "anp_seconds": float, "softc_seconds": float}``.

    Raises
    ------
    ValueError
        ``s.softc_init`` not in ``("anp", "scratch")``.
    """
    sample_fn = make_sample_batch_fn(problem, s)
    device = resolve_device(s)
    anp = build_model(s, seed=s.seed, problem=problem).to(device)
    cfg = train_config(s, steps=s.steps, seed=s.seed)
    anp_result = ANPTrainer(anp, cfg, run_dir / "anp").fit(sample_fn, resume=True)
    anp_seconds = train_seconds(anp_result)
    if log:
        log(f"{problem.name}: ANP trained, {anp_result.steps_completed} steps, final loss "
            f"{anp_result.final_loss:.4g} ({anp_seconds:.1f} s)")

    softc = build_model(s, seed=s.seed + 1, problem=problem).to(device)
    if s.softc_init == "anp":
        softc.load_state_dict(anp.state_dict())
    elif s.softc_init != "scratch":
        raise ValueError(f"softc_init must be one of {list(SOFTC_INITS)}, got {s.softc_init!r}")
    scfg = train_config(s, steps=s.softc_steps, seed=s.seed + 1, softc_weight=s.softc_weight)
    softc_result = ANPTrainer(softc, scfg, run_dir / "softc",
                              pde_residual=_softc_residual(problem)).fit(sample_fn, resume=True)
    softc_seconds = train_seconds(softc_result)
    if log:
        last = softc_result.history[-1] if softc_result.history else {}
        log(f"{problem.name}: SoftC-ANP trained, {softc_result.steps_completed} steps, final loss "
            f"{softc_result.final_loss:.4g} (penalty {last.get('softc')}) ({softc_seconds:.1f} s)")
    return {"ANP": anp, "SoftC-ANP": softc, "anp_result": anp_result, "softc_result": softc_result,
            "anp_seconds": anp_seconds, "softc_seconds": softc_seconds}


# ----------------------------------------------------------------------------- evaluation
def evaluate_test_value(problem: ConservationProblem, models: dict[str, Any], p: float, s: ProbConservSettings, *,
                        seed: Sequence[int]) -> list[dict[str, Any]]:
    """Rows (one per model variant of :data:`MODELS`) for one test parameter value ``p``.

    The test functions (:func:`~sciml.studies.probconserv_evaluation.make_test_functions`,
    contexts seeded by ``seed``), the variants' predictions and the metrics
    (:func:`~sciml.studies.probconserv_evaluation.evaluate_anps`: ``models["ANP"]`` with the
    HardC and ProbConserv updates, ``models["SoftC-ANP"]`` alone); the latent draws and shock
    draws of each chunk of ``s.eval_batch`` functions share one generator seeded by
    ``(*seed, 1, start, m)``.
    """
    test = make_test_functions(problem, p, eval_grid=s.eval_grid, n_functions=s.n_functions, seed=seed,
                               n_context=s.n_context, context_noise=s.context_noise)
    acc = evaluate_anps({"ANP": models["ANP"], "SoftC-ANP": models["SoftC-ANP"]}, test,
                        n_latent_samples=s.n_latent_samples, n_shock_samples=s.n_shock_samples, seed=seed,
                        eval_batch=s.eval_batch, target_chunk=s.target_chunk, updates=("ANP",))
    return test.rows(acc, MODELS, n_latent_samples=s.n_latent_samples)
