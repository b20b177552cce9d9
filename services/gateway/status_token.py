"""`python -m services.gateway status-token EMAIL [--days N]`: prints a status token for one person.

An operator answering "what do you hold about me / am I unsubscribed?" sends the person
`/api/unsubscribe/status/{email}?token=...`; the token is signed with the first UNSUBSCRIBE_SECRET and
expires by itself.
"""

from __future__ import annotations

import argparse
import sys
import time

from services.gateway.application.auth import email_token
from services.runtime.config import ConfigError, Environment
from services.runtime.errors import InvalidArgument
from services.runtime.signed_links import secrets_from_env

DEFAULT_DAYS = 7
MAX_DAYS = 90


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway status-token")
    parser.add_argument("email")
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"1-{MAX_DAYS} (default {DEFAULT_DAYS})"
    )
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.days <= MAX_DAYS:
        parser.error(f"--days must be between 1 and {MAX_DAYS}")
    try:
        secrets = secrets_from_env(Environment())
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if not secrets:
        print("UNSUBSCRIBE_SECRET is not set: the gateway refuses status tokens", file=sys.stderr)
        return 2
    expires_at = int(time.time()) + arguments.days * 86_400
    try:
        print(email_token(secrets[0], arguments.email, expires_at))
    except InvalidArgument as error:
        print(error, file=sys.stderr)
        return 2
    return 0
