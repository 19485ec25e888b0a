"""migrate, backup, import, seed-demo, connections list.

Thin wrappers: the work lives in services without Flask (portal.core.migrations_runner,
portal.importer.service, portal.demo.seed, portal.connections.listing). Data goes to
stdout, messages and errors to stderr, so `connections list --json | jq` works.
"""
import contextlib
import os
import sys

import click
from flask import current_app

from models import User, database
from models.db import is_sqlite

from portal.core.migrations_runner import (
    MigrationFailed,
    MigrationGuardError,
    apply_pending,
    backup_sqlite,
    check_guards,
    make_runner,
)


def _backup_dir():
    """instance/backups, made private (0700) even if an older version left it 0755."""
    path = os.path.join(current_app.instance_path, "backups")
    if os.path.isdir(path):
        os.chmod(path, 0o700)
    return path


@click.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="List applied and pending migrations.")
def migrate_command(show_status):
    """Apply pending migrations (refuses on duplicate numbers or vanished files)."""
    db = database.obj
    directory = current_app.config["MIGRATIONS_DIR"]
    runner = make_runner(db, directory)
    if show_status:
        for m in runner.status():
            if m.path is None:
                state = "applied %s, FILE MISSING" % m.applied.isoformat(sep=" ", timespec="seconds")
            elif m.applied:
                state = "applied %s" % m.applied.isoformat(sep=" ", timespec="seconds")
            else:
                state = "pending"
            click.echo("%-40s %s" % (m.name, state))
    try:
        check_guards(runner)
    except MigrationGuardError as exc:
        click.echo("migrate: %s" % exc, err=True)
        sys.exit(1)
    if show_status:
        return
    try:
        applied, backup = apply_pending(db, directory, _backup_dir())
    except MigrationGuardError as exc:
        click.echo("migrate: %s" % exc, err=True)
        sys.exit(1)
    except MigrationFailed as exc:
        for name in exc.applied:
            click.echo("applied %s" % name)
        click.echo("migrate: %s" % exc, err=True)
        sys.exit(1)
    if backup:
        click.echo("Backup written to %s (integrity ok)" % backup, err=True)
    if applied:
        for name in applied:
            click.echo("applied %s" % name)
    else:
        click.echo("Nothing to apply: the database is up to date.")


@click.command("backup")
@click.option("--dir", "directory", default=None, help="Folder for the backup (default instance/backups).")
def backup_command(directory):
    """Write a consistent backup of the database."""
    db = database.obj
    if is_sqlite(db):
        path = backup_sqlite(db, directory or _backup_dir(), "backup")
        click.echo(path)
    else:
        click.echo("backup: on PostgreSQL use pg_dump (the portal does not hold the "
                   "server's files): pg_dump '%s' > backup.sql"
                   % current_app.config["DATABASE_URL"].split("@")[-1], err=True)
        sys.exit(2)


def _on_terminal():
    return sys.stdout.isatty()


@contextlib.contextmanager
def _progress(label, length):
    """click's progress bar on a terminal; nothing when stdout is a pipe or file."""
    if not _on_terminal():
        yield None
        return
    with click.progressbar(length=length, label=label, width=36) as bar:
        yield bar.update


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
def import_command(file):
    """Import JSON Lines from the previous system (validates everything first)."""
    from portal.importer.service import ImportAborted, run_import, validate
    size = os.path.getsize(file)
    database.connect(reuse_if_open=True)
    with _progress("Validating", size) as progress:
        validation = validate(file, progress=progress)
    if not validation.ok:
        for line, reason in validation.errors:
            click.echo("line %d: %s" % (line, reason), err=True)
        shown = len(validation.errors)
        more = (" (first %d shown)" % shown) if validation.error_count > shown else ""
        click.echo("import: %d bad line(s)%s in %s; nothing was imported."
                   % (validation.error_count, more, file), err=True)
        sys.exit(1)
    passes = 2 if validation.forward_references else 1
    try:
        with _progress("Importing ", size * passes) as progress:
            summary = run_import(file, validation, current_app.config["TOKEN_ENCRYPTION_KEYS"],
                                 progress=progress)
    except ImportAborted as exc:
        click.echo("import: %s" % exc, err=True)
        sys.exit(1)
    click.echo("Imported %s (%d lines): %s" % (file, validation.lines, summary.line()))


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True,
              help="Do nothing (exit 0) when the database already has customers.")
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same data).")
@click.option("--customers", default=200, show_default=True, type=click.IntRange(20, 5000),
              help="How many customers.")
def seed_demo_command(if_empty, seed, customers):
    """Fill an empty database with a living demo portal."""
    from portal.demo.seed import seed_demo
    database.connect(reuse_if_open=True)
    if User.select().exists():
        if if_empty:
            return
        click.echo("seed-demo: the database already has customers; seed-demo only fills an "
                   "empty database (use --if-empty to skip silently).", err=True)
        sys.exit(1)
    counts = seed_demo(current_app.config["TOKEN_ENCRYPTION_KEYS"], seed=seed,
                       customers=customers)
    click.echo("Demo data: " + ", ".join("%s %d" % item for item in counts.items()))


@click.group("connections")
def connections_group():
    """Exact connections."""


@connections_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON array on stdout.")
@click.option("--status", type=click.Choice(["active", "retry_pending", "refresh_failed"]),
              default=None, help="Only connections in this status.")
def connections_list_command(as_json, status):
    """List connections: id, email, division, status, retries, next retry, expiry, error."""
    from portal.connections.listing import iter_connection_rows, write_json_array, write_table
    database.connect(reuse_if_open=True)
    rows = iter_connection_rows(status=status)
    out = click.get_text_stream("stdout")
    if as_json:
        write_json_array(rows, out)
    else:
        write_table(rows, out)


def register(app):
    app.cli.add_command(migrate_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(import_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(connections_group)
