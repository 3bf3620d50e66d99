"""The A/B schedule: every round, the active cells in a fresh shuffled order, and each cell's
two sides adjacent in a counterbalanced random order.

Counterbalanced: a cell's rounds come in blocks of two, one AB and one BA in a random order
within the block, so over any even number of rounds each side runs first equally often (an
order effect - the second run finding warm caches, or a frequency ramp - cancels in the paired
ratios instead of biasing them), while the next order stays unpredictable. Seeded: the same
seed gives the same schedule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

A, B = "base", "head"


class Schedule:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"ab-{seed}")
        self.pending: dict[str, list[tuple[str, str]]] = {}

    def order(self, cell: str) -> tuple[str, str]:
        """The side order of this cell's next round."""
        block = self.pending.get(cell)
        if not block:
            block = [(A, B), (B, A)]
            self.rng.shuffle(block)
            self.pending[cell] = block
        return block.pop()

    def round(self, cells: Sequence[str]) -> list[tuple[str, tuple[str, str]]]:
        """One round: (cell, (first side, second side)) for every cell, cells shuffled."""
        order = list(cells)
        self.rng.shuffle(order)
        return [(cell, self.order(cell)) for cell in order]
