"""The unit suite's guard (tests/unit/conftest.py) really closes the ways out."""

from __future__ import annotations

import socket
import sqlite3

import grpc
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.unit.conftest import IsolationBreach


def test_no_socket_connects():
    with socket.socket() as sock, pytest.raises(IsolationBreach):
        sock.connect(("127.0.0.1", 6379))


def test_no_socket_listens():
    with socket.socket() as sock, pytest.raises(IsolationBreach):
        sock.bind(("127.0.0.1", 0))


def test_redis_cannot_reach_a_server():
    with pytest.raises(IsolationBreach):
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()


def test_no_grpc_channel_or_server():
    with pytest.raises(IsolationBreach):
        grpc.insecure_channel("127.0.0.1:50051")
    with pytest.raises(IsolationBreach):
        grpc.server(None)


def test_no_database_file_but_sqlite_in_memory(tmp_path):
    with pytest.raises(IsolationBreach):
        create_engine(f"sqlite:///{tmp_path}/x.db").connect()
    assert not (tmp_path / "x.db").exists()
    with pytest.raises(IsolationBreach):
        create_engine("postgresql+psycopg2://postgres@127.0.0.1/postgres").connect()
    with sqlite3.connect(":memory:") as memory:
        assert memory.execute("select 1").fetchone() == (1,)
    with create_engine("sqlite://").connect() as connection:
        assert connection.execute(text("select 2")).scalar() == 2
