"""The state of a run in progress: the history trimmed to the saved states, the states
(two generations, checksummed, a damaged one skipped), the lock."""

import numpy as np
import pandas as pd
import pytest

from tfseg.errors import TfsegError
from tfseg.run_state import best_epoch, read_history, trim_history


def test_best_epoch_is_the_highest_score_or_the_lowest_loss():
    history = pd.DataFrame({"epoch": [1, 2, 3], "val_iou": [0.5, 0.7, 0.6], "val_loss": [0.9, 0.4, 0.3]})
    assert best_epoch(history, "val_iou") == (2, 0.7)
    assert best_epoch(history, "val_loss") == (3, 0.3)
    assert best_epoch(None, "val_iou") == (None, None) and best_epoch(history, "val_dice") == (None, None)


def test_trim_history_keeps_each_backed_up_epoch_once(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame({"epoch": [1, 2, 3, 2, 3, 4], "loss": [5.0, 4.0, 3.0, 4.1, 3.1, 2.0]}).to_csv(path, index=False)
    kept = trim_history(path, 3)
    assert kept["epoch"].tolist() == [1, 2, 3] and kept["loss"].tolist() == [5.0, 4.1, 3.1]
    assert pd.read_csv(path)["epoch"].tolist() == [1, 2, 3]


def test_a_history_numbered_from_0_is_read_and_resumed_numbered_from_1(tmp_path):
    """Runs written before epochs were numbered from 1: read renumbered, rewritten so on resume."""
    path = tmp_path / "history.csv"
    pd.DataFrame({"epoch": [0, 1, 2], "val_iou": [0.5, 0.7, 0.6]}).to_csv(path, index=False)
    assert read_history(path)["epoch"].tolist() == [1, 2, 3]
    assert best_epoch(read_history(path), "val_iou") == (2, 0.7)
    assert trim_history(path, 2)["epoch"].tolist() == [1, 2]
    assert pd.read_csv(path)["epoch"].tolist() == [1, 2]
    path.write_text("")
    assert read_history(path) is None and read_history(tmp_path / "absent.csv") is None


def _compiled_tiny_model(seed: int = 0):
    import keras

    from tfseg import models

    keras.utils.set_random_seed(seed)
    model = models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def _snapshot(folder):
    """{relative path: (size, mtime)} of every file under `folder`: to show nothing changed."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def two_states(tmp_path):
    """A run folder whose backup holds the states after epochs 2 and 3 (epoch 1's was pruned)."""

    from tfseg.run_state import save_state

    model = _compiled_tiny_model()
    for epochs in (1, 2, 3):
        model.layers[1].kernel.assign(np.full(model.layers[1].kernel.shape, float(epochs), np.float32))
        save_state(model, tmp_path, epochs)
    return tmp_path


def test_state_generations_keep_two_and_restore_the_newest(two_states):

    from tfseg.run_state import completed_epochs, restore_state, saved_states

    assert [state.epochs for state in saved_states(two_states)] == [3, 2]
    assert completed_epochs(two_states) == 3
    model = _compiled_tiny_model(seed=1)
    assert restore_state(model, two_states) == (3, [])
    assert np.all(np.asarray(model.layers[1].kernel) == 3.0)


@pytest.mark.parametrize("damage", ["truncated", "zero bytes", "no state.json", "unloadable"])
def test_a_damaged_newest_state_falls_back_to_the_one_before(two_states, damage):

    from tfseg.run_state import completed_epochs, restore_state

    newest = two_states / "backup" / "epoch-00003"
    weights = newest / "state.weights.h5"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "zero bytes":
        weights.write_bytes(b"")
    elif damage == "no state.json":
        (newest / "state.json").unlink()
    else:  # size and checksum match, yet Keras cannot load it
        import json

        from tfseg.files import file_digest

        weights.write_bytes(b"not an h5 file at all")
        (newest / "state.json").write_text(json.dumps({"epochs": 3, "bytes": weights.stat().st_size, "sha256": file_digest(weights)}))
    before = _snapshot(two_states)
    model = _compiled_tiny_model(seed=1)
    epochs, notes = restore_state(model, two_states)
    assert epochs == 2 and np.all(np.asarray(model.layers[1].kernel) == 2.0)
    assert len(notes) == 1 and notes[0].startswith("state of epoch 3 skipped:") and "epoch-00003" in notes[0]
    assert completed_epochs(two_states) == (3 if damage == "unloadable" else 2)
    assert _snapshot(two_states) == before  # restoring changes nothing on disk


def test_no_intact_state_is_a_one_line_error_that_changes_nothing(two_states):
    from tfseg.run_state import restore_state

    for folder in ("epoch-00003", "epoch-00002"):
        (two_states / "backup" / folder / "state.weights.h5").write_bytes(b"")
    before = _snapshot(two_states)
    with pytest.raises(TfsegError, match=r"no intact saved state; .*epoch-00003/state.weights.h5: 0 bytes, expected \d+") as error:
        restore_state(_compiled_tiny_model(), two_states)
    assert "\n" not in str(error.value)
    assert _snapshot(two_states) == before


def test_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    from tfseg.run_state import RunLock

    with RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text()) == {"host": socket.gethostname(), "pid": os.getpid()}
        with pytest.raises(TfsegError, match=rf"in use by process {os.getpid()} on this host"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": int(gone.stdout)}))  # a crashed owner
    with RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    (tmp_path / ".lock").write_text(json.dumps({"host": "another-host", "pid": 1}))
    with pytest.raises(TfsegError, match="in use by process 1 on host another-host"):
        RunLock(tmp_path).acquire()
