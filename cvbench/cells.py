"""The cells of a run: every workload x model x workers that can run here, each with its own
copy of the job (the fault under test, the pool's chunk size); a model that cannot run here
is one ``unsupported`` row instead."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from cvbench.config import RunConfig
from cvbench.models import Model
from cvbench.results.schema import blank_row
from cvbench.run_state import Cell, WorkloadState
from cvbench.work.item import auto_chunksize
from cvbench.work.job import Job


def chunksize_for(config: RunConfig, model: Model, job: Job, workers: int) -> int:
    """Items per pool task: --chunksize, else Pool.map's rule; 1 for models that do not
    batch, and for a stream (one item per task is the latency-fair choice)."""
    if not model.batches or job.arrivals_ns is not None:
        return 1
    return config.chunksize or auto_chunksize(job.items, workers)


def tail_workers_for(config: RunConfig, size: int, workers: int) -> int:
    """The automatic chunks end guided (``work.item.chunks``); a --chunksize is kept as given."""
    return workers if config.chunksize is None and size > 1 else 1


def make_cells(
    config: RunConfig,
    states: dict[str, WorkloadState],
    columns: Callable[[str], dict[str, Any]],
    emit: Callable[[dict[str, Any]], None],
    chunksize: Callable[[Model, Job, int], int],
) -> list[Cell]:
    """The cells, in sweep order; ``emit`` gets the unsupported rows."""
    cells = []
    for workload, state in states.items():
        for model in config.models:
            reason = model.unavailable()
            if reason:
                emit(
                    blank_row(
                        **columns(workload),
                        model=model.name,
                        workers=1,
                        repetition=0,
                        items=0,
                        ok=None,
                        status="unsupported",
                        error=reason,
                        predicted=False,
                        inline=model.inline,
                    )
                )
                continue
            job = state.job
            if config.fault is not None and config.fault_model == model.name:
                job = dataclasses.replace(job, fn=dataclasses.replace(job.fn, fault=config.fault))
            swept = model.sweeps_workers and not model.external
            for workers in config.workers if swept else [1]:
                size = chunksize(model, job, workers)
                tail = tail_workers_for(config, size, workers)
                cells.append(
                    Cell(
                        workload,
                        model,
                        workers,
                        dataclasses.replace(job, chunksize=size, tail_workers=tail),
                    )
                )
    return cells
