"""Every service enforces the access its contract declares, whoever reaches its port: ADMIN RPCs need
the admin key, INTERNAL RPCs a known service, `x-client-*` metadata is believed only from those, and
with mutual TLS a client without a certificate the CA signed cannot even connect."""

from __future__ import annotations

import grpc
import pytest

from novahouse.consent.v1 import consent_pb2 as pb
from novahouse.consent.v1 import consent_pb2_grpc
from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from services.consent.bootstrap import ENTRY_POINT as CONSENT
from services.notifier.bootstrap import ENTRY_POINT as NOTIFIER
from services.notifier.settings import NotifierSettings
from services.runtime.config import Environment
from services.runtime.db import normalise_url
from services.runtime.diagnostics import Diagnostics
from services.runtime.grpc_client import open_channel
from services.runtime.grpc_security import GrpcSecurity
from services.runtime.grpc_server import create_server
from tests.integration.consent.conftest import consent_settings
from tests.support.certificates import CertificateAuthority
from tests.support.services import notifier_environ

ADMIN_KEY = "admin-key-for-the-access-tests-0123456789"
INTERNAL_KEY = "internal-key-for-the-access-tests-0123456789"
FORGED = (("x-client-ip", "203.0.113.66"), ("x-client-user-agent", "forged-agent"))
CHECK = pb.CheckConsentRequest(email="ola@example.com", purpose=pb.CONSENT_PURPOSE_MARKETING)


def _consent(tmp_path, **overrides: str):
    url = normalise_url(f"sqlite:///{tmp_path}/consent.db")
    return CONSENT.start(consent_settings(url, str(tmp_path), AUTO_MIGRATE="true", **overrides))


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


@pytest.fixture
def consent(tmp_path):
    running = _consent(tmp_path, ADMIN_API_KEY=ADMIN_KEY, INTERNAL_API_KEY=INTERNAL_KEY)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield consent_pb2_grpc.ConsentServiceStub(channel)
    running.stop()


def test_an_admin_rpc_needs_the_admin_key_in_metadata(consent):
    request = pb.ListAuditLogRequest()
    assert _code(lambda: consent.ListAuditLog(request)) == grpc.StatusCode.UNAUTHENTICATED
    wrong = (("x-admin-api-key", "x" * len(ADMIN_KEY)),)
    assert _code(lambda: consent.ListAuditLog(request, metadata=wrong)) == grpc.StatusCode.UNAUTHENTICATED
    # A known service without the admin key is no admin either.
    internal = (("x-internal-api-key", INTERNAL_KEY),)
    assert _code(lambda: consent.ListAuditLog(request, metadata=internal)) == grpc.StatusCode.UNAUTHENTICATED
    consent.ListAuditLog(request, metadata=(("x-admin-api-key", ADMIN_KEY),))


def test_an_internal_rpc_needs_a_known_service(consent):
    assert _code(lambda: consent.CheckConsent(CHECK)) == grpc.StatusCode.PERMISSION_DENIED
    record = pb.RecordConsentRequest(email="ola@example.com", source="forged", marketing_consent=True)
    assert _code(lambda: consent.RecordConsent(record)) == grpc.StatusCode.PERMISSION_DENIED
    admin = (("x-admin-api-key", ADMIN_KEY),)  # the admin key is no service's
    assert _code(lambda: consent.CheckConsent(CHECK, metadata=admin)) == grpc.StatusCode.PERMISSION_DENIED
    assert not consent.CheckConsent(CHECK, metadata=(("x-internal-api-key", INTERNAL_KEY),)).allowed


def test_notify_from_an_unknown_caller_is_refused(tmp_path):
    url = normalise_url(f"sqlite:///{tmp_path}/notifier.db")
    environ = notifier_environ(url, str(tmp_path), AUTO_MIGRATE="true", INTERNAL_API_KEY=INTERNAL_KEY)
    running = NOTIFIER.start(NotifierSettings.from_env(Environment(environ)))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            notifier = notifier_pb2_grpc.NotifierServiceStub(channel)
            request = notifier_pb2.NotifyRequest(
                idempotency_key="forged-1",
                email=notifier_pb2.EmailMessage(to="victim@example.com", subject="s", body="b"),
            )
            assert _code(lambda: notifier.Notify(request)) == grpc.StatusCode.PERMISSION_DENIED
            stats = notifier.GetDeadLetterStats(
                notifier_pb2.GetDeadLetterStatsRequest(), metadata=(("x-internal-api-key", INTERNAL_KEY),)
            )
            assert stats is not None
    finally:
        running.stop()


def test_the_client_identity_in_metadata_is_believed_only_from_a_known_service(consent):
    unsubscribe = pb.UnsubscribeRequest(email="ola@example.com", reason="forged identity")
    consent.Unsubscribe(unsubscribe, metadata=FORGED)  # PUBLIC: anyone may, but not as someone else
    consent.Unsubscribe(
        pb.UnsubscribeRequest(email="ola@example.com", reason="relayed"),
        metadata=(*FORGED, ("x-internal-api-key", INTERNAL_KEY)),
    )
    log = consent.ListAuditLog(pb.ListAuditLogRequest(), metadata=(("x-admin-api-key", ADMIN_KEY),))
    by_reason = {entry.reason: entry for entry in log.entries}
    assert by_reason["forged identity"].ip_address == "127.0.0.1"
    assert by_reason["forged identity"].user_agent != "forged-agent"
    assert (by_reason["relayed"].ip_address, by_reason["relayed"].user_agent) == (FORGED[0][1], FORGED[1][1])


def test_a_plaintext_server_beyond_loopback_needs_grpc_allow_insecure():
    definition = Diagnostics("x").definition()
    with pytest.raises(RuntimeError, match="GRPC_ALLOW_INSECURE"):
        create_server("0.0.0.0:0", [definition])
    server = create_server("0.0.0.0:0", [definition], security=GrpcSecurity(allow_insecure=True))
    server.stop(0)
    environ = Environment({"GRPC_ALLOW_INSECURE": "true"})
    assert GrpcSecurity.from_env(environ).allow_insecure


def test_with_mutual_tls_only_certified_services_get_in(tmp_path):
    authority = CertificateAuthority(tmp_path)
    server_cert = authority.issue("consent")
    running = _consent(tmp_path, GRPC_HOST="127.0.0.1", **authority.environ(server_cert))
    address = f"127.0.0.1:{running.port}"
    try:
        # No certificate at all: the handshake fails, nothing is called.
        bare_tls = grpc.ssl_channel_credentials(root_certificates=authority.ca_file.read_bytes())
        with grpc.secure_channel(address, bare_tls) as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            assert _code(lambda: stub.CheckConsent(CHECK, timeout=5)) == grpc.StatusCode.UNAVAILABLE
        # Plaintext: refused too.
        with grpc.insecure_channel(address) as channel:
            stub = consent_pb2_grpc.ConsentServiceStub(channel)
            assert _code(lambda: stub.CheckConsent(CHECK, timeout=5)) == grpc.StatusCode.UNAVAILABLE

        def stub_as(name: str) -> tuple[grpc.Channel, consent_pb2_grpc.ConsentServiceStub]:
            environ = Environment(authority.environ(authority.issue(name)))
            channel = open_channel(address, GrpcSecurity.from_env(environ))
            return channel, consent_pb2_grpc.ConsentServiceStub(channel)

        chat_channel, chat = stub_as("chat")
        stranger_channel, stranger = stub_as("stranger")
        try:
            assert not chat.CheckConsent(CHECK, timeout=5).allowed  # a known service
            assert _code(lambda: stranger.CheckConsent(CHECK, timeout=5)) == grpc.StatusCode.PERMISSION_DENIED
            stranger.Unsubscribe(pb.UnsubscribeRequest(email="ola@example.com"), metadata=FORGED, timeout=5)
            chat.Unsubscribe(pb.UnsubscribeRequest(email="ola@example.com", reason="r"), metadata=FORGED)
        finally:
            chat_channel.close()
            stranger_channel.close()
    finally:
        running.stop()
