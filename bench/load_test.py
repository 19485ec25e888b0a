#!/usr/bin/env python3
"""Load test of the production processes on 127.0.0.1, bounded in time, both engines.

For each engine it starts, on loopback only: the fake Exact (its own process,
strict, 20 ms per token call), the portal under gunicorn (deploy/gunicorn.conf.py),
and, when `portal.mcp` exists, the MCP server. Then, at the same time:

* 50 staff sessions (real logins through the form) browsing the dashboard,
  customers, connections and the request log, one page every 0.5-1.5 s each;
* API ingestion: POST /api/v1/usage at a fixed arrival rate (default 500/s,
  open loop: late answers do not slow the arrivals down), from client processes;
* MCP tool calls (tools/call list_divisions) at 20/s when the MCP server exists;
* 2 sidecars (`flask sidecar --once --job token_refresh`) with 5,000 connections due.

Reported per engine: throughput and p50/p99 per page and endpoint, errors,
"database is locked" count (gunicorn and sidecar logs), refreshes done, and the
checks: 0 errors, 0 lost usage rows (usage_monthly total = COUNT(*) of
api_usage = rows seeded + 201 answers), 0 reused refresh tokens (the fake
Exact saw each token once and never answered "Old refresh token used"), staff
pages p99 <= 250 ms.

    .venv/bin/python bench/load_test.py                       # both engines, 60 s each
    .venv/bin/python bench/load_test.py --engine sqlite --rate 300 --duration 30
    .venv/bin/python bench/load_test.py --engine sqlite --find-break   # ramp the rate
Results also go to bench/out/load_<engine>.json. Nothing listens beyond 127.0.0.1.
"""
import argparse
import datetime
import importlib.util
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PY = sys.executable
HOST = "127.0.0.1"
STAFF_PASSWORD = "load-test-password-123"
STAFF_PAGES = {"dashboard": "/", "customers": "/customers/", "connections": "/connections/",
               "request log": "/usage/requests"}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


# --- setup -----------------------------------------------------------------

def prepare_database(url, keys, customers, connections, history_rows, staff_accounts):
    """Migrate and fill; returns (api keys, refresh tokens of the due connections)."""
    from models import Connection, Staff, User, database
    from models.db import init_database
    from portal.auth.passwords import hash_password
    from portal.core.migrations_runner import make_runner
    from portal.customers.api_keys import create_api_key
    from portal.exact.crypto import token_cipher
    from portal.usage.counters import record_usage_rows
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    rnd = random.Random(14)
    now = datetime.datetime.utcnow()
    cipher = token_cipher(keys)
    with database.atomic():
        for i in range(staff_accounts):
            Staff.create(email="staff%02d@load.test" % i, name="Staff %d" % i,
                         password_hash=hash_password(STAFF_PASSWORD, "scrypt:16384:8:1"))
        User.insert_many([{"email": "load%05d@example.nl" % i, "name": "Customer %d" % i,
                           "plan": "enterprise", "created_at": now}
                          for i in range(customers)]).execute()
    user_ids = [u for (u,) in User.select(User.id).order_by(User.id).tuples()]
    keys_plain = [create_api_key(User.get_by_id(uid), "load")[1] for uid in user_ids[:200]]
    tokens = []
    rows = []
    last = now - datetime.timedelta(days=2)
    for i in range(connections):
        token = "rt-load-" + secrets.token_urlsafe(12)
        tokens.append(token)
        rows.append({"user": user_ids[i % len(user_ids)], "division": 10000 + i,
                     "status": "active", "access_token": cipher.encrypt(b"at").decode(),
                     "refresh_token": cipher.encrypt(token.encode()).decode(),
                     "token_expires_at": last + datetime.timedelta(seconds=600),
                     "refresh_expires_at": last + datetime.timedelta(days=30),
                     "last_refreshed_at": last, "retry_count": 0, "created_at": last,
                     "updated_at": last})
    with database.atomic():
        for start in range(0, len(rows), 500):
            Connection.insert_many(rows[start:start + 500]).execute()
    history = [dict(user=rnd.choice(user_ids),
                    timestamp=now - datetime.timedelta(minutes=rnd.randint(1, 60 * 24 * 30)),
                    endpoint=rnd.choice(["tools/call get_relations", "tools/call list_divisions",
                                         "tools/call get_sales_invoices"]),
                    response_status=rnd.choice([200] * 8 + [403, 502]),
                    duration_ms=rnd.randint(5, 900)) for _ in range(history_rows)]
    for start in range(0, len(history), 5000):
        record_usage_rows(history[start:start + 5000])
    db.close()
    return keys_plain, tokens


def wait_http(url, proc, seconds=60):
    import requests
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (url, proc.returncode))
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("%s did not answer" % url)


# --- clients (each group in its own process: one GIL per group) -------------

def staff_client(base, sessions, duration, queue, accounts):
    import requests
    results = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def session(n):
        rnd = random.Random(n)
        s = requests.Session()
        try:
            page = s.get(base + "/login", timeout=10)
            token = CSRF.search(page.text).group(1)
            r = s.post(base + "/login", data={"csrf_token": token, "password": STAFF_PASSWORD,
                                              "email": "staff%02d@load.test" % (n % accounts)},
                       allow_redirects=False, timeout=30)
            if r.status_code != 302:
                with lock:
                    results.append(("login", 0.0, r.status_code))
                return
        except Exception as exc:
            with lock:
                results.append(("login", 0.0, type(exc).__name__))
            return
        time.sleep(rnd.uniform(0, 1.0))
        while time.monotonic() < stop_at:
            name = rnd.choice(list(STAFF_PAGES))
            started = time.perf_counter()
            try:
                r = s.get(base + STAFF_PAGES[name], timeout=30, allow_redirects=False)
                status = r.status_code
            except Exception as exc:
                status = type(exc).__name__
            with lock:
                results.append((name, time.perf_counter() - started, status))
            time.sleep(rnd.uniform(0.5, 1.5))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(("staff", results, duration))


def paced_client(kind, base, rate, duration, threads, queue, make_request):
    """Open loop: request i is due at start + i/rate, whatever happened to the others."""
    import requests
    results = []
    lock = threading.Lock()
    counter = [0]
    start = time.monotonic() + 0.5
    total = int(rate * duration)

    def worker():
        s = requests.Session()
        while True:
            with lock:
                i = counter[0]
                counter[0] += 1
            if i >= total:
                return
            due = start + i / rate
            if time.monotonic() > start + duration + 5:
                # Bounded: arrivals the server could not take within the window
                # are counted as not sent (the rate fell behind), not queued on.
                with lock:
                    results.append((kind, 0.0, "not sent: fell behind"))
                continue
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            method, url, kw = make_request(i)
            try:
                r = s.request(method, base + url, timeout=30, **kw)
                status = r.status_code
            except Exception as exc:
                status = type(exc).__name__
            with lock:
                results.append((kind, time.perf_counter() - sent, status))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    # Achieved rate: answers over the time until the last one came back.
    queue.put((kind, results, time.monotonic() - start))


def api_client(base, rate, duration, threads, queue, api_keys, seed):
    rnd = random.Random(seed)

    def make(i):
        key = api_keys[rnd.randrange(len(api_keys))]
        return "POST", "/api/v1/usage", {
            "headers": {"Authorization": "Bearer " + key},
            "json": {"endpoint": "tools/call get_relations", "response_status": 200,
                     "duration_ms": rnd.randint(5, 400)}}
    paced_client("POST /api/v1/usage", base, rate, duration, threads, queue, make)


def mcp_client(base, rate, duration, threads, queue, api_keys):
    rnd = random.Random(3)

    def make(i):
        key = api_keys[rnd.randrange(len(api_keys))]
        return "POST", "/mcp", {
            "headers": {"Authorization": "Bearer " + key,
                        "Accept": "application/json, text/event-stream",
                        "MCP-Protocol-Version": "2025-06-18"},
            "json": {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                     "params": {"name": "list_divisions", "arguments": {}}}}
    paced_client("MCP tools/call list_divisions", base, rate, duration, threads, queue, make)


# --- one engine --------------------------------------------------------------

def run_engine(engine, args):
    import requests
    from models.scratch_db import create_scratch_database, drop_scratch_database
    from cryptography.fernet import Fernet
    workdir = tempfile.mkdtemp(prefix="load-%s-" % engine)
    created = None
    if engine == "sqlite":
        url = "sqlite:///" + os.path.join(workdir, "load.db")
    else:
        base_url = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        url, name = create_scratch_database(base_url, "load")
        created = (base_url, name)
    keys = Fernet.generate_key().decode()
    t0 = time.monotonic()
    api_keys, tokens = prepare_database(url, keys, args.customers, args.connections,
                                        args.history, staff_accounts=10)
    print("[%s] database ready in %.0f s" % (engine, time.monotonic() - t0), file=sys.stderr)
    fake_port, portal_port, mcp_port = free_port(), free_port(), free_port()
    env = dict(os.environ, DATABASE_URL=url, TOKEN_ENCRYPTION_KEYS=keys,
               SECRET_KEY="load-" + secrets.token_hex(8), ADMIN_EMAILS="staff00@load.test",
               EXACT_BASE_URL="http://%s:%d" % (HOST, fake_port), EXACT_CLIENT_ID="load",
               EXACT_CLIENT_SECRET="load", PORTAL_INSTANCE_PATH=os.path.join(workdir, "inst"),
               PORTAL_BIND="%s:%d" % (HOST, portal_port), WEB_CONCURRENCY=str(args.web_workers),
               GUNICORN_THREADS=str(args.web_threads), GUNICORN_ACCESS_LOG="",
               PROMETHEUS_MULTIPROC_DIR=os.path.join(workdir, "prom"), SIDECAR_WORKERS="8",
               MAIL_URL="outbox:", PYTHONUNBUFFERED="1", MCP_PORT=str(mcp_port))
    env.pop("PORTAL_ENV", None)
    logs = {}
    procs = {}

    def start(name, cmd):
        logs[name] = open(os.path.join(workdir, name + ".log"), "w+")
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs[name],
                                       stderr=subprocess.STDOUT)
        return procs[name]

    fake = start("fake-exact", [PY, "-m", "portal.exact.fake", "--host", HOST, "--port",
                                str(fake_port), "--strict", "--latency-ms", "20"])
    wait_http("http://%s:%d/_control/stats" % (HOST, fake_port), fake)
    fake_url = "http://%s:%d" % (HOST, fake_port)
    requests.post(fake_url + "/_control/register", json={"tokens": tokens,
                                                         "issued_ago": 2 * 86400}, timeout=60)
    portal = start("gunicorn", [PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                "app:app"])
    base = "http://%s:%d" % (HOST, portal_port)
    wait_http(base + "/healthz", portal)
    has_mcp = importlib.util.find_spec("portal.mcp") is not None
    if has_mcp:
        mcp = start("mcp-server", [PY, "-m", "flask", "--app", "app", "mcp-server", "--host",
                                   HOST, "--port", str(mcp_port)])
        wait_http("http://%s:%d/mcp" % (HOST, mcp_port), mcp)

    queue = multiprocessing.Queue()
    clients = [multiprocessing.Process(target=staff_client,
                                       args=(base, args.staff, args.duration, queue, 10))]
    per_process = args.rate / args.api_processes
    for n in range(args.api_processes):
        clients.append(multiprocessing.Process(target=api_client, args=(
            base, per_process, args.duration, args.api_threads, queue, api_keys, n)))
    if has_mcp:
        clients.append(multiprocessing.Process(target=mcp_client, args=(
            "http://%s:%d" % (HOST, mcp_port), args.mcp_rate, args.duration, 8, queue,
            api_keys)))
    started = time.monotonic()
    for c in clients:
        c.start()
    sidecars = [start("sidecar-%d" % n, [PY, "-m", "flask", "--app", "app", "sidecar",
                                          "--once", "--job", "token_refresh"]) for n in (1, 2)]
    results = {}
    elapsed = {}
    for _ in clients:
        kind, rows, seconds = queue.get(timeout=args.duration + 600)
        results.setdefault(kind, []).extend(rows)
        elapsed[kind] = max(elapsed.get(kind, 0), seconds)
    for c in clients:
        c.join(60)
    sidecar_seconds = None
    for s in sidecars:
        try:
            s.wait(max(1, args.duration + 300 - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            s.terminate()
            s.wait(60)
    sidecar_seconds = round(time.monotonic() - started, 1)
    fake_stats = requests.get(fake_url + "/_control/stats", timeout=30).json()
    for name, p in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    locked = 0
    server_errors = 0
    for name, f in logs.items():
        f.seek(0)
        text = f.read()
        locked += text.count("database is locked")
        server_errors += text.count("Traceback")
        f.close()

    report = summarize(engine, args, results, elapsed)
    report.update(verify(url, args.history, results, fake_stats, len(tokens)))
    report.update({"database_is_locked": locked, "server_tracebacks": server_errors,
                   "sidecars_done_after_s": sidecar_seconds, "mcp": has_mcp,
                   "machine": machine()})
    from models import database
    if not database.is_closed():
        database.close()
    if created:
        drop_scratch_database(*created)
    shutil.rmtree(workdir, ignore_errors=True)
    return report


def summarize(engine, args, results, elapsed):
    rows = {}
    seconds_of = {}
    for kind, samples in results.items():
        if kind == "staff":
            for name, latency, status in samples:
                rows.setdefault("staff " + name, []).append((latency, status))
                seconds_of["staff " + name] = elapsed[kind]
        else:
            rows[kind] = [(latency, status) for _, latency, status in samples]
            seconds_of[kind] = elapsed[kind]
    table = {}
    errors = 0
    for name, samples in sorted(rows.items()):
        not_sent = [st for lat, st in samples if str(st).startswith("not sent")]
        samples = [(lat, st) for lat, st in samples if not str(st).startswith("not sent")]
        ok = [lat for lat, st in samples if isinstance(st, int) and st < 400]
        bad = [st for lat, st in samples if not (isinstance(st, int) and st < 400)]
        errors += len(bad)
        table[name] = {"requests": len(samples), "not_sent": len(not_sent),
                       "per_second": round(len(samples) / seconds_of[name], 1),
                       "p50_ms": _ms(percentile(ok, 50)), "p99_ms": _ms(percentile(ok, 99)),
                       "errors": len(bad),
                       "error_kinds": sorted({str(b) for b in bad})[:5]}
    staff_p99 = max((v["p99_ms"] or 0) for k, v in table.items() if k.startswith("staff "))
    return {"engine": engine, "duration_s": args.duration, "target_rate": args.rate,
            "endpoints": table, "errors": errors, "staff_p99_ms": staff_p99}


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def verify(url, history_rows, results, fake_stats, due):
    from peewee import fn
    from models import ApiUsage, RefreshAttempt, UsageMonthly, database
    from models.db import init_database
    init_database(url)
    database.connect(reuse_if_open=True)
    raw = ApiUsage.select().count()
    counted = UsageMonthly.select(fn.SUM(UsageMonthly.calls)).scalar() or 0
    accepted = sum(1 for _, _, st in results.get("POST /api/v1/usage", []) if st == 201)
    mcp_ok = sum(1 for _, _, st in results.get("MCP tools/call list_divisions", [])
                 if st == 200)
    refreshed = RefreshAttempt.select().where(RefreshAttempt.outcome == "success").count()
    outcomes = dict(RefreshAttempt.select(RefreshAttempt.outcome, fn.COUNT(RefreshAttempt.id))
                    .group_by(RefreshAttempt.outcome).tuples())
    database.close()
    expected = history_rows + accepted + mcp_ok
    return {"usage_rows": raw, "usage_counted": counted, "usage_expected": expected,
            "lost_usage_rows": expected - raw if raw <= expected else -(raw - expected),
            "counter_mismatch": counted - raw,
            "refreshes_done": refreshed, "refresh_outcomes": outcomes, "connections_due": due,
            "reused_refresh_tokens": fake_stats.get("reused_tokens"),
            "old_token_answers": fake_stats.get("answers", {}).get("401", 0)}


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    return {"cpus": os.cpu_count(), "memory_gib": round(mem, 1)}


def print_report(r):
    print("\n== %s: %d s, target %d API calls/s, machine %s cores / %s GiB"
          % (r["engine"], r["duration_s"], r["target_rate"], r["machine"]["cpus"],
             r["machine"]["memory_gib"]))
    print("%-36s %9s %7s %8s %8s %6s %9s" % ("page / endpoint", "answered", "req/s", "p50 ms",
                                             "p99 ms", "errors", "not sent"))
    for name, v in r["endpoints"].items():
        print("%-36s %9d %7.1f %8s %8s %6d %9d %s" % (
            name, v["requests"], v["per_second"], v["p50_ms"], v["p99_ms"], v["errors"],
            v["not_sent"], ",".join(v["error_kinds"])))
    for key in ("errors", "staff_p99_ms", "database_is_locked", "server_tracebacks",
                "usage_rows", "usage_counted", "usage_expected", "lost_usage_rows",
                "refreshes_done", "connections_due", "refresh_outcomes",
                "reused_refresh_tokens", "old_token_answers", "sidecars_done_after_s", "mcp"):
        print("  %-24s %s" % (key, r[key]))
    checks = {"0 errors": r["errors"] == 0 and r["server_tracebacks"] == 0,
              "0 lost usage rows": r["lost_usage_rows"] == 0 and r["counter_mismatch"] == 0,
              "0 reused refresh tokens": not r["reused_refresh_tokens"]
              and not r["old_token_answers"],
              "staff p99 <= 250 ms": r["staff_p99_ms"] <= 250,
              "target rate held": all(v["not_sent"] == 0 for v in r["endpoints"].values())}
    for name, ok in checks.items():
        print("  [%s] %s" % ("ok" if ok else "MISSED", name))
    return all(checks.values())


def main():
    parser = argparse.ArgumentParser(description="Bounded loopback load test")
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (max 300)")
    parser.add_argument("--rate", type=float, default=500, help="POST /api/v1/usage per second")
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--history", type=int, default=50_000, help="usage rows seeded")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--api-threads", type=int, default=32)
    parser.add_argument("--mcp-rate", type=float, default=20)
    parser.add_argument("--find-break", action="store_true",
                        help="ramp the ingestion rate (--ramp), 20 s each, until it breaks")
    parser.add_argument("--ramp", type=lambda v: [int(x) for x in v.split(",")],
                        default=[50, 100, 200, 300, 400, 500])
    args = parser.parse_args()
    args.duration = max(5, min(args.duration, 300))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    ok = True
    if args.find_break:
        args.duration = 20
        for rate in args.ramp:
            args.rate = rate
            r = run_engine(engines[0], args)
            print_report(r)
            api = r["endpoints"].get("POST /api/v1/usage", {})
            achieved = api.get("per_second", 0)
            # The ingestion breaks when it falls behind the arrivals, errs, loses
            # rows or hits "database is locked"; staff p99 is reported beside it.
            holds = (achieved >= 0.95 * rate and r["errors"] == 0 and r["lost_usage_rows"] == 0
                     and r["database_is_locked"] == 0 and (api.get("p99_ms") or 0) < 1000)
            print("  ingestion %s at %d/s" % ("holds" if holds else "BREAKS", rate))
            if not holds:
                print("\n%s breaks at about %d calls/s (achieved %.0f/s)"
                      % (engines[0], rate, achieved))
                break
        return
    for engine in engines:
        r = run_engine(engine, args)
        with open(os.path.join(ROOT, "bench", "out", "load_%s.json" % engine), "w") as f:
            json.dump(r, f, indent=2, default=str)
        ok = print_report(r) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
