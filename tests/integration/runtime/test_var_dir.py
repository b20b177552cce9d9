"""Local state is private: VAR_DIR is created 0700 and the SQLite files and key files in it 0600,
whatever the umask."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from services.consent.adapters.pseudonym_key import load_or_create_key
from services.runtime.db import create_db_engine


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_var_dir_is_0700_and_its_files_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        var_dir = tmp_path / "var"
        engine = create_db_engine(f"sqlite:///{var_dir}/chat.db")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('anna@example.com')"))
        key_path = var_dir / "keys" / "consent-pseudonym.key"
        load_or_create_key(key_path)
        assert _mode(var_dir) == 0o700
        assert _mode(var_dir / "keys") == 0o700
        database_files = [p for p in var_dir.iterdir() if p.name.startswith("chat.db")]
        assert database_files
        assert {p.name: _mode(p) for p in database_files} == {p.name: 0o600 for p in database_files}
        assert _mode(key_path) == 0o600
        engine.dispose()
    finally:
        os.umask(previous)
