"""Reading cxstream's topics the way a system that is not cxstream would: librdkafka (the engine of kcat and
of confluent-kafka) for Kafka, the Apache ``avro`` reference library with the published ``.avsc`` for Avro.
Nothing here imports cxstream."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
from confluent_kafka import Consumer, TopicPartition

SINGLE_OBJECT_MAGIC = b"\xc3\x01"


def consume_all(bootstrap: str, topic: str, idle_polls: int = 3) -> list[Any]:
    """Every message of ``topic`` from offset 0, until ``idle_polls`` one-second polls bring nothing."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "foreign-reader", "enable.auto.commit": False, "log_level": 3}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages, idle = [], 0
        while idle < idle_polls:
            message = consumer.poll(1.0)
            if message is None:
                idle += 1
            elif message.error():
                raise RuntimeError(f"{topic}: {message.error()}")
            else:
                messages.append(message)
        return messages
    finally:
        consumer.close()


class SingleObjectReader:
    """Avro single-object encoding (``C3 01``, 8-byte schema fingerprint, body) with one reader schema."""

    def __init__(self, schema_file: Path) -> None:
        self.schema = avro.schema.parse(schema_file.read_text())
        self.reader = avro.io.DatumReader(self.schema)

    def decode(self, value: bytes) -> dict[str, Any]:
        if value[:2] != SINGLE_OBJECT_MAGIC:
            raise ValueError(f"not Avro single-object encoding: {value[:4]!r}")
        return dict(self.reader.read(avro.io.BinaryDecoder(io.BytesIO(value[10:]))))
