"""An advisory lock on an output folder: two processes never write the same results at once.

Atomic writes keep every file whole, but two runs resuming into one folder at the same time would each read the
table, add their rows and rename their copy into place, and the second rename drops the first run's rows. The lock
(``flock`` on ``<folder>/.superdiff.lock``, released by the kernel when its process dies, so a killed run never
leaves a stale lock) refuses the second run with the holder's pid and host instead. On a file system without
``flock`` (and on Windows) the folder is used unlocked, as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; the lock is a no-op there
    fcntl = None

LOCK_NAME = ".superdiff.lock"


class FolderLockedError(OSError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if needed) for the ``with`` block.

    Raises:
        FolderLockedError: another process holds it (never waits: a second writer is a mistake to report).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    with open(path, "a+") as handle:
        locked = fcntl is not None
        if locked:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:  # held by another process
                handle.seek(0)
                holder = handle.read().strip() or "unknown process"
                raise FolderLockedError(f"{folder} is being written by another superdiff process ({holder}); "
                                        "expected one writer per folder: wait for it or use another --out") from err
            except OSError:  # a file system without flock (ENOLCK, EOPNOTSUPP): work unlocked, as before
                locked = False
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield folder
        finally:
            if locked:
                fcntl.flock(handle, fcntl.LOCK_UN)
