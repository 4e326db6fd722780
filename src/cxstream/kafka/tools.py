"""Operator tools that read or write topics directly: sending a file's records, dead-letter inspection and
replay. Kafka only: what the records mean is the caller's (connectors, codecs)."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from cxstream.domain.base import Record, StoredValueError
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.dead_letter import DeadLetter
from cxstream.kafka import earliest
from cxstream.serde.avro import AvroCodec, DecodeError

REPLAY_HEADER = "cxstream-replay-of"
#: The source "topic" of a backfill's dead letters (``cxstream import --history``): a file, not a topic, so
#: ``dlq replay`` leaves them; fixing the file and importing it again is idempotent.
IMPORT_POSITION_PREFIX = "history-import."


class Progress:
    """A one-line progress bar on a terminal (redrawn at most every ``every_s``), a line per tenth otherwise;
    with the rate and an estimate of the time left."""

    def __init__(self, total: int, out: TextIO = sys.stderr, label: str = "records", every_s: float = 0.25) -> None:
        self.total, self.out, self.label = total, out, label
        self.done = 0
        self.started = time.monotonic()
        self._tty = out.isatty()
        self._next_tenth = 1
        self._every_s = every_s
        self._drawn = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._tty:
            if now - self._drawn < self._every_s and self.done < self.total:
                return
            self._drawn = now
            width = 30
            filled = min(width, int(width * self.done / max(self.total, 1)))
            bar = "#" * filled + "-" * (width - filled)
            print(f"\r[{bar}] {self.line(now)}", end="", file=self.out, flush=True)
        elif self.total and self.done * 10 >= self._next_tenth * self.total:
            self._next_tenth = self.done * 10 // self.total + 1
            print(self.line(now), file=self.out, flush=True)

    def line(self, now: float) -> str:
        rate = self.done / max(now - self.started, 1e-6)
        left = max(0, self.total - self.done) / rate if rate > 0 else 0.0
        eta = f", about {format_seconds(left)} left" if self.done < self.total else ""
        return f"{self.done:,}/{self.total:,} {self.label} ({rate:,.0f}/s{eta})"

    def close(self) -> None:
        if self._tty:
            print(file=self.out)


def format_seconds(seconds: float) -> str:
    """1 h 04 min, 3 min 20 s, 12 s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


async def send_all(
    client_options: dict[str, Any],
    topic: str,
    records: Iterable[tuple[bytes, bytes | None]],
    total: int,
    headers: list[tuple[str, bytes]],
    out: TextIO = sys.stderr,
) -> int:
    """Send ``(value, key)`` records to ``topic`` with ``headers``, acknowledged by every replica, showing
    progress against ``total``. Returns how many were sent."""
    progress = Progress(total, out)
    sent = 0
    producer = AIOKafkaProducer(**client_options, acks="all", linger_ms=20)
    await producer.start()
    try:
        pending = []
        for value, key in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
            progress.advance()
            if len(pending) >= 500:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        progress.close()
        await producer.stop()
    return sent


async def read_to_end(client_options: dict[str, Any], topic: str) -> AsyncIterator[Any]:
    """Every message of ``topic`` from the beginning up to its end when reading starts; no group.

    The end of a partition is the larger of the ListOffsets answer and the high watermark of the first fetch
    response: some Kafka-wire brokers (the embedded one among them) answer ListOffsets with the base offset
    of the last record batch plus one, which would cut off the rest of that batch.
    """
    consumer = await earliest.start(
        AIOKafkaConsumer(**client_options, enable_auto_commit=False, auto_offset_reset="earliest")
    )
    try:
        await consumer.topics()  # fetches the cluster metadata
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        settled: set[TopicPartition] = set()
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=2000)
            for tp in remaining - settled:
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    ends[tp] = max(ends[tp], highwater)
                    settled.add(tp)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        yield message
            for tp in list(remaining):
                if tp in settled and await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


@dataclass
class DeadLetterSummary:
    total: int = 0
    undecodable: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (source, stage, rule)
    example: dict[tuple[str, str, str], str] = field(default_factory=dict)
    first_seen: int | None = None
    last_seen: int | None = None


def summarize(letters: list[DeadLetter]) -> DeadLetterSummary:
    summary = DeadLetterSummary()
    for letter in letters:
        summary.total += 1
        summary.by_source[letter.source] += 1
        seen = letter.first_seen_ms
        summary.first_seen = seen if summary.first_seen is None else min(summary.first_seen, seen)
        summary.last_seen = seen if summary.last_seen is None else max(summary.last_seen, seen)
        for reason in letter.reasons:
            key = (letter.source, letter.stage, reason.rule_id)
            summary.by_reason[key] += 1
            summary.example.setdefault(key, reason.message)
    return summary


async def read_decoded(client_options: dict[str, Any], codec: AvroCodec, topic: str) -> tuple[list[Record], int]:
    """Every decoded record of ``topic`` in offset order per partition, and the count that did not decode."""
    records, bad = [], 0
    async for message in read_to_end(client_options, topic):
        try:
            records.append(codec.decode(message.value))
        except DecodeError:
            bad += 1
    return records, bad


async def read_dead_letters(
    client_options: dict[str, Any], codec: AvroCodec, topic: str = Topics.DLQ
) -> tuple[list[DeadLetter], int]:
    """Decoded dead letters and the count of messages on the topic that did not decode (or not as dead letters)."""
    records, bad = await read_decoded(client_options, codec, topic)
    letters = []
    for record in records:
        try:
            letters.append(DeadLetter.from_record(record))
        except (KeyError, StoredValueError):
            bad += 1
    return letters, bad


async def send_records(client_options: dict[str, Any], topic: str, items: list[tuple[bytes, bytes]]) -> None:
    """Produce (key, value) pairs and wait until the cluster has each one (acks=all)."""
    producer = AIOKafkaProducer(**client_options, acks="all")
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Original:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


async def read_original(client_options: dict[str, Any], letter: DeadLetter) -> Original | None:
    """The whole record a truncated dead letter stands for, read again at its source position; None when the
    topic no longer holds it (retention) or what it holds there is not that record (its digest differs)."""
    tp = TopicPartition(letter.position.topic, letter.position.partition)
    consumer = AIOKafkaConsumer(**client_options, enable_auto_commit=False, auto_offset_reset="none",
                                max_partition_fetch_bytes=256 * 1024 * 1024)  # fmt: skip
    await earliest.start(consumer)
    try:
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        if letter.position.offset < first:
            return None
        consumer.seek(tp, letter.position.offset)
        message = await asyncio.wait_for(consumer.getone(tp), 60)
    except (TimeoutError, KafkaError):
        return None
    finally:
        await consumer.stop()
    if message.offset != letter.position.offset or hashlib.sha256(message.value or b"").hexdigest() != (
        letter.original_sha256
    ):
        return None
    return Original(message.key, message.value or b"", [(k, v) for k, v in message.headers or ()])


@dataclass
class Replayed:
    """What a replay sent, per topic, and the truncated dead letters whose original could not be read again."""

    sent: Counter[str] = field(default_factory=Counter)
    unavailable: list[str] = field(default_factory=list)
    from_files: list[str] = field(default_factory=list)  # a backfill's: fix the file and import it again


async def replay(
    client_options: dict[str, Any],
    letters: list[DeadLetter],
    keep: Callable[[DeadLetter], bool],
    dry_run: bool = False,
) -> Replayed:
    """Re-submit the original bytes of the selected dead letters to their source topics, with their key and
    headers plus ``cxstream-replay-of``. Events are de-duplicated by id downstream, so replaying twice is safe.
    A dead letter that carries its original in part is replayed from the source topic, where the whole record
    still is (or listed as unavailable once retention removed it): never from the part."""
    chosen = [letter for letter in letters if keep(letter)]
    done = Replayed()
    done.from_files = [x.dead_letter_id for x in chosen if x.position.topic.startswith(IMPORT_POSITION_PREFIX)]
    chosen = [x for x in chosen if not x.position.topic.startswith(IMPORT_POSITION_PREFIX)]
    if dry_run or not chosen:
        done.sent.update(letter.position.topic for letter in chosen)
        return done
    producer = AIOKafkaProducer(**client_options, acks="all", max_request_size=256 * 1024 * 1024)
    await producer.start()
    try:
        for letter in chosen:
            if letter.truncated:
                original = await read_original(client_options, letter)
                if original is None:
                    done.unavailable.append(letter.dead_letter_id)
                    continue
            else:
                headers = list(letter.original_headers.items())
                original = Original(letter.original_key, letter.original_value, headers)
            headers = [(k, v) for k, v in original.headers if k != REPLAY_HEADER]
            headers.append((REPLAY_HEADER, letter.dead_letter_id.encode()))
            await producer.send_and_wait(letter.position.topic, original.value, key=original.key, headers=headers)
            done.sent[letter.position.topic] += 1
    finally:
        await producer.stop()
    return done
