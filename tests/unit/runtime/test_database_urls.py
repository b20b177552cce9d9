import datetime as dt

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from services.runtime.db import UtcDateTime, normalise_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1/consent",
        "postgres://postgres@127.0.0.1/consent",
        "postgresql+psycopg://postgres@127.0.0.1/consent",
        "postgresql+psycopg2://postgres@127.0.0.1/consent",
    ],
)
def test_every_postgresql_form_selects_psycopg2(url):
    normalised = normalise_url(url)
    assert normalised.drivername == "postgresql+psycopg2"
    assert (normalised.host, normalised.database, normalised.username) == ("127.0.0.1", "consent", "postgres")


def test_sqlite_urls_are_kept():
    assert normalise_url("sqlite:///./var/consent.db").database == "./var/consent.db"


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "not a url", ""])
def test_other_urls_are_refused(url):
    with pytest.raises(ValueError):
        normalise_url(url)


def test_utc_datetime_refuses_naive_values_and_returns_aware_utc():
    column = UtcDateTime()
    warsaw = dt.timezone(dt.timedelta(hours=1))
    stored = column.process_bind_param(dt.datetime(2026, 1, 1, 12, tzinfo=warsaw), sqlite.dialect())
    assert stored == dt.datetime(2026, 1, 1, 11)  # SQLite keeps naive UTC
    assert column.process_result_value(stored, sqlite.dialect()) == dt.datetime(2026, 1, 1, 11, tzinfo=dt.UTC)
    assert column.process_bind_param(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), postgresql.dialect()).tzinfo
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(dt.datetime(2026, 1, 1), sqlite.dialect())
