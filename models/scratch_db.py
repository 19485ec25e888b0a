"""Private PostgreSQL databases for test runs and benchmarks.

Each test run and each benchmark creates its own database next to the one it
is given (e.g. postgresql://postgres@127.0.0.1:5432/test) and drops it at the
end, so runs never see each other's rows. Not used by the product itself.
"""
import os
import uuid
from urllib.parse import urlsplit, urlunsplit


def create_scratch_database(base_url, prefix="scratch"):
    """CREATE DATABASE <prefix>_<pid>_<random>; returns (url of it, its name)."""
    import psycopg2
    name = "%s_%d_%s" % (prefix, os.getpid(), uuid.uuid4().hex[:8])
    conn = psycopg2.connect(base_url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "%s"' % name)
    conn.close()
    return urlunsplit(urlsplit(base_url)._replace(path="/" + name)), name


def drop_scratch_database(base_url, name):
    """Close this process's pooled connections, end any others, DROP the database."""
    import psycopg2

    from .db import database
    if database.obj is not None and hasattr(database.obj, "close_all"):
        database.obj.close_all()
    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        cur.execute('DROP DATABASE IF EXISTS "%s"' % name)
    conn.close()
