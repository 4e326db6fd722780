"""A worker that was paused long enough to lose its partitions stops before it writes anything.

A process stopped (SIGSTOP, a frozen VM, a host under swap) sends no heartbeats; after the session timeout
the group gives its partitions to another worker. When it resumes it does not know that yet: Faust goes on
processing the records it had fetched and would write table values and publish breaches and escalations
from a stale copy (see :mod:`cxstream.agents.fencing`). So a small thread notes the time every
``TICK_S``; the thread runs when the process runs, like the consumer's heartbeat thread, whatever the event
loop is busy with. Every table write and every record an agent handles first asks :meth:`Watch.check`: when
the thread saw a gap longer than the limit (the session timeout less one heartbeat interval: the group may
have dropped this member), or has not ticked for that long, the worker exits at once with
:data:`EXIT_STALLED`, before the write. Its supervisor (``cxstream worker`` / ``cxstream run``) starts it
again; the new process joins the group afresh and recovers its tables (fenced) like any restarted worker.
Records it had handled but not committed are handled again by whoever owns them now.

An exit rather than a rejoin inside the process: a rejoin would have to drop every fetched record, every
buffered send and every in-memory table value of partitions it may no longer own; a new process has none.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from cxstream.observability.logging import get_logger

log = get_logger(__name__)

EXIT_STALLED = 75  # EX_TEMPFAIL: try again (the supervisor restarts the worker)
TICK_S = 0.25


class Watch:
    def __init__(self) -> None:
        self.limit_s: float | None = None  # None: not watching (tests, commands that run no worker)
        self._last = time.monotonic()
        self._gap_s: float | None = None  # the first gap past the limit the thread saw
        self._thread: threading.Thread | None = None

    def start(self, limit_s: float) -> None:
        """Watch this process: ``limit_s`` is how long it may stand still before it must assume it lost its
        partitions."""
        self.limit_s = limit_s
        self._last = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cxstream-stall-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(TICK_S)
            now = time.monotonic()
            gap = now - self._last
            if self.limit_s is not None and gap > self.limit_s and self._gap_s is None:
                self._gap_s = gap  # sticky: seen before the tick below hides it
            self._last = now

    def stalled_for(self) -> float | None:
        """The pause past the limit this process went through, if any."""
        if self.limit_s is None:
            return None
        if self._gap_s is not None:
            return self._gap_s
        gap = time.monotonic() - self._last
        return gap if gap > self.limit_s else None

    def check(self) -> None:
        """Exit the process when it was paused past the limit (it may have been fenced out of its group)."""
        gap = self.stalled_for()
        if gap is None:
            return
        log.critical(
            "worker_paused_past_session_timeout", paused_s=round(gap, 1), limit_s=self.limit_s,
            detail="its partitions may belong to another worker now: exiting before any write; "
            "the supervisor starts it again",
        )  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_STALLED)


watch = Watch()
