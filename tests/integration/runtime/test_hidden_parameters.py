"""Database errors carry no bound values: an email in a failed INSERT stays out of the exception (and so
out of every logged traceback), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.exc import IntegrityError

from services.runtime.db import create_db_engine


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_errors_carry_no_bound_values(tmp_path, backend, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/x.db"
    else:
        databases = request.getfixturevalue("databases")
        url = databases("consent").render_as_string(hide_password=False)
    engine = create_db_engine(url)
    people = Table("hidden_parameters_people", MetaData(), Column("email", String, primary_key=True))
    people.metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            connection.execute(people.insert().values(email="anna@example.com"))
        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            connection.execute(people.insert().values(email="anna@example.com"))
        assert "anna@example.com" not in str(raised.value).split("DETAIL")[0]
        assert "parameters hidden" in str(raised.value)
    finally:
        people.metadata.drop_all(engine)
        engine.dispose()
