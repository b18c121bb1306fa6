"""Workflows: configuration specs, parameter designs, executors, campaigns and the runner."""
