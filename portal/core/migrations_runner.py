"""Applying numbered migrations with the guards the previous system lacked.

Wraps peewee's own runner (playhouse.migrations.Runner):
* refuses to run when two files share a number, naming both, applying nothing;
* refuses when a migration recorded as applied has no file any more;
* each migration and its ledger row run in one transaction (Runner does this
  with migration_context), so a failure halfway leaves both as they were;
* on SQLite, writes a consistent backup first and checks its integrity.
"""
import collections
import datetime
import os
import sqlite3

from playhouse.migrations import Runner

from models.db import is_sqlite

from portal.core.config import make_private_dir

LEDGER_TABLE = "schema_migrations"


class MigrationGuardError(RuntimeError):
    """The migrations directory or ledger is inconsistent; nothing was applied."""


def make_runner(db, directory):
    return Runner(db, directory, table_name=LEDGER_TABLE)


def check_guards(runner):
    """Raise MigrationGuardError for duplicate numbers or vanished applied files."""
    by_number = collections.defaultdict(list)
    for m in runner.migrations():
        by_number[m.idx].append(os.path.basename(m.path))
    duplicates = {n: sorted(files) for n, files in by_number.items() if len(files) > 1}
    if duplicates:
        lines = ["%04d: %s" % (n, ", ".join(files)) for n, files in sorted(duplicates.items())]
        raise MigrationGuardError(
            "Two or more migration files share a number; nothing was applied. "
            "Renumber them:\n  " + "\n  ".join(lines))
    missing = [m.name for m in runner.status() if m.path is None]
    if missing:
        raise MigrationGuardError(
            "Applied migrations have no file any more: %s. Restore the files; "
            "nothing was applied." % ", ".join(sorted(missing)))


def pending(runner):
    return [m for m in runner.status() if m.path is not None and not m.applied]


def sqlite_path(db):
    return db.database


def backup_sqlite(db, backup_dir, label="backup"):
    """Consistent copy with the sqlite3 backup API, then PRAGMA integrity_check on it."""
    # A backup holds password hashes, customer data and encrypted tokens:
    # 0600 in a 0700 folder (a folder we create; an existing one is the operator's).
    make_private_dir(backup_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = os.path.join(backup_dir, "%s-%s.sqlite3" % (label, stamp))
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(sqlite_path(db))
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if result != "ok":
        raise MigrationGuardError("Backup %s failed its integrity check: %s" % (target, result))
    return target


class MigrationFailed(RuntimeError):
    """One migration raised; it and its ledger row were rolled back."""

    def __init__(self, name, applied, error):
        super().__init__("%s failed and was rolled back (schema and ledger as before it): "
                         "%s: %s" % (name, type(error).__name__, error))
        self.name = name
        self.applied = applied  # the ones before it, which stay applied


def apply_pending(db, directory, backup_dir):
    """Apply every pending migration; return (applied names, backup path or None).

    Each migration runs with its ledger row in one transaction (Runner does
    that), one at a time so a failure names the migration that failed."""
    runner = make_runner(db, directory)
    check_guards(runner)
    todo = pending(runner)
    backup = None
    # Nothing worth a backup in a brand-new database (no tables yet).
    if todo and is_sqlite(db) and db.get_tables():
        backup = backup_sqlite(db, backup_dir, "pre-migrate")
    applied = []
    for migration in todo:
        try:
            applied.extend(runner.up(target=migration.name))
        except Exception as exc:  # noqa: BLE001 - reported with the migration's name
            raise MigrationFailed(migration.name, applied, exc) from exc
    return applied, backup
