"""Issue 11: a stored refresh_expires_at earlier than the inferred one decides.

Rows imported from the previous system (or written by it) carry a
refresh_expires_at that has nothing to do with token_expires_at; the sidecar
must keep such a connection alive before its refresh token dies.
"""
import datetime
import subprocess
import sys

from models import Connection, database, utcnow
from portal.exact.refresh_cycle import due_connection_ids
from portal.exact.tokens import is_due
from tests.sidecar_helpers import (  # noqa: F401
    fake, make_connection, refresh_token_of, reload,
)
from tests.test_sidecar_concurrency import ROOT, sidecar_env

H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)


def imported_row(fake, now, refresh_in=D, token_ago=H, **kw):  # noqa: F811
    """Like an import line: token expired an hour ago, refresh token dies tomorrow."""
    conn = make_connection(fake=fake, token_expires_at=now - token_ago, issued_ago=29 * 86400, **kw)
    (Connection.update(refresh_expires_at=now + refresh_in, last_refreshed_at=None)
     .where(Connection.id == conn.id).execute())
    return reload(conn)


def test_stored_refresh_expiry_makes_the_row_due(app, fake):  # noqa: F811
    now = utcnow()
    row = imported_row(fake, now)
    assert is_due(row, now, 29)
    assert list(due_connection_ids(now, 29)) == [row.id]


def test_a_far_stored_refresh_expiry_is_not_due_by_itself(app, fake):  # noqa: F811
    now = utcnow()
    row = imported_row(fake, now, refresh_in=29.5 * D)
    assert not is_due(row, now, 29)
    assert list(due_connection_ids(now, 29)) == []


def test_the_570_second_rule_holds_for_the_stored_expiry(app, fake):  # noqa: F811
    """An access token issued 100 s ago means a refresh 100 s ago: too early for Exact."""
    now = utcnow()
    row = imported_row(fake, now, token_ago=-500 * datetime.timedelta(seconds=1))
    assert not is_due(row, now, 29)
    assert list(due_connection_ids(now, 29)) == []
    later = now + datetime.timedelta(seconds=471)
    assert is_due(reload(row), later, 29)
    assert list(due_connection_ids(later, 29)) == [row.id]


def test_rows_due_both_ways_are_listed_once(app, fake):  # noqa: F811
    now = utcnow()
    both = imported_row(fake, now, token_ago=3 * D)
    stored_only = imported_row(fake, now)
    assert sorted(due_connection_ids(now, 29)) == sorted([both.id, stored_only.id])


def test_sidecar_once_refreshes_an_imported_row(app, fake, subprocess_env):  # noqa: F811
    now = utcnow()
    row = imported_row(fake, now)
    before = refresh_token_of(row)
    database.close()
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "sidecar", "--once",
                           "--job", "token_refresh"], cwd=ROOT,
                          env=sidecar_env(subprocess_env, fake.url), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    after = reload(row)
    assert after.status == "active" and refresh_token_of(after) != before
    assert after.refresh_expires_at > now + 29 * D


def test_the_due_query_uses_the_refresh_expiry_index(app):
    names = {i.name for i in database.get_indexes("connections")}
    assert "idx_connections_refresh_expiring" in names
