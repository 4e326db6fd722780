from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cxstream.kafka.embedded import EmbeddedBroker, EmbeddedBrokerError, free_port
from cxstream.kafka.probe import ProbeError, metadata_request
from tests.integration.procs import ROOT, alive, children, eventually, spawn, stop

pytestmark = pytest.mark.integration


def test_start_answers_metadata_and_stop_leaves_nothing() -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    pid = broker.pid
    assert pid is not None and alive(pid)
    assert os.getpgid(pid) == pid  # its own process group
    host, port = bootstrap.split(":")
    assert host == "127.0.0.1"
    assert metadata_request(host, int(port))[0].port == int(port)
    broker.close()
    assert not alive(pid)
    with pytest.raises(ProbeError):
        metadata_request(host, int(port), timeout=0.5)


def test_a_kafka_client_produces_and_consumes() -> None:
    async def round_trip(bootstrap: str) -> bytes:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("probe", b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("probe", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        return bytes(message.value)

    with EmbeddedBroker() as broker:
        assert asyncio.run(round_trip(broker.bootstrap)) == b"hello"


def test_busy_port_fails_with_the_broker_output() -> None:
    with EmbeddedBroker() as first, pytest.raises(EmbeddedBrokerError, match=f"port {first.port}"):
        EmbeddedBroker(first.port, startup_timeout=10).start()


def test_broker_dies_with_its_parent_even_on_sigkill() -> None:
    script = (
        "import time\nfrom cxstream.kafka.embedded import EmbeddedBroker\n"
        "b = EmbeddedBroker(); b.start(); print(b.pid, flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    assert parent.stdout is not None
    broker_pid = int(parent.stdout.readline())
    assert alive(broker_pid)
    parent.kill()
    parent.wait()
    eventually(lambda: not alive(broker_pid), 10, "the orphaned broker to die")


def test_cli_prints_bootstrap_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn(["broker", "--port", str(port)], {}, tmp_path / "broker.log")
    eventually(lambda: f"127.0.0.1:{port}" in (tmp_path / "broker.log").read_text(), 30, "the bootstrap line")
    broker_pids = children(proc.pid)
    assert broker_pids and all(alive(p) for p in broker_pids)
    assert metadata_request("127.0.0.1", port)
    assert stop(proc, signal.SIGTERM) == 0
    assert not any(alive(p) for p in broker_pids)
    assert (tmp_path / "broker.log").read_text().splitlines()[0] == f"127.0.0.1:{port}"
