"""migrate, backup, import, seed-demo, connections list."""
import os
import sys

import click
from flask import current_app

from models import database

from ..migrations_runner import (MigrationGuardError, apply_pending, backup_sqlite,
                                 check_guards, make_runner)
from models.db import is_sqlite


def _backup_dir():
    return os.path.join(current_app.instance_path, "backups")


@click.command("migrate")
@click.option("--status", "show_status", is_flag=True, help="List applied and pending migrations.")
def migrate_command(show_status):
    """Apply pending migrations (refuses on duplicate numbers or vanished files)."""
    db = database.obj
    runner = make_runner(db, current_app.config["MIGRATIONS_DIR"])
    try:
        check_guards(runner)
    except MigrationGuardError as exc:
        click.echo("migrate: %s" % exc, err=True)
        sys.exit(1)
    if show_status:
        for m in runner.status():
            state = ("applied %s" % m.applied.isoformat(sep=" ", timespec="seconds")
                     if m.applied else "pending")
            click.echo("%-40s %s" % (m.name, state))
        return
    try:
        applied, backup = apply_pending(db, current_app.config["MIGRATIONS_DIR"], _backup_dir())
    except MigrationGuardError as exc:
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


def register(app):
    app.cli.add_command(migrate_command)
    app.cli.add_command(backup_command)
