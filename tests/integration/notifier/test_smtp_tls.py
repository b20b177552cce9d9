"""SMTP over TLS verifies the relay: a self-signed certificate is refused in `ssl` and `starttls` modes
(nothing is sent, no credentials leave), then accepted once SMTP_CA_FILE names its CA. A relay's
refusal that names the recipient is stored masked."""

from __future__ import annotations

import ssl

import pytest

from services.notifier.adapters.sinks.smtp import SmtpSink
from services.notifier.domain.model import EmailMessage, PermanentFailure, RetryableFailure
from services.notifier.settings import NotifierSettings
from services.runtime.config import ConfigError, Environment
from tests.support.certificates import CertificateAuthority
from tests.support.fake_sinks import FakeSmtpServer

MAIL = EmailMessage("anna.kowalska@example.com", "Dzień dobry", "Treść")


@pytest.fixture
def authority(tmp_path):
    return CertificateAuthority(tmp_path, name="Relay self-signed CA")


def _server_context(authority: CertificateAuthority) -> ssl.SSLContext:
    issued = authority.issue("relay", hosts=("127.0.0.1", "localhost"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    return context


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_an_unverifiable_relay_certificate_is_refused_then_accepted_with_smtp_ca_file(authority, mode):
    context = _server_context(authority)
    server = FakeSmtpServer(ssl_context=context) if mode == "ssl" else FakeSmtpServer(tls_context=context)
    try:
        unverified = SmtpSink(
            "127.0.0.1", server.port, "bot@novahouse.pl", security=mode, timeout=5,
            user="relay-user", password="relay-password",
        )  # fmt: skip
        with pytest.raises(RetryableFailure) as refused:
            unverified.deliver(MAIL)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.value.info.text
        assert server.messages == []

        verified = SmtpSink(
            "127.0.0.1", server.port, "bot@novahouse.pl", security=mode, timeout=5,
            ca_file=str(authority.ca_file),
        )  # fmt: skip
        verified.deliver(MAIL)
        [mail] = server.wait_for(1)
        assert mail.recipients == ["anna.kowalska@example.com"]
    finally:
        server.close()


def test_smtp_ca_file_is_read_from_the_environment(authority, tmp_path):
    environ = {"SMTP_HOST": "relay", "SMTP_FROM": "bot@novahouse.pl", "VAR_DIR": str(tmp_path)}
    settings = NotifierSettings.from_env(Environment({**environ, "SMTP_CA_FILE": str(authority.ca_file)}))
    assert settings.smtp.ca_file == str(authority.ca_file)
    assert "relay-password" not in repr(
        NotifierSettings.from_env(Environment({**environ, "SMTP_PASSWORD": "relay-password"}))
    )
    with pytest.raises(ConfigError) as raised:
        NotifierSettings.from_env(Environment({**environ, "SMTP_CA_FILE": str(tmp_path / "missing.pem")}))
    assert raised.value.name == "SMTP_CA_FILE"


def test_a_refusal_naming_the_recipient_is_stored_masked():
    server = FakeSmtpServer()
    server.answer("refuse-recipient")
    try:
        sink = SmtpSink("127.0.0.1", server.port, "bot@novahouse.pl", security="none", timeout=5)
        with pytest.raises(PermanentFailure) as refused:
            sink.deliver(MAIL)
        assert "anna.kowalska" not in refused.value.info.text
        assert "a***@example.com" in refused.value.info.text
        assert "anna.kowalska" not in str(refused.value)
    finally:
        server.close()
