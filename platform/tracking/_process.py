"""Which process a run belongs to: tags that let ``plexus runs gc`` tell a dead run from a live one."""

from __future__ import annotations

import os
import socket

__all__ = ["process_alive", "process_start", "process_tags"]


def process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (``/proc``), '' when unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_tags() -> dict[str, str]:
    """``plexus.host``, ``plexus.pid`` and (where ``/proc`` exists) ``plexus.pid_start`` of this process."""
    pid = os.getpid()
    tags = {"plexus.host": socket.gethostname(), "plexus.pid": str(pid)}
    start = process_start(pid)
    if start:
        tags["plexus.pid_start"] = start
    return tags


def process_alive(pid: int, start: str = "") -> bool:
    """Whether process ``pid`` of this host runs, and is the one that started at ``start`` (when known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    now = process_start(pid)
    return not (start and now and now != start)  # same id, another process: the id was reused
