"""Import from the previous system: JSON Lines, validated whole, then written at once.

Two streaming passes over the file, so a million lines never sit in memory:

1. `validate(path)` parses every line (portal.importer.records) and checks that
   each connection/usage line names a customer that is in the file or already
   in the database. Any bad line means nothing is imported.
2. `run_import(path, validation, token_keys)` writes in batches inside ONE
   transaction: customers by email, connections by (email, division), usage
   through portal.usage.counters so every counter and rollup moves exactly as
   if the calls had come through the API.

Re-importing the same file changes nothing:
* customers and connections are matched by natural key and only written when
  a value differs;
* a connection whose tokens this portal has refreshed since (its stored access
  token expires later than the file's) keeps its own, live tokens: the file's
  refresh token died when ours rotated, so writing it back would kill the
  connection;
* usage rows are keyed by (customer, timestamp, endpoint, response_status);
  see portal.importer.usage for how copies are counted.

The old system gave up on a connection after one failed refresh
(`refresh_failed`); the new state machine retries, so such a connection comes in
as `retry_pending` with retry_count 0, due now.
"""
import contextlib
import dataclasses
import time

from models import database, utcnow
from models.db import is_sqlite

from portal.importer.records import BadLine, parse_line
from portal.importer.writer import ImportAborted, ImportWriter, existing_customer_ids

BATCH_LINES = 5000
IMPORT_CACHE_KIB = 16 * 1024
MAX_REPORTED_ERRORS = 1000
MAX_LINES_PER_MISSING_EMAIL = 20


class InvalidImportFile(Exception):
    """The file has bad lines; nothing was imported."""

    def __init__(self, validation):
        super().__init__("%d bad line(s); nothing was imported" % validation.error_count)
        self.validation = validation


@dataclasses.dataclass
class Validation:
    lines: int = 0
    records: int = 0
    errors: list = dataclasses.field(default_factory=list)  # (line, reason), first N
    error_count: int = 0
    # A connection/usage line came before its customer's line: write customers first.
    forward_references: bool = False

    @property
    def ok(self):
        return self.error_count == 0

    def add_error(self, line, reason):
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line, reason))


@dataclasses.dataclass
class ImportSummary:
    customers_created: int = 0
    customers_updated: int = 0
    customers_skipped: int = 0
    connections_created: int = 0
    connections_updated: int = 0
    connections_skipped: int = 0
    usage_created: int = 0
    usage_skipped: int = 0
    seconds: float = 0.0

    def line(self):
        return ("customers: %d created, %d updated, %d unchanged; "
                "connections: %d created, %d updated, %d skipped; "
                "usage: %d created, %d skipped (already present); %.1f s" % (
                    self.customers_created, self.customers_updated, self.customers_skipped,
                    self.connections_created, self.connections_updated,
                    self.connections_skipped, self.usage_created, self.usage_skipped,
                    self.seconds))


def _lines(path, progress):
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if progress:
                progress(len(raw))
            yield number, raw


# --- pass 1 ------------------------------------------------------------------

def validate(path, progress=None):
    """Check every line; returns a Validation (errors sorted by line number)."""
    result = Validation()
    in_file = set()
    unresolved = {}  # email -> line numbers of references made before any customer line
    for number, raw in _lines(path, progress):
        result.lines = number
        try:
            parsed = parse_line(raw)
        except BadLine as exc:
            result.add_error(number, str(exc))
            continue
        if parsed is None:
            continue
        result.records += 1
        kind, rec = parsed
        if kind == "customer":
            in_file.add(rec.email)
            if unresolved.pop(rec.email, None) is not None:
                result.forward_references = True
        elif rec.email not in in_file:
            refs = unresolved.setdefault(rec.email, [])
            if len(refs) < MAX_LINES_PER_MISSING_EMAIL:
                refs.append(number)
    if unresolved:
        known = existing_customer_ids(unresolved)
        for email, numbers in unresolved.items():
            if email not in known:
                for number in numbers:
                    result.add_error(number, "customer %s is neither in this file nor in the "
                                             "database" % email)
    result.errors.sort()
    return result


# --- pass 2 ------------------------------------------------------------------

@contextlib.contextmanager
def _sqlite_cache(kib):
    """A bigger SQLite page cache while importing: api_usage has several indexes and
    a million inserts scatter over pages that SQLite's 2 MB default keeps evicting
    (measured: 1M lines 15k -> 21k lines/s; 16 MB was as fast as 32 MB, and less RSS)."""
    if not is_sqlite():
        yield
        return
    before = database.execute_sql("PRAGMA cache_size").fetchone()[0]
    database.execute_sql("PRAGMA cache_size = -%d" % kib)
    try:
        yield
    finally:
        database.execute_sql("PRAGMA cache_size = %d" % before)


def _records(path, kinds, progress):
    for number, raw in _lines(path, progress):
        parsed = parse_line(raw)  # validated in pass 1: cannot fail unless the file changed
        if parsed is not None and parsed[0] in kinds:
            yield number, parsed[0], parsed[1]


def run_import(path, validation, token_keys, now=None, progress=None, batch_lines=BATCH_LINES):
    """Pass 2: write a validated file in one transaction. Returns an ImportSummary."""
    if not validation.ok:
        raise InvalidImportFile(validation)
    started = time.monotonic()
    now = now or utcnow()
    summary = ImportSummary()
    # Customers come first when some line referred to a customer defined further down.
    rounds = ([("customer",), ("connection", "api_usage")] if validation.forward_references
              else [("customer", "connection", "api_usage")])
    try:
        with _sqlite_cache(IMPORT_CACHE_KIB), database.atomic():
            writer = ImportWriter(token_keys, now, summary)
            for kinds in rounds:
                batch = []
                for item in _records(path, kinds, progress):
                    batch.append(item)
                    if len(batch) >= batch_lines:
                        writer.flush(batch)
                        batch = []
                if batch:
                    writer.flush(batch)
            writer.usage_import.finish()
    except BadLine as exc:
        raise ImportAborted("the file changed after it was validated (%s); nothing was "
                            "imported" % exc)
    summary.seconds = time.monotonic() - started
    return summary


def import_file(path, token_keys, now=None):
    """Validate, then import; raises InvalidImportFile when any line is bad."""
    validation = validate(path)
    if not validation.ok:
        raise InvalidImportFile(validation)
    return run_import(path, validation, token_keys, now=now)


