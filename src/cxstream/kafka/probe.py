"""A minimal, dependency-free Kafka Metadata request, used to tell when a broker really answers.

Metadata v4 is the oldest version every supported broker still serves (Kafka 4 dropped v0-v3).
Plain TCP only: for SASL/SSL clusters use the admin client instead.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_METADATA_API_KEY = 3
_METADATA_VERSION = 4
_CORRELATION_ID = 0x0C05


@dataclass(frozen=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int


class ProbeError(Exception):
    """The broker did not answer a Metadata request (connection refused, timeout, garbage)."""


def _encode_request(client_id: str) -> bytes:
    cid = client_id.encode()
    header = struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, _CORRELATION_ID, len(cid)) + cid
    body = struct.pack(">i?", -1, False)  # all topics, no auto-creation
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProbeError("connection closed before a full response")
        chunks += chunk
    return bytes(chunks)


def _decode_brokers(body: bytes) -> list[BrokerInfo]:
    correlation_id, _throttle, count = struct.unpack_from(">iii", body, 0)
    if correlation_id != _CORRELATION_ID:
        raise ProbeError(f"unexpected correlation id {correlation_id}")
    offset, brokers = 12, []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", body, offset)
        offset += 6
        host = body[offset : offset + host_len].decode()
        offset += host_len
        (port, rack_len) = struct.unpack_from(">ih", body, offset)
        offset += 6 + max(rack_len, 0)
        brokers.append(BrokerInfo(node_id, host, port))
    return brokers


def metadata_request(host: str, port: int, timeout: float = 1.0) -> list[BrokerInfo]:
    """Send one Metadata request and return the brokers the cluster advertises."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_encode_request("cxstream-probe"))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            if not 0 < size < 64 * 1024 * 1024:
                raise ProbeError(f"implausible response size {size}")
            brokers = _decode_brokers(_recv_exact(sock, size))
    except (OSError, struct.error, UnicodeDecodeError) as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from exc
    if not brokers:
        raise ProbeError(f"{host}:{port}: metadata lists no broker")
    return brokers
