"""Personal data stays out of logs and errors: engines hide bound parameters, recipients are masked,
and the log handler masks any email address or phone number that slips into a line or traceback."""

from __future__ import annotations

import logging

from services.notifier.domain.model import ErrorInfo
from services.runtime.emails import mask_email, mask_emails
from services.runtime.logs import configure_logging


def test_addresses_are_masked_to_their_first_letter_and_domain():
    assert mask_email("anna.kowalska@example.com") == "a***@example.com"
    assert (
        mask_emails("550 <anna@example.com>: unknown; 550 <bo@x.pl>")
        == "550 <a***@example.com>: unknown; 550 <b***@x.pl>"
    )
    assert (
        ErrorInfo("SMTPRecipientsRefused", 550, "<anna@example.com> refused").text
        == "<a***@example.com> refused"
    )


def test_the_log_handler_masks_addresses_and_phone_numbers_in_lines_and_tracebacks(capsys):
    configure_logging("info")
    log = logging.getLogger("test.personal")
    log.info("delivered to %s, phone %s", "anna@example.com", "601 234 567")
    try:
        raise ValueError("refused +48601234567 ewa@example.com")
    except ValueError:
        log.exception("failed")
    log.info("rpc /novahouse.chat.v1.ChatService/SendMessage OK 12.3ms request_id=8a7b123456789012")
    written = capsys.readouterr().err
    for personal in ("anna@example.com", "601 234 567", "+48601234567", "ewa@example.com"):
        assert personal not in written
    assert "a***@example.com" in written
    assert "request_id=8a7b123456789012" in written  # ids are not phone numbers
    logging.getLogger().handlers.clear()
