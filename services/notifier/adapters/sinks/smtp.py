"""Email through SMTP (smtplib): 4xx replies and lost connections are retryable, 5xx permanent.

In `ssl` and `starttls` modes the relay's certificate and host name are verified against the system's
CAs, or SMTP_CA_FILE (a relay with a private CA); a certificate that does not verify is never sent the
credentials or the mail (retryable: fixing the configuration lets queued mail through).
"""

from __future__ import annotations

import email.message
import email.utils
import smtplib
import ssl

from services.notifier.domain.model import (
    EmailMessage,
    ErrorInfo,
    Message,
    PermanentFailure,
    RetryableFailure,
)


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
            client.send_message(mail)
        finally:
            # Once the message is accepted, a failing QUIT must not turn the delivery into a retry.
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _tls_context(self) -> ssl.SSLContext:
        """Verifies the certificate chain and the host name (Python's SMTP_SSL without a context
        verifies neither)."""
        return ssl.create_default_context(cafile=self._ca_file)
