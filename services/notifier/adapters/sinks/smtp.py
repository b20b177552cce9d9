"""Email through SMTP (smtplib): 4xx replies and lost connections are retryable, 5xx permanent.

In `ssl` and `starttls` modes the relay's certificate and host name are verified against the system's
CAs, or SMTP_CA_FILE (a relay with a private CA); a certificate that does not verify is never sent the
credentials or the mail (retryable: fixing the configuration lets queued mail through).

The connection (and its TLS session and login) is kept for the next message: a kept connection is checked
with NOOP before it carries a message, and one idle longer than IDLE_SECONDS, or one a send failed on, is
closed and replaced, so a message is never resent on a connection whose state is unknown.
"""

from __future__ import annotations

import email.message
import email.utils
import smtplib
import ssl
import threading
import time

from services.notifier.domain.model import (
    EmailMessage,
    ErrorInfo,
    Message,
    PermanentFailure,
    RetryableFailure,
)

IDLE_SECONDS = 30.0  # relays drop idle sessions (RFC 5321 lets them after 5 minutes; many sooner)


class SmtpSink:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        security: str,
        timeout: float,
        user: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._security = security  # "starttls", "ssl" or "none"
        self._timeout = timeout
        self._user = user
        self._password = password
        self._ca_file = ca_file
        self._client: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> None:
        assert isinstance(message, EmailMessage)
        mail = email.message.EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=self._sender.rpartition("@")[2] or None)
        if message.list_unsubscribe:  # a marketing email: RFC 8058 one-click unsubscribe
            mail["List-Unsubscribe"] = f"<{message.list_unsubscribe}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.body)
        try:
            self._send(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _ in refused.recipients.values()]
            replies = "; ".join(
                f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                for code, text in refused.recipients.values()
            )
            info = ErrorInfo("SMTPRecipientsRefused", max(codes), replies[:500])
            raise (RetryableFailure if all(400 <= c < 500 for c in codes) else PermanentFailure)(
                info
            ) from None
        except smtplib.SMTPResponseException as error:
            text = (
                error.smtp_error.decode(errors="replace")
                if isinstance(error.smtp_error, bytes)
                else str(error.smtp_error)
            )
            info = ErrorInfo(type(error).__name__, error.smtp_code, text[:500])
            raise (RetryableFailure if 400 <= error.smtp_code < 500 else PermanentFailure)(info) from None
        except smtplib.SMTPNotSupportedError as error:  # e.g. STARTTLS asked of a server without it
            raise PermanentFailure(ErrorInfo(type(error).__name__, 0, str(error)[:500])) from None
        except (smtplib.SMTPException, OSError) as error:  # disconnects, timeouts, refused connections
            raise RetryableFailure(ErrorInfo(type(error).__name__, 0, str(error)[:500])) from None

    def _send(self, mail: email.message.EmailMessage) -> None:
        with self._lock:
            client = self._kept() or self._connect()
            try:
                client.send_message(mail)
            except BaseException:
                _quit(client)
                raise
            self._client, self._last_used = client, time.monotonic()

    def _kept(self) -> smtplib.SMTP | None:
        """The connection kept from the last message if it is recent and answers NOOP, else None."""
        client, self._client = self._client, None
        if client is None:
            return None
        if time.monotonic() - self._last_used < IDLE_SECONDS:
            try:
                if client.noop()[0] == 250:
                    return client
            except (smtplib.SMTPException, OSError):
                pass
        _quit(client)
        return None

    def _connect(self) -> smtplib.SMTP:
        if self._security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=self._tls_context()
            )
        else:
            client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            if self._security == "starttls":
                client.starttls(context=self._tls_context())
            if self._user:
                client.login(self._user, self._password or "")
        except BaseException:
            _quit(client)
            raise
        return client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _quit(client)

    def _tls_context(self) -> ssl.SSLContext:
        """Verifies the certificate chain and the host name (Python's SMTP_SSL without a context
        verifies neither)."""
        return ssl.create_default_context(cafile=self._ca_file)


def _quit(client: smtplib.SMTP) -> None:
    # Once a message is accepted, a failing QUIT must not turn the delivery into a retry.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
