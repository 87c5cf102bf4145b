"""The core's one inter-process lock: exclusive across processes, a notice while waiting, a timeout, and no
stale lock after the holder is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plexus.platform.locks import file_lock

HOLD = """
import sys, time
from pathlib import Path
from plexus.platform.locks import file_lock
with file_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_waits_says_so_and_times_out(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    proc = _holder(lock, 30)
    try:
        notices: list[float] = []
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="gave up"):
            with file_lock(lock, notice_after=0.3, notice=notices.append, timeout=1.0,
                           on_timeout=lambda w: RuntimeError(f"gave up after {w:.1f}")):
                pytest.fail("the lock was taken while another process held it")
        assert time.monotonic() - t0 >= 1.0
        assert len(notices) == 1 and notices[0] >= 0.3
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_is_free_once_the_holder_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    proc = _holder(lock, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with file_lock(lock, timeout=5.0):
        assert lock.exists()


def test_the_lock_serialises_holders(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    proc = _holder(lock, 1.0)
    t0 = time.monotonic()
    with file_lock(lock, timeout=30.0):
        waited = time.monotonic() - t0
    assert waited > 0.5  # the holder kept it for its 1 s sleep
    proc.wait()
