"""The database handle: one deferred Peewee database chosen from DATABASE_URL.

The web app, the CLI commands and the sidecar all bind this same proxy via
`init_database(url)`. SQLite gets WAL, foreign keys, a busy timeout and
synchronous=NORMAL so that the portal and the sidecar can share one file.
"""
import datetime
import os

from peewee import DatabaseProxy, Model, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,  # ms; the sidecar and portal write to one file
    "synchronous": "normal",
}


def utcnow():
    """Naive UTC now: the contract stores naive UTC in DateTimeField columns."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def as_date(value):
    """A DATE column's value as datetime.date (SQLite may hand back a string)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])


def _create_private_sqlite_file(path):
    """A database file this product creates is 0600 in a 0700 folder.

    It holds password hashes, customer data and encrypted tokens. SQLite gives
    its -wal and -shm files the database file's mode. Existing files and
    folders are the operator's and are left as they are.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def init_database(url):
    """Bind the proxy to the database named by `url` and return it.

    Connections are pooled (playhouse.pool): the portal connects per request
    and closes on teardown, and without a pool every request would pay for a
    new PostgreSQL connection (~20 ms) or for re-applying SQLite's pragmas.
    `close()` hands the connection back to the pool.
    """
    scheme, _, rest = url.partition("://")
    if not scheme.endswith("+pool"):
        url = "%s+pool://%s" % (scheme, rest)
    pool = {"max_connections": 32, "stale_timeout": 300, "timeout": 30}
    if scheme.startswith("sqlite"):
        path = rest[1:] if rest.startswith("/") else rest
        if path and path != ":memory:":
            _create_private_sqlite_file(path)
        # busy_timeout comes from the pragmas: the pool owns `timeout`.
        db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False, **pool)
    else:
        db = connect(url, **pool)
    old = database.obj
    if old is not None and old is not db:
        try:
            old.close_all() if hasattr(old, "close_all") else old.close()
        except Exception:  # a pool being replaced (tests, re-init) must not fail start-up
            pass
    database.initialize(db)
    return db


def is_sqlite(db=None):
    return isinstance((db or database.obj), SqliteDatabase)


def is_postgres(db=None):
    return isinstance((db or database.obj), PostgresqlDatabase)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False
