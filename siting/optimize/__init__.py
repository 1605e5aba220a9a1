"""Facility-location models (placeholder while modules are written)."""
