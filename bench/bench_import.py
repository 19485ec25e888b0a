#!/usr/bin/env python3
"""Benchmark `flask --app app import` (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/bench_import.py                 # 100k lines, SQLite + PostgreSQL
    .venv/bin/python bench/bench_import.py --lines 200000 --memory-lines 1000000
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test  (default; skipped if unreachable)

Each run imports into a fresh database (a temp SQLite file, or a private
PostgreSQL database created and dropped like tests/conftest.py does) through
the real command in a child process, so the figures include start-up,
validation (pass 1) and the import (pass 2). Also measured: a re-import of the
same file (everything is a duplicate, so nothing may change), and the peak RSS
(ru_maxrss of the child) of a 1,000,000-line import on SQLite.
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
                          cwd=ROOT, env=env, capture_output=True, text=True)
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


def run_engine(label, url, path, lines, instance):
    env = env_for(url, instance)
    flask(env, "migrate")
    run = flask(env, "import", path)
    print("%-10s first import: %s" % (label, run.figures(lines)))
    print("%-10s   %s" % ("", run.out))
    run = flask(env, "import", path)
    print("%-10s re-import   : %s" % (label, run.figures(lines)))
    print("%-10s   %s" % ("", run.out))


def pg_database(base):
    try:
        return create_scratch_database(base, "bench_import")
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        print("PostgreSQL   skipped (%s unreachable: %s)" % (base, str(exc).strip()[:80]))
        return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="usage lines (throughput)")
    parser.add_argument("--memory-lines", type=int, default=1_000_000,
                        help="usage lines for the peak-memory run (0 skips it)")
    parser.add_argument("--pg", default=os.environ.get(
        "BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = os.path.join(tmp, "usage.jsonl")
        lines = write_file(path, args.lines)
        print("file: %d lines, %.1f MB" % (lines, os.path.getsize(path) / 1e6))
        run_engine("SQLite", "sqlite:///" + os.path.join(tmp, "bench.db"), path, lines,
                   os.path.join(tmp, "instance"))
        url, name = pg_database(args.pg)
        if url:
            try:
                run_engine("PostgreSQL", url, path, lines, os.path.join(tmp, "instance-pg"))
            finally:
                drop_scratch_database(args.pg, name)
        if args.memory_lines:
            big = os.path.join(tmp, "big.jsonl")
            lines = write_file(big, args.memory_lines)
            env = env_for("sqlite:///" + os.path.join(tmp, "big.db"), os.path.join(tmp, "i2"))
            flask(env, "migrate")
            run = flask(env, "import", big)
            print("memory     (%.0f MB file) %s" % (os.path.getsize(big) / 1e6, run.figures(lines)))
            print("             %s" % run.out)


if __name__ == "__main__":
    main()
