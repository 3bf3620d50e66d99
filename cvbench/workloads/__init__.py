"""Workload definitions (TOML) and the item sources that turn them into Jobs."""

from cvbench.workloads.spec import BUILTIN_NAMES, WorkloadSpec, load_spec, resolve_workloads

__all__ = ["BUILTIN_NAMES", "WorkloadSpec", "load_spec", "resolve_workloads"]
