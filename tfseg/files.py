"""Atomic file writes: a reader sees the old complete file or the new complete file, never half of one.

Every file a later step reads (config.yaml, history.csv, evaluation tables and reports,
figures, areas.csv) is written through `atomic_path`: to a temporary file in the same
folder, flushed and fsynced, then renamed over the target (`os.replace`, atomic on POSIX
and Windows), and the folder fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


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
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Writes text (UTF-8) or bytes to `path` atomically (see `atomic_path`) and returns the path."""
    with atomic_path(path) as temporary:
        if isinstance(content, bytes):
            temporary.write_bytes(content)
        else:
            temporary.write_text(content, encoding="utf-8")
    return Path(path)
