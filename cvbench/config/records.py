"""What a run keeps per item, bounded before it starts.

Every measured repetition keeps one record per item (its timestamps, for the latency tables,
the charts and the JSON): about 750 bytes each in the main process while the run lasts and
its files are written (measured: 432,000 records took ~290 MB). Items are bounded on their
own (workloads/bounds.py: 200,000), but items x cells x rounds is what fills memory: an hour
of video (108,000 frames) under ten models at two worker counts and three rounds would be
6.5 million records, ~5 GB. So their product is bounded too: at most MAX_ITEM_RECORDS (about
1.1 GB), which keeps a whole run within the 2 GiB memory ceiling with its worker processes.
A fixed --repeat beyond it is one line; --repeat auto gets fewer rounds (never fewer than one).
"""

from __future__ import annotations

from cvbench.config.run_config import ConfigError

MAX_ITEM_RECORDS = 1_500_000


def max_rounds(items_per_round: int, cells: int, repeat: int | None, default_max: int) -> int:
    """The most rounds the records allow (``default_max`` when they are no limit);
    ConfigError when even the rounds asked for, or one round, would exceed them."""
    per_round = items_per_round * cells
    fits = MAX_ITEM_RECORDS // max(per_round, 1)
    wanted = repeat if repeat is not None else 1
    if fits >= wanted:
        return min(default_max, max(fits, 1))
    rounds = f"{repeat} rounds" if repeat is not None else "one round"
    raise ConfigError(
        f"{items_per_round:,} items x {cells} cells x {rounds} = {per_round * wanted:,} item "
        f"records, more than the {MAX_ITEM_RECORDS:,} a run keeps within its memory ceiling; "
        "use fewer models (-m) or worker counts (--workers), fewer rounds (--repeat), or a "
        "shorter input"
    )
