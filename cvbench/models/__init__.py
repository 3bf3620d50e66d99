"""The registry of concurrency models. A new model: one file, one line here."""

from __future__ import annotations

from cvbench.models.asyncio_ import Asyncio, AsyncioProcesses, AsyncioThreads
from cvbench.models.base import ItemRecord, Model
from cvbench.models.curio_ import Curio, CurioProcesses, CurioThreads
from cvbench.models.emulated_kernel import EmulatedKernel
from cvbench.models.greenlet_ import Greenlet
from cvbench.models.processes import Processes
from cvbench.models.sequential import Sequential
from cvbench.models.threads import Threads
from cvbench.models.trio_ import Trio, TrioThreads

MODELS: dict[str, type[Model]] = {
    m.name: m
    for m in (
        Sequential,
        Threads,
        Processes,
        Asyncio,
        AsyncioThreads,
        AsyncioProcesses,
        Trio,
        TrioThreads,
        Curio,
        CurioThreads,
        CurioProcesses,
        Greenlet,
        EmulatedKernel,
    )
}


class ModelError(ValueError):
    """An unknown model name."""


def resolve_models(text: str) -> list[Model]:
    """`all` or a comma list of names; sequential always comes first (it is the baseline)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ModelError("no model given")
    if "all" in names:
        names = list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ModelError(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)} or all")
    names = sorted(dict.fromkeys(names), key=lambda n: n != "sequential")
    return [MODELS[n]() for n in names]


__all__ = ["MODELS", "ItemRecord", "Model", "ModelError", "resolve_models"]
