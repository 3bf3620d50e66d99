"""Rendering and exporting results."""
