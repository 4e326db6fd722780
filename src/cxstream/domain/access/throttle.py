"""Slowing down guessing: each client (an address) that keeps sending wrong credentials waits longer for every
answer, up to a ceiling, until it sends a right one or stays quiet for a while. Pure: the web layer asks how
long to wait and tells what happened."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last_ms: int


class FailedLogins:
    """``free`` wrong credentials are answered at once; after that each request waits ``base_ms``, doubled per
    further failure, at most ``max_ms``. A client's count is forgotten ``forget_ms`` after its last failure or at
    its first success; at most ``clients`` are remembered (the longest quiet are forgotten first)."""

    def __init__(
        self, *, free: int = 5, base_ms: int = 250, max_ms: int = 5_000, forget_ms: int = 600_000, clients: int = 10_000
    ) -> None:
        self.free, self.base_ms, self.max_ms, self.forget_ms, self.clients = free, base_ms, max_ms, forget_ms, clients
        self._seen: OrderedDict[str, _Record] = OrderedDict()

    def delay_ms(self, client: str, now_ms: int) -> int:
        record = self._seen.get(client)
        if record is None:
            return 0
        if now_ms - record.last_ms > self.forget_ms:
            del self._seen[client]
            return 0
        over = record.failures - self.free
        return 0 if over <= 0 else min(self.max_ms, self.base_ms * 2 ** min(over - 1, 20))

    def failed(self, client: str, now_ms: int) -> None:
        record = self._seen.pop(client, None)
        failures = 1 if record is None or now_ms - record.last_ms > self.forget_ms else record.failures + 1
        self._seen[client] = _Record(failures, now_ms)
        while len(self._seen) > self.clients:
            self._seen.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._seen.pop(client, None)
