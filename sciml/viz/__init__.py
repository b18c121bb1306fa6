"""Plots of sciml datasets (matplotlib, written to files)."""
