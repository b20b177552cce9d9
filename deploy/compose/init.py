"""docker-compose's one-shot set-up, run from the image (python deploy/compose/init.py <step>):

    secrets    generates the development secrets that are missing into their volumes (one volume per
               service, so each service sees only its own) and writes each service's URLs from them
    provision  creates one PostgreSQL role per service owning only its own database, and sets the roles'
               passwords to the generated ones (run again after replacing a password: it rotates)

Existing secrets are never overwritten: replace a file in its volume (docs/deployment.md) and run
`docker-compose up` again. Settings: POSTGRES_HOST/PORT, REDIS_HOST/PORT/DB, DATABASE_PREFIX (role and
database names), POSTGRES_ADMIN_URL (provision; default: the compose superuser), SECRETS_DIR, SERVICE_UID.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

SERVICES_WITH_DATABASES = ("consent", "notifier", "chat")


def _generators() -> dict[str, dict[str, Callable[[], str]]]:
    password = lambda: secrets.token_urlsafe(24)  # noqa: E731 (URL-safe: goes into URLs as it is)
    return {
        "stores": {
            "postgres-password": password,
            "redis-password": password,
            **{f"{name}-database-password": password for name in SERVICES_WITH_DATABASES},
            # Without TLS, what proves a caller is a NovaHouse service (INTERNAL_API_KEY).
            "internal-api-key": lambda: secrets.token_urlsafe(32),
        },
        "consent": {"pseudonym-key": lambda: secrets.token_hex(32)},
        "gateway": {"admin-api-key": lambda: secrets.token_urlsafe(32), "unsubscribe-secret": password},
    }


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _write(path: Path, value: str, *, owner: int | None, mode: int) -> None:
    path.write_text(value + "\n", encoding="utf-8")
    if owner is not None:
        os.chown(path, owner, owner)
    path.chmod(mode)


def generate_secrets() -> None:
    root = Path(_setting("SECRETS_DIR", "/secrets"))
    service_uid = int(_setting("SERVICE_UID", "10001"))
    owner = service_uid if os.geteuid() == 0 else None
    generated = []
    for volume in ("stores", *SERVICES_WITH_DATABASES, "gateway"):
        (root / volume).mkdir(parents=True, exist_ok=True)
    for volume, generators in _generators().items():
        for name, generate in generators.items():
            path = root / volume / name
            if not path.exists():
                # Store passwords are read by the postgres and redis images' own users.
                _write(path, generate(), owner=None if volume == "stores" else owner,
                       mode=0o444 if volume == "stores" else 0o400)  # fmt: skip
                generated.append(f"{volume}/{name}")
    stores = root / "stores"
    prefix = _setting("DATABASE_PREFIX", "")
    host, port = _setting("POSTGRES_HOST", "postgres"), _setting("POSTGRES_PORT", "5432")
    for name in SERVICES_WITH_DATABASES:
        role = prefix + name
        secret = quote((stores / f"{name}-database-password").read_text().strip(), safe="")
        url = f"postgresql://{role}:{secret}@{host}:{port}/{role}"
        _write(root / name / "database-url", url, owner=owner, mode=0o400)
    redis_secret = quote((stores / "redis-password").read_text().strip(), safe="")
    redis_url = "redis://:{}@{}:{}/{}".format(
        redis_secret,
        _setting("REDIS_HOST", "redis"),
        _setting("REDIS_PORT", "6379"),
        _setting("REDIS_DB", "0"),
    )
    for name in ("notifier", "chat", "gateway"):
        _write(root / name / "redis-url", redis_url, owner=owner, mode=0o400)
    # Consent signs the links in emails (one-click unsubscribe, confirmation) that the gateway checks:
    # both read the one secret.
    link_secret = (root / "gateway" / "unsubscribe-secret").read_text().strip()
    _write(root / "consent" / "unsubscribe-secret", link_secret, owner=owner, mode=0o400)
    internal_key = (stores / "internal-api-key").read_text().strip()
    for name in (*SERVICES_WITH_DATABASES, "gateway"):
        _write(root / name / "internal-api-key", internal_key, owner=owner, mode=0o400)
    if generated:
        print(
            "Generated DEVELOPMENT secrets (first start): " + ", ".join(generated) + ".\n"
            "They live in the secrets-* volumes and are kept across restarts. For production, replace\n"
            "each with your own value (docs/deployment.md, 'Secrets and their rotation'), e.g.\n"
            "  docker-compose run --rm -u 0 --entrypoint sh secrets -c "
            "'printf %s \"$0\" > /secrets/gateway/admin-api-key' NEW_VALUE\n"
            "then `docker-compose up -d` (provision sets changed database passwords on the roles).",
            flush=True,
        )
    else:
        print("Secrets present, none generated (URLs rewritten from them).", flush=True)


def _connect_admin() -> object:
    import psycopg2

    url = os.environ.get("POSTGRES_ADMIN_URL", "").strip()
    if not url:
        secret = quote(
            (Path(_setting("SECRETS_DIR", "/secrets")) / "stores/postgres-password").read_text().strip()
        )
        url = "postgresql://{}:{}@{}:{}/postgres".format(
            _setting("POSTGRES_USER", "novahouse"), secret, _setting("POSTGRES_HOST", "postgres"),
            _setting("POSTGRES_PORT", "5432"),
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = psycopg2.connect(url, connect_timeout=3)
        except psycopg2.OperationalError as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"provision: PostgreSQL unreachable: {str(error).strip()}") from None
            time.sleep(1)
            continue
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        return connection


def provision() -> None:
    from psycopg2 import sql

    stores = Path(_setting("SECRETS_DIR", "/secrets")) / "stores"
    prefix = _setting("DATABASE_PREFIX", "")
    connection = _connect_admin()
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        for name in SERVICES_WITH_DATABASES:
            role = prefix + name
            password = (stores / f"{name}-database-password").read_text().strip()
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (role,))
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(role), sql.Identifier(role))
                )
            # Only its owner may connect: consent's role cannot open chat's database, and so on.
            cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(role)))
            print(
                f"provision: role and database {role} ready (password set from the secrets volume)",
                flush=True,
            )
    connection.close()  # type: ignore[attr-defined]


def main(argv: list[str]) -> None:
    steps = {"secrets": generate_secrets, "provision": provision}
    if len(argv) != 1 or argv[0] not in steps:
        raise SystemExit(f"usage: init.py {{{'|'.join(steps)}}}")
    steps[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
