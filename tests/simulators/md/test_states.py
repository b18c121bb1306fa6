"""The simulators reach the phases they promise (slow: thousands of steps of ASE MD).

LJ at rho* = 0.8442, T* = 1 is a liquid whose Einstein and Green-Kubo diffusion coefficients
agree; EMT Cu is a solid at 300 K and a liquid at 1800 K at liquid density (a = 3.80 Angstrom).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ase")

from sciml.simulators.md.emt import EMTMetalSimulator  # noqa: E402
from sciml.simulators.md.lennard_jones import LJFluidSimulator  # noqa: E402
from sciml.simulators.md.observables import diffusion_coefficient, green_kubo_diffusion  # noqa: E402
from sciml.simulators.md.trajectory_observables import trajectory_msd, trajectory_rdf, trajectory_vacf  # noqa: E402

pytestmark = [pytest.mark.slow,  # the NumPy deprecation is ASE's
              pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")]


def test_lj_liquid_diffusion_einstein_equals_green_kubo():
    sim = LJFluidSimulator(n_equilibrate=1500, n_frames=801, stride=2, friction=2.0, production="verlet")
    ds = sim.run({"temperature": 1.0, "density": 0.8442}, seed=0)
    msd = trajectory_msd(ds, max_lag=300)
    d_einstein = diffusion_coefficient(msd["lag"].values, msd.values, fit_range=(1.0, 3.0))
    vacf = trajectory_vacf(ds, max_lag=200)
    d_green_kubo = green_kubo_diffusion(vacf["lag"].values, vacf.values)
    assert 0.02 < d_einstein < 0.1  # a liquid (a crystal has D = 0)
    assert d_green_kubo == pytest.approx(d_einstein, rel=0.25)
    rdf = trajectory_rdf(ds, r_max=2.5, n_bins=50, frames=slice(None, None, 100))
    assert 1.0 < rdf.r[np.argmax(rdf.g)] < 1.2 and rdf.g.max() < 3.5  # one broad first shell, no crystal peaks


def test_emt_copper_is_solid_at_300_k_and_liquid_at_1800_k():
    sim = EMTMetalSimulator(n_equilibrate=1000, n_frames=51, stride=20, friction=0.02)
    solid = trajectory_msd(sim.run({"temperature": 300.0, "lattice_constant": 3.61}, seed=0))
    liquid = trajectory_msd(sim.run({"temperature": 1800.0, "lattice_constant": 3.80}, seed=0))
    d_solid = diffusion_coefficient(solid["lag"].values, solid.values, fit_range=(500.0, 2000.0))
    d_liquid = diffusion_coefficient(liquid["lag"].values, liquid.values, fit_range=(500.0, 2000.0))
    assert float(solid.values.max()) < 0.1  # Angstrom^2: vibrations only
    assert d_liquid > 5e-5  # Angstrom^2 / fs (5e-6 cm^2 / s; liquid Cu near melting: ~4e-5 cm^2 / s)
    assert d_liquid > 20 * abs(d_solid)
