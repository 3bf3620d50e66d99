"""subinterpreters: one interpreter (and GIL) per worker inside one process (PEP 734).

`concurrent.futures.InterpreterPoolExecutor` exists from Python 3.14. Even there, this
workload cannot use it: numpy (so cv2) is a single-phase-init extension module that refuses
to load in a subinterpreter. `unavailable()` checks both, the second by trying the import in a
fresh interpreter, so the row says which one stops it here instead of failing or vanishing.
"""

from __future__ import annotations

import functools
import sys

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord, Model
from cvbench.work.job import Job


@functools.cache
def _reason() -> str | None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        from concurrent import interpreters  # 3.14+
        from concurrent.futures import InterpreterPoolExecutor  # noqa: F401
    except ImportError:
        return f"Python {version} has no InterpreterPoolExecutor (PEP 734, 3.14+)"
    interp = interpreters.create()
    try:
        interp.exec("import numpy, cv2")
    except Exception as exc:  # noqa: BLE001 - any failure is the reason
        return f"numpy/cv2 cannot be imported in a subinterpreter: {str(exc).splitlines()[0]}"
    finally:
        interp.close()
    return None


class Subinterpreters(Model):
    name = "subinterpreters"
    summary = "InterpreterPoolExecutor (PEP 734): one interpreter and GIL per worker"
    runs_on = "subinterpreters in one process"

    @classmethod
    def unavailable(cls) -> str | None:
        return _reason()

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        reason = self.unavailable() or (
            "cv2 loads in a subinterpreter here, but this model was never run on such a "
            "Python: implement it with InterpreterPoolExecutor and base.run_pool"
        )
        raise RuntimeError(reason)
