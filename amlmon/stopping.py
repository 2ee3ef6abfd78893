"""Ctrl-C (and SIGTERM, taken as it) for a follow loop whose work is blocking storage I/O (`data tail`).

Python raises KeyboardInterrupt wherever the main thread happens to be, which inside the storage SDK
may be a urllib3 finalizer run by the garbage collector: Python then prints "Exception ignored in:
<finalize object …>" with a traceback and the interrupt is lost. So the loop runs in a worker thread,
SIGINT only sets a stop event, and the main thread says `interrupted` and raises KeyboardInterrupt
itself, from its own code (exit 130, as `traces -f`). The worker checks the event before each print and
between polls; a Ctrl-C during a request or the storage retries' waits ends the command at once.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

Work = Callable[[threading.Event], None]
Command = TypeVar("Command", bound=Callable[..., Any])
JOIN_AFTER_STOP = 2.0  # seconds the worker gets to finish the line it is printing


def run_until_interrupted(work: Work) -> None:
    """Run `work(stop)` until it returns or raises (re-raised here) or Ctrl-C (KeyboardInterrupt here)."""
    stop = threading.Event()
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            work(stop)
        except BaseException as exc:  # handed to the main thread, which reports it
            outcome.append(exc)

    worker = threading.Thread(target=target, name="amlmon-follow", daemon=True)
    # SIGTERM (`timeout`, a cancelled CI job, `docker stop`) ends it as Ctrl-C does: exit 130 and
    # `interrupted`, not a silent 143 with the worker's last line cut
    previous = {number: _on_signal(number, lambda *_: stop.set()) for number in _STOPPING}
    try:
        worker.start()
        while worker.is_alive() and not stop.is_set():
            worker.join(0.1)  # a signal's handler runs between these waits
    finally:
        for number, handler in previous.items():
            _on_signal(number, handler)
    if stop.is_set():
        worker.join(JOIN_AFTER_STOP)
        # typer turns KeyboardInterrupt into a silent exit 130; a follow stopped mid-retry says why it ended
        print("interrupted", file=sys.stderr, flush=True)
        raise KeyboardInterrupt
    if outcome:
        raise outcome[0]


def _on_signal(number: int, handler: Any) -> Any:
    """Install `handler` for signal `number` (main thread only; elsewhere Python refuses), the previous one
    back."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(number, handler)


def terminate_as_interrupt(command: Command) -> Command:
    """`command` takes SIGTERM (a cancelled CI job, `timeout`, `docker stop`) as Ctrl-C while it runs: the
    same clean-up (e.g. a pull's temp file deleted, its saved parts kept for --resume, exit 130) instead
    of none (Python's default ends the process where it stands)."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with sigterm_as_interrupt():
            return command(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def stopped_as_by_ctrl_c(command: Command) -> Command:
    """`command` takes SIGTERM as Ctrl-C and says `interrupted` when either stops it (exit 130), for a
    command with nothing half-made to clean up (`drift`: it was a silent 130, or a silent 143 at
    SIGTERM)."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with said_interrupted(), sigterm_as_interrupt():
            return command(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@contextlib.contextmanager
def said_interrupted() -> Iterator[None]:
    """Ctrl-C (or SIGTERM taken as it) inside the block prints `interrupted` before it propagates: typer
    turns KeyboardInterrupt into a silent exit 130, so a follow or a gate stopped mid-read ended without
    a word (README: exit 130 and `interrupted`, as `data tail`)."""
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        raise


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM inside the block is raised as KeyboardInterrupt where it lands, as Ctrl-C is (main thread
    only: elsewhere Python refuses handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM taken inside the block are raised as KeyboardInterrupt at its end, not
    where they land: for a few steps that must all happen or none, e.g. a temp folder made and its
    clean-up registered (an interrupt in between left the folder behind). Main thread only (elsewhere
    Python refuses handlers, and signals are not delivered there anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken: list[int] = []
    previous = {number: signal.signal(number, lambda n, _f: taken.append(n)) for number in _STOPPING}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if taken:
        raise KeyboardInterrupt


_STOPPING = (signal.SIGINT, signal.SIGTERM)
