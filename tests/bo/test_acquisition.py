"""Cost-aware acquisition: every kind proposes valid candidates, batches, recommendation, cost models."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from botorch.acquisition import FixedFeatureAcquisitionFunction, LogExpectedImprovement
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.models.cost import AffineFidelityCostModel
from linear_operator.utils.errors import NotPSDError

import sciml.bo.acquisition as acquisition
from sciml.bo import (
    FAST,
    METHODS,
    TUTORIAL,
    AcquisitionFailedError,
    AcquisitionSettings,
    Fidelity,
    MultiFidelityProblem,
    PowerFidelityCost,
    augmented_branin,
    fit_ar1_gp,
    fit_multifidelity_gp,
    fit_singletask_gp,
    forrester,
    propose_candidates,
    recommend,
)
from sciml.bo.acquisition import AcquisitionInputError, max_posterior_mean
from sciml.bo.augmented_ei import AugmentedLogEI
from sciml.bo.cost_model import cost_model_for
from sciml.bo.gibbon import MultiFidelityGIBBON
from sciml.errors import ConfigError, SciMLError

F64 = torch.float64
#: Tiny settings: the tests check behaviour, not optimisation quality.
TINY = AcquisitionSettings(num_fantasies=2, num_restarts=2, raw_samples=16, q=1, mc_samples=32,
                           candidate_set_size=64, num_mv_samples=5, maxiter=10, batch_limit=4, seed=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(problem: MultiFidelityProblem, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random designs, fidelities alternating target / random-or-lowest; model coordinates, sign * y."""
    g = torch.Generator().manual_seed(seed)
    b = problem.bounds
    X = b[0] + (b[1] - b[0]) * torch.rand(n, problem.dim, dtype=F64, generator=g)
    f = problem.fidelity
    if f.kind == "discrete":
        s = torch.tensor([f.values[-1] if i % 2 == 0 else f.values[0] for i in range(n)], dtype=F64)
    else:
        s = torch.where(torch.arange(n) % 2 == 0, torch.ones(n, dtype=F64), torch.rand(n, dtype=F64, generator=g))
    Z = problem.to_model_input(X, s)
    return Z, (problem.sign * problem.evaluate(X, s)).unsqueeze(-1)


@pytest.fixture(scope="module")
def forrester_cont():
    p = forrester()
    Z, Y = _data(p, 10)
    return p, Z, Y, fit_multifidelity_gp(Z, Y, bounds=p.model_bounds), fit_singletask_gp(Z, Y, bounds=p.model_bounds)


@pytest.fixture(scope="module")
def forrester_disc():
    p = forrester(fidelity="discrete")
    Z, Y = _data(p, 10, seed=1)
    return (p, Z, Y, fit_multifidelity_gp(Z, Y, bounds=p.model_bounds),
            fit_ar1_gp(Z, Y, bounds=p.model_bounds, n_levels=2, n_restarts=1))


def _check_candidates(c: torch.Tensor, p: MultiFidelityProblem, q: int) -> None:
    assert c.shape == (q, p.dim + 1) and c.dtype == F64
    b = p.model_bounds
    assert bool(((c >= b[0]) & (c <= b[1])).all())
    if p.fidelity.kind == "discrete":
        assert set(c[:, -1].tolist()) <= set(p.fidelity.unit_values)
    X, s = p.from_model_input(c)  # raises on an invalid fidelity
    assert X.shape == (q, p.dim) and s.shape == (q,)


# ------------------------------------------------------------------------------ settings
def test_settings_presets_and_validation():
    assert (TUTORIAL.num_fantasies, TUTORIAL.num_restarts, TUTORIAL.raw_samples, TUTORIAL.q) == (128, 10, 512, 4)
    assert FAST.num_fantasies <= 32 and FAST.num_restarts == 4 and FAST.raw_samples == 128
    assert TUTORIAL.options["num_inner_restarts"] == 20 and TUTORIAL.options["raw_inner_samples"] == 1024
    s = FAST.replace(q=3, seed=7)
    assert (s.q, s.seed, FAST.q) == (3, 7, 1)
    assert AcquisitionSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ConfigError, match="num_restarts must be >= 1"):
        AcquisitionSettings(num_restarts=0)
    with pytest.raises(ConfigError, match="must be an integer"):
        AcquisitionSettings(q=1.5)
    with pytest.raises(ConfigError, match=r"unknown AcquisitionSettings field\(s\) \['fantasies'\]"):
        FAST.replace(fantasies=3)
    with pytest.raises(AttributeError):
        FAST.q = 2  # frozen


# ------------------------------------------------------------------------------ every kind
@pytest.mark.parametrize("kind", ["mfkg", "mfmes", "qlognei"])
def test_continuous_fidelity_kinds_propose_valid_batches(forrester_cont, kind):
    p, Z, _, mf, st = forrester_cont
    model = st if kind == "qlognei" else mf
    c1, info = propose_candidates(kind, model, p, settings=TINY, X_observed=Z)
    _check_candidates(c1, p, 1)
    assert info["kind"] == kind and info["seconds"] > 0
    pending = torch.tensor([[0.5, 1.0]], dtype=F64)
    c2, info2 = propose_candidates(kind, model, p, settings=TINY.replace(q=2), pending=pending, X_observed=Z)
    _check_candidates(c2, p, 2)
    assert float((c2[0] - c2[1]).abs().max()) > 1e-6  # two distinct candidates
    if kind != "mfkg":  # (the slowest; the loop's resume test covers determinism end to end)
        again, _ = propose_candidates(kind, model, p, settings=TINY.replace(q=2), pending=pending, X_observed=Z)
        assert torch.equal(again, c2)  # seeded
    if kind == "qlognei":
        assert c1[:, -1].tolist() == [1.0] and c2[:, -1].tolist() == [1.0, 1.0]
    if kind == "mfkg":
        assert info["cost_model"] == "affine" and math.isfinite(info["current_value"])


@pytest.mark.parametrize("kind", ["mfkg", "mfmes", "ar1-ei", "qlognei"])
def test_discrete_fidelity_kinds_propose_levels(forrester_disc, kind):
    p, Z, _, mf, ar1 = forrester_disc
    model = ar1 if kind in ("ar1-ei", "qlognei") else mf
    settings = TINY.replace(q=2, maxiter=10)
    c, info = propose_candidates(kind, model, p, settings=settings, pending=torch.tensor([[0.3, 0.0]], dtype=F64),
                                 X_observed=Z)
    _check_candidates(c, p, 2)
    assert float((c[0] - c[1]).abs().max()) > 1e-6
    if kind == "ar1-ei":
        assert len(info["log_aei_per_level"]) == 2 and set(info["log_aei_per_level"][0]) == {"0", "1"}
        assert math.isfinite(info["best_f"])
    if kind == "qlognei":
        assert c[:, -1].tolist() == [1.0, 1.0]


def test_branin_two_dimensional_box():
    p = augmented_branin()
    Z, Y = _data(p, 12)
    model = fit_multifidelity_gp(Z, Y, bounds=p.model_bounds)
    c, _ = propose_candidates("mfmes", model, p, settings=TINY.replace(q=2), X_observed=Z)
    _check_candidates(c, p, 2)
    # GIBBON's candidate set holds the observed points in physical coordinates (not normalised)
    acqf = MultiFidelityGIBBON(model, Z[:3], num_mv_samples=3, X_observed=Z,
                               project=partial(project_to_target_fidelity, target_fidelities={2: 1.0}, d=3))
    assert acqf.candidate_set.shape == (3 + 12, 3)
    assert torch.equal(acqf.candidate_set[3:, :2], Z[:, :2]) and bool((acqf.candidate_set[:, 2] == 1.0).all())


@pytest.mark.parametrize("kind", ["mfgp", "multitask"])
def test_gibbon_samples_its_max_values_once_from_its_own_candidate_set(kind, monkeypatch):
    # BoTorch's constructors would sample from the candidates plus the model's *transformed*
    # training inputs (a multi-task model's task indices then fail its own input transform)
    import botorch.acquisition.max_value_entropy_search as mes

    from sciml.bo.models import model_for

    p = augmented_branin()
    Z, Y = _data(p, 12)
    Z[:, 2] = torch.tensor([1.0, 0.5, 0.0] * 4, dtype=F64)  # three sources for the multi-task GP
    model = model_for(kind, Z, Y, bounds=p.model_bounds, seed=0)
    seen = []
    real = mes._sample_max_value_Gumbel

    def spy(model, candidate_set, num_samples, *args, **kwargs):
        seen.append(candidate_set.clone())
        return real(model, candidate_set, num_samples, *args, **kwargs)

    monkeypatch.setattr(mes, "_sample_max_value_Gumbel", spy)
    cands = torch.rand(5, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    acqf = MultiFidelityGIBBON(model, cands, num_mv_samples=3, X_observed=Z,
                               project=partial(project_to_target_fidelity, target_fidelities={2: 1.0}, d=3))
    assert len(seen) == 1 and seen[0].shape == (5 + 12, 3)
    assert torch.equal(seen[0][:5, :2], cands[:, :2]) and torch.equal(seen[0][5:, :2], Z[:, :2])
    assert bool((seen[0][:, 2] == 1.0).all()) and acqf.posterior_max_values.shape == (3, 1)


# ------------------------------------------------------------------------------ pieces
def test_gibbon_repulsion_term_in_consistent_units(forrester_cont):
    """With one pending point the value drops by 0.5 log(1 - c^2 / (v_x v_p)) of the noisy posterior."""
    p, Z, _, mf, _ = forrester_cont
    x = torch.tensor([[[0.42, 1.0]]], dtype=F64)
    pend = torch.tensor([[0.44, 0.9]], dtype=F64)
    unit_cost = InverseCostWeightedUtility(AffineFidelityCostModel(fidelity_weights={1: 0.0}, fixed_cost=1.0))
    acqf = MultiFidelityGIBBON(mf, torch.rand(32, 2, dtype=F64, generator=torch.Generator().manual_seed(0)),
                               num_mv_samples=5, X_observed=Z, cost_aware_utility=unit_cost)
    with torch.no_grad():
        free = float(acqf(x))
        acqf.set_X_pending(pend)
        with_pending = float(acqf(x))
        far = float(acqf(torch.tensor([[[0.95, 1.0]]], dtype=F64)))
        cov = mf.posterior(torch.cat([x[0], pend]), observation_noise=True).distribution.covariance_matrix.detach()
    expected = 0.5 * math.log(1.0 - float(cov[0, 1]) ** 2 / float(cov[0, 0] * cov[1, 1]))
    assert expected < -0.05  # the two points are correlated: a real penalty
    assert with_pending - free == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert math.isfinite(far)


def test_augmented_log_ei_at_target_is_log_ei(forrester_disc):
    p, Z, _, _, ar1 = forrester_disc
    best = 0.3
    aei = AugmentedLogEI(ar1, best, level=1.0, log_cost_ratio=0.0, dim=1, noise_variance=0.0)
    ref = FixedFeatureAcquisitionFunction(LogExpectedImprovement(ar1, best_f=best), d=2, columns=[1], values=[1.0])
    X = torch.linspace(0, 1, 7, dtype=F64).reshape(-1, 1, 1)
    torch.testing.assert_close(aei(X), ref(X), rtol=1e-6, atol=1e-6)  # 2-point vs 1-point posterior
    # a cheaper level: + log(cost ratio) + log(correlation) (<= 0)
    low = AugmentedLogEI(ar1, best, level=0.0, log_cost_ratio=math.log(10.0), dim=1)
    assert bool((low(X) <= aei(X) + math.log(10.0) + 1e-9).all())


def test_cost_models_match_the_declared_cost():
    p = forrester()
    model, kind = cost_model_for(p)
    assert kind == "affine" and isinstance(model, AffineFidelityCostModel)
    Z = torch.tensor([[[0.3, 0.0]], [[0.3, 0.5]], [[0.3, 1.0]]], dtype=F64)
    torch.testing.assert_close(model(Z).reshape(-1), p.cost_unit([0.0, 0.5, 1.0]))
    # cost quadratic in the physical fidelity: a generic model, differentiable in the fidelity
    q = MultiFidelityProblem(name="quad", bounds=[[0.0], [1.0]], function=lambda X, s: X[:, 0] * s,
                             fidelity=Fidelity.continuous("n", 10.0, 100.0), cost=PowerFidelityCost(100.0, 2.0))
    gm, gkind = cost_model_for(q)
    assert gkind == "generic"
    z = torch.tensor([[[0.2, 0.25]], [[0.2, 0.75]]], dtype=F64, requires_grad=True)
    c = gm(z).reshape(-1)
    torch.testing.assert_close(c.detach(), q.cost_unit([0.25, 0.75]))
    c.sum().backward()
    # d/dz (10 + 90 z)^2 / 100^2 = 2 * 90 (10 + 90 z) / 1e4
    expected = torch.tensor([2 * 90 * (10 + 90 * 0.25) / 1e4, 2 * 90 * (10 + 90 * 0.75) / 1e4], dtype=F64)
    torch.testing.assert_close(z.grad[:, 0, 1], expected, rtol=1e-5, atol=1e-8)
    assert float(z.grad[:, 0, 0].abs().max()) == 0.0


def test_recommend_finds_the_maximiser_of_a_quadratic():
    p = MultiFidelityProblem(name="bowl", bounds=[[-1.0, 0.0], [2.0, 3.0]], maximize=False,
                             function=lambda X, s: (X[:, 0] - 0.6) ** 2 + 2.0 * (X[:, 1] - 2.2) ** 2 + 0.3 * (1 - s),
                             fidelity=Fidelity.continuous("s", 0.0, 1.0))
    g = torch.Generator().manual_seed(2)
    X = p.bounds[0] + (p.bounds[1] - p.bounds[0]) * torch.rand(40, 2, dtype=F64, generator=g)
    Z = p.to_model_input(X, 1.0)
    Y = (p.sign * p.evaluate(X, 1.0)).unsqueeze(-1)
    model = fit_singletask_gp(Z, Y, bounds=p.model_bounds)
    x, mean = recommend(model, p, TINY.replace(num_restarts=4, raw_samples=64, maxiter=100), X_observed=Z)
    assert x.shape == (2,)
    assert float((x - torch.tensor([0.6, 2.2], dtype=F64)).abs().max()) < 0.05
    assert mean == pytest.approx(0.0, abs=0.05)  # the minimum, in the problem's own sense
    xm, value = max_posterior_mean(model, p, settings=TINY.replace(num_restarts=4, raw_samples=64, maxiter=100))
    assert value == pytest.approx(-mean, abs=1e-6) or value >= -mean  # model (maximised) units


# ------------------------------------------------------------------------------ errors
def test_bad_input_errors(forrester_cont):
    p, Z, _, mf, _ = forrester_cont
    with pytest.raises(AcquisitionInputError, match=r"unknown acquisition kind 'ei'; accepted: \['mfkg', 'mfmes', "
                                                    r"'qlognei', 'ar1-ei'\]") as err:
        propose_candidates("ei", mf, p, settings=TINY)
    assert isinstance(err.value, (ValueError, SciMLError))
    assert list(METHODS) == ["mfkg", "mfmes", "qlognei", "ar1-ei"]
    single = MultiFidelityProblem(name="one", bounds=[[0.0], [1.0]], function=lambda X, s: X[:, 0])
    with pytest.raises(AcquisitionInputError, match="problem 'one' has no fidelity"):
        propose_candidates("mfkg", mf, single, settings=TINY)
    with pytest.raises(AcquisitionInputError, match="'ar1-ei' needs discrete fidelity levels"):
        propose_candidates("ar1-ei", mf, p, settings=TINY, X_observed=Z)
    with pytest.raises(AcquisitionInputError, match="qlognei needs X_observed"):
        propose_candidates("qlognei", mf, p, settings=TINY)
    with pytest.raises(AcquisitionInputError, match=r"pending must have shape \(m, 2\)"):
        propose_candidates("mfmes", mf, p, settings=TINY, pending=torch.zeros(1, 3, dtype=F64))
    with pytest.raises(AcquisitionInputError, match="outside the model bounds"):
        propose_candidates("mfmes", mf, p, settings=TINY, pending=torch.tensor([[0.5, 1.5]], dtype=F64))
    with pytest.raises(AcquisitionInputError, match="settings must be AcquisitionSettings"):
        propose_candidates("mfmes", mf, p, settings={"q": 1})


def test_numerical_failures_are_retried_with_more_jitter(forrester_cont, monkeypatch):
    p, Z, _, _, st = forrester_cont
    calls: list[float] = []
    original = acquisition.PROPOSERS["qlognei"]

    def flaky(*args, **kwargs):
        import gpytorch

        calls.append(gpytorch.settings.cholesky_jitter.value(F64))
        if len(calls) == 1:
            raise NotPSDError("Matrix not positive definite after repeatedly adding jitter up to 1.0e-03.")
        return original(*args, **kwargs)

    monkeypatch.setitem(acquisition.PROPOSERS, "qlognei", flaky)
    c, info = propose_candidates("qlognei", st, p, settings=TINY, X_observed=Z)
    assert c.shape == (1, 2) and calls[1] == 1e-6 and len(info["retries"]) == 1
    assert "NotPSDError" in info["retries"][0]

    def broken(*args, **kwargs):
        raise NotPSDError("never positive definite")

    monkeypatch.setitem(acquisition.PROPOSERS, "qlognei", broken)
    with pytest.raises(AcquisitionFailedError, match=r"(?s)failed numerically.*jitter 1e-06.*jitter 0.0001"):
        propose_candidates("qlognei", st, p, settings=TINY, X_observed=Z)
