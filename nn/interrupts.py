"""Hold back Ctrl-C while a few numbers are written together.

Python raises `KeyboardInterrupt` between any two bytecodes of the main thread, so a
loop that writes many weights can be cut in the middle: some written, the rest not.
`interrupts_held()` makes a short block whole: a Ctrl-C (SIGINT) that arrives while it
runs is kept, and delivered as soon as the block is done, to whatever handled SIGINT
before (so it is still a `KeyboardInterrupt` by default, just one that comes a few
microseconds later and finds the numbers consistent).

Only the main thread receives Python signal handlers, so elsewhere the block runs as it
is; so it does when SIGINT's handler was not set from Python.  A `KeyboardInterrupt`
raised by other means (a trace function, another thread's ``PyThreadState_SetAsyncExc``)
is not a signal and is not held.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["interrupts_held"]


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block with SIGINT held back; deliver a held one when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler installed outside Python: leave it alone
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:  # the old handler decides, as if the signal came now
            signal.raise_signal(signal.SIGINT)
