"""The stages of the WGAN-driven submodel study as rows and figures, shared by ``sciml bench wgan``
and the ``wgan_submodel`` workflow step.

Each function takes the study's settings (:class:`~sciml.studies.wgan_submodel.WGANStudySettings`)
and the arrays of :func:`~sciml.studies.wgan_submodel.campaign_arrays` (``histories``,
``material``, the QoIs) and returns plain dict rows with a ``stage`` key: ``campaign``,
``generator``, ``swd``, ``qoi``. The QoI rows' ``source`` is :data:`WGAN`, :data:`GPCA` (the
submodel Monte Carlo driven by each generator) or :data:`FULL` (the full model on the held-out runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.data.atomic import atomic_path
from sciml.studies.wgan_submodel import (
    QOIS,
    WGANStudySettings,
    fit_gaussian_pca,
    generate_histories,
    history_distance,
    material_draws,
    qoi_estimates,
    submodel_qois,
    train_wgan,
)
from sciml.viz.wgan import plot_history_bands, plot_qoi_histograms, plot_training_curves

__all__ = ["FULL", "GPCA", "WGAN", "campaign_rows", "figures", "mc_qois", "qoi_rows", "swd_rows",
           "train_generators"]

#: The ``source`` of the QoI rows: the submodel driven by each generator, the full model held out.
WGAN, GPCA, FULL = "submodel_wgan", "submodel_gaussian_pca", "full_model_heldout"

Arrays = dict[str, np.ndarray]


def campaign_rows(data: Mapping[str, Arrays], seconds: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per campaign split: runs, history size, the QoIs' means (and ``wall_s`` from ``seconds``)."""
    return [{"stage": "campaign", "split": split, "n_runs": float(len(d["histories"])),
             "history_values": float(np.prod(d["histories"].shape[1:])),
             **({"wall_s": float(seconds[split])} if seconds and split in seconds else {}),
             **{f"{q}_mean": float(d[q].mean()) for q in QOIS}} for split, d in data.items()]


def _train_job(job: tuple[WGANStudySettings, np.ndarray, np.ndarray, int, str | None]) -> Any:
    """One WGAN-GP training, resumed or reloaded from its folder (the function executors map)."""
    settings, histories, material, seed, run_dir = job
    return train_wgan(settings, histories, material, seed=seed, run_dir=run_dir)


def train_generators(s: WGANStudySettings, train: Arrays, executor: Any, root: Path | None,
                     say: Callable[[str], None]) -> tuple[dict[int, Any], Any, list[dict[str, Any]]]:
    """The WGAN-GPs (one per seed of ``wgan_seeds``, through ``executor``, kept in ``root/wgan/seed_<k>``
    when ``root`` is given: resumed or reloaded), the Gaussian-PCA baseline, and their rows."""
    folders = {seed: None if root is None else root / "wgan" / f"seed_{seed}" for seed in s.wgan_seeds}
    existing = sum(f is not None and f.exists() for f in folders.values())
    jobs = [(s, train["histories"], train["material"], seed, None if folders[seed] is None else str(folders[seed]))
            for seed in s.wgan_seeds]
    done = dict(executor.map(_train_job, jobs, desc="WGAN-GP seeds"))
    gans = {seed: done[i] for i, seed in enumerate(s.wgan_seeds)}
    gpca = fit_gaussian_pca(s, train["histories"], train["material"])
    say(f"generators: {len(gans)} WGAN-GP seed(s) of {s.wgan.n_steps} steps ({existing} resumed or reloaded); "
        f"Gaussian-PCA with {gpca.basis.n_components} component(s)")
    rows = [{"stage": "generator", "model": "wgan_gp", "seed": float(seed), "n_steps": float(gan.config.n_steps),
             "n_components": float(gan.modules.generator.get_config()["n_components"]),
             "final_wasserstein_estimate": float(gan.history[-1]["wasserstein"]) if gan.history else float("nan")}
            for seed, gan in gans.items()]
    rows.append({"stage": "generator", "model": "gaussian_pca", "n_components": float(gpca.basis.n_components)})
    return gans, gpca, rows


def swd_rows(s: WGANStudySettings, gans: Mapping[int, Any], gpca: Any, train: Arrays, test: Arrays
             ) -> tuple[list[dict[str, Any]], Arrays]:
    """Per seed ``k``: the WGAN-GP of seed ``k``, the Gaussian-PCA draw ``k`` and the training set against the
    held-out histories on the directions of seed ``k``; one row per model (mean, spread, per seed) and
    the first seed's draws."""
    shape, ref = test["histories"].shape[1:], test["histories"]
    per: dict[str, list[float]] = {"wgan_gp": [], "gaussian_pca": [], "training_set": []}
    draws: Arrays = {}
    for seed, gan in gans.items():
        for name, gen in (("wgan_gp", gan), ("gaussian_pca", gpca)):
            h = generate_histories(gen, test["material"], shape, seed=seed)
            draws.setdefault(name, h)
            per[name].append(history_distance(s, h, ref, seed=seed))
        per["training_set"].append(history_distance(s, train["histories"], ref, seed=seed))
    rows = []
    for name, values in per.items():
        v = np.asarray(values)
        rows.append({"stage": "swd", "model": name, "n_seeds": float(v.size), "swd_mean": float(v.mean()),
                     "swd_std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "swd_min": float(v.min()),
                     "swd_max": float(v.max()), **{f"swd_seed_{k}": float(x) for k, x in zip(gans, v)}})
    return rows, draws


def mc_qois(s: WGANStudySettings, source: str, generator: Any, executor: Any, root: Path | None,
            shape: tuple[int, ...]) -> tuple[Arrays, bool]:
    """The submodel Monte Carlo driven by ``generator`` (``n_mc`` materials, a history each; kept as
    ``root/mc_<source>.npz`` when ``root`` is given); the arrays and whether they were reloaded."""
    path = None if root is None else root / f"mc_{source}.npz"
    if path is not None and path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}, True
    material = material_draws(s)
    histories = generate_histories(generator, material, tuple(shape), seed=s.seed)
    out = {"material": material, **submodel_qois(s, histories, material, executor=executor)}
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return out, False


def qoi_rows(s: WGANStudySettings, train: Arrays, test: Arrays, mc: Mapping[str, Arrays]) -> list[dict[str, Any]]:
    """Per QoI: the estimates of the full model on the held-out runs and of each submodel Monte Carlo, with the
    relative errors; the exceedance threshold is the training set's ``exceedance_quantile``."""
    rows = []
    for q in QOIS:
        threshold = float(np.quantile(train[q], s.exceedance_quantile))
        ref = qoi_estimates(test[q], threshold)
        rows.append({"stage": "qoi", "qoi": q, "source": FULL, **ref})
        for source, values in mc.items():
            est = qoi_estimates(values[q], threshold)
            rows.append({"stage": "qoi", "qoi": q, "source": source, **est,
                         "mean_rel_error": abs(est["mean"] - ref["mean"]) / abs(ref["mean"]),
                         "q95_rel_error": abs(est["q95"] - ref["q95"]) / abs(ref["q95"]),
                         "exceedance_abs_error": abs(est["exceedance"] - ref["exceedance"])})
    return rows


def figures(out: Path, stem: str, s: WGANStudySettings, test: Arrays, draws: Arrays, mc: Mapping[str, Arrays],
            gans: Mapping[int, Any]) -> dict[str, Path]:
    """Three plots in ``out``: ``<stem>histories.png`` (the interface value of largest spread, generated and
    held-out), ``<stem>qoi_histograms.png`` and ``<stem>training.png`` (the critic's Wasserstein estimate)."""
    ref = test["histories"]
    n_t = ref.shape[1]
    point, comp = divmod(int(np.argmax(ref.reshape(len(ref), n_t, -1).std(axis=(0, 1)))), 2)
    sets = {"full model (held-out)": ref[:, :, point, comp], "WGAN-GP": draws["wgan_gp"][:, :, point, comp],
            "Gaussian-PCA": draws["gaussian_pca"][:, :, point, comp]}
    labels = {WGAN: "submodel + WGAN-GP", GPCA: "submodel + Gaussian-PCA"}
    samples = {"full model (held-out)": {q: test[q] for q in QOIS},
               **{labels[name]: {q: v[q] for q in QOIS} for name, v in mc.items()}}
    return {
        "histories": plot_history_bands(np.linspace(0.0, s.t_final, n_t), sets, out / f"{stem}histories.png",
                                        ylabel=f"u_{'xy'[comp]} at interface point {point}",
                                        title="interface histories given the held-out materials"),
        "qoi_histograms": plot_qoi_histograms(samples, out / f"{stem}qoi_histograms.png"),
        "training": plot_training_curves({f"seed {seed}": gan.history for seed, gan in gans.items()},
                                         out / f"{stem}training.png"),
    }
