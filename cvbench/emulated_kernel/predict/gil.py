"""CPython threads as simulator programs, with the GIL as a resource of the simulation.

Why a simulation and not a formula: whether N threads scale depends on how their GIL-held
parts interleave with each other, with the GIL-released parts, with blocking and with the OS
scheduler (a GIL holder preempted by the kernel keeps the GIL; waiting threads sleep off-CPU).
Each thread here is a simulator task (``sim.ProgramSpec``) scheduled on the emulated cores by
the usual policy; the GIL decides only when a thread may run Python.

A thread is a generator of operations (all times integer ns):

``Py(ns)``     run ``ns`` holding the GIL (pure Python: the code around a cv2 call).
``Cpu(ns)``    run ``ns`` without the GIL (inside cv2, which releases it; or any work in a
               process whose GIL nobody else wants).  Releases the GIL first if held.
``Io(ns)``     block ``ns`` off-CPU (a file read), GIL released.
``Get(q)``     take ``q``'s next item (FIFO); blocks, GIL released, while ``q`` is empty (a
               ``get`` that finds an item keeps the GIL).  The generator receives the item.
``TryGet(q)``  the same without blocking: receives the item or ``EMPTY``.
``Put(q, x)``  append ``x`` to ``q``; hands it to the longest-waiting blocked getter.

The GIL (``Gil``), as CPython's ``Python/ceval_gil.h`` (3.2+ "new GIL"):

- one holder; a thread that wants it while it is held queues (FIFO) and sleeps;
- released when its holder enters ``Cpu``/``Io``/``Get`` or exits, and handed to the first
  waiter (which then needs a core to run: the OS scheduler decides when);
- the switch interval (``sys.getswitchinterval()``, 5 ms): when a thread has waited that long
  with no hand-off in between, the holder is asked to drop it.  It drops at its next
  bytecode boundary -- at once if it is on a core, when it next runs if the OS has preempted
  it -- and queues again behind the waiter (FORCE_SWITCHING: it cannot take it straight back).

Simplifications, documented so nobody mistakes them for CPython: hand-off is strictly FIFO
(CPython signals a condition variable; the OS picks the waiter); the interval timer is one per
GIL, started when the first thread queues or at a hand-off with others queued (CPython runs one
timed wait per waiter; with FIFO order the head's is the one that fires first); ``Py(0)``
only touches the GIL (acquire, waiting if needed, and keep it) and costs no CPU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

from ..sim.data import BLOCK, Control, SimTask, Step

SWITCH_INTERVAL_NS = 5_000_000  # CPython's default sys.getswitchinterval()


class Op:
    __slots__ = ()


class _Timed(Op):
    """An op that takes ``ns`` nanoseconds (``Py``, ``Cpu``, ``Io``)."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns


class _OnQueue(Op):
    """An op that takes from a queue ``q`` (``Get``, ``TryGet``)."""

    __slots__ = ("q",)

    def __init__(self, q: Queue) -> None:
        self.q = q


class Py(_Timed):
    __slots__ = ()


class Cpu(_Timed):
    __slots__ = ()


class Io(_Timed):
    __slots__ = ()


class Get(_OnQueue):
    __slots__ = ()


class TryGet(_OnQueue):
    __slots__ = ()


class Put(Op):
    __slots__ = ("q", "x")

    def __init__(self, q: Queue, x: Any) -> None:
        self.q, self.x = q, x


EMPTY = object()  # what TryGet receives from an empty queue

ThreadBody = Generator[Op, Any, None]


class Queue:
    """A FIFO between threads (a pool's work queue, a result queue, a pipe)."""

    __slots__ = ("items", "getters")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.getters: deque[Thread] = deque()

    def put(self, x: Any, now: int) -> None:
        if self.getters:
            self.getters.popleft().deliver(x, now)
        else:
            self.items.append(x)


class Gil:
    """One interpreter's GIL: holder, FIFO of waiters, switch-interval timer, statistics."""

    def __init__(self, interval_ns: int = SWITCH_INTERVAL_NS) -> None:
        if interval_ns <= 0:
            raise ValueError("switch interval must be > 0")
        self.interval = interval_ns
        self.holder: Thread | None = None
        self.waiters: deque[Thread] = deque()
        self.ctl: Control | None = None
        self._timer = 0  # generation of the armed timer; 0 = none armed
        self._gen = 0
        self._since = 0  # when the holder took it
        # statistics
        self.acquisitions = 0  # takes, with or without waiting
        self.handoffs = 0  # takes by a thread that had queued
        self.forced = 0  # drop requests sent by the interval timer
        self.held_ns = 0  # total time held (busy)
        self.wait_ns = 0  # total time threads spent queued
        self.wait_max_ns = 0  # longest single wait

    def acquire(self, th: Thread, now: int) -> bool:
        """Take the GIL now (True) or queue for it (False: ``th.granted`` follows)."""
        if self.holder is None:
            self._take(th, now)
            return True
        th.wait_since = now
        self.waiters.append(th)
        if not self._timer:
            self._arm(now)
        return False

    def release(self, th: Thread, now: int) -> None:
        assert self.holder is th, "released by a thread that does not hold the GIL"
        self.held_ns += now - self._since
        self.holder = None
        if self.waiters:
            w = self.waiters.popleft()
            waited = now - w.wait_since
            self.wait_ns += waited
            self.wait_max_ns = max(self.wait_max_ns, waited)
            self.handoffs += 1
            self._take(w, now)
            assert self.ctl is not None
            self.ctl.call_at(now, w.granted)
        else:
            self._timer = 0

    def _take(self, th: Thread, now: int) -> None:
        self.holder = th
        th.holding = True
        self._since = now
        self.acquisitions += 1
        if self.waiters:
            self._arm(now)
        else:
            self._timer = 0

    def _arm(self, now: int) -> None:
        self._gen += 1
        gen = self._timer = self._gen
        assert self.ctl is not None
        self.ctl.call_at(now + self.interval, lambda t: self._fire(gen, t))

    def _fire(self, gen: int, now: int) -> None:
        if gen != self._timer:
            return  # a hand-off re-armed it, or nobody waits any more
        self._timer = 0
        h = self.holder
        if h is None or not self.waiters:
            return
        if h.in_py:  # eval breaker: drop at the next bytecode boundary
            self.forced += 1
            h.drop_request(now)
        else:  # granted but not running Python yet: ask again one interval later
            self._arm(now)


class Thread:
    """A ``sim.data.Program``: runs a ``ThreadBody`` generator in an interpreter.

    ``gil`` None is a thread that never contends (the only thread of its process): ``Py`` is
    then plain CPU.
    """

    def __init__(self, body: ThreadBody, gil: Gil | None) -> None:
        self.body = body
        self.gil = gil
        self.task: SimTask | None = None
        self.ctl: Control | None = None
        self.send: Any = None  # value for the generator's next resumption
        self.stash: Op | None = None  # an op read ahead (Io looks at what follows)
        self.holding = False
        self.in_py = False  # its current burst holds the GIL (interruptible by the timer)
        self.dropping = False
        self.drop_left = 0
        self.pending_py = 0  # Py ns to run once the GIL is granted
        self.wait_since = 0
        self.blocked = False

    # -- sim.data.Program ----------------------------------------------------------------
    def first(self, task: SimTask, ctl: Control) -> Step:
        self.task, self.ctl = task, ctl
        if self.gil is not None:
            self.gil.ctl = ctl
        return self._advance(task.arrival)

    def next(self, task: SimTask, now: int) -> Step:
        self.in_py = False
        if self.dropping:  # forced off the GIL: hand it over, queue again for the rest
            self.dropping = False
            left = self.drop_left
            self._release(now)
            if left <= 0:  # the request came as the burst ended: go on (to exit, or to cv2)
                return self._advance(now)
            self.pending_py = left
            assert self.gil is not None
            if not self.gil.acquire(self, now):
                self.blocked = True
                return (BLOCK, 0)
            return self._run_pending(now)
        return self._advance(now)

    # -- called back while blocked -----------------------------------------------------
    def deliver(self, x: Any, now: int) -> None:
        """A queue hands this blocked getter an item: resume it (as a deferred event)."""
        self.send = x
        assert self.ctl is not None
        self.ctl.call_at(now, self.resume)

    def resume(self, now: int) -> None:
        """The wait is over (an item arrived, the I/O ended): continue until it needs a core."""
        self.blocked = False
        self._apply(self._advance(now), now)

    def granted(self, now: int) -> None:
        """The GIL was handed to this waiting thread."""
        self.blocked = False
        self._apply(self._run_pending(now), now)

    def drop_request(self, now: int) -> None:
        """The interval timer wants the GIL: end the current Python burst as soon as it runs."""
        assert self.ctl is not None and self.task is not None
        self.dropping = True
        self.drop_left = self.ctl.interrupt(self.task, now)

    # -- internals -----------------------------------------------------------------------
    def _apply(self, step: Step, now: int) -> None:
        assert self.ctl is not None and self.task is not None
        if step is None:
            self.ctl.finish(self.task, now)
        elif step[0] != BLOCK:
            self.ctl.wake(self.task, now + step[0], step[1])

    def _release(self, now: int) -> None:
        if self.holding:
            self.holding = False
            assert self.gil is not None
            self.gil.release(self, now)

    def _run_pending(self, now: int) -> Step:
        ns = self.pending_py
        self.pending_py = 0
        if ns > 0:
            self.in_py = True
            return (0, ns)
        return self._advance(now)

    def _next_op(self) -> Op | None:
        if self.stash is not None:
            op, self.stash = self.stash, None
            return op
        try:
            op = self.body.send(self.send)
        except StopIteration:
            return None
        self.send = None
        return op

    def _advance(self, now: int) -> Step:
        """Run zero-time operations until the thread needs a core, blocks or exits."""
        while True:
            op = self._next_op()
            if op is None:
                self._release(now)
                return None
            if isinstance(op, Py):
                ns = op.ns
                gil = self.gil
                if gil is None:
                    if ns > 0:
                        return (0, ns)
                    continue
                if not self.holding and not gil.acquire(self, now):
                    self.pending_py = ns
                    self.blocked = True
                    return (BLOCK, 0)
                if ns > 0:
                    self.in_py = True
                    return (0, ns)
            elif isinstance(op, Cpu):
                self._release(now)
                if op.ns > 0:
                    return (0, op.ns)
            elif isinstance(op, Io):
                self._release(now)
                if op.ns <= 0:
                    continue
                nxt = self._next_op()
                if isinstance(nxt, Cpu) or (isinstance(nxt, Py) and self.gil is None):
                    if nxt.ns > 0:  # sleep, then straight onto a core: the simulator's own step
                        return (op.ns, nxt.ns)
                else:
                    self.stash = nxt
                self.blocked = True
                assert self.ctl is not None
                self.ctl.call_at(now + op.ns, self.resume)
                return (BLOCK, 0)
            elif isinstance(op, Get):
                q = op.q
                if q.items:  # an uncontended queue.get() does not block: the GIL stays held
                    self.send = q.items.popleft()
                    continue
                self._release(now)
                q.getters.append(self)
                self.blocked = True
                return (BLOCK, 0)
            elif isinstance(op, TryGet):
                self.send = op.q.items.popleft() if op.q.items else EMPTY
            elif isinstance(op, Put):
                op.q.put(op.x, now)
            else:
                raise TypeError(f"not a thread operation: {op!r}")
