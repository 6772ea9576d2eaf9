"""Run folders: one writer at a time (an advisory lock), and no finished run replaced by accident.

The lock is `fcntl.flock` on `<folder>/.lock`: the kernel drops it when the process ends, however it
ends (SIGKILL included), so a killed run never leaves a stale lock behind. Where `fcntl` does not
exist (Windows) no lock is taken.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"


class RunDirError(RuntimeError):
    """A run folder that holds another run, or that another process is writing to."""

    exit_code = 2  # the command line chose the folder: a usage error, not a failed run


class RunLock:
    """An exclusive lock on a run folder, held from `acquire()` until `release()` or process exit."""

    def __init__(self, folder: os.PathLike):
        self.folder = Path(folder)
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise RunDirError naming the process that holds it."""
        if self._fd is not None or fcntl is None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(f"{self.folder} is in use by another run (pid {holder}); wait for it to end "
                              f"or choose another output folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race with a process about to lock it)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
