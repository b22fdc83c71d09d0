"""Recording switches shared between threads: each thread gets back its own state."""

from __future__ import annotations

import threading

import autograd
from autograd import Value


def test_one_no_grad_instance_entered_by_two_threads_restores_each_threads_state() -> None:
    ng = autograd.no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[bool, bool]] = {}

    def after_leaving() -> tuple[bool, bool]:
        x = Value(2.0)
        return autograd.is_grad_enabled(), not (x * x).is_leaf

    def a() -> None:  # recording on; enters ng first and leaves it first
        with autograd.enable_grad():
            with ng:
                a_in.set()
                b_in.wait(timeout=10)
            seen["a"] = after_leaving()
            a_out.set()

    def b() -> None:  # recording off; enters ng second and leaves it last
        with autograd.no_grad():
            a_in.wait(timeout=10)
            with ng:
                b_in.set()
                a_out.wait(timeout=10)
            seen["b"] = after_leaving()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert seen["a"] == (True, True)      # back to recording, as "a" had it
    assert seen["b"] == (False, False)    # back to not recording, as "b" had it
    assert autograd.is_grad_enabled()     # this thread was never touched
