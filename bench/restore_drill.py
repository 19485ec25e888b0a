#!/usr/bin/env python3
"""Backup and restore drill: back up while usage is being written, restore into a
new database, and check the restored copy.

Checks (verify_restored): `flask migrate --status` lists nothing pending and
exits 0; every customer's usage_monthly counter equals COUNT(*) of its raw
api_usage rows; `rebuild-rollups` changes no rollup; every token decrypts with
the configured TOKEN_ENCRYPTION_KEYS; the restored row count lies between the
counts before and after the backup (a consistent snapshot, not a torn copy).

SQLite: `flask backup --dir D` (sqlite3 online backup API + integrity check),
restore = copy the file. PostgreSQL: `pg_dump -Fc`, restore = `pg_restore
--no-owner` into a new, empty database. docs/operations.md has the procedure.

    .venv/bin/python bench/restore_drill.py                      # SQLite
    .venv/bin/python bench/restore_drill.py --engine postgresql  # BENCH_PG_URL or local test
tests/test_restore_drill.py runs the same functions at a small size.
"""
import argparse
import datetime
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ROLLUP_TABLES = ("usage_monthly", "usage_daily", "usage_daily_users", "usage_hourly_errors",
                 "usage_daily_active")


def seed(keys, customers=20, calls=400, seed=14):
    """Customers with connections (encrypted tokens) and usage through the counters.

    Returns {connection id: (access token, refresh token)} in plaintext, to check
    decryption after the restore.
    """
    from models import Connection, User, database, utcnow
    from portal.exact.crypto import encrypt_token
    from portal.usage.counters import record_usage_rows
    rnd = random.Random(seed)
    now = utcnow()
    plain = {}
    with database.atomic():
        users = [User.create(email="drill%03d@example.nl" % i, plan="pro") for i in range(customers)]
        for u in users:
            at, rt = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
            c = Connection.create(user=u, division=1, access_token=encrypt_token(keys, at),
                                  refresh_token=encrypt_token(keys, rt),
                                  token_expires_at=now + datetime.timedelta(minutes=10))
            plain[c.id] = (at, rt)
    rows = [dict(user=rnd.choice(users).id,
                 timestamp=now - datetime.timedelta(days=rnd.randint(0, 60),
                                                    minutes=rnd.randint(0, 1440)),
                 endpoint=rnd.choice(["tools/call get_relations", "tools/call list_divisions"]),
                 response_status=rnd.choice([200, 200, 200, 403, 429, 502]),
                 duration_ms=rnd.randint(5, 900)) for _ in range(calls)]
    record_usage_rows(rows)
    return plain


class UsageWriter(threading.Thread):
    """Records usage through record_api_call (the API's path) until stopped."""

    def __init__(self, user_ids):
        super().__init__(daemon=True)
        self.user_ids = user_ids
        self.stop = threading.Event()
        self.written = 0
        self.error = None

    def run(self):
        from models import database, utcnow
        from portal.usage.counters import record_api_call
        rnd = random.Random(7)
        try:
            database.connect(reuse_if_open=True)
            while not self.stop.is_set():
                record_api_call(rnd.choice(self.user_ids), utcnow(), "tools/call drill",
                                rnd.choice([200, 200, 502]), 12)
                self.written += 1
        except Exception as exc:  # reported by the caller
            self.error = exc
        finally:
            if not database.is_closed():
                database.close()


def backup(url, directory, env):
    """Back up the database at `url` into `directory`; returns the backup's path."""
    os.makedirs(directory, exist_ok=True)
    if url.startswith("sqlite"):
        out = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "backup", "--dir",
                              directory], cwd=ROOT, env=dict(env, DATABASE_URL=url),
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("flask backup failed: %s" % out.stderr[-500:])
        return out.stdout.strip().splitlines()[-1]
    target = os.path.join(directory, "portal.dump")
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", target, url],
                   check=True, timeout=300)
    return target


def restore(backup_path, url):
    """Restore `backup_path` into the new, empty database at `url`."""
    if url.startswith("sqlite"):
        shutil.copyfile(backup_path, url.split(":///", 1)[1])
        return
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", url,
                    backup_path], check=True, timeout=300)


def _rollup_snapshot():
    from models import User, database
    snap = {}
    for table in ROLLUP_TABLES:
        rows = database.execute_sql('SELECT * FROM "%s"' % table).fetchall()
        snap[table] = sorted(tuple(str(v) for v in r) for r in rows)
    snap["users.last_active_at"] = sorted(
        (u.id, str(u.last_active_at)) for u in User.select(User.id, User.last_active_at))
    return snap


def verify_restored(url, keys, plain, env):
    """Run the checks against the restored database; returns (problems, figures)."""
    from peewee import fn

    from models import ApiUsage, Connection, UsageMonthly, database
    from models.db import init_database
    from portal.exact.crypto import decrypt_token
    from portal.usage.counters import month_start, rebuild_rollups
    problems = []
    status = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "migrate",
                             "--status"], cwd=ROOT, env=dict(env, DATABASE_URL=url),
                            capture_output=True, text=True, timeout=120)
    if status.returncode != 0 or "pending" in status.stdout or "MISSING" in status.stdout:
        problems.append("migrate --status is not clean: %s %s"
                        % (status.stdout[-500:], status.stderr[-500:]))
    init_database(url)
    database.connect(reuse_if_open=True)
    raw = dict(ApiUsage.select(ApiUsage.user, fn.COUNT(ApiUsage.id)).group_by(ApiUsage.user)
               .tuples())
    counters = {}
    for row in UsageMonthly.select():
        counters[row.user_id] = counters.get(row.user_id, 0) + row.calls
    if raw != counters:
        problems.append("usage_monthly disagrees with COUNT(*) of api_usage for %d customer(s)"
                        % len(set(raw.items()) ^ set(counters.items())))
    monthly_raw = {}
    for user_id, ts in ApiUsage.select(ApiUsage.user, ApiUsage.timestamp).tuples():
        key = (user_id, month_start(ts))
        monthly_raw[key] = monthly_raw.get(key, 0) + 1
    monthly = {(r.user_id, r.month if not isinstance(r.month, str)
                else datetime.date.fromisoformat(r.month)): r.calls
               for r in UsageMonthly.select()}
    if monthly_raw != monthly:
        problems.append("per-month counters disagree with the raw rows")
    before = _rollup_snapshot()
    rebuild_rollups()
    if _rollup_snapshot() != before:
        problems.append("rebuild-rollups changed the restored rollups")
    undecryptable = 0
    for c in Connection.select():
        try:
            pair = (decrypt_token(keys, c.access_token), decrypt_token(keys, c.refresh_token))
        except Exception:
            undecryptable += 1
            continue
        if c.id in plain and pair != plain[c.id]:
            problems.append("connection %s decrypts to other tokens" % c.id)
    if undecryptable:
        problems.append("%d connection(s) do not decrypt with the configured keys" % undecryptable)
    figures = {"usage_rows": ApiUsage.select().count(), "connections": Connection.select().count()}
    database.close()
    return problems, figures


def drill(source_url, restored_url, keys, env, workdir, customers=20, calls=400,
          write_seconds=1.0):
    """Seed, back up while a writer records usage, restore, verify. Returns a report."""
    from models import ApiUsage, User, database
    from models.db import init_database
    init_database(source_url)
    database.connect(reuse_if_open=True)
    plain = seed(keys, customers=customers, calls=calls)
    writer = UsageWriter([u.id for u in User.select(User.id)])
    before = ApiUsage.select().count()
    writer.start()
    time.sleep(write_seconds / 2)  # the backup starts while usage is being written
    started = time.monotonic()
    path = backup(source_url, os.path.join(workdir, "backups"), env)
    backup_seconds = time.monotonic() - started
    time.sleep(write_seconds / 2)
    writer.stop.set()
    writer.join(30)
    if writer.error is not None:
        raise writer.error
    database.connect(reuse_if_open=True)
    after = ApiUsage.select().count()
    database.close()
    restore(path, restored_url)
    problems, figures = verify_restored(restored_url, keys, plain, env)
    if not before <= figures["usage_rows"] <= after:
        problems.append("restored %d usage rows, outside [%d, %d]"
                        % (figures["usage_rows"], before, after))
    return {"problems": problems, "rows_before_backup": before, "rows_after_backup": after,
            "rows_restored": figures["usage_rows"], "written_during_drill": writer.written,
            "backup_seconds": round(backup_seconds, 2), "backup_bytes": os.path.getsize(path)}


def main():
    parser = argparse.ArgumentParser(description="Backup and restore drill")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    from cryptography.fernet import Fernet

    from models.scratch_db import create_scratch_database, drop_scratch_database
    from portal.core.migrations_runner import make_runner
    from models.db import init_database
    workdir = tempfile.mkdtemp(prefix="restore-drill-")
    keys = Fernet.generate_key().decode()
    env = dict(os.environ, TOKEN_ENCRYPTION_KEYS=keys, SECRET_KEY="drill",
               PORTAL_INSTANCE_PATH=os.path.join(workdir, "instance"))
    created = []
    if args.engine == "sqlite":
        source = "sqlite:///" + os.path.join(workdir, "source.db")
        restored = "sqlite:///" + os.path.join(workdir, "restored.db")
    else:
        base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        source, a = create_scratch_database(base, "drill_src")
        restored, b = create_scratch_database(base, "drill_dst")
        created = [(base, a), (base, b)]
    try:
        make_runner(init_database(source), os.path.join(ROOT, "migrations")).up()
        report = drill(source, restored, keys, env, workdir, customers=args.customers,
                       calls=args.calls, write_seconds=4.0)
    finally:
        for base, name in created:
            drop_scratch_database(base, name)
        shutil.rmtree(workdir, ignore_errors=True)
    report["engine"] = args.engine
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
