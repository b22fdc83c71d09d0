"""Ctrl-C during `fit`: an optimizer step is written whole or not at all, and `fit` stops at
a step boundary with the history so far.  The reference is an uninterrupted run of the
same training that records the model and the optimizer after every step: whatever an
interrupt leaves must be exactly one of those states."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nn

NN_DIR = str(Path(nn.__file__).parent) + os.sep
# Where an interrupt matters most, every line is tried; elsewhere (the forward pass, which
# changes no weight) every SAMPLE-th line.
EVERY_LINE = {"optim.py", "interrupts.py", "train.py"}
SAMPLE = 10
EPOCHS = 2


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt here, even when the tests were started ignoring it
    (as a shell does for a job it runs in the background)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def data():
    return nn.moons(6, noise=0.1, seed=0, labels=(-1, 1))


def snapshot(model, optimizer):
    """Weights, Adam's moments and the step count: what must move together."""
    return ([p.data for p in model.parameters()], list(optimizer.m), list(optimizer.v),
            optimizer.steps)


class Recording(nn.Adam):
    """Adam that remembers the model's state after every step it applies."""

    def __init__(self, model, **options):
        super().__init__(model.parameters(), **options)
        self.model = model
        self.states = [snapshot(model, self)]

    def apply(self, update):
        super().apply(update)
        self.states.append(snapshot(self.model, self))


class InPlaceAdam(nn.Adam):
    """Adam as it was before steps were whole: each weight and its moments written in turn,
    so an interrupt can land between two parameters (the checker must see that)."""

    def apply(self, update):
        for i, p in enumerate(self.params):
            self.m[i] = update.state["m"][i]
            self.v[i] = update.state["v"][i]
            p.data = update.data[i]
        self.steps += 1


def reference():
    X, y = data()
    model = nn.MLP(2, [2, 1], seed=1)
    optimizer = Recording(model, lr=0.05)
    history = nn.fit(model, X, y, loss="hinge", optimizer=optimizer, epochs=EPOCHS,
                     verbose=False, seed=0)
    return optimizer.states, history


def interrupted_fit(target, optimizer_class=nn.Adam, files=()):
    """Run the training and send a real SIGINT at the `target`-th line executed in `nn`
    (and in `files`); return (where each line was, the exception, the model, the
    optimizer).  The signal goes through Python's handler as a Ctrl-C would."""
    X, y = data()
    model = nn.MLP(2, [2, 1], seed=1)
    optimizer = optimizer_class(model.parameters(), lr=0.05)
    lines = []

    def local(frame, event, arg):
        if event == "line":
            lines.append(os.path.basename(frame.f_code.co_filename))
            if len(lines) == target:
                signal.raise_signal(signal.SIGINT)
        return local

    def new_frame(frame, event, arg):
        name = frame.f_code.co_filename
        return local if name.startswith(NN_DIR) or name in files else None

    caught = None
    sys.settrace(new_frame)
    try:
        nn.fit(model, X, y, loss="hinge", optimizer=optimizer, epochs=EPOCHS, verbose=False,
               seed=0)
    except KeyboardInterrupt as err:
        caught = err
    finally:
        sys.settrace(None)
    return lines, caught, model, optimizer


def targets(lines):
    return [k for k, name in enumerate(lines, 1) if name in EVERY_LINE or k % SAMPLE == 0]


def test_an_interrupt_at_any_line_leaves_a_state_of_the_uninterrupted_run():
    states, full = reference()
    assert len(states) == EPOCHS + 1
    lines, caught, _, _ = interrupted_fit(0)
    assert caught is None
    tried = targets(lines)
    held = 0  # interrupts that arrived while a step was being written
    for target in tried:
        _, caught, model, optimizer = interrupted_fit(target)
        assert isinstance(caught, KeyboardInterrupt), target
        got = snapshot(model, optimizer)
        assert got == states[optimizer.steps], f"inconsistent after SIGINT at line {target}"
        if isinstance(caught, nn.FitInterrupted):
            history = caught.history
            assert history.stop_reason == "interrupted" and history.message == str(caught)
            assert history.loss == full.loss[:history.epochs]
            assert optimizer.steps in (history.epochs, history.epochs + 1)  # full batch
            assert all(p.grad == 0.0 for p in model.parameters())
        # Where did the KeyboardInterrupt come from?  A held one is raised when the hold
        # ends, in nn/interrupts.py.
        origin = caught.__context__ if caught.__context__ is not None else caught
        tb = origin.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        held += os.path.basename(tb.tb_frame.f_code.co_filename) == "interrupts.py"
    # The test did reach the writing of the steps, many times.
    assert held >= 3 * EPOCHS and len(tried) > 300, (held, len(tried))


def test_the_check_sees_a_step_that_is_written_one_parameter_at_a_time():
    # The same injection against the old in-place update finds half-written steps, so
    # the test above could fail.
    states, _ = reference()
    here = {__file__}
    lines, _, _, _ = interrupted_fit(0, InPlaceAdam, here)
    split = 0
    for target in [k for k, name in enumerate(lines, 1) if name == Path(__file__).name]:
        _, caught, model, optimizer = interrupted_fit(target, InPlaceAdam, here)
        assert isinstance(caught, KeyboardInterrupt)
        split += snapshot(model, optimizer) != states[optimizer.steps]
    assert split > 0


def test_fit_interrupted_is_a_keyboard_interrupt_carrying_the_history():
    X, y = data()
    model = nn.MLP(2, [2, 1], seed=1)
    seen = []

    def loss(outputs, targets):  # Ctrl-C in the third batch's loss, as if typed then
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return nn.hinge(outputs, targets)

    with pytest.raises(KeyboardInterrupt) as info:
        nn.fit(model, X, y, loss=loss, epochs=5, verbose=False)
    assert isinstance(info.value, nn.FitInterrupted)
    history = info.value.history
    assert (history.stop_reason, history.epochs, len(history.loss)) == ("interrupted", 2, 2)
    assert str(info.value) == ("fit: interrupted in epoch 3 after 2 complete steps; the "
                               "weights are those of the last complete step, the history "
                               "holds the 2 complete epochs")


CHILD = textwrap.dedent('''
    import collections, json, os, signal, sys, time
    import nn

    X, y = nn.moons(8, noise=0.1, seed=0, labels=(-1, 1))

    def snapshot(model, optimizer):
        return ([p.data for p in model.parameters()], list(optimizer.m), list(optimizer.v),
                optimizer.steps)

    class Recording(nn.Adam):
        def apply(self, update):
            super().apply(update)
            states.append(snapshot(model, self))

    def fresh(optimizer_class):
        model = nn.MLP(2, [32, 32, 1], seed=1)
        return model, optimizer_class(model.parameters(), lr=0.01)

    def fit(model, optimizer):
        nn.fit(model, X, y, loss="hinge", optimizer=optimizer, epochs=3, batch_size=1,
               verbose=False, seed=0)

    # The reference: every state an uninterrupted run passes through, and how long a run
    # takes on this machine now.
    started = time.perf_counter()
    model, optimizer = fresh(Recording)
    states = [snapshot(model, optimizer)]
    fit(model, optimizer)
    span = 0.8 * (time.perf_counter() - started)  # the recording makes it a bit slower

    # SIGINT from a timer, as Ctrl-C would send it, after each trial's own delay, the
    # delays spread evenly over a run.
    trials = int(sys.argv[1])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    interrupted, inconsistent, landed = 0, 0, collections.Counter()
    for trial in range(trials):
        model, optimizer = fresh(nn.Adam)
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, span * (trial + 0.5) / trials)
                fit(model, optimizer)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt as err:
            interrupted += 1
            tb, frames = (err.__context__ or err).__traceback__, []
            while tb is not None:
                frames.append(tb.tb_frame.f_code)
                tb = tb.tb_next
            if frames[-1].co_name == "<lambda>":  # the timer's handler: where it ran
                frames.pop()
            landed[f"{os.path.basename(frames[-1].co_filename)}:{frames[-1].co_name}"] += 1
        inconsistent += snapshot(model, optimizer) != states[optimizer.steps]
    print(json.dumps({"trials": trials, "interrupted": interrupted,
                      "inconsistent": inconsistent, "landed": landed}))
''')


def test_ctrl_c_from_a_timer_in_a_child_process_never_splits_a_step(tmp_path):
    # Real SIGINTs, sent by a timer at 40 moments spread over an Adam run of 24 steps on
    # 1185 parameters; each must leave one of the states an uninterrupted run passes
    # through, with weights, moments and step count together.
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run([sys.executable, str(script), "40"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(nn.__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["inconsistent"] == 0, result
    assert result["interrupted"] >= 10, result  # a delay may come after a run's end
