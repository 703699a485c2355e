"""Is a search the store calls "running" still running? A lock file per search says.

The store keeps a search's status; a process killed with -9 never writes "interrupted", so
after a restart the hover would call the old search "running". The server that runs a
search holds an exclusive `flock` on `.kf/running/<search id>.lock` beside the database; the
kernel releases it when the process dies, however it dies. A reader that can take the lock
knows the owner is gone. A search started by something else (no lock file) is taken at the
store's word.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["Held", "hold", "is_dead"]


def _lock_path(db_path: str, search_id: str) -> str:
    return os.path.join(os.path.dirname(db_path), "running", f"{search_id}.lock")


class Held:
    def __init__(self, path: str, fd: int):
        self.path = path
        self.fd = fd

    def release(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def hold(db_path: str, search_id: str) -> Held | None:
    """Take the search's lock for this process (None when it cannot: no liveness then)."""
    path = _lock_path(db_path, search_id)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return Held(path, fd)


def is_dead(db_path: str, search_id: str) -> bool:
    """True when the search's lock file exists and no process holds it."""
    path = _lock_path(db_path, search_id)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: alive
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)  # the file stays: every later reader must learn the same
        return True
    finally:
        os.close(fd)
