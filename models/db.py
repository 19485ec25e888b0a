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


def init_database(url):
    """Bind the proxy to the database named by `url` and return it."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                     timeout=10)
    else:
        db = connect(url)
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
