"""sciml: scientific machine learning and surrogate modelling.

Simulators produce labelled :class:`xarray.Dataset` objects (see :mod:`sciml.data`),
surrogates are fitted from them, and workflows (campaigns, Bayesian optimisation,
uncertainty quantification) drive both through executors.
"""

from __future__ import annotations

__version__ = "0.1.0"
