"""The one settings object: every knob is a ``CXSTREAM_*`` environment variable (or a ``.env`` entry).

Invalid values fail at start with the variable named (see :func:`load_settings`).
"""

from __future__ import annotations

import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, HttpUrl, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxstream.domain.ingest.failure_limit import FailureLimitSpec

ENV_PREFIX = "CXSTREAM_"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _project_dir(name: str) -> Path:
    """``schemas/`` or ``topologies/`` of the source checkout when there is one, else relative to the CWD."""
    candidate = _REPO_ROOT / name
    return candidate if candidate.is_dir() else Path(name)


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


Port = Annotated[int, Field(ge=0, le=65535)]
_ANY_ADDRESS = ("0.0.0.0", "::", "")  # a server bound to these answers on every address of the host
Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """cxstream configuration. Field ``x`` is read from ``CXSTREAM_X``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Kafka
    kafka_bootstrap: str = Field(
        "", description="host:port[,host:port...] of a Kafka cluster; empty starts the embedded broker"
    )
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_client_id: str = "cxstream"

    # Embedded broker (used only when kafka_bootstrap is empty)
    embedded_broker_port: Port = Field(0, description="0 picks a free port")

    # Schemas
    schema_registry_url: HttpUrl | None = Field(
        None, description="Confluent-compatible Schema Registry; unset uses the local catalog in schemas/"
    )
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None
    schema_dir: Path = Field(default_factory=lambda: _project_dir("schemas"))

    # Topology
    topology_dir: Path = Field(default_factory=lambda: _project_dir("topologies"))

    # Worker
    app_id: str = Field("cxstream", pattern=r"^[A-Za-z0-9._-]+$")
    store: Literal["memory://", "rocksdb://"] = "memory://"
    data_dir: Path = Path(".cxstream")
    web_host: str = "127.0.0.1"
    web_port: Port = 6066
    web_advertised_url: HttpUrl | None = Field(
        None,
        description="address the other workers reach this one at (they ask each other for the keys they hold); "
        "unset: http://<web_host>:<web_port>, or this host's name when web_host is 0.0.0.0 or ::",
    )
    broker_session_timeout: Seconds = Field(
        10.0, description="Consumer-group session timeout; a dead worker's partitions move after this"
    )
    broker_heartbeat_interval: Seconds = 1.0
    broker_rebalance_timeout: Seconds = 20.0
    consumer_fetch_wait: Seconds = Field(
        0.05,
        description="how long the broker may hold the worker's fetch when it has nothing new (Faust fixes "
        "1.5 s; a broker that does not answer a waiting fetch as soon as data arrives makes every hop wait for it)",
    )
    standby_replicas: int = Field(
        1, ge=0, le=3, description="copies of each table partition other workers keep warm for a fast failover"
    )

    # HTTP ingest (POST /ingest/{source})
    ingest_token: SecretStr | None = Field(
        None, description="bearer token for POST /ingest/{source}; unset disables it"
    )
    api_tokens: SecretStr | None = Field(
        None, description='war-room API tokens, JSON: [{"name", "role", "token", "regions"?, "teams"?}]'
    )
    session_key: SecretStr | None = Field(
        None,
        description="key (16+ characters) signing the page's session cookies, the same on every worker; "
        "unset: derived from CXSTREAM_API_TOKENS, or random per worker when only hashed tokens are configured",
    )
    auth_free_failures: int = Field(
        10, ge=1, description="wrong or missing tokens one address may send before each answer to it is delayed"
    )
    session_ttl: Seconds = Field(8 * 3600.0, description="how long a page session lasts, in seconds")
    ingest_max_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="largest accepted body")

    # Dead-letter limit: an agent whose handling keeps raising stops instead of draining a topic into cx.dlq
    dlq_max_consecutive: int = Field(100, ge=1, description="handling failures in a row that stop an agent")
    dlq_max_ratio: float = Field(
        0.5, gt=0, le=1, description="share of handling failures over the last CXSTREAM_DLQ_RATIO_WINDOW records "
        "that stops an agent"
    )  # fmt: skip
    dlq_ratio_window: int = Field(1000, ge=10, description="records the failure share is taken over")

    # Logs
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a terminal, JSON otherwise"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def failure_limit(self) -> FailureLimitSpec:
        return FailureLimitSpec(
            max_consecutive=self.dlq_max_consecutive, max_ratio=self.dlq_max_ratio, window=self.dlq_ratio_window
        )

    @property
    def local_url(self) -> str:
        """Where a client on this host (the CLI, the start-up banner) reaches the web server: 127.0.0.1 when it
        binds every address."""
        host = "127.0.0.1" if self.web_host in _ANY_ADDRESS else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def web_url(self) -> str:
        """Where the other workers reach this one's web server."""
        if self.web_advertised_url is not None:
            return str(self.web_advertised_url).rstrip("/")
        host = socket.getfqdn() if self.web_host in _ANY_ADDRESS else self.web_host
        return f"http://{host}:{self.web_port}"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        value = value.strip()
        for server in filter(None, (s.strip() for s in value.split(","))):
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        sasl = self.kafka_security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
        if sasl and not (self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                "kafka_security_protocol "
                f"{self.kafka_security_protocol} needs CXSTREAM_KAFKA_SASL_MECHANISM, "
                "CXSTREAM_KAFKA_SASL_USERNAME and CXSTREAM_KAFKA_SASL_PASSWORD"
            )
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{ENV_PREFIX}{name.upper()}: no such file: {path}")
        if self.broker_heartbeat_interval >= self.broker_session_timeout:
            raise ValueError("CXSTREAM_BROKER_HEARTBEAT_INTERVAL must be shorter than CXSTREAM_BROKER_SESSION_TIMEOUT")
        return self

    @property
    def embedded(self) -> bool:
        """True when no external cluster is configured and cxstream runs its own broker."""
        return not self.kafka_bootstrap

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return not sys.stderr.isatty()
        return self.log_format == "json"


class SettingsError(Exception):
    """Invalid configuration; the message names each offending variable."""


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line per offending variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            where = env_name(field) if field else "settings"
            got = err.get("input")
            secret = "password" in field
            shown = "" if secret or field == "" or isinstance(got, dict) else f" (got {got!r})"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}{shown}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
