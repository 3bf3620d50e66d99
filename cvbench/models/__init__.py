"""The registry of concurrency models. A new model: one file, one line here.

The order of MODELS is the order of the sweep (and of `--models all`).
"""

from __future__ import annotations

from cvbench.config.values import parse_names
from cvbench.models.asyncio_ import Asyncio, AsyncioProcesses, AsyncioThreads
from cvbench.models.base import ItemRecord, Model
from cvbench.models.curio_ import Curio, CurioProcesses, CurioThreads
from cvbench.models.dask_ import Dask
from cvbench.models.free_threaded import FreeThreaded
from cvbench.models.gevent_ import Gevent, GeventThreads
from cvbench.models.greenlet_ import Greenlet
from cvbench.models.kernel_greenlets import EmulatedKernel
from cvbench.models.kernel_processes import KernelProc
from cvbench.models.processes import Processes
from cvbench.models.processes_shm import ProcessesShm
from cvbench.models.processes_zerocopy import ProcessesZerocopy
from cvbench.models.sequential import Sequential
from cvbench.models.subinterpreters import Subinterpreters
from cvbench.models.threads import Threads
from cvbench.models.trio_ import Trio, TrioThreads
from cvbench.models.trio_processes import TrioProcesses
from cvbench.models.uvloop_ import Uvloop, UvloopThreads

MODELS: dict[str, type[Model]] = {
    m.name: m
    for m in (
        Sequential,
        Threads,
        Processes,
        ProcessesShm,
        ProcessesZerocopy,
        Asyncio,
        AsyncioThreads,
        AsyncioProcesses,
        Uvloop,
        UvloopThreads,
        Trio,
        TrioThreads,
        TrioProcesses,
        Curio,
        CurioThreads,
        CurioProcesses,
        Greenlet,
        Gevent,
        GeventThreads,
        Dask,
        EmulatedKernel,
        KernelProc,
        FreeThreaded,
        Subinterpreters,
    )
}


class ModelError(ValueError):
    """An unknown model name."""


def resolve_models(text: str) -> list[Model]:
    """`all` or a comma list of names; sequential always comes first (it is the baseline)."""
    names = parse_names(text, MODELS, "model", ModelError)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ModelError(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)} or all")
    names = sorted(names, key=lambda n: n != "sequential")
    return [MODELS[n]() for n in names]


__all__ = ["MODELS", "ItemRecord", "Model", "ModelError", "resolve_models"]
