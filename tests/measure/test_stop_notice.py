"""The stop notice: a stop signal seen from another thread, through the signal wakeup fd."""

from __future__ import annotations

import signal
import threading

from cvbench.measure.stop_notice import StopNotice


def _with_handlers(*sigs: int):
    seen: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: seen.append(n)) for s in sigs}
    return seen, previous


def test_a_stop_signal_is_seen_and_other_signals_are_not():
    seen, previous = _with_handlers(signal.SIGUSR2, signal.SIGTERM)
    try:
        with StopNotice() as notice:
            assert notice.active
            signal.raise_signal(signal.SIGUSR2)  # a timer tick, say: not a stop
            assert notice.poll() is None
            signal.raise_signal(signal.SIGTERM)
            assert notice.poll() == signal.SIGTERM
            assert notice.poll() == signal.SIGTERM  # sticky
        assert signal.set_wakeup_fd(-1) == -1  # ours removed
        assert seen == [signal.SIGUSR2, signal.SIGTERM]  # the handlers still ran
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_someone_elses_wakeup_fd_stays_theirs():
    import socket

    a, b = socket.socketpair()
    a.setblocking(False)
    signal.set_wakeup_fd(a.fileno())
    try:
        with StopNotice() as notice:
            assert not notice.active and notice.poll() is None
        assert signal.set_wakeup_fd(-1) == a.fileno()
    finally:
        a.close()
        b.close()


def test_not_in_the_main_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(StopNotice().__enter__().active))
    t.start()
    t.join()
    assert out == [False]
