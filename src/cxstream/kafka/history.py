"""The history topic from outside a worker: read it whole into an index (the CLI), and write facts and dead
letters of a backfill."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from cxstream.domain.base import Record
from cxstream.domain.catalog import Topics
from cxstream.domain.history.facts import HistoryClosed, HistoryEntry, HistoryFact, entry_from_record
from cxstream.domain.history.index import HistoryIndex
from cxstream.kafka.tools import read_to_end
from cxstream.serde.avro import AvroCodec, DecodeError


def encode_entry(codec: AvroCodec, entry: HistoryEntry | None) -> bytes | None:
    """A history record's value; None (a tombstone) for None."""
    return None if entry is None else codec.encode(entry.to_record())


def decode_entry(codec: AvroCodec, value: bytes | None) -> HistoryEntry | None:
    """Raises DecodeError or ValueError on a value that is not a history record."""
    return None if value is None else entry_from_record(codec.decode(value))


async def read_history(client_options: dict[str, Any], codec: AvroCodec) -> tuple[HistoryIndex, int]:
    """The whole history topic as an index, and how many records did not decode."""
    index = HistoryIndex()
    undecodable = 0
    async for message in read_to_end(client_options, Topics.HISTORY):
        if message.key is None:
            undecodable += 1
            continue
        try:
            entry = decode_entry(codec, message.value)
        except (DecodeError, ValueError, KeyError):
            undecodable += 1
            continue
        index.apply(message.key.decode(), entry)
    return index, undecodable


class BackfillWriter:
    """Writes history facts and dead letters, acknowledged by every replica, in batches."""

    def __init__(self, client_options: dict[str, Any], history: AvroCodec, dead_letters: AvroCodec) -> None:
        self.producer = AIOKafkaProducer(**client_options, acks="all", linger_ms=50, max_request_size=20 * 2**20)
        self.history = history
        self.dead_letters = dead_letters
        self._pending: list[Any] = []

    async def __aenter__(self) -> BackfillWriter:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.flush()
        finally:
            await self.producer.stop()

    async def facts(self, facts: Iterable[HistoryFact]) -> int:
        n = 0
        for fact in facts:
            await self._send(Topics.HISTORY, fact.key.encode().encode(), self.history.encode(fact.to_record()))
            n += 1
        return n

    async def closure(self, closure: HistoryClosed) -> None:
        await self._send(Topics.HISTORY, closure.key().encode(), self.history.encode(closure.to_record()))

    async def dead_letter(self, record: Record, key: bytes | None) -> None:
        await self._send(Topics.DLQ, key, self.dead_letters.encode(record))

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._pending.append(await self.producer.send(topic, value, key=key))
        if len(self._pending) >= 2000:
            await self.flush()

    async def flush(self) -> None:
        for future in self._pending:
            await future
        self._pending.clear()
