"""Importing usage rows without counting anything twice (used by portal.importer.service).

A usage row is identified by (customer, timestamp, endpoint, response_status).
After an import a key occurs max(copies in the database before, copies in the
file) times: re-importing a file adds nothing, while two identical calls in one
file (two tool calls in the same second) both count.

Per batch of lines, one query (a range scan of idx_api_usage_user_month) finds
which keys were already present before the import started; in an empty table
there is nothing to ask:
* keys not present go straight to portal.usage.counters.UsageRecorder, the bulk
  form of record_usage_rows, so counters and rollups move exactly as through the
  API;
* rows whose key was present wait in a TEMPORARY table; at the end one SQL
  statement numbers the copies of each key in file order and keeps those beyond
  the count already in the database. That is exact even when the copies are far
  apart in the file, and needs no memory per key.
Only rows that existed before the import (id <= baseline) count as present: the
rows this import adds are the file's own copies.

Into an empty api_usage on SQLite (the first import of the previous system's
data) the secondary indexes are dropped before the first row and built again
after the last, inside the import's transaction: keeping five B-trees up to date
row by row cost more than the rest of the import together (1M rows: 12.9 s
against 2.3 s plus 4.0 s to build them). Nothing reads api_usage during such an
import (no key lookups when the table was empty), SQLite's DDL is transactional
(a failed or killed import leaves the indexes as they were), and other
connections keep reading the committed schema until the commit.
"""
import datetime

from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, Model, fn

from models import ApiUsage, database
from models.db import is_postgres, is_sqlite

from portal.usage.counters import UsageRecorder

READ_CHUNK = 50_000
LOOKUP_CHUNK = 500
OVERLAP_COLUMNS = ("line", "user_id", "timestamp", "endpoint", "response_status", "duration_ms")


class ImportUsageOverlap(Model):
    """Scratch table (TEMPORARY, per connection) for rows whose key was present."""
    line = BigIntegerField(primary_key=True)  # the row's position among the file's usage rows
    user_id = IntegerField()
    timestamp = DateTimeField()
    endpoint = CharField()
    response_status = IntegerField()
    duration_ms = IntegerField(null=True)
    keep = IntegerField(null=True)  # 1 = this copy is new: insert it

    class Meta:
        database = database
        table_name = "import_usage_overlap"


def bulk_insert(table, columns, params):
    """executemany / execute_values: peewee builds SQL value by value, too slow for
    hundreds of thousands of rows. Values are plain ints, strings and datetimes."""
    cursor = database.cursor()
    names = ", ".join('"%s"' % c for c in columns)
    if is_postgres():
        from psycopg2.extras import execute_values
        execute_values(cursor, 'INSERT INTO "%s" (%s) VALUES %%s' % (table, names), params,
                       page_size=1000)
    else:
        cursor.executemany('INSERT INTO "%s" (%s) VALUES (%s)'
                           % (table, names, ", ".join("?" * len(columns))), params)


_KEEP_NEW_COPIES = (
    'UPDATE import_usage_overlap SET keep = 1 WHERE line IN ('
    ' SELECT s.line FROM (SELECT line, user_id, "timestamp", endpoint, response_status,'
    '  ROW_NUMBER() OVER (PARTITION BY user_id, "timestamp", endpoint, response_status'
    '                     ORDER BY line) AS copy FROM import_usage_overlap) s'
    ' WHERE s.copy > (SELECT COUNT(*) FROM api_usage a WHERE a.user_id = s.user_id'
    '  AND a."timestamp" = s."timestamp" AND a.endpoint = s.endpoint'
    '  AND a.response_status = s.response_status AND a.id <= {param}))')


def _text(ts):
    """A timestamp read back from the database as the recorder's text, str(datetime)."""
    return ts if type(ts) is str else str(ts)


class UsageImport:
    """Collects an import's usage rows; call add() per batch, finish() once, in one
    transaction. Counts go to summary.usage_created / usage_skipped."""

    def __init__(self, summary):
        self.summary = summary
        self.baseline_id = ApiUsage.select(fn.MAX(ApiUsage.id)).scalar() or 0
        self.recorder = UsageRecorder()
        self.dropped_indexes = []  # (name, CREATE INDEX sql) to build again in finish()
        self.overlap_rows = 0
        self.seen = 0  # usage rows so far: a row's position in the file's order

    def add(self, rows):
        """rows: [(user id, timestamp text, endpoint, response_status, duration_ms)], in
        file order."""
        first = self.seen
        self.seen += len(rows)
        if not self.baseline_id:  # nothing was there before: every row is new
            if first == 0 and is_sqlite():
                self._drop_indexes()
            self.recorder.add(rows)
            return
        present = self._present_keys(rows)
        fresh, overlap = [], []
        for position, row in enumerate(rows, first):
            if row[:4] in present:
                overlap.append((position,) + row)
            else:
                fresh.append(row)
        self.recorder.add(fresh)
        if overlap:
            if not self.overlap_rows:
                ImportUsageOverlap.create_table(safe=True, temporary=True)
                ImportUsageOverlap.delete().execute()
            bulk_insert("import_usage_overlap", OVERLAP_COLUMNS, overlap)
            self.overlap_rows += len(overlap)

    def _present_keys(self, rows):
        """Keys among `rows` that were in api_usage before the import (one range query
        per batch on idx_api_usage_user_month)."""
        lo = datetime.datetime.fromisoformat(min(r[1] for r in rows))
        hi = datetime.datetime.fromisoformat(max(r[1] for r in rows))
        users = list({r[0] for r in rows})
        present = set()
        for i in range(0, len(users), LOOKUP_CHUNK):
            query = (ApiUsage.select(ApiUsage.user, ApiUsage.timestamp, ApiUsage.endpoint,
                                     ApiUsage.response_status)
                     .where(ApiUsage.user.in_(users[i:i + LOOKUP_CHUNK]),
                            ApiUsage.timestamp >= lo, ApiUsage.timestamp <= hi,
                            ApiUsage.id <= self.baseline_id)
                     .tuples())
            present.update((user, _text(ts), endpoint, status)
                           for user, ts, endpoint, status in query)
        return present

    def finish(self):
        """Record the new copies of keys that were present, then apply the counters."""
        if self.overlap_rows:
            self._keep_new_copies()
        self.summary.usage_created += self.recorder.finish()
        for _, sql in self.dropped_indexes:
            database.execute_sql(sql)
        self.dropped_indexes = []

    def _drop_indexes(self):
        """SQLite, empty api_usage: drop its secondary indexes for the bulk load (their
        exact CREATE statements are kept and run again by finish())."""
        if not database.in_transaction():  # outside one, a failure would lose the indexes
            raise RuntimeError("the usage import must run inside the import's transaction")
        self.dropped_indexes = database.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'api_usage' AND sql IS NOT NULL").fetchall()
        for name, _ in self.dropped_indexes:
            database.execute_sql('DROP INDEX "%s"' % name)

    def _keep_new_copies(self):
        T = ImportUsageOverlap
        database.execute_sql(_KEEP_NEW_COPIES.format(param=database.param), (self.baseline_id,))
        kept, last = 0, 0
        while True:
            batch = list(T.select(T.line, T.user_id, T.timestamp, T.endpoint,
                                  T.response_status, T.duration_ms)
                         .where((T.keep == 1) & (T.line > last))
                         .order_by(T.line).limit(READ_CHUNK).tuples())
            if not batch:
                break
            last = batch[-1][0]
            self.recorder.add([(u, _text(ts), e, s, d) for _, u, ts, e, s, d in batch])
            kept += len(batch)
        self.summary.usage_skipped += self.overlap_rows - kept
        T.drop_table(safe=True)
