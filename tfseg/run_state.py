"""The state of a run in progress: the saved training states that `--resume` continues from
(checksummed, two generations), the lock of the process writing the run, and the history
reconciled with the states.

Layout (`tfseg.run.RunDir`): `backup/epoch-<N>/` with `state.weights.h5` and `state.json`
(`save_state`, `restore_state`), `.lock` (`RunLock`), `history.csv` (`read_history`, `trim_history`,
`best_epoch`; epochs numbered from 1).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from tfseg.errors import TfsegError
from tfseg.files import atomic_dir, file_digest, write_atomically
from tfseg.run import RunDir


STATE_GENERATIONS = 2
"""Saved states kept in `backup/`: the newest, and the one before in case the newest is damaged."""


@dataclass(frozen=True)
class SavedState:
    """One saved training state: `backup/epoch-<N>/` with the weights (model and optimizer) after epoch N.

    Attributes:
        epochs: int. Epochs completed when it was saved.
        weights: Path. The `.weights.h5` file (Keras `save_weights`: model and optimizer variables).
        metadata: Path or None. `state.json` (epoch, size and SHA-256 of the weights); None for
            the single state of runs written before tfseg 0.2 (Keras BackupAndRestore).
    """

    epochs: int
    weights: Path
    metadata: Path | None

    def damage(self) -> str | None:
        """Why the state cannot be used (names the file), or None when it is intact."""
        if self.metadata is None:  # the older layout: BackupAndRestore's metadata holds only the epoch
            return None if self.weights.is_file() and self.weights.stat().st_size else f"{self.weights}: missing or empty"
        try:
            recorded = json.loads(self.metadata.read_text())
        except (OSError, ValueError) as error:
            return f"{self.metadata}: unreadable ({type(error).__name__})"
        if recorded.get("epochs") != self.epochs:
            return f"{self.metadata}: records epoch {recorded.get('epochs')}, its folder says {self.epochs}"
        if not self.weights.is_file():
            return f"{self.weights}: missing"
        size = self.weights.stat().st_size
        if size != recorded.get("bytes"):
            return f"{self.weights}: {size} bytes, expected {recorded.get('bytes')} (truncated?)"
        if file_digest(self.weights) != recorded.get("sha256"):
            return f"{self.weights}: checksum differs from {self.metadata.name}"
        return None


def saved_states(run_dir: str | Path) -> list[SavedState]:
    """The saved states of a run, newest first (not checked; see `SavedState.damage`)."""
    backup = RunDir(run_dir).backup
    states = [
        SavedState(int(folder.name.split("-", 1)[1]), folder / "state.weights.h5", folder / "state.json")
        for folder in backup.glob("epoch-*")
        if folder.is_dir() and folder.name.split("-", 1)[1].isdigit()
    ]
    legacy = backup / "training_metadata.json"
    if legacy.is_file():
        try:
            states.append(SavedState(int(json.loads(legacy.read_text())["epoch"]), backup / "latest.weights.h5", None))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return sorted(states, key=lambda state: state.epochs, reverse=True)


def completed_epochs(run_dir: str | Path) -> int:
    """Epochs completed by the run in `run_dir`: those of its newest intact saved state (0 if none)."""
    return next((state.epochs for state in saved_states(run_dir) if state.damage() is None), 0)


def save_state(model: keras.Model, run_dir: str | Path, epochs: int) -> Path:
    """Saves the weights and optimizer state after `epochs` epochs as a new generation in `backup/`.

    The generation is written into a temporary folder and renamed when complete (with its
    size and checksum in `state.json`), and only then are generations beyond the newest
    `STATE_GENERATIONS` removed, so a kill at any moment leaves at least one intact state.
    """
    backup = RunDir(run_dir).backup
    backup.mkdir(parents=True, exist_ok=True)
    target = backup / f"epoch-{epochs:05d}"
    shutil.rmtree(target, ignore_errors=True)  # a state of the same epoch from an earlier, interrupted try
    with atomic_dir(target) as folder:
        model.save_weights(folder / "state.weights.h5")
        weights = folder / "state.weights.h5"
        (folder / "state.json").write_text(json.dumps(
            {"epochs": epochs, "bytes": weights.stat().st_size, "sha256": file_digest(weights)}, indent=2
        ))
    for old in saved_states(run_dir)[STATE_GENERATIONS:]:
        if old.metadata is None:  # the older layout's files
            for name in ("latest.weights.h5", "training_metadata.json"):
                (backup / name).unlink(missing_ok=True)
        else:
            shutil.rmtree(old.weights.parent, ignore_errors=True)
    return target


def restore_state(model: keras.Model, run_dir: str | Path) -> tuple[int, list[str]]:
    """Loads the newest intact saved state into `model` (built, with its optimizer built).

    A state is used when its files match `state.json` (size, checksum, epoch) and Keras
    loads it; otherwise the next older one is tried. Nothing on disk changes here.

    Returns:
        (epochs completed by the loaded state, notes on the damaged states skipped); (0, [])
        when the run has no saved state.

    Raises:
        TfsegError: states exist but none is intact; the message names the damaged file.
    """
    notes = []
    states = saved_states(run_dir)
    for state in states:
        damage = state.damage()
        if damage is None:
            try:
                model.load_weights(state.weights)
                return state.epochs, notes
            except Exception as error:  # noqa: BLE001 (h5py and Keras raise many kinds on a damaged file)
                damage = f"{state.weights}: does not load ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        notes.append(f"state of epoch {state.epochs} skipped: {damage}")
    if states:
        raise TfsegError(f"--resume {run_dir}: no intact saved state; {notes[0].split(': ', 1)[1]}")
    return 0, notes


class RunLock:
    """The lock file of a run directory: one training process at a time.

    `.lock` holds the owner's host and PID. A lock whose process is gone (same host, PID
    not running) is stale and taken over; a live one, or one from another host, is refused.
    Use as a context manager; the lock is removed on exit.

    Args:
        run_dir: str or Path. The run directory (or a worker's folder).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = RunDir(run_dir).lock
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}

    def _holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written, or torn by a crash: treat as stale below

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def acquire(self) -> RunLock:
        """Takes the lock, replacing a stale one.

        Raises:
            TfsegError: another live process (or a process on another host) holds it.
        """
        for _ in range(3):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released meanwhile
                pid, host = holder.get("pid"), holder.get("host")
                if isinstance(pid, int) and (host != self.owner["host"] or self._alive(pid)):
                    where = "this host" if host == self.owner["host"] else f"host {host}"
                    raise TfsegError(
                        f"{self.path.parent}: in use by process {pid} on {where} ({self.path}); wait for it to "
                        "finish, or delete the lock file if that process is gone"
                    ) from None
                print(f"tfseg: taking over the stale lock {self.path} of process {pid}, which is no longer running")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w") as handle:
                handle.write(json.dumps(self.owner))
            return self
        raise TfsegError(f"{self.path}: could not take the lock (it keeps changing)")

    def release(self) -> None:
        """Removes the lock if this process holds it."""
        if self._holder() == self.owner:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def read_history(history_csv: Path) -> pd.DataFrame | None:
    """A run's `history.csv`, one row per epoch numbered from 1, or None when there is no
    file or it is empty. A history written before tfseg numbered epochs from 1 (its first
    row epoch 0) is read renumbered."""
    if not history_csv.is_file() or history_csv.stat().st_size == 0:
        return None
    history = pd.read_csv(history_csv)
    if len(history) and history["epoch"].min() == 0:
        history["epoch"] += 1
    return history


def trim_history(history_csv: Path, epochs: int) -> pd.DataFrame | None:
    """Keeps the rows of epochs 1..epochs in `history_csv`, each once (the last written).

    A run killed after the history's row of an epoch was written but before that epoch's
    state was saved repeats the epoch on resume; trimming to the saved epochs first keeps
    every epoch exactly once. A history numbered from 0 (written before tfseg numbered
    epochs from 1) is rewritten numbered from 1.

    Returns:
        The kept rows, or None when there is no history file.
    """
    history = read_history(history_csv)
    if history is None:
        return None
    history = history[history["epoch"] <= epochs].drop_duplicates("epoch", keep="last").sort_values("epoch")
    write_atomically(history_csv, history.to_csv(index=False))
    return history


def monitor_mode(monitor: str) -> str:
    """`min` for losses (`val_loss`, `val_dice_loss`, …), `max` for scores."""
    return "min" if monitor.endswith("loss") else "max"


def best_epoch(history: pd.DataFrame | None, monitor: str) -> tuple[int | None, float | None]:
    """(epoch, value) of the best `monitor` in a history table (`read_history`), or (None, None)."""
    if history is None or monitor not in history or history[monitor].isna().all():
        return None, None
    index = history[monitor].idxmin() if monitor_mode(monitor) == "min" else history[monitor].idxmax()
    return int(history.loc[index, "epoch"]), float(history.loc[index, monitor])
