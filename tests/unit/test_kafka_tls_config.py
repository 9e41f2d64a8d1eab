"""The stack's certificates, secure.env and the hub's TLS client settings (no broker)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from dispatch.runtime.credentials import faust_credentials
from hub.core.errors import ConfigError
from hub.core.kafka.client import client_options
from hub.core.kafka.tls import PLAINTEXT_SASL
from hub.core.settings import HubSettings, KafkaSecuritySettings, KafkaSettings
from hub.dev.stack import certs
from hub.dev.stack.secure_env import SecureIdentity, read_env, resolve_identity, write_env
from hub.dev.stack.tls import TlsKafkaStack, runs_secure


def test_certificates_for_local_hosts(tmp_path: Path) -> None:
    files = certs.ensure_certificates(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    chain = x509.load_pem_x509_certificates(files.cert_file.read_bytes())
    leaf = chain[0]
    assert chain[1] == ca  # the broker presents its chain
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for private in (files.ca_key_file, files.key_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        key = serialization.load_pem_private_key(private.read_bytes(), None)  # unencrypted
        assert key is not None
    # Python's own verifier accepts the chain for 127.0.0.1 and localhost
    ctx = ssl.create_default_context(cafile=str(files.ca_file))
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_certificates_are_reused_and_reissued_when_needed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "tls"
    first = certs.ensure_certificates(folder)
    ca_pem, leaf_pem = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = certs.ensure_certificates(folder)
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes()) == (ca_pem, leaf_pem)
    # a new host: the broker certificate is reissued by the same CA (actors keep trusting)
    certs.ensure_certificates(folder, ("127.0.0.1", "localhost", "kafka.local"))
    assert first.ca_file.read_bytes() == ca_pem
    assert first.cert_file.read_bytes() != leaf_pem
    # a certificate near its end is reissued at the next call
    monkeypatch.setattr(certs, "BROKER_DAYS", 10)
    certs.ensure_certificates(folder, ("127.0.0.1", "localhost", "other.local"))
    short = x509.load_pem_x509_certificates(first.cert_file.read_bytes())[0]
    assert short.not_valid_after_utc - dt.datetime.now(dt.UTC) < certs.RENEW_BEFORE
    monkeypatch.undo()
    certs.ensure_certificates(folder, ("127.0.0.1", "localhost", "other.local"))
    renewed = x509.load_pem_x509_certificates(first.cert_file.read_bytes())[0]
    assert renewed.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=800)
    assert first.ca_file.read_bytes() == ca_pem
    first.cert_file.write_text("garbage")
    with pytest.raises(ConfigError, match="delete the folder"):
        certs.ensure_certificates(folder)


def test_broker_properties_tls(tmp_path: Path) -> None:
    stack = TlsKafkaStack(home=tmp_path, port=40001, controller_port=40002, password="pw")
    stack._write_configs()
    text = stack.config_file.read_text()
    assert runs_secure(stack.config_file)
    assert "listeners=SASL_SSL://127.0.0.1:40001,CONTROLLER://127.0.0.1:40002" in text
    assert "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL" in text
    assert "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config" in text
    assert "PLAINTEXT://127.0.0.1:40001" not in text.replace("SASL_", "")  # no plain port
    assert f"ssl.truststore.location={stack.ca_file}" in text
    assert "ssl.keystore.key=-----BEGIN PRIVATE KEY-----\\n" in text  # one escaped line
    assert stat.S_IMODE(stack.config_file.stat().st_mode) == 0o600
    assert stack.data_dir.name == "data-secure"


def _settings(**security: object) -> HubSettings:
    return HubSettings(kafka=KafkaSettings(sasl_username="hub", sasl_password=SecretStr("p")),
                       kafka_security=KafkaSecuritySettings(**security))  # type: ignore[arg-type]


def test_client_options_tls(tmp_path: Path) -> None:
    files = certs.ensure_certificates(tmp_path / "tls")
    opts = client_options(_settings(ssl_cafile=str(files.ca_file)))
    assert opts["security_protocol"] == "SASL_SSL"
    ctx = opts["ssl_context"]
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    # only the configured CA is trusted, not the system's
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName",
                                                            "Passerelle local CA"),),)]
    creds = faust_credentials(_settings(ssl_cafile=str(files.ca_file)))
    assert creds.protocol.value == "SASL_SSL" and creds.ssl_context is not None
    plain = _settings(allow_sasl_plaintext=True)  # SASL without TLS: only when allowed
    assert client_options(plain)["security_protocol"] == "SASL_PLAINTEXT"
    no_sasl = HubSettings(kafka_security=KafkaSecuritySettings(ssl_cafile=str(files.ca_file)))
    assert client_options(no_sasl)["security_protocol"] == "SSL"
    assert faust_credentials(no_sasl).protocol.value == "SSL"
    assert client_options(HubSettings())["security_protocol"] == "PLAINTEXT"
    (tmp_path / "bad.pem").write_text("not a certificate")
    for bad in (tmp_path / "missing.pem", tmp_path / "bad.pem"):
        with pytest.raises(ConfigError, match="HUB_KAFKA_SECURITY__SSL_CAFILE"):
            client_options(_settings(ssl_cafile=str(bad)))


def test_secure_env_round_trip_and_identity(tmp_path: Path) -> None:
    env_file = tmp_path / "kafka" / "secure.env"
    fresh = resolve_identity(HubSettings(), env_file, formatted=False)
    assert fresh.username == "hub" and len(fresh.password) >= 24 and fresh.actor_secret
    assert "'" not in fresh.password and '"' not in fresh.password
    identity = SecureIdentity("hub", "pa ss'word", "s3cret")
    write_env(env_file, "127.0.0.1:40001", identity, tmp_path / "ca.pem")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env(env_file)
    assert values["HUB_KAFKA__SASL_PASSWORD"] == "pa ss'word"  # shell-quoted
    assert values["HUB_KAFKA_SECURITY__SSL_CAFILE"] == str((tmp_path / "ca.pem").resolve())
    assert resolve_identity(HubSettings(), env_file, formatted=True) == identity
    with pytest.raises(ConfigError, match="differs"):
        resolve_identity(_settings(), env_file, formatted=True)
    env_file.unlink()
    with pytest.raises(ConfigError, match="hub stack down --wipe"):
        resolve_identity(HubSettings(), env_file, formatted=True)
    assert read_env(env_file) == {}


def test_actor_kafka_config(tmp_path: Path) -> None:
    from hub.cli.actor_kafka import actor_properties
    from hub.core.kafka.acl import actor_password

    settings = _settings(enabled=True, actor_secret=SecretStr("s"),
                         ssl_cafile=str(tmp_path / "ca.pem"))
    text = actor_properties(settings, "rouen-habitat")
    assert "security.protocol=SASL_SSL" in text
    assert f'password="{actor_password("s", "rouen-habitat")}";' in text
    assert f"ssl.truststore.location={tmp_path / 'ca.pem'}" in text
    assert "group.id=rouen-habitat.consumer" in text
    plain = actor_properties(_settings(enabled=True, actor_secret=SecretStr("s"),
                                       allow_sasl_plaintext=True), "a")  # fmt: skip
    assert "security.protocol=SASL_PLAINTEXT" in plain and "truststore" not in plain
    with pytest.raises(ConfigError, match="ALLOW_SASL_PLAINTEXT"):
        actor_properties(_settings(enabled=True, actor_secret=SecretStr("s")), "a")
    with pytest.raises(ConfigError, match="ENABLED"):
        actor_properties(_settings(), "a")


def test_sasl_without_tls_is_refused_unless_allowed() -> None:
    """Audit K F11: a SASL user without a CA file silently selected SASL_PLAINTEXT, the
    records (personal data) in clear. Every client of the hub (aiokafka's options,
    faust's credentials) refuses it in one line naming the settings, never the password;
    the explicit setting allows it, and a user with TLS or no user at all is unchanged."""
    refused = _settings()  # a SASL user, no CA file
    for build in (client_options, faust_credentials):
        with pytest.raises(ConfigError) as caught:
            build(refused)
        message = caught.value.message
        assert message == PLAINTEXT_SASL and "\n" not in message
        assert "HUB_KAFKA__SASL_USERNAME" in message and "SSL_CAFILE" in message
        assert "ALLOW_SASL_PLAINTEXT" in message
    allowed = _settings(allow_sasl_plaintext=True)
    assert client_options(allowed)["security_protocol"] == "SASL_PLAINTEXT"
    assert faust_credentials(allowed).protocol.value == "SASL_PLAINTEXT"
    assert client_options(HubSettings())["security_protocol"] == "PLAINTEXT"  # no user


def test_hub_commands_refuse_sasl_without_tls_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.unit.test_publish_cli import _hub

    password = "Pw-" + "x" * 20
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "home"), HUB_KAFKA__SASL_USERNAME="hub",
               HUB_KAFKA__SASL_PASSWORD=password,
               HUB_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9")  # nothing is asked of it  # fmt: skip
    for args in (["feed", "rouen-habitat", "-e"], ["worker"], ["status"]):
        res = subprocess.run([*_hub(), *args], env=env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        out = res.stdout + res.stderr
        assert password not in out
        if args[0] == "status":  # the view goes on, the brokers' line says why
            assert PLAINTEXT_SASL.split(":")[0] in " ".join(out.split()), out
            continue
        assert res.returncode == 1 and res.stderr.splitlines() == [f"Error: {PLAINTEXT_SASL}"], (
            args, res.stderr)  # fmt: skip
