"""The workflow steps, one per module (collected by :mod:`sciml.workflows.registry`)."""
