"""Counts in words for the output lines: "1 pair", "3 pairs" (not "1 pairs")."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, plural unless n is 1 (``plural``: an irregular one)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
