"""Errors of the machine, not of the data: a full disk, a read-only or foreign-owned data directory, a DuckDB file
locked by another process (an analyst's read-write connection). Each gets a one-line explanation naming the file
and what to do, instead of a traceback; the run that met it is recorded as failed when the history can be written.
"""

from __future__ import annotations

import errno
import re
import sqlite3

_DUCKDB_LOCK = re.compile(r'Could not set lock on file "([^"]+)"', re.IGNORECASE)
_PID = re.compile(r"PID (\d+)")


def explain(err: BaseException, *, data_dir=None) -> str | None:
    """One line for an error of the machine (disk full, read-only, permission, a DuckDB lock held elsewhere);
    None for anything else (a bug or a data problem: its traceback is wanted)."""
    text = str(err)
    where = f" (data directory {data_dir})" if data_dir else ""
    match = _DUCKDB_LOCK.search(text)
    if match:
        pid = _PID.search(text)
        holder = f"process {pid.group(1)}" if pid else "another process"
        return (f"{holder} holds DuckDB's lock on {match.group(1)}: a connection opened read-write (an analyst's "
                f"notebook, a BI tool, a DuckDB shell)? Close it, or open the file with read_only=True, then re-run; "
                f"nothing was published")
    if isinstance(err, OSError) and err.errno is not None:
        name = f" {err.filename}" if getattr(err, "filename", None) else where
        if err.errno == errno.ENOSPC or err.errno == errno.EDQUOT:
            return (f"no space left on the device{name}{where if name != where else ''}: free some space "
                    f"(df -h), then re-run; nothing was published and nothing already loaded was lost")
        if err.errno == errno.EROFS:
            return (f"read-only file system:{name} cannot be written{where if name != where else ''}: the data "
                    f"directory must be on a writable disk (OBSERVATOIRE_DATA_DIR); nothing was published")
        if err.errno in (errno.EACCES, errno.EPERM):
            return (f"permission denied:{name} cannot be written by this user{where if name != where else ''}: "
                    f"give the user write access to the data directory (or run as its owner); nothing was "
                    f"published")
    if isinstance(err, sqlite3.OperationalError):
        low = text.lower()
        if "disk is full" in low or "database or disk is full" in low:
            return f"no space left for the run history{where}: free some space (df -h), then re-run"
        if "readonly" in low or "read-only" in low:
            return f"the run history cannot be written{where}: the data directory is read-only for this user"
    low = text.lower()
    if "no space left on device" in low or "disk is full" in low:
        return f"no space left on the device{where}: free some space (df -h), then re-run; nothing was published"
    if "read-only file system" in low:
        return f"read-only file system{where}: the data directory must be on a writable disk; nothing was published"
    return None
