"""The submodel driven by the full model's true interface history reproduces the full model's window QoIs."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.data import validate  # noqa: E402
from sciml.errors import ParameterError  # noqa: E402
from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator, interface_histories  # noqa: E402
from sciml.simulators.fem.submodel import PlateSubmodel  # noqa: E402
from sciml.testing import check_simulator  # noqa: E402

pytestmark = pytest.mark.fem

QOIS = ("peak_von_mises", "max_displacement")
PARAMS = {"E": 1.2, "nu": 0.28, "rho": 0.9, "amplitude": 1e-3, "duration": 0.4, "angle": 0.25}


def _nodes_on_interface(resolution: int, window_half_width: float = 0.3) -> int:
    return 4 * 2 * math.ceil(window_half_width * resolution)


def _full_and_sub(resolution: int, points: int, **kwargs):
    cfg = {"resolution": resolution, "n_steps": 40, "t_final": 3.0, "grid": 5, "interface_points": points, **kwargs}
    full = PlateDynamicsSimulator(**cfg)
    ds = full.run(PARAMS, seed=0)
    return ds, PlateSubmodel(**cfg)


def _relative_differences(resolution: int, points: int) -> dict[str, float]:
    """Largest difference submodel - full model of each output, relative to the full model's largest value."""
    ds, sub = _full_and_sub(resolution, points)
    out = sub.run(PARAMS, seed=0, interface=interface_histories(ds))
    return {k: float(np.abs(out[k].values - ds[k].values).max() / np.abs(ds[k].values).max())
            for k in (*QOIS, "von_mises_max", "displacement_max")}


def test_true_history_at_every_interface_node_reproduces_the_full_model_to_round_off():
    """P1, matched mesh, every step a frame: the submodel is the full model's window, exactly."""
    ds, sub = _full_and_sub(8, _nodes_on_interface(8))
    out = validate(sub.run(PARAMS, seed=0, interface=interface_histories(ds)))
    for name in (*QOIS, "von_mises_max", "displacement_max"):
        assert np.abs(ds[name].values).max() > 0
        np.testing.assert_allclose(out[name].values, ds[name].values, rtol=1e-9, atol=0)
    assert out.attrs["interface_history"].startswith("given, sha256 ")


def test_interpolated_true_history_reproduces_the_full_model_to_discretisation_error():
    """Every other interface node as a point: QoIs within 5 %, every difference shrinking under refinement."""
    coarse = _relative_differences(8, _nodes_on_interface(8) // 2)
    fine = _relative_differences(16, _nodes_on_interface(16) // 2)
    for k in QOIS:
        assert coarse[k] < 0.05 and fine[k] < 0.05
    for k in coarse:
        assert 1e-3 < fine[k] < 0.75 * coarse[k]


def test_default_history_is_the_true_one_and_the_contract_holds():
    small = {"resolution": 4, "n_steps": 10, "t_final": 2.5, "grid": 5, "interface_points": _nodes_on_interface(4)}
    sub = PlateSubmodel(**small)
    check_simulator(sub)
    ds = sub.run(PARAMS, seed=1)
    full = PlateDynamicsSimulator(**small).run(PARAMS, seed=1)
    assert ds.attrs["interface_history"].startswith("true history of fem_plate_dynamics")
    for k in QOIS:
        assert ds[k].values[0] == pytest.approx(full[k].values[0], rel=1e-9)
    x0, x1, y0, y1 = sub.grid_bounds()
    assert (x0, x1, y0, y1) == (-0.3, 0.3, -0.3, 0.3) and ds.x.values[0] == -0.3


def test_evaluate_many_histories_reuses_one_operator_and_resets_the_state():
    """QoIs are positively homogeneous in the history: h, 2 h, 0 and h again give q, 2 q, 0, q."""
    ds, sub = _full_and_sub(4, 16)
    h = interface_histories(ds)[0]
    q = sub.evaluate(np.stack([h, 2 * h, 0 * h, h]), PARAMS)
    for k in QOIS:
        assert q[k].shape == (4,)
        np.testing.assert_allclose(q[k], q[k][0] * np.array([1.0, 2.0, 0.0, 1.0]), rtol=1e-11, atol=0)
    again = validate(sub.run(PARAMS, seed=0, n_samples=2, interface=np.stack([h, 2 * h])))
    np.testing.assert_allclose(again.peak_von_mises.values, q["peak_von_mises"][:2], rtol=1e-12)


@pytest.mark.parametrize(("interface", "kwargs", "pattern"), [
    (np.zeros((41, 15, 2)), {}, r"interface histories have shape \(41, 15, 2\); expected \(41, 16, 2\)"),
    (np.zeros((2, 40, 16, 2)), {}, r"have shape \(2, 40, 16, 2\); expected \(41, 16, 2\) \(n_frames, n_points"),
    (np.zeros((3, 41, 16, 2)), {"n_samples": 2},
     r"got 3 interface histories for n_samples=2; expected shape \(2, 41, 16, 2\) or \(41, 16, 2\)"),
    (np.full((41, 16, 2), np.nan), {}, r"interface histories have non-finite values"),
])
def test_wrong_interface_data_is_a_parameter_error(interface, kwargs, pattern):
    sub = PlateSubmodel(resolution=4, n_steps=40, t_final=3.0, grid=5, interface_points=16)
    with pytest.raises(ParameterError, match=pattern):
        sub.run(PARAMS, seed=0, interface=interface, **kwargs)
    if not kwargs:
        with pytest.raises(ParameterError, match=pattern):
            sub.evaluate(interface, PARAMS)


def test_non_positive_material_in_evaluate_is_rejected():
    sub = PlateSubmodel(resolution=4, n_steps=10, t_final=1.0, grid=5, interface_points=16)
    with pytest.raises(ParameterError, match=r"E=0 is out of range; accepted: E in \[0.5, 2\]"):
        sub.evaluate(np.zeros(sub.history_shape), {"E": 0.0})
