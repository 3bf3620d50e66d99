"""Probes: what the kernel and the frameworks say happened during a timed region."""
