"""free-threaded: the threads model on a CPython built with the GIL disabled (PEP 703).

On such a build, pure-Python parts of an item (digesting, bookkeeping) could run in parallel
too, not just the cv2 calls that release the GIL anyway. But importing an extension module
that does not declare free-threading support turns the GIL back on, and OpenCV has no
free-threaded (cp313t/cp314t) wheels; so `unavailable()` imports cv2 and then asks
`sys._is_gil_enabled()`. Where the answer is "disabled", the model is plain `threads`.
"""

from __future__ import annotations

import functools
import sys
import sysconfig

from cvbench.measure.probes import Probes
from cvbench.models.base import ItemRecord
from cvbench.models.threads import Threads
from cvbench.work.job import Job


@functools.cache
def _reason() -> str | None:
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "this interpreter is not a free-threaded build"
    import cv2  # noqa: F401 - the import itself is what may re-enable the GIL

    if sys._is_gil_enabled():  # 3.13+
        return "importing cv2 re-enabled the GIL (OpenCV has no free-threaded wheels)"
    return None


class FreeThreaded(Threads):
    name = "free-threaded"
    summary = "ThreadPoolExecutor on a free-threaded CPython (GIL disabled)"
    runs_on = "OS threads, no GIL"

    @classmethod
    def unavailable(cls) -> str | None:
        return _reason()

    def run(self, job: Job, workers: int, probes: Probes) -> list[ItemRecord]:
        reason = self.unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        return super().run(job, workers, probes)
