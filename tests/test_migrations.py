"""`flask --app app migrate`: the guards the previous system lacked, on both engines.

Each test gets a brand-new empty database (a SQLite file, or a private
PostgreSQL database) and its own copy of migrations/, so it can add, break and
delete migration files without touching the suite's database.
"""
import os
import shutil
import sqlite3

import pytest

from models import database
from models.db import init_database
from models.scratch_db import create_scratch_database, drop_scratch_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS = os.path.join(ROOT, "migrations")
BROKEN = '''
def up(migrator, db):
    db.execute_sql("CREATE TABLE half_done (id INTEGER)")
    db.execute_sql("INSERT INTO half_done (id) VALUES (1)")
    raise RuntimeError("boom halfway")
'''
OK = '''
def up(migrator, db):
    db.execute_sql("CREATE TABLE {name} (id INTEGER)")
'''


@pytest.fixture
def fresh(app_config, tmp_path):
    """(cli runner, migrations dir, db url) on an empty database of this engine."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    created = None
    if base.startswith("postgres"):
        url, created = create_scratch_database(base, "portal_migrations")
    else:
        url = "sqlite:///" + str(tmp_path / "fresh.db")
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    from portal import create_app
    app = create_app(dict(app_config, DATABASE_URL=url, MIGRATIONS_DIR=str(directory)))
    with app.app_context():
        yield app.test_cli_runner(), directory, url
    database.close()
    if created:
        drop_scratch_database(base, created)
    init_database(app_config["DATABASE_URL"])  # rebind the suite's database


def tables():
    database.connect(reuse_if_open=True)
    return set(database.get_tables())


def ledger():
    if "schema_migrations" not in tables():
        return []
    return [r[0] for r in database.execute_sql(
        "SELECT name FROM schema_migrations ORDER BY name").fetchall()]


def shipped():
    return sorted(f[:-3] for f in os.listdir(MIGRATIONS) if f[:1].isdigit() and f.endswith(".py"))


def test_migrate_applies_every_migration_and_then_has_nothing_to_do(fresh):
    runner, _, _ = fresh
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert ledger() == shipped()
    assert {"users", "connections", "api_usage"} <= tables()
    again = runner.invoke(args=["migrate"])
    assert again.exit_code == 0 and "Nothing to apply" in again.stdout


def test_two_files_sharing_a_number_are_refused_naming_both(fresh):
    runner, directory, _ = fresh
    (directory / "0777_add_invoices.py").write_text(OK.format(name="invoices"))
    (directory / "0777_add_reminders.py").write_text(OK.format(name="reminders"))
    result = runner.invoke(args=["migrate"])
    assert result.exit_code != 0
    assert "0777_add_invoices.py" in result.stderr and "0777_add_reminders.py" in result.stderr
    assert "nothing was applied" in result.stderr
    assert tables() == set()  # not even 0001 ran


def test_an_applied_migration_whose_file_vanished_is_refused(fresh):
    runner, directory, _ = fresh
    (directory / "0777_add_invoices.py").write_text(OK.format(name="invoices"))
    assert runner.invoke(args=["migrate"]).exit_code == 0
    os.remove(directory / "0777_add_invoices.py")
    (directory / "0778_add_reminders.py").write_text(OK.format(name="reminders"))
    result = runner.invoke(args=["migrate"])
    assert result.exit_code != 0
    assert "0777_add_invoices" in result.stderr
    assert "reminders" not in tables() and "0778_add_reminders" not in ledger()
    status = runner.invoke(args=["migrate", "--status"])
    assert status.exit_code != 0
    assert "FILE MISSING" in status.stdout


def test_a_migration_failing_halfway_leaves_schema_and_ledger_as_they_were(fresh):
    runner, directory, _ = fresh
    assert runner.invoke(args=["migrate"]).exit_code == 0
    before_tables, before_ledger = tables(), ledger()
    (directory / "0777_add_invoices.py").write_text(OK.format(name="invoices"))
    (directory / "0778_broken.py").write_text(BROKEN)
    result = runner.invoke(args=["migrate"])
    assert result.exit_code != 0
    assert "0778_broken failed" in result.stderr and "boom halfway" in result.stderr
    # The one before it is applied (its own transaction); the broken one left no trace.
    assert tables() == before_tables | {"invoices"}
    assert ledger() == before_ledger + ["0777_add_invoices"]
    assert "half_done" not in tables()
    status = runner.invoke(args=["migrate", "--status"])
    assert status.exit_code == 0
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    assert "pending" in lines["0778_broken"]
    assert "applied" in lines["0777_add_invoices"] and "applied" in lines["0001_initial_schema"]


def test_status_lists_applied_and_pending(fresh):
    runner, directory, _ = fresh
    result = runner.invoke(args=["migrate", "--status"])
    assert result.exit_code == 0
    assert all("pending" in line for line in result.stdout.splitlines())
    assert len(result.stdout.splitlines()) == len(shipped())
    assert tables() <= {"schema_migrations"}  # --status applies nothing


def test_sqlite_gets_a_consistent_backup_before_anything_is_applied(fresh):
    runner, directory, url = fresh
    if not url.startswith("sqlite"):
        pytest.skip("backups before migrating are a SQLite feature (pg_dump on PostgreSQL)")
    assert runner.invoke(args=["migrate"]).exit_code == 0
    database.execute_sql("INSERT INTO users (email, name, plan, marketing_opt_out, created_at)"
                         " VALUES ('keep@klant.nl', 'K', 'starter', 0, '2026-01-01 00:00:00')")
    (directory / "0777_add_invoices.py").write_text(OK.format(name="invoices"))
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    backup_dir = os.path.join(runner.app.instance_path, "backups")
    backups = [os.path.join(backup_dir, f) for f in os.listdir(backup_dir)]
    assert len(backups) == 1 and "integrity ok" in result.stderr
    copy = sqlite3.connect(backups[0])
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT email FROM users").fetchall() == [("keep@klant.nl",)]
        names = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "invoices" not in names  # taken before the migration ran
    finally:
        copy.close()


def test_backup_command(fresh):
    runner, _, url = fresh
    assert runner.invoke(args=["migrate"]).exit_code == 0
    result = runner.invoke(args=["backup"])
    if url.startswith("sqlite"):
        assert result.exit_code == 0
        path = result.stdout.strip()
        copy = sqlite3.connect(path)
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(
            shipped())
        copy.close()
    else:
        assert result.exit_code != 0 and "pg_dump" in result.stderr


def test_data_migrations_are_frozen_and_seed_what_the_code_seeds(fresh):
    """0011, 0020 and 0031 import nothing from portal/ (a migration is a frozen record),
    and on a fresh database they seed exactly what the application's seeders seed today."""
    for name in ("0011_revive_refresh_failed", "0020_seed_default_templates",
                 "0031_seed_outreach_campaigns"):
        with open(os.path.join(MIGRATIONS, name + ".py"), encoding="utf-8") as f:
            assert "portal" not in "".join(
                line for line in f if line.lstrip().startswith(("from ", "import ")))
    runner, _, _ = fresh
    assert runner.invoke(args=["migrate"]).exit_code == 0
    from models import AdminResponseTemplate, OutreachCampaign, ResponseTemplate
    from portal.mail.defaults import DEFAULT_OUTREACH, DEFAULT_REPLIES
    from models.triggers import BY_NAME
    seeded = {t.trigger: (t.name, t.subject, t.body) for t in ResponseTemplate.select()}
    assert seeded == DEFAULT_OUTREACH
    assert sorted((r.category, r.name, r.subject, r.body)
                  for r in AdminResponseTemplate.select()) == sorted(DEFAULT_REPLIES)
    campaigns = list(OutreachCampaign.select())
    assert {c.trigger for c in campaigns} == set(BY_NAME)
    for c in campaigns:
        assert not c.enabled and c.name == BY_NAME[c.trigger].campaign_name
        assert c.template.trigger == c.trigger
