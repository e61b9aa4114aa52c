"""Who is writing a transcript: an exclusive `flock` held by its `TranscriptWriter` while the file
is open (from a resume's claim, or the agent's first line, to its end record).

The kernel drops the lock when the process dies, so another process tells an agent running
elsewhere (the lock is held) from one whose process died under it (no end record, no lock).
Locks belong to open files, not processes: two handles on one run folder in one process exclude
each other as two processes do.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

__all__ = ["being_written", "open_locked"]


def being_written(path: Path) -> bool:
    """Whether a writer (in any process) holds `path` open: its agent is running."""
    try:
        with path.open("rb") as file:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False
    return False


def open_locked(path: Path) -> IO[str]:
    """`path` opened to append, its lock taken; `RuntimeError` when another writer holds it."""
    file = path.open("a", encoding="utf-8")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise RuntimeError(f"{path} is being written by another process (its agent runs)") from None
    return file
