"""Unit tests run in memory: no server, no database file, no network.

Every unit test runs with the ways out closed: Python sockets cannot connect or bind, gRPC cannot open
a channel or a server, and neither SQLite (except `:memory:`) nor psycopg2 can open a database. A test
that tries fails with IsolationBreach naming what it tried; it belongs in tests/integration.
"""

from __future__ import annotations

import socket
import sqlite3
import sqlite3.dbapi2

import grpc
import grpc.aio
import psycopg2
import pytest


class IsolationBreach(AssertionError):
    """A unit test reached for a socket, a channel or a database file."""


def _refuse(what: str):
    def refused(*args, **kwargs):
        raise IsolationBreach(f"unit tests may not use {what}; move the test to tests/integration")

    return refused


def _sqlite_in_memory_only(database, *args, **kwargs):
    if str(database) != ":memory:":
        raise IsolationBreach(f"unit tests may not open the database file {database!s}")
    return _SQLITE_CONNECT(database, *args, **kwargs)


_SQLITE_CONNECT = sqlite3.connect


@pytest.fixture(autouse=True)
def _in_memory_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse(f"socket.{name}"))
    monkeypatch.setattr(socket, "create_connection", _refuse("socket.create_connection"))
    for module, name in (
        (grpc, "insecure_channel"),
        (grpc, "secure_channel"),
        (grpc, "server"),
        (grpc.aio, "insecure_channel"),
        (grpc.aio, "secure_channel"),
        (grpc.aio, "server"),
    ):
        monkeypatch.setattr(module, name, _refuse(f"{module.__name__}.{name}"))
    monkeypatch.setattr(psycopg2, "connect", _refuse("PostgreSQL (psycopg2.connect)"))
    # SQLAlchemy calls sqlite3.dbapi2.connect, a name of its own for the same function.
    monkeypatch.setattr(sqlite3, "connect", _sqlite_in_memory_only)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", _sqlite_in_memory_only)
