from __future__ import annotations

import socket
from typing import Any

import pytest

from cxstream.cli import main
from cxstream.settings import Settings, SettingsError, load_settings


@pytest.mark.usefixtures("clean_env")
class TestSettings:
    def test_defaults_start_the_embedded_broker(self) -> None:
        settings = load_settings()
        assert settings.embedded
        assert settings.web_port == 6066
        assert settings.store == "memory://"
        assert (settings.topology_dir / "topics.yaml").is_file()
        assert any(settings.schema_dir.glob("*.avsc"))

    def test_external_cluster_is_one_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CXSTREAM_KAFKA_BOOTSTRAP", "kafka-1:9092, kafka-2:9092")
        settings = load_settings()
        assert not settings.embedded
        assert settings.kafka_bootstrap == "kafka-1:9092, kafka-2:9092"

    def test_other_workers_reach_this_one_at_its_advertised_address(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CXSTREAM_WEB_PORT", "6070")
        assert load_settings().web_url == "http://127.0.0.1:6070"
        monkeypatch.setenv("CXSTREAM_WEB_HOST", "0.0.0.0")  # bound to every interface: named by the host's name
        assert load_settings().web_url == f"http://{socket.getfqdn()}:6070"
        monkeypatch.setenv("CXSTREAM_WEB_ADVERTISED_URL", "http://cxstream-worker-1.cxstream-workers:6066/")
        assert load_settings().web_url == "http://cxstream-worker-1.cxstream-workers:6066"

    def test_a_client_on_the_host_reaches_the_web_server_on_loopback_when_it_binds_every_address(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CXSTREAM_WEB_PORT", "6070")
        assert load_settings().local_url == "http://127.0.0.1:6070"
        for any_address in ("0.0.0.0", "::"):
            monkeypatch.setenv("CXSTREAM_WEB_HOST", any_address)
            assert load_settings().local_url == "http://127.0.0.1:6070"  # the same rule for the CLI and the banner
        monkeypatch.setenv("CXSTREAM_WEB_HOST", "10.1.2.3")
        assert load_settings().local_url == "http://10.1.2.3:6070"

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            ("CXSTREAM_WEB_PORT", "http", "CXSTREAM_WEB_PORT: Input should be a valid integer"),
            ("CXSTREAM_WEB_PORT", "70000", "CXSTREAM_WEB_PORT: Input should be less than or equal to 65535"),
            ("CXSTREAM_KAFKA_BOOTSTRAP", "kafka-1", "CXSTREAM_KAFKA_BOOTSTRAP: 'kafka-1' is not host:port"),
            ("CXSTREAM_STORE", "redis://", "CXSTREAM_STORE: Input should be 'memory://' or 'rocksdb://'"),
            ("CXSTREAM_LOG_FORMAT", "xml", "CXSTREAM_LOG_FORMAT"),
            ("CXSTREAM_KAFKA_SECURITY_PROTOCOL", "TLS", "CXSTREAM_KAFKA_SECURITY_PROTOCOL"),
            ("CXSTREAM_SCHEMA_REGISTRY_URL", "not a url", "CXSTREAM_SCHEMA_REGISTRY_URL"),
            ("CXSTREAM_BROKER_SESSION_TIMEOUT", "0", "CXSTREAM_BROKER_SESSION_TIMEOUT"),
            ("CXSTREAM_WEB_ADVERTISED_URL", "worker-1:6066", "CXSTREAM_WEB_ADVERTISED_URL"),
        ],
    )
    def test_invalid_values_name_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
    ) -> None:
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert expected in str(caught.value)

    def test_sasl_needs_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CXSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        with pytest.raises(SettingsError, match="CXSTREAM_KAFKA_SASL_MECHANISM"):
            load_settings()

    def test_sasl_options_reach_the_kafka_clients(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from cxstream.kafka.connection import aiokafka_options, faust_credentials

        monkeypatch.setenv("CXSTREAM_KAFKA_BOOTSTRAP", "kafka:9093")
        monkeypatch.setenv("CXSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
        monkeypatch.setenv("CXSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        monkeypatch.setenv("CXSTREAM_KAFKA_SASL_USERNAME", "cx")
        monkeypatch.setenv("CXSTREAM_KAFKA_SASL_PASSWORD", "s3cret")
        settings = load_settings()
        options = aiokafka_options(settings, settings.kafka_bootstrap)
        assert options["security_protocol"] == "SASL_PLAINTEXT"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert options["sasl_plain_password"] == "s3cret"
        credentials = faust_credentials(settings)
        assert credentials.username == "cx"
        assert credentials.mechanism.value == "SCRAM-SHA-512"
        assert "s3cret" not in repr(settings)

    def test_missing_ssl_file_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CXSTREAM_KAFKA_SECURITY_PROTOCOL", "SSL")
        monkeypatch.setenv("CXSTREAM_KAFKA_SSL_CAFILE", "/nonexistent/ca.pem")
        with pytest.raises(SettingsError, match="CXSTREAM_KAFKA_SSL_CAFILE: no such file"):
            load_settings()

    def test_cli_exits_2_naming_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("CXSTREAM_WEB_PORT", "abc")
        assert main(["config"]) == 2
        assert "CXSTREAM_WEB_PORT" in capsys.readouterr().err

    def test_cli_config_masks_secrets(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("CXSTREAM_SCHEMA_REGISTRY_URL", "http://registry:8081")
        monkeypatch.setenv("CXSTREAM_SCHEMA_REGISTRY_USERNAME", "cx")
        monkeypatch.setenv("CXSTREAM_SCHEMA_REGISTRY_PASSWORD", "hunter2")
        assert main(["config"]) == 0
        out = capsys.readouterr().out
        assert "CXSTREAM_SCHEMA_REGISTRY_URL" in out
        assert "hunter2" not in out

    def test_cli_config_says_what_is_unset_and_that_the_files_validated(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["config"]) == 0
        out = capsys.readouterr().out
        assert "None" not in out and "(not set)" in out  # e.g. CXSTREAM_SCHEMA_REGISTRY_URL
        assert "topologies validated" in out and "schemas validated" in out


def test_logs_carry_no_personal_data(capsys: Any) -> None:
    import json as _json
    import logging as _logging

    from cxstream.observability.logging import configure_logging, get_logger, pseudonym

    configure_logging(Settings(log_format="json"))
    try:
        get_logger("t").info("case", case_id="case-1", customer_id="C-104882", verbatim="I am cancelling!", n=3)
    finally:
        _logging.getLogger().handlers.clear()
    lines = [_json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    first = next(line for line in lines if line["event"] == "case")
    assert first["customer_id"] == pseudonym("C-104882") != "C-104882" and first["case_id"] == "case-1"
    assert "verbatim" not in first and first["verbatim_chars"] == 16 and first["n"] == 3
    assert "C-104882" not in str(lines) and "cancelling" not in str(lines)


def test_a_field_named_like_the_loggers_own_keeps_its_value(capsys: Any) -> None:
    """An escalation's ladder level must not read "info": a caller's ``level`` is kept as ``level_field``."""
    import json as _json
    import logging as _logging

    from cxstream.observability.logging import configure_logging, get_logger

    configure_logging(Settings(log_format="json"))
    try:
        get_logger("t").info("escalation", level=2, ladder_level=1, logger="mine")
    finally:
        _logging.getLogger().handlers.clear()
    lines = [_json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    line = next(line for line in lines if line["event"] == "escalation")
    assert line["level"] == "info" and line["level_field"] == 2 and line["ladder_level"] == 1
    assert line["logger"] == "t" and line["logger_field"] == "mine"
