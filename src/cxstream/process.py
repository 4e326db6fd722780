"""Child processes that never outlive cxstream, and the supervisor that keeps the worker running."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the kernel SIGKILLs the child when its parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent was already gone before prctl took effect
            os._exit(1)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def spawn_child(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, tied to this process's life."""
    return subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def stop_child(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the child's process group; SIGKILL it if it lingers."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError):  # reap anything left in its group
        os.killpg(proc.pid, signal.SIGKILL)


# --- the worker's supervisor -------------------------------------------------------------------------------
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a worker that ran this long before exiting starts again after the first delay


@dataclass
class Backoff:
    """Delays between restarts: doubling from ``first`` up to ``most``; back to ``first`` after a run of at
    least ``stable`` seconds."""

    first: float = BACKOFF_FIRST_S
    most: float = BACKOFF_MAX_S
    stable: float = STABLE_S
    _next: float = 0.0

    def after(self, ran_s: float) -> float:
        if ran_s >= self.stable or self._next == 0.0:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.most)
        return delay


def exit_code(status: int) -> int:
    """A ``waitpid`` status as a shell would report it (128 + signal for a killed process)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def supervise(
    child: Callable[[int], None],
    *,
    on_exit: Callable[[int, float, float], None],
    backoff: Backoff | None = None,
) -> int:
    """Run ``child(restarts)`` in a forked process and start it again whenever it exits, until this process is
    asked to stop (SIGTERM, SIGINT), which is passed on to the child once; returns the child's last exit code.
    ``on_exit(code, ran_s, delay_s)`` is told of each exit that leads to a restart.

    The child runs in its own process group (a terminal's Ctrl-C reaches this process only, which then stops
    the child once) and dies with this process, even by SIGKILL."""
    backoff = backoff or Backoff()
    stopping = threading.Event()
    pid = 0

    def stop(signum: int, frame: object) -> None:
        stopping.set()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    restarts = 0
    try:
        while True:
            started = time.monotonic()
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    for sig in previous:
                        signal.signal(sig, signal.SIG_DFL)
                    os.setpgid(0, 0)
                    die_with_parent()
                    child(restarts)
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                finally:
                    with contextlib.suppress(Exception):
                        sys.stdout.flush()
                        sys.stderr.flush()
                    os._exit(code)
            if stopping.is_set():  # asked to stop while the child was being forked
                stop(signal.SIGTERM, None)
            _, status = os.waitpid(pid, 0)
            code = exit_code(status)
            pid = 0
            if stopping.is_set():
                return code
            ran = time.monotonic() - started
            delay = backoff.after(ran)
            on_exit(code, ran, delay)
            if stopping.wait(delay):
                return code
            restarts += 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
