"""The deadline reaches the repetition's thread once: by the poll of the model's wait or by
the watchdog's interrupt, never both. Both had raised: the second one, landing while the first
unwound, came out of the model's run, and a run with one hung op ended with no row at all."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from cvbench.measure.probes import Probes
from cvbench.measure.watchdog import RepetitionTimeout, Watchdog, deadline_passed
from tests.helpers import new_probes


def _probes() -> Probes:
    return new_probes(0)


def test_interrupt_after_the_polled_raise_does_not_raise_again():
    probes = _probes()
    dog = Watchdog(probes, 60.0)
    with dog.armed():
        probes.expired = True  # as _expire sets it, before it sends the interrupt
        with pytest.raises(RepetitionTimeout):
            if deadline_passed(probes):  # the model's wait polls and raises
                raise RepetitionTimeout("deadline passed")
        dog._can_interrupt = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        time.sleep(0.05)  # the handler runs here: before the fix it raised a second time
    assert probes.expiry_raised


def test_interrupt_alone_raises_once():
    probes = _probes()
    dog = Watchdog(probes, 60.0)
    with pytest.raises(RepetitionTimeout), dog.armed():
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        time.sleep(1.0)
    assert probes.expiry_raised


def test_deadline_passed_is_false_before_expiry():
    probes = _probes()
    assert not deadline_passed(probes) and not probes.expiry_raised
    assert not deadline_passed(None)
