"""One run at a time writes a dataset file: an advisory lock (flock) on `.NAME.amlmon-lock` next to it.

Two pulls to the same --out share its parts folder and its temp file: the second would start the parts
over under the first, and both would write one temp file (the first deleting or renaming it under the
second). The lock file is deleted by the run that holds it; a killed run's (kill -9) is unlocked by the
kernel, and the next run takes it over."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from amlmon.errors import UsageError


class OutLock:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.with_name(f".{out.name}.amlmon-lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the lock, or exit 2 when another run holds it."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one run per --out is then the user's to keep
            return
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UsageError(
                    f"another amlmon is writing --out {str(self.out)!r} (it holds {self.path.name})",
                    hint="wait for it to end (then --resume continues it if it was interrupted), "
                    "or choose another --out",
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if self._same_file(fd):
                self._fd = fd
            else:  # its holder deleted it between our open and our lock: lock the new one
                os.close(fd)

    def _same_file(self, fd: int) -> bool:
        try:
            named, held = os.stat(self.path), os.fstat(fd)
        except FileNotFoundError:
            return False
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Delete the lock file (while still holding it, so no other run locks a file being deleted)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
