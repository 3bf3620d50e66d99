"""cvbench: the same OpenCV workload under every Python concurrency model, measured.

`cvbench.run(...)` and `cvbench.compare(...)` are the Python API (cvbench/api.py). They load
lazily: worker processes import this package and must not pay for the whole harness.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:  # no imports here: see _entry.py
    if name in ("run", "compare", "Results"):
        from cvbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'cvbench' has no attribute {name!r}")
