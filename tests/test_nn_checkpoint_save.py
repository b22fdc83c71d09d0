"""Saving is atomic: a save killed, interrupted or failing half-way leaves the previous
checkpoint as it was, and a save refuses weights that are not finite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import nn
from nn.checkpoint_file import SerializationError

X = np.random.default_rng(0).normal(size=(5, 3))

# A child process that saves a model with a large state (about 200 MB, so that writing it
# takes a while) over the checkpoint given on its command line.  The model is a Module
# subclass whose state_dict is one big array: building an MLP that large from Values
# would take minutes, and Module.save writes any module through the same code.
BIG_SAVE = textwrap.dedent("""
    import sys
    import numpy as np
    import nn

    class Wide(nn.Module):
        def state_dict(self):
            return {"weight": np.ones((5000, 5000))}

    print("saving", flush=True)
    Wide().save(sys.argv[1])
    print("saved", flush=True)
""")


# Prepended to BIG_SAVE by the tests that stop a save from outside: the save's fsync waits,
# so that the signal always lands before the rename.  Without it, on a loaded machine the
# test could be descheduled between seeing the temporary file and sending the signal for
# long enough that the whole save finished first, and the signal found no process.
FSYNC_WAITS = textwrap.dedent("""
    import os, time
    _fsync = os.fsync
    def _fsync_after_a_wait(descriptor):
        time.sleep(60)
        _fsync(descriptor)
    os.fsync = _fsync_after_a_wait
""")


def _old_checkpoint(folder: Path) -> tuple[nn.MLP, str, bytes]:
    model = nn.MLP(3, [4, 2], activation="tanh", seed=7)
    path = model.save(folder / "model.npz")
    return model, path, Path(path).read_bytes()


def _same_model(loaded: nn.Module, model: nn.Module) -> None:
    assert loaded.describe() == model.describe()
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    assert [[v.data for v in loaded(x)] for x in X] == [[v.data for v in model(x)] for x in X]


def _partial_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".partial"))


def _start_big_save(path: str, *, before: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", before + BIG_SAVE, path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_growing_temporary(folder: Path, child: subprocess.Popen) -> Path:
    """The save's temporary file, once it holds some bytes (the child is mid-write)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for candidate in _partial_files(folder):
            try:
                if candidate.stat().st_size > 0:
                    return candidate
            except FileNotFoundError:  # renamed in between: the save finished
                pass
        if child.poll() is not None:
            raise AssertionError(f"the save ended before it could be interrupted: "
                                 f"{child.communicate()}")
        time.sleep(0.001)
    child.kill()
    raise AssertionError("the child never started writing")


def test_a_save_killed_mid_write_leaves_the_old_checkpoint(tmp_path):
    model, path, old_bytes = _old_checkpoint(tmp_path)
    child = _start_big_save(path, before=FSYNC_WAITS)
    temporary = _wait_for_growing_temporary(tmp_path, child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    # The kill landed mid-save: the temporary file is there (a killed process cannot
    # remove it) and the checkpoint has not been replaced.
    assert temporary.exists()
    assert Path(path).read_bytes() == old_bytes
    _same_model(nn.load_model(path), model)
    # What remains is hidden and does not end in .npz: nothing takes it for a checkpoint.
    assert temporary.name.startswith(".model.npz.") and not temporary.name.endswith(".npz")
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["model.npz"]
    # ... and the next save goes through beside it.
    model.save(path)
    _same_model(nn.load_model(path), model)


def test_a_save_interrupted_by_ctrl_c_leaves_the_old_checkpoint_and_no_temporary(tmp_path):
    model, path, old_bytes = _old_checkpoint(tmp_path)
    child = _start_big_save(path, before=FSYNC_WAITS)
    _wait_for_growing_temporary(tmp_path, child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert "KeyboardInterrupt" in err, err
    assert Path(path).read_bytes() == old_bytes
    assert _partial_files(tmp_path) == []
    _same_model(nn.load_model(path), model)


def test_a_save_that_fails_mid_write_says_so_and_leaves_the_old_checkpoint(tmp_path):
    model, path, old_bytes = _old_checkpoint(tmp_path)
    # The file-size limit makes the write fail half-way (EFBIG) instead of killing the
    # child, as a full disk would.
    limit = textwrap.dedent("""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
    """)
    child = _start_big_save(path, before=limit)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 1 and "saved" not in out.split()
    last = err.strip().splitlines()[-1]
    assert last.startswith("nn.checkpoint_file.SerializationError: save: cannot write "
                           f"{path!r}: File too large"), err
    assert Path(path).read_bytes() == old_bytes
    assert _partial_files(tmp_path) == []
    _same_model(nn.load_model(path), model)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_save_refuses_non_finite_weights_and_writes_nothing(tmp_path, bad):
    model = nn.MLP(3, [4, 2], seed=1)
    model.layers[1].neurons[1].w[3].data = bad
    fresh = tmp_path / "fresh.npz"
    with pytest.raises(SerializationError) as info:
        model.save(fresh)
    assert str(info.value) == (
        f"save: refusing to write {str(fresh)!r}: 'layers.1.weight' holds {bad!r} at index "
        "[1, 3] (non-finite numbers: 1 of 8); load_model would refuse the file, so nothing "
        "was written")
    assert list(tmp_path.iterdir()) == []
    # Over an existing checkpoint: it stays as it was.
    good = nn.MLP(3, [4, 2], seed=2)
    path = good.save(tmp_path / "model.npz")
    before = Path(path).read_bytes()
    with pytest.raises(SerializationError, match="'layers.1.weight' holds"):
        model.save(path)
    assert Path(path).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_a_replaced_checkpoint_keeps_its_permissions_and_a_new_one_follows_the_umask(
        tmp_path):
    model = nn.Neuron(2, seed=0)
    path = model.save(tmp_path / "n.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    os.chmod(path, 0o640)
    model.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640
