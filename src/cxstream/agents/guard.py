"""Every agent handles each record through one :class:`Guard`: a record whose handling raises costs that
record (the agent's ``failed`` callback dead-letters or logs it) and never the agent, up to the dead-letter
limit (:mod:`cxstream.domain.ingest.failure_limit`). At the limit the agent stops loudly: the record that
tripped it is handled like the others before it (dead-lettered or logged), an error is logged,
``cxstream_agent_stopped{agent}`` turns 1, ``/readyz`` answers 503 naming the agent and why, and the agent
takes no further record. Every later record stays on its topic, beyond the consumer group's committed offset,
and is processed once the cause is fixed and the worker restarted.

How it stops, given how Faust behaves: the agent acknowledges the record it holds and then waits without
asking its stream for the next one. Raising instead would make Faust's supervisor restart the agent at once
on the following records; waiting on an unacknowledged record would block every rebalance and the worker's
shutdown (Faust waits for all records taken by a stream to be acknowledged). Records fetched but not taken
are not acknowledged, so they are not committed; Faust stops fetching a partition whose stream buffer is
full, and the worker's other agents go on. A restarted agent (its actor is started again) waits before it
takes its first record: :meth:`Guard.hold` at the top of every agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cxstream.agents import stall
from cxstream.domain.ingest.failure_limit import FailureLimit, FailureLimitSpec, Tripped
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import AGENT_FAILURES, AGENT_STOPPED

log = get_logger(__name__)
T = TypeVar("T")


class Guard:
    def __init__(self, agent: str, spec: FailureLimitSpec) -> None:
        self.agent = agent
        self.limit = FailureLimit(spec)
        self._never = asyncio.Event()  # a stopped agent waits on it; nothing sets it (a restart starts afresh)
        AGENT_STOPPED.labels(agent=agent).set(0)

    @property
    def stopped(self) -> Tripped | None:
        return self.limit.tripped

    async def hold(self) -> None:
        """Wait for good when the agent was stopped (call before the agent takes its first record)."""
        if self.limit.tripped is not None:
            await self._never.wait()

    async def run(
        self,
        event: Any,
        item: T,
        handle: Callable[[T], Awaitable[None]],
        failed: Callable[[T, Exception], Awaitable[None]],
    ) -> None:
        """Handle one record (``item``: what was read from the Faust ``event``). When ``handle`` raises,
        ``failed`` takes the record (dead-letters or logs it); when that failure reaches the limit, the agent
        stops here, after acknowledging ``event``."""
        await self.hold()
        stall.watch.check()  # paused past the session timeout: exit before handling anything more
        try:
            await handle(item)
        except Exception as exc:
            AGENT_FAILURES.labels(agent=self.agent).inc()
            tripped = self.limit.failed(f"{type(exc).__name__}: {exc}")
            await failed(item, exc)
            if tripped is not None:
                AGENT_STOPPED.labels(agent=self.agent).set(1)
                log.error("agent_stopped", agent=self.agent, **tripped.to_json(), exc_info=exc)
                event.ack()  # so that rebalances and shutdown need not wait for it (see the module text)
                await self.hold()
        else:
            self.limit.succeeded()


class Guards:
    """The guards of one worker's agents, all under the same limit (``CXSTREAM_DLQ_*``)."""

    def __init__(self, spec: FailureLimitSpec) -> None:
        self.spec = spec
        self._guards: dict[str, Guard] = {}

    def of(self, agent: str) -> Guard:
        if agent not in self._guards:
            self._guards[agent] = Guard(agent, self.spec)
        return self._guards[agent]

    def stopped(self) -> dict[str, Tripped]:
        """The agents stopped by the limit, with why."""
        return {name: g.stopped for name, g in sorted(self._guards.items()) if g.stopped is not None}
