"""Surrogate models fitted from sciml datasets."""
