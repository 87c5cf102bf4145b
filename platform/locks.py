"""One inter-process lock for the whole core: an exclusive ``flock`` on a lock file, polled so that a waiting
process can say why it is idle and can give up after a timeout. Closing the descriptor releases the lock, also
when the process dies, so a crashed holder never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["file_lock"]

_POLL_S = 0.1


@contextlib.contextmanager
def file_lock(path: Path, *, notice_after: float = 2.0, notice: Callable[[float], None] | None = None,
              timeout: float | None = None, on_timeout: Callable[[float], Exception] | None = None) -> Iterator[None]:
    """Hold ``path`` (created with mode 0644 if missing) exclusively while the block runs.

    Args:
        path: the lock file; its folder must exist.
        notice_after: seconds of waiting after which ``notice(waited)`` is called, once.
        notice: tells the user why the process waits (None: silent).
        timeout: give up after this many seconds (None: wait as long as it takes).
        on_timeout: the exception raised on timeout, from the seconds waited (default ``TimeoutError``).

    Raises:
        OSError: the lock file cannot be created or opened.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if timeout is not None and waited >= timeout:
                    raise (on_timeout(waited) if on_timeout else TimeoutError(f"{path}: locked for {waited:.0f} s"))
                if not told and notice is not None and waited >= notice_after:
                    notice(waited)
                    told = True
                time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)
