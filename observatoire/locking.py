"""One writer at a time on a data directory.

Every command that writes the warehouse (run, partner import, snapshot, and the Airflow tasks that do the
same) holds an exclusive ``flock`` on ``meta/writer.lock``. The kernel releases it when the process dies,
even on SIGKILL, so there is never a stale lock to clean by hand. A second writer waits (printing who holds
the lock) up to ``OBSERVATOIRE_LOCK_TIMEOUT`` seconds (default 3600; 0 = fail at once), then fails clearly.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class LockTimeout(RuntimeError):
    pass


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} ({info.get('command', '?')}, since {info.get('since', '?')})"


def lock_timeout() -> float:
    """Seconds a second writer waits for the lock (``OBSERVATOIRE_LOCK_TIMEOUT``, default 3600; 0 = not at all)."""
    from observatoire.config import current_settings

    return current_settings().lock_timeout


@contextmanager
def writer_lock(lock_path: Path, command: str, *, timeout: float | None = None,
                poll: float = 0.5, announce=None) -> Iterator[None]:
    """Hold the data directory's writer lock for the duration of the ``with`` block."""
    if timeout is None:
        timeout = lock_timeout()
    announce = announce or (lambda msg: print(msg, file=sys.stderr, flush=True))
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(lock_path)
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the data directory {lock_path.parent.parent} is being written by {holder}; "
                        f"gave up waiting after {timeout:.0f} s (OBSERVATOIRE_LOCK_TIMEOUT)"
                    ) from None
                if not announced:
                    announce(f"waiting for the writer lock: the data directory is being written by {holder}")
                    announced = True
                time.sleep(poll)
        info = {"pid": os.getpid(), "command": command,
                "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_is_free(lock_path: Path) -> bool:
    """Whether no process holds the writer lock now (a CLI run holds it from start to end: a run recorded
    ``running`` while it is free was killed)."""
    if not lock_path.exists():
        return True
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)
