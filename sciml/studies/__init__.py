"""Worked studies: named problems and recipes built from the library's parts.

A study composes simulators, surrogates, UQ and BO into one scientific question (a Burgers
shock-time design, a ProbConserv comparison) so that a workflow step, a benchmark and a
notebook share one recipe. Studies import the layers below them; nothing below imports them.
"""
