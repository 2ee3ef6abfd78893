"""interrupts_deferred: a Ctrl-C or SIGTERM inside the block is raised at its end, not where it lands."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from amlmon.stopping import interrupts_deferred


def _mark(done: list[str], what: str) -> None:  # a Python call: where a pending signal is raised
    done.append(what)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_is_raised_at_its_end(number: int) -> None:
    done: list[str] = []
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # as terminate_as_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                os.kill(os.getpid(), number)
                _mark(done, "after the signal")
            _mark(done, "after the block")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert done == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are back


def test_without_it_the_signal_lands_where_it_is_taken() -> None:  # the control
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        _mark(done, "after the signal")
    assert done == []


def test_a_block_without_a_signal_ends_quietly_and_other_threads_pass_through() -> None:
    with interrupts_deferred():
        pass
    seen: list[BaseException] = []

    def elsewhere() -> None:
        try:
            with interrupts_deferred():  # no handler can be set here: it does nothing
                pass
        except BaseException as exc:  # pragma: no cover - the assertion below says it
            seen.append(exc)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == []
