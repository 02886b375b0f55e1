"""Atomic file writes: a reader sees the old complete file or the new complete file, never half of
one; and the cache folder that tfseg writes what it can recompute to.

Every file a later step reads (config.yaml, history.csv, evaluation tables and reports,
figures, areas.csv) is written through `atomic_path`: to a temporary file in the same
folder, flushed and fsynced, then renamed over the target (`os.replace`, atomic on POSIX
and Windows), and the folder fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

CACHE_VARIABLE = "TFSEG_CACHE"
"""The cache folder (demo data, dataset fingerprints); ~/.cache/tfseg when unset."""
WRITE_LOG_VARIABLE = "TFSEG_WRITE_LOG"
"""Fault injection for tests: a file to which every atomic write appends `begin <path>` and `end <path>`."""
WRITE_DELAY_VARIABLE = "TFSEG_WRITE_DELAY"
"""Fault injection for tests: seconds each atomic write waits between writing and renaming."""


def _log_write(event: str, path: Path) -> None:
    """Appends `<event> <path>` to the write log of fault-injection tests (when one is set)."""
    log = os.environ.get(WRITE_LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{event} {path}\n")
            handle.flush()


def _write_delay() -> None:
    """Waits `$TFSEG_WRITE_DELAY` seconds (fault-injection tests widen the window a kill can land in)."""
    delay = float(os.environ.get(WRITE_DELAY_VARIABLE, "0") or 0)
    if delay > 0:
        time.sleep(delay)


def _fsync(path: Path) -> None:
    """Flushes a file's (or a folder's) data to disk; folders that cannot be opened are skipped."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        descriptor = os.open(path, flags)
    except OSError:  # e.g. folders on Windows
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write to; on success it replaces `path` atomically.

    The temporary name keeps the suffix (`.best.partial-<pid>.keras`), so writers that
    check it (Keras, matplotlib) work. If the body raises, the temporary file is removed
    and `path` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    _log_write("begin", path)
    try:
        yield temporary
        _fsync(temporary)
        _write_delay()
        os.replace(temporary, path)
        _fsync(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
    _log_write("end", path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yields a temporary folder beside `path` to fill; on success it is fsynced and renamed to `path`.

    An existing folder at `path` is moved aside just before the rename and removed after
    it, so `path` holds the old complete folder or the new one (or, for the instant
    between two renames, nothing), never a half-written one. If the body raises, the
    temporary folder is removed and `path` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    _log_write("begin", path)
    try:
        yield temporary
        for child in temporary.rglob("*"):
            if child.is_file():
                _fsync(child)
        _fsync(temporary)
        _write_delay()
        if path.exists():
            os.replace(path, old)
        os.replace(temporary, path)
        _fsync(path.parent)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    _log_write("end", path)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Removes the temporary files and folders (`.<name>.partial-<pid>…`, `.<name>.old-<pid>`) that
    killed writers left in `folder`; call it only while holding the folder's lock."""
    removed = []
    for leftover in Path(folder).glob(".*"):
        if ".partial-" in leftover.name or ".old-" in leftover.name:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Writes text (UTF-8) or bytes to `path` atomically (see `atomic_path`) and returns the path."""
    with atomic_path(path) as temporary:
        if isinstance(content, bytes):
            temporary.write_bytes(content)
        else:
            temporary.write_text(content, encoding="utf-8")
    return Path(path)


def cache_dir() -> Path:
    """tfseg's cache folder: `$TFSEG_CACHE`, else ~/.cache/tfseg (not created here)."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "tfseg")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (`hashlib.new(algorithm)`), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def append_rows(path: Path, rows, cell: str) -> None:
    """Adds `rows` (a DataFrame with a `cell` column) to the CSV at `path`, replacing the
    earlier rows of `cell`, atomically.

    The read-modify-write holds `.<name>.lock` beside it, so processes adding rows at once
    (compare.py running other cells of a study, e.g. one per GPU) never drop each other's rows."""
    import pandas as pd
    from filelock import FileLock

    with FileLock(path.with_name(f".{path.name}.lock")):
        table = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        if len(table):
            table = table[table["cell"].astype(str) != cell]
        table = pd.concat([table, rows], ignore_index=True)
        write_atomically(path, table.to_csv(index=False, float_format="%.6g"))
