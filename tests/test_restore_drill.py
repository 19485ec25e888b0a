"""Backup and restore drill at a small size, on this run's engine (SQLite, or
PostgreSQL with pg_dump/pg_restore when TEST_DATABASE_URL names a server)."""
import importlib.util
import os

import pytest

from models import database
from models.db import init_database, is_postgres
from models.scratch_db import create_scratch_database, drop_scratch_database
from tests.conftest import TEST_TOKEN_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_drill():
    spec = importlib.util.spec_from_file_location(
        "bench_restore_drill", os.path.join(ROOT, "bench", "restore_drill.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def restored_url(app, db_url, tmp_path):
    """An empty database to restore into; the session database is bound again afterwards."""
    created = None
    if is_postgres():
        base = os.environ["TEST_DATABASE_URL"]
        url, name = create_scratch_database(base, "restore_drill")
        created = (base, name)
    else:
        url = "sqlite:///" + str(tmp_path / "restored.db")
    yield url
    init_database(db_url)
    if created:
        drop_scratch_database(*created)
        init_database(db_url)


def test_backup_while_writing_then_restore_is_complete_and_consistent(
        app, db_url, restored_url, subprocess_env, tmp_path):
    drill = load_drill()
    database.close()
    report = drill.drill(db_url, restored_url, TEST_TOKEN_KEY, subprocess_env, str(tmp_path),
                         customers=8, calls=300, write_seconds=0.6)
    assert report["problems"] == []
    assert report["written_during_drill"] > 0
    # A consistent snapshot from the middle of the writing, not before it or torn.
    assert report["rows_before_backup"] <= report["rows_restored"] <= report["rows_after_backup"]
    assert report["rows_restored"] >= 300


def test_the_checks_catch_a_broken_restore(app, db_url, restored_url, subprocess_env,
                                           tmp_path):
    """The verification is not a rubber stamp: a counter off by one and a token
    encrypted with another key are both reported."""
    from cryptography.fernet import Fernet

    from models import Connection, UsageMonthly
    from portal.exact.crypto import encrypt_token
    drill = load_drill()
    plain = drill.seed(TEST_TOKEN_KEY, customers=3, calls=50)
    row = UsageMonthly.select().first()
    UsageMonthly.update(calls=UsageMonthly.calls + 1).where(
        (UsageMonthly.user == row.user_id) & (UsageMonthly.month == row.month)).execute()
    Connection.update(refresh_token=encrypt_token(Fernet.generate_key().decode(), "rt-x")) \
        .where(Connection.id == min(plain)).execute()
    database.close()
    path = drill.backup(db_url, str(tmp_path / "b"), subprocess_env)
    drill.restore(path, restored_url)
    problems, _ = drill.verify_restored(restored_url, TEST_TOKEN_KEY, plain, subprocess_env)
    assert any("usage_monthly disagrees" in p for p in problems)
    assert any("rebuild-rollups changed" in p for p in problems)
    assert any("do not decrypt" in p for p in problems)
