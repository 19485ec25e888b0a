#!/usr/bin/env python3
"""Benchmark `flask --app app import` (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/bench_import.py                 # 100k lines, SQLite + PostgreSQL
    .venv/bin/python bench/bench_import.py --lines 200000 --memory-lines 1000000
    .venv/bin/python bench/bench_import.py --tree /tmp/old  # the import of another checkout
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test  (default; skipped if unreachable)

Each run imports into a fresh database (a temp SQLite file, or a private
PostgreSQL database created and dropped like tests/conftest.py does) through
the real command in a child process, so the figures include start-up,
validation and the import. Also measured: a re-import of the same file
(everything is a duplicate, so nothing may change), and the peak RSS (ru_maxrss
of the child) of a 1,000,000-line import on SQLite.

Next to each first import: the physical limit, a raw executemany (SQLite) /
execute_values (PostgreSQL) of the same usage rows, as the import hands them to
the driver, into api_usage of a freshly migrated database of the same engine
(same page cache on SQLite, same chunks, one transaction; start-up, reading the
file and the customers not counted). `--tree DIR` runs the import command of
another checkout (e.g. `git worktree add /tmp/old HEAD~1`) with this script, so
before and after can be measured back to back on a machine shared with others.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
TREE = ROOT  # where the import command runs from (--tree)
sys.path.insert(0, ROOT)

from models.scratch_db import create_scratch_database, drop_scratch_database  # noqa: E402
if not os.path.exists(PY):
    PY = sys.executable
ENDPOINTS = ["tools/call get_invoices", "tools/call get_relations", "tools/call get_items",
             "tools/list", "tools/call get_transactions", "initialize"]


def write_file(path, usage_lines, per_customer=100, seed=1):
    """customers (1 per `per_customer` usage lines) + one connection each + usage lines."""
    rng = random.Random(seed)
    customers = max(1, usage_lines // per_customer)
    with open(path, "w") as fh:
        for c in range(customers):
            fh.write(json.dumps({"type": "customer", "email": "c%d@bench.nl" % c,
                                 "name": "Bench %d B.V." % c,
                                 "plan": ("free", "starter", "pro", "enterprise")[c % 4],
                                 "created_at": "2025-06-01T08:00:00Z"}) + "\n")
            fh.write(json.dumps({"type": "connection", "email": "c%d@bench.nl" % c,
                                 "division": 100000 + c, "access_token": "at-%d" % c,
                                 "refresh_token": "rt-%d" % c,
                                 "token_expires_at": "2026-02-01T10:00:00Z",
                                 "status": "refresh_failed" if c % 10 == 0 else "active"}) + "\n")
        base = 1_767_225_600  # 2026-01-01T00:00:00Z
        for n in range(usage_lines):
            ts = base + n * 2 + rng.randrange(2)  # time-ordered, like a real export
            fh.write(json.dumps({
                "type": "api_usage", "email": "c%d@bench.nl" % rng.randrange(customers),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                "endpoint": rng.choice(ENDPOINTS),
                "response_status": 200 if rng.random() < 0.95 else rng.choice((401, 404, 500))})
                + "\n")
    return customers * 2 + usage_lines


def env_for(url, instance):
    env = dict(os.environ)
    env.update(DATABASE_URL=url, PORTAL_INSTANCE_PATH=instance, PYTHONUNBUFFERED="1")
    env.pop("PORTAL_ENV", None)
    return env


def flask(env, *args):
    """Run one command in a fresh child; returns (seconds, peak RSS MB of that child, stdout)."""
    code = ("import resource, subprocess, sys, time; t = time.monotonic(); "
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "dt = time.monotonic() - t; "
            "ru = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "sys.stderr.write(p.stderr); "
            "print('%f %f %f' % (dt, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime)); "
            "print(p.stdout, end=''); "
            "sys.exit(p.returncode)")
    proc = subprocess.run([PY, "-c", code, PY, "-m", "flask", "--app", "app", *args],
                          cwd=TREE, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("flask %s failed:\n%s\n%s" % (" ".join(args), proc.stdout, proc.stderr[-3000:]))
    first, _, rest = proc.stdout.partition("\n")
    seconds, rss, cpu = (float(x) for x in first.split())
    return Run(seconds, rss, cpu, rest.strip())


class Run:
    def __init__(self, seconds, rss, cpu, out):
        self.seconds, self.rss, self.cpu, self.out = seconds, rss, cpu, out

    def figures(self, lines):
        # CPU time of the command's own process: on a busy machine the wall time
        # says more about the neighbours than about the import.
        return ("%8d lines in %6.2f s = %7.0f lines/s wall, %7.0f lines/s per CPU-second "
                "of the process; peak RSS %.0f MB" % (lines, self.seconds, lines / self.seconds,
                                                      lines / max(self.cpu, 1e-9), self.rss))


def run_engine(label, url, path, lines, instance, raw_url=None):
    env = env_for(url, instance)
    flask(env, "migrate")
    run = flask(env, "import", path)
    print("%-10s first import: %s" % (label, run.figures(lines)))
    if raw_url:
        print("%-10s   %s" % ("", raw_limit(raw_url, path, instance, run, lines)))
    print("%-10s   %s" % ("", run.out))
    run = flask(env, "import", path)
    print("%-10s re-import   : %s" % (label, run.figures(lines)))
    print("%-10s   %s" % ("", run.out))


def raw_limit(url, path, instance, run, lines):
    """Migrate `url`, then time the raw insert of the file's usage rows in a child."""
    flask(env_for(url, instance + "-raw"), "migrate")
    proc = subprocess.run([PY, os.path.abspath(__file__), "--raw-child", url, path],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("raw insert failed:\n%s" % proc.stderr[-3000:])
    rows, seconds = proc.stdout.split()
    rows, seconds = int(rows), float(seconds)
    return ("raw executemany of the same %d usage rows: %.2f s = %.0f rows/s; the import "
            "(%.0f lines/s) is %.0f%% of it" % (rows, seconds, rows / seconds,
                                                lines / run.seconds,
                                                100 * (lines / run.seconds) / (rows / seconds)))


def raw_child(url, path):
    """The physical limit: the usage rows exactly as the import passes them to the driver
    (user id, naive-UTC text, endpoint, status, duration) into api_usage, in chunks of
    the import's batch, one transaction. Prints "rows seconds"."""
    from portal.importer.records import utc_text
    from portal.importer.service import BATCH_LINES, IMPORT_CACHE_KIB
    ids, rows = {}, []
    with open(path) as fh:
        for line in fh:
            obj = json.loads(line)
            if obj["type"] == "customer":
                ids.setdefault(obj["email"].lower(), len(ids) + 1)
            elif obj["type"] == "api_usage":
                rows.append((ids[obj["email"].lower()], utc_text(obj["timestamp"]),
                             obj["endpoint"], obj["response_status"], obj.get("duration_ms")))
    users = [(uid, email, "", "free", False, "2026-01-01 00:00:00") for email, uid in ids.items()]
    columns = '"user_id", "timestamp", "endpoint", "response_status", "duration_ms"'
    user_columns = "id, email, name, plan, marketing_opt_out, created_at"
    if url.startswith("sqlite"):
        import sqlite3
        conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
        conn.execute("PRAGMA cache_size = -%d" % IMPORT_CACHE_KIB)
        cur = conn.cursor()
        cur.executemany("INSERT INTO users (%s) VALUES (?, ?, ?, ?, ?, ?)" % user_columns, users)
        started = time.monotonic()
        cur.execute("BEGIN")
        for i in range(0, len(rows), BATCH_LINES):
            cur.executemany('INSERT INTO "api_usage" (%s) VALUES (?, ?, ?, ?, ?)' % columns,
                            rows[i:i + BATCH_LINES])
        cur.execute("COMMIT")
    else:
        import psycopg2
        from psycopg2.extras import execute_values
        conn = psycopg2.connect(url)
        cur = conn.cursor()
        execute_values(cur, "INSERT INTO users (%s) VALUES %%s" % user_columns, users)
        conn.commit()
        started = time.monotonic()
        for i in range(0, len(rows), BATCH_LINES):
            execute_values(cur, 'INSERT INTO "api_usage" (%s) VALUES %%s' % columns,
                           rows[i:i + BATCH_LINES], page_size=1000)
        conn.commit()
    print(len(rows), time.monotonic() - started)


def pg_database(base):
    try:
        return create_scratch_database(base, "bench_import")
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        print("PostgreSQL   skipped (%s unreachable: %s)" % (base, str(exc).strip()[:80]))
        return None, None


def main():
    global TREE
    if sys.argv[1:2] == ["--raw-child"]:
        return raw_child(*sys.argv[2:4])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--lines", type=int, default=100_000, help="usage lines (throughput)")
    parser.add_argument("--memory-lines", type=int, default=1_000_000,
                        help="usage lines for the peak-memory run (0 skips it)")
    parser.add_argument("--pg", default=os.environ.get(
        "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--tree", default=ROOT,
                        help="run the import command of this checkout (default: this one)")
    args = parser.parse_args()
    TREE = os.path.abspath(args.tree)
    print("import command from %s" % TREE)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = os.path.join(tmp, "usage.jsonl")
        lines = write_file(path, args.lines)
        print("file: %d lines, %.1f MB" % (lines, os.path.getsize(path) / 1e6))
        run_engine("SQLite", "sqlite:///" + os.path.join(tmp, "bench.db"), path, lines,
                   os.path.join(tmp, "instance"),
                   raw_url="sqlite:///" + os.path.join(tmp, "raw.db"))
        url, name = (None, None) if args.no_pg else pg_database(args.pg)
        if url:
            raw_url, raw_name = pg_database(args.pg)
            try:
                run_engine("PostgreSQL", url, path, lines, os.path.join(tmp, "instance-pg"),
                           raw_url=raw_url)
            finally:
                drop_scratch_database(args.pg, name)
                if raw_name:
                    drop_scratch_database(args.pg, raw_name)
        if args.memory_lines:
            big = os.path.join(tmp, "big.jsonl")
            lines = write_file(big, args.memory_lines)
            env = env_for("sqlite:///" + os.path.join(tmp, "big.db"), os.path.join(tmp, "i2"))
            flask(env, "migrate")
            run = flask(env, "import", big)
            print("memory     (%.0f MB file) %s" % (os.path.getsize(big) / 1e6, run.figures(lines)))
            print("             %s" % raw_limit("sqlite:///" + os.path.join(tmp, "big-raw.db"), big,
                                                 os.path.join(tmp, "i3"), run, lines))
            print("             %s" % run.out)


if __name__ == "__main__":
    main()
