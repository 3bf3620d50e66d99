"""A run's configuration: RunOptions (plain values, what callers give), build_config (every
check, before any work) and RunConfig (what the runner reads). The CLI, the Python API and an
A/B side all go through build_config; nothing here imports click. build_config loads lazily:
it needs the models and workloads (cv2), which `cvbench compare` must not pay for."""

from typing import Any

from cvbench.config.options import RunOptions
from cvbench.config.run_config import ConfigError, RunConfig

__all__ = ["ConfigError", "RunConfig", "RunOptions", "build_config"]


def __getattr__(name: str) -> Any:
    if name == "build_config":
        from cvbench.config.build import build_config

        return build_config
    raise AttributeError(f"module 'cvbench.config' has no attribute {name!r}")
