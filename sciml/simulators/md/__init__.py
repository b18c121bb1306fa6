"""Molecular dynamics: neighbour lists, observables, and ASE-driven MD simulators.

:mod:`~sciml.simulators.md.neighbors` (periodic neighbour lists, vesin or plain torch),
:mod:`~sciml.simulators.md.observables` (g(r), bond angles, MSD and diffusion, VACF,
pressure), and the Simulators of a Lennard-Jones fluid and an EMT metal driven by ASE
(``pip install 'sciml[md]'``), imported lazily through :mod:`sciml.simulators.registry`.
"""
