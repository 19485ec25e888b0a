"""Import from the previous system: JSON Lines, validated whole, then written at once.

1. `validate(path)` parses every line once (portal.importer.records) and checks
   that each connection/usage line names a customer that is in the file or
   already in the database. Any bad line means nothing is imported. The parsed
   records go to a spool on disk (portal.importer.spool), so a million lines
   never sit in memory and are not parsed twice.
2. `run_import(path, validation, token_keys)` writes the spooled records in
   batches inside ONE transaction: customers by email first, then connections
   by (email, division), then usage through portal.usage.counters so every
   counter and rollup moves exactly as if the calls had come through the API.

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
import gc
import time

from models import database, utcnow
from models.db import is_sqlite

from portal.importer.records import BadLine, parse_line_for_import
from portal.importer.spool import CHUNK as SPOOL_CHUNK, Spool
# ImportAborted: the command imports it from here.
from portal.importer.writer import ImportAborted, ImportWriter, existing_customer_ids  # noqa: F401

BATCH_LINES = 20_000
IMPORT_CACHE_KIB = 16 * 1024
MAX_REPORTED_ERRORS = 1000
MAX_LINES_PER_MISSING_EMAIL = 20
PROGRESS_EVERY = 1000  # lines; a progress bar redrawn per line costs more than the line


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
    # A connection/usage line came before its customer's line. The import writes all
    # customers first anyway; the command sizes its progress bar for two rounds then.
    forward_references: bool = False
    bytes: int = 0
    # The parsed records of a valid file (None when a line is bad): run_import reads these.
    spool: Spool = dataclasses.field(default=None, repr=False, compare=False)

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


@contextlib.contextmanager
def _without_cyclic_gc():
    """The import makes millions of short-lived, acyclic containers (parsed lines, row
    tuples): reference counting frees them, and the cyclic collector, which runs every
    few hundred allocations and now and then walks everything alive, only costs time
    (about 7% of validating a million lines)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- pass 1 ------------------------------------------------------------------

def validate(path, progress=None):
    """Check every line; returns a Validation (errors sorted by line number) whose
    spool holds the parsed records when the file is valid."""
    result = Validation()
    spool = Spool()
    spool_customer = spool.appender("customer")
    spool_connection = spool.appender("connection")
    in_file = set()
    unresolved = {}  # email -> line numbers of references made before any customer line
    spooling = True  # until the first bad line: then nothing will be imported
    records = reported = number = 0
    usage = []  # nearly every line: appended here, not through a function call
    try:
        with _without_cyclic_gc(), open(path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if progress and number % PROGRESS_EVERY == 0:
                    position = fh.tell()
                    progress(position - reported)
                    reported = position
                try:
                    parsed = parse_line_for_import(raw)
                except BadLine as exc:
                    result.add_error(number, str(exc))
                    spooling = False
                    continue
                if parsed is None:
                    continue
                records += 1
                kind, rec = parsed
                if kind == "api_usage":
                    # (email, timestamp as naive-UTC text, endpoint, status, duration)
                    if rec[0] not in in_file:
                        _unresolved(unresolved, rec[0], number)
                    if spooling:
                        usage.append(rec)
                        if len(usage) >= SPOOL_CHUNK:
                            spool.write("api_usage", usage)
                elif kind == "customer":
                    in_file.add(rec.email)
                    if unresolved.pop(rec.email, None) is not None:
                        result.forward_references = True
                    if spooling:
                        spool_customer(rec)
                else:
                    if rec.email not in in_file:
                        _unresolved(unresolved, rec.email, number)
                    if spooling:
                        spool_connection(rec)
            result.bytes = fh.tell()
        result.lines, result.records = number, records
        if progress and result.bytes > reported:
            progress(result.bytes - reported)
        if unresolved:
            known = existing_customer_ids(unresolved)
            for email, numbers in unresolved.items():
                if email not in known:
                    for n in numbers:
                        result.add_error(n, "customer %s is neither in this file nor in the "
                                            "database" % email)
        result.errors.sort()
        if result.ok:
            spool.write("api_usage", usage)
            spool.finish()
            result.spool = spool
    finally:
        if result.spool is None:
            spool.close()
    return result


def _unresolved(unresolved, email, number):
    refs = unresolved.setdefault(email, [])
    if len(refs) < MAX_LINES_PER_MISSING_EMAIL:
        refs.append(number)


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


class _Progress:
    """Reports pass 2 in bytes of the file, shared out over the spooled records, for
    a bar as long as the file (times two when the file had forward references:
    the command sizes its bar for the two rounds the import used to make)."""

    def __init__(self, progress, validation):
        self.progress = progress
        rounds = 2 if validation.forward_references else 1
        self.total = validation.bytes * rounds
        self.records = max(1, validation.records)
        self.done = self.reported = 0

    def __call__(self, records):
        if not self.progress:
            return
        self.done += records
        upto = self.total * self.done // self.records
        if upto > self.reported:
            self.progress(upto - self.reported)
            self.reported = upto


def run_import(path, validation, token_keys, now=None, progress=None, batch_lines=BATCH_LINES):
    """Pass 2: write a validated file in one transaction. Returns an ImportSummary.

    `path` is the file that was validated; the records come from validation.spool."""
    if not validation.ok:
        raise InvalidImportFile(validation)
    if validation.spool is None:
        raise ValueError("run_import needs the Validation that validate(%r) returned" % path)
    started = time.monotonic()
    now = now or utcnow()
    summary = ImportSummary()
    spool = validation.spool
    report = _Progress(progress, validation)
    with _sqlite_cache(IMPORT_CACHE_KIB), _without_cyclic_gc(), database.atomic():
        writer = ImportWriter(token_keys, now, summary)
        # Customers first: a connection or usage line may come before its customer's.
        for batch in spool.read("customer", batch_lines):
            writer.customers(batch)
            report(len(batch))
        for batch in spool.read("connection", batch_lines):
            writer.connections(batch)
            report(len(batch))
        for batch in spool.read("api_usage", batch_lines):
            writer.usage(batch)
            report(len(batch))
        writer.usage_import.finish()
    summary.seconds = time.monotonic() - started
    return summary


def import_file(path, token_keys, now=None):
    """Validate, then import; raises InvalidImportFile when any line is bad."""
    validation = validate(path)
    if not validation.ok:
        raise InvalidImportFile(validation)
    try:
        return run_import(path, validation, token_keys, now=now)
    finally:
        validation.spool.close()
