"""PID files guarding long background jobs (training queues, DFT queues): a job is restarted
from its PID file, never by matching process names.

    with pid_lock(out / "queue.pid"):      # SystemExit if the recorded process still runs
        ...                                # the file holds this process's PID until the end
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (also when owned by another user)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(pid_file) -> int | None:
    """The PID recorded in ``pid_file`` if that process still runs, else None."""
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


@contextmanager
def pid_lock(pid_file, what: str = "a queue"):
    """Hold ``pid_file`` for this process; SystemExit naming the other PID if one runs."""
    pid_file = Path(pid_file)
    other = running_pid(pid_file)
    if other is not None and other != os.getpid():
        raise SystemExit(f"{what} already runs (PID {other}, {pid_file})")
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        if running_pid(pid_file) == os.getpid():
            pid_file.unlink()
