"""The running Linux kernel's build configuration (stdlib only, so the emulated kernel can use
it too): CONFIG_HZ sets the tick at which both Linux and the emulated kernel notice expiry."""

from __future__ import annotations

import gzip
import os


def kernel_hz() -> int | None:
    """CONFIG_HZ from /proc/config.gz or /boot/config-<release>; None where neither exists."""
    release = os.uname().release
    for path, opener in (("/proc/config.gz", gzip.open), (f"/boot/config-{release}", open)):
        try:
            with opener(path, "rt") as f:
                for line in f:
                    if line.startswith("CONFIG_HZ="):
                        return int(line.split("=", 1)[1])
        except (OSError, ValueError):
            continue
    return None
