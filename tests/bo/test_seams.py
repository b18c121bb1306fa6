"""BO with one seam: any object with the problem protocol, any model factory, any simulators as sources,
and no Burgers code inside ``sciml/bo``."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from sciml.bo import (
    MODELS,
    AcquisitionSettings,
    BOLoop,
    BOProblem,
    Fidelity,
    MultiFidelityProblem,
    MultiSourceProblem,
    PowerFidelityCost,
    Source,
    as_problem,
    forrester,
)
from sciml.bo.state import read_state
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.pde.advection import AdvectionSimulator
from sciml.simulators.pde.burgers import BurgersSimulator

F64 = torch.float64
ROOT = Path(__file__).resolve().parents[2]
TINY = AcquisitionSettings(num_fantasies=2, num_restarts=2, raw_samples=16, q=1, mc_samples=32,
                           candidate_set_size=64, num_mv_samples=5, maxiter=15, batch_limit=4)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_no_burgers_code_in_sciml_bo():
    """The BO layer is generic: the Burgers studies live in sciml.studies, the physics with the simulator."""
    out = subprocess.run(["grep", "-ri", "burgers", str(ROOT / "sciml" / "bo")], capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout == "", out.stdout


# ------------------------------------------------------------------------------ any model
def plain_gp(train_X, train_Y, *, seed, bounds, fidelity, **options):
    """A user's model: BoTorch's SingleTaskGP over every column (the fidelity column as a feature)."""
    calls.append({"seed": seed, "n": train_X.shape[0], "fidelity": fidelity, "options": options})
    model = SingleTaskGP(train_X, train_Y, input_transform=Normalize(d=train_X.shape[-1], bounds=bounds),
                         outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


calls: list[dict] = []


def test_a_user_supplied_singletaskgp_runs_in_the_loop(tmp_path):
    calls.clear()
    p = forrester()
    loop = BOLoop(p, method="mfmes", model_kind=plain_gp, settings=TINY, n_init=4, seed=2, state_dir=tmp_path)
    result = loop.run(1e9, max_iterations=2)
    assert result.model_kind == "callable:test_seams.plain_gp" or result.model_kind.endswith("plain_gp")
    assert result.iteration.tolist() == [0, 0, 0, 0, 1, 2] and result.status == ["ok"] * 6
    # one fit per iteration (seed + k) and one for the final recommendation; model coordinates in, maximised out
    assert [c["seed"] for c in calls] == [3, 4, 5] and [c["n"] for c in calls] == [4, 5, 6]
    assert all(c["fidelity"] is p.fidelity and c["options"] == {} for c in calls)
    assert len(result.recommendations) == 3 and all(0.0 <= r["x"][0] <= 1.0 for r in result.recommendations)
    assert all(r["regret"] >= -1e-12 for r in result.recommendations)
    # the state names the factory; a resume needs the same factory again
    assert read_state(tmp_path)[0]["config"]["model_kind"] == result.model_kind
    with pytest.raises(ConfigError, match="pass it again as model_kind="):
        BOLoop.resume(tmp_path, forrester())
    with pytest.raises(ConfigError, match="was written with model"):
        BOLoop.resume(tmp_path, forrester(), model_kind="mfgp")
    calls.clear()
    again = BOLoop.resume(tmp_path, forrester(), model_kind=plain_gp).run(1e9, max_iterations=3)
    assert again.iteration.tolist()[:6] == result.iteration.tolist() and again.iteration.tolist()[-1] == 3
    assert [c["seed"] for c in calls] == [5, 6] and torch.equal(again.values[:6], result.values)


def test_a_bad_model_factory_is_a_clear_error():
    p = forrester()

    def no_keywords(train_X, train_Y):
        return None

    with pytest.raises(ConfigError, match=r"must take \(train_X, train_Y, \*, seed, bounds, fidelity, \*\*options\)"):
        BOLoop(p, model_kind=no_keywords)

    def not_a_model(train_X, train_Y, *, seed, bounds, fidelity):
        return "a model"

    loop = BOLoop(p, model_kind=not_a_model, settings=TINY, n_init=3)
    X = loop.initial_design()
    loop.observe(X, p.evaluate(X[:, :1], X[:, 1]))
    with pytest.raises(ConfigError, match=r"model callable:.*not_a_model returned str, not a botorch Model"):
        loop.propose()
    with pytest.raises(ConfigError, match=r"model_options \['n_restarts'\] are not options of model_kind"):
        BOLoop(p, model_kind=not_a_model, model_options={"n_restarts": 2})
    with pytest.raises(ConfigError, match="needs a model that takes init="):
        BOLoop(p, model_kind=not_a_model, model_options={"warm_start": True})
    with pytest.raises(ConfigError, match=r"unknown model_kind 'gp'; accepted: \['mfgp', 'ar1', 'multitask', "
                                          r"'singletask'\] or a callable"):
        BOLoop(p, model_kind="gp")
    with pytest.raises(ConfigError, match="must be one of"):
        BOLoop(p, model_kind=3)
    assert set(MODELS) == {"mfgp", "ar1", "multitask", "singletask"}


# ------------------------------------------------------------------------------ any problem
class Bowl:
    """A problem that is not a MultiFidelityProblem: just the attributes of BOProblem."""

    name = "bowl"
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64)
    fidelity = Fidelity.discrete("s", (0.0, 1.0))
    maximize = False
    optimum_value = 0.0

    def __init__(self) -> None:
        self.seen: list[tuple[int, list[float]]] = []

    def evaluate(self, X, s=None):
        self.seen.append((X.shape[0], s.tolist()))
        return ((X - 0.3) ** 2).sum(-1) + 0.1 * (1.0 - s)

    def cost(self, s=None):
        return 1.0 + 9.0 * s


def test_any_object_with_the_problem_protocol_runs_in_the_loop():
    bowl = Bowl()
    assert isinstance(bowl, BOProblem) and not isinstance(bowl, MultiFidelityProblem)
    wrapped = as_problem(bowl)
    assert wrapped.design_names == ("x1", "x2") and wrapped.cost([0.0, 1.0]).tolist() == [1.0, 10.0]
    result = BOLoop(bowl, method="mfmes", settings=TINY, n_init=4, seed=0).run(40.0)
    assert result.problem == "bowl" and result.total_cost >= 40.0
    assert result.costs.tolist() == [1.0 + 9.0 * s for s in result.fidelities.tolist()]
    # every evaluation went through the object's evaluate, one checked point at a time
    assert len(bowl.seen) >= result.n_evaluations and all(n == 1 for n, _ in bowl.seen)
    assert result.recommendations[-1]["regret"] >= 0.0
    with pytest.raises(ParameterError, match="outside the bounds"):
        wrapped.evaluate([[2.0, 0.0]], 1.0)
    with pytest.raises(ConfigError, match=r"problem must satisfy sciml.bo.BOProblem .* lacks \['cost'\]"):
        BOLoop(type("NoCost", (), {"name": "n", "bounds": Bowl.bounds, "fidelity": None, "maximize": True,
                                   "optimum_value": None, "evaluate": lambda self, X, s=None: X[:, 0]})())


# ------------------------------------------------------------------------------ any simulators as sources
def _burgers(n_cells: int) -> BurgersSimulator:
    return BurgersSimulator(n_cells=n_cells, t_final=0.2, n_frames=5)


def _max_u(ds) -> float:
    return float(ds["u"].values[:, -1].max())


def test_sources_with_declared_and_simulator_costs():
    p = MultiSourceProblem([Source(_burgers(16), cost=0.5), Source(_burgers(32), cost=2.0)], _max_u,
                           parameters={"nu": (0.01, 0.1)}, log_scale=("nu",), seed=1)
    assert p.fidelity.name == "source" and p.fidelity.values == (0.0, 1.0) and p.fidelity.target == 1.0
    assert p.cost([0.0, 1.0]).tolist() == [0.5, 2.0] and p.design_names == ("log10_nu",)
    x = torch.tensor([[-1.5]], dtype=F64)
    for level, sim in ((0.0, p.sources[0].simulator), (1.0, p.sources[1].simulator)):
        ds = sim.run({"nu": 10 ** -1.5}, seed=1)
        assert float(p.evaluate(x, level)[0]) == _max_u(ds)  # the source's own run, the objective on it
    # levels in physical units (grid sizes, log-rescaled) and costs from the simulators themselves
    q = MultiSourceProblem([Source(_burgers(16), fidelity=16), Source(_burgers(64), fidelity=64)], _max_u,
                           parameters={"nu": (0.01, 0.1)}, fidelity_name="n_cells", fidelity_log_scale=True)
    assert q.fidelity.unit_values == (0.0, 1.0) and q.fidelity.values == (16.0, 64.0)
    centre = q.params_of(0.5 * (q.bounds[0] + q.bounds[1]))
    assert q.cost([16, 64]).tolist() == [_burgers(16).cost(centre), _burgers(64).cost(centre)]
    # one source: a single-fidelity problem with the source's cost
    one = MultiSourceProblem([Source(_burgers(16), cost=3.0)], _max_u, parameters=["nu"])
    assert one.fidelity is None and one.cost().tolist() == [3.0]


@pytest.mark.parametrize("sources, message", [
    ([], "sources must be a non-empty list"),
    ([_burgers(16)], r"sources\[0\] must be a Source"),
    ([Source("solver")], r"sources\[0\].simulator must be a sciml Simulator"),
    ([Source(_burgers(16), cost=-1.0)], r"sources\[0\].cost must be a finite number > 0"),
    ([Source(_burgers(16), fidelity=1), Source(_burgers(32), fidelity=1)], "levels must be distinct"),
    ([Source(_burgers(16), fidelity=0), Source(_burgers(32), fidelity=2), Source(_burgers(64), fidelity=1)],
     "the last source is the truth"),
    ([Source(AdvectionSimulator(n_cells=16, t_final=0.1, n_frames=3)), Source(_burgers(32))],
     r"sources\[0\] \(advection1d\): unknown parameter\(s\) \['nu'\]"),
])
def test_bad_sources_are_clear_errors(sources, message):
    with pytest.raises((ConfigError, ParameterError), match=message):
        MultiSourceProblem(sources, _max_u, parameters=["nu"])


def test_a_loop_over_sources_matches_the_simulator_source_it_generalises():
    """The levels, costs and log rescaling of a grid-size fidelity, as sources: the same loop."""
    from sciml.bo import SimulatorSource

    kw = {"t_final": 0.2, "n_frames": 5}
    fid = Fidelity.discrete("n_cells", (16, 32), log_scale=True)
    a = SimulatorSource(BurgersSimulator, _max_u, fid, simulator_kwargs=kw, parameters={"nu": (0.01, 0.1)},
                        cost=PowerFidelityCost(32.0, 2.0))
    b = MultiSourceProblem([Source(_burgers(16), fidelity=16), Source(_burgers(32), fidelity=32)], _max_u,
                           parameters={"nu": (0.01, 0.1)}, fidelity_name="n_cells", fidelity_log_scale=True,
                           cost=PowerFidelityCost(32.0, 2.0))
    ra, rb = (BOLoop(p, method="mfmes", settings=TINY, n_init=4, seed=0).run(1e9, max_iterations=1) for p in (a, b))
    assert torch.equal(ra.X, rb.X) and torch.equal(ra.values, rb.values) and torch.equal(ra.costs, rb.costs)
    assert np.allclose([r["x"] for r in ra.recommendations], [r["x"] for r in rb.recommendations], atol=0)
    assert math.isfinite(rb.recommendations[-1]["posterior_mean"])
