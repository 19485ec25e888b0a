#!/usr/bin/env python3
"""Benchmark: one token-refresh cycle of a real sidecar process.

2,000 due connections among 100,000 in the table, against the fake Exact
(its own process) answering after 20 ms, with 8 workers, on SQLite and/or
PostgreSQL. Reports the cycle time against the ideal (N x latency / workers),
the database time per refresh (claim + re-read + store, measured inside the
sidecar) and the sidecar's peak memory (ru_maxrss of the child process).

Targets: cycle <= 1.5 x ideal, peak memory < 150 MB.

    .venv/bin/python bench/bench_sidecar.py                 # both engines
    .venv/bin/python bench/bench_sidecar.py --engine sqlite --total 20000
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test ...
"""
import argparse
import datetime
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from models.scratch_db import create_scratch_database, drop_scratch_database  # noqa: E402

import requests  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_database(engine, workdir):
    if engine == "sqlite":
        return "sqlite:///" + os.path.join(workdir, "bench.db"), None
    base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    url, name = create_scratch_database(base, "bench_sidecar")
    return url, (base, name)


def drop_database(created):
    if created:
        drop_scratch_database(*created)


def fill(url, keys, total, due):
    """`total` connections, `due` of them due now; returns the due refresh tokens."""
    from models import Connection, User, database, init_database
    from portal.exact.crypto import token_cipher
    from portal.core.migrations_runner import make_runner
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    cipher = token_cipher(keys)
    now = datetime.datetime.utcnow()
    per_user = 100
    due_tokens = []
    # One ciphertext reused for the not-due rows: they are never decrypted.
    filler = cipher.encrypt(b"rt-not-due").decode()
    with database.atomic():
        User.insert_many([{"email": "bench%06d@example.nl" % u, "created_at": now}
                          for u in range((total + per_user - 1) // per_user)]).execute()
    user_ids = [u for (u,) in User.select(User.id).order_by(User.id).tuples()]
    rows = []
    for i in range(total):
        is_due = i % (total // due) == 0 and len(due_tokens) < due
        refreshed = now - (datetime.timedelta(days=2) if is_due else datetime.timedelta(hours=2))
        if is_due:
            token = "rt-bench-" + secrets.token_urlsafe(12)
            due_tokens.append(token)
            refresh = cipher.encrypt(token.encode()).decode()
        else:
            refresh = filler
        rows.append({"user": user_ids[i // per_user], "division": i % per_user,
                     "status": "active", "access_token": filler, "refresh_token": refresh,
                     "token_expires_at": refreshed + datetime.timedelta(seconds=600),
                     "refresh_expires_at": refreshed + datetime.timedelta(days=30),
                     "last_refreshed_at": refreshed, "created_at": now, "updated_at": now})
        if len(rows) == 2000:
            with database.atomic():
                Connection.insert_many(rows).execute()
            rows = []
    if rows:
        with database.atomic():
            Connection.insert_many(rows).execute()
    if url.startswith("postgres"):
        database.execute_sql("ANALYZE connections")
    database.close()
    return due_tokens


def run(engine, total, due, latency_ms, workers):
    workdir = tempfile.mkdtemp(prefix="bench_sidecar_")
    url, created = make_database(engine, workdir)
    keys = Fernet.generate_key().decode()
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "portal.exact.fake", "--port", str(port),
                             "--strict", "--latency-ms", str(latency_ms)], cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        tokens = fill(url, keys, total, due)
        fill_s = time.monotonic() - t0
        base = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                requests.post(base + "/_control/register", json={"tokens": tokens}, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        env = dict(os.environ, DATABASE_URL=url, TOKEN_ENCRYPTION_KEYS=keys,
                   SECRET_KEY="bench", PORTAL_INSTANCE_PATH=os.path.join(workdir, "instance"),
                   EXACT_BASE_URL=base, EXACT_CLIENT_ID="bench", EXACT_CLIENT_SECRET="bench",
                   SIDECAR_WORKERS=str(workers), PYTHONUNBUFFERED="1")
        env.pop("PORTAL_ENV", None)
        log_path = os.path.join(workdir, "sidecar.log")
        with open(log_path, "w") as log:
            started = time.monotonic()
            child = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sidecar",
                                      "--once", "--job", "token_refresh"], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            with open(log_path) as fh:
                raise SystemExit("sidecar failed:\n" + fh.read()[-3000:])
        from models import JobRun, init_database
        db = init_database(url)
        run_row = JobRun.get(JobRun.job == "token_refresh")
        details = json.loads(run_row.details)
        db.close()
        stats = requests.get(base + "/_control/stats", timeout=5).json()
        cycle = (run_row.finished_at - run_row.started_at).total_seconds()
        ideal = due * latency_ms / 1000.0 / workers
        result = {
            "engine": engine, "connections": total, "due": due, "latency_ms": latency_ms,
            "workers": workers, "refreshed": run_row.refreshed, "failed": run_row.failed,
            "fake_calls": stats["calls"], "reused_tokens": stats["reused_tokens"],
            "cycle_s": round(cycle, 2), "ideal_s": round(ideal, 2),
            "cycle_vs_ideal": round(cycle / ideal, 2),
            "db_ms_per_refresh": round(details["db_ms_total"] / max(1, details["exact_calls"]),
                                       2),
            "exact_ms_per_refresh": round(details["exact_ms_total"]
                                          / max(1, details["exact_calls"]), 1),
            "process_wall_s": round(wall, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1),
            "sidecar_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "load_avg_1m": round(os.getloadavg()[0], 1),
            "fill_s": round(fill_s, 1),
        }
        result["targets_met"] = result["cycle_vs_ideal"] <= 1.5 and result["peak_rss_mb"] < 150
        return result
    finally:
        fake.terminate()
        fake.wait(10)
        try:
            from models import database
            if database.obj is not None and not database.is_closed():
                database.close()
        except Exception:
            pass
        drop_database(created)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    results = [run(e, args.total, args.due, args.latency_ms, args.workers) for e in engines]
    for r in results:
        print(json.dumps(r))
    print("\n%-9s %8s %8s %7s %10s %10s %8s %7s %5s %s" % (
        "engine", "cycle s", "ideal s", "ratio", "db ms/ref", "exact ms", "RSS MB", "CPU s",
        "load", "ok"))
    for r in results:
        print("%-9s %8.2f %8.2f %7.2f %10.2f %10.1f %8.1f %7.2f %5.1f %s" % (
            r["engine"], r["cycle_s"], r["ideal_s"], r["cycle_vs_ideal"],
            r["db_ms_per_refresh"], r["exact_ms_per_refresh"], r["peak_rss_mb"],
            r["sidecar_cpu_s"], r["load_avg_1m"], "yes" if r["targets_met"] else "NO"))
    return 0 if all(r["targets_met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
