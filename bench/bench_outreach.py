"""Benchmark: evaluate every outreach trigger over 100,000 customers and 5,000,000
usage rows on SQLite. Target: all triggers (queries + rules) in under 2 s.

    .venv/bin/python bench/bench_outreach.py             # build data in a temp dir, run
    .venv/bin/python bench/bench_outreach.py --db /tmp/outreach-bench.db   # keep/reuse

The database is created by the real migrations (same indexes as production);
data is generated with bulk inserts through sqlite3 and the rollups
(usage_monthly, usage_daily_users, users.last_active_at) are derived from the
raw rows with INSERT ... SELECT, exactly what portal.usage.counters maintains.
What is timed is what one sidecar cycle does before sending: per campaign one
trigger query, the rule-state queries and the per-candidate decisions. Sending
is not timed (that is SMTP's speed, not ours).
"""
import argparse
import datetime
import os
import random
import sqlite3
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

NOW = datetime.datetime(2026, 3, 20, 12, 0, 0)
PLANS = ["free"] * 60 + ["starter"] * 25 + ["pro"] * 12 + ["enterprise"] * 3
ENDPOINTS = ["tools/call get_invoices", "tools/call get_relations", "tools/call get_ledgers",
             "tools/call create_invoice", "tools/list"]


def ts(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def build(path, customers, usage_rows, seed=7):
    from models import init_database
    from portal.core.migrations_runner import make_runner
    from portal.outreach.defaults import seed_default_campaigns
    from portal.mail.defaults import seed_default_templates

    db = init_database("sqlite:///" + path)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    seed_default_templates()
    seed_default_campaigns()
    db.close()

    rnd = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    t0 = time.perf_counter()
    with con:
        con.executemany(
            "INSERT INTO users (id, email, name, plan, marketing_opt_out, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ((i, "customer%06d@example.nl" % i, "Customer %d" % i, rnd.choice(PLANS),
              1 if rnd.random() < 0.1 else 0,
              ts(NOW - datetime.timedelta(days=rnd.uniform(0, 730))))
             for i in range(1, customers + 1)))
        conns = []
        for i in range(1, customers + 1):
            r = rnd.random()
            if r < 0.7:
                status = "refresh_failed" if r < 0.015 else (
                    "retry_pending" if r < 0.03 else "active")
                conns.append((i, 100000 + i, status, ts(NOW - datetime.timedelta(hours=1)),
                              ts(NOW - datetime.timedelta(days=3)),
                              "Old refresh token used." if status == "refresh_failed" else None))
        con.executemany(
            "INSERT INTO connections (user_id, division, status, token_expires_at, "
            "created_at, updated_at, last_error, access_token, refresh_token, retry_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, '', '', 0)",
            ((u, d, s, e, c, c, err) for u, d, s, e, c, err in conns))
    print("customers + connections: %.1fs" % (time.perf_counter() - t0), flush=True)

    # Usage: the last 60 days, skewed (a few heavy customers), 5 % errors, and a
    # handful of customers stuck in an error loop during the last day.
    t0 = time.perf_counter()
    active = customers // 2
    looping = set(rnd.sample(range(1, active + 1), 200))
    window = 60 * 24 * 3600

    # Timestamps: one formatted string per minute of the window, plus seconds.
    minutes = [ts(NOW - datetime.timedelta(minutes=m))[:-2] for m in range(window // 60 + 1)]
    rand = rnd.random
    daily, daily_err, last_active = {}, {}, {}

    def rows():
        for n in range(usage_rows):
            u = 1 + int(active * rand() ** 3)
            if u in looping and rand() < 0.5:
                m, status = int(rand() * 20 * 60) + 1, 401
            else:
                m, status = int(rand() * (window // 60)) + 1, (500 if rand() < 0.05 else 200)
            stamp = "%s%02d" % (minutes[m], n % 60)
            # Rollups on the fly (what portal.usage.counters maintains per insert).
            err = status >= 400
            key = (u, stamp[:10])
            daily[key] = daily.get(key, 0) + 1
            if err:
                daily_err[key] = daily_err.get(key, 0) + 1
            if stamp > last_active.get(u, ""):
                last_active[u] = stamp
            yield (u, stamp, ENDPOINTS[n % 5], status, 120)

    # Bulk load without the api_usage indexes, then build them once (far faster).
    index_sql = [sql for (sql,) in con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'api_usage' "
        "AND sql IS NOT NULL")]
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                               "AND tbl_name = 'api_usage' AND sql IS NOT NULL").fetchall():
        con.execute('DROP INDEX "%s"' % name)
    batch = []
    done = 0
    for row in rows():
        batch.append(row)
        if len(batch) == 200_000:
            with con:
                con.executemany("INSERT INTO api_usage (user_id, timestamp, endpoint, "
                                "response_status, duration_ms) VALUES (?, ?, ?, ?, ?)", batch)
            done += len(batch)
            batch = []
            print("\r  api_usage %d / %d" % (done, usage_rows), end="", flush=True)
    if batch:
        with con:
            con.executemany("INSERT INTO api_usage (user_id, timestamp, endpoint, "
                            "response_status, duration_ms) VALUES (?, ?, ?, ?, ?)", batch)
    print("\napi_usage: %.1fs" % (time.perf_counter() - t0), flush=True)
    t0 = time.perf_counter()
    with con:
        for sql in index_sql:
            con.execute(sql)
    print("api_usage indexes: %.1fs" % (time.perf_counter() - t0), flush=True)

    t0 = time.perf_counter()
    monthly, monthly_err = {}, {}
    for (u, day), n in daily.items():
        key = (u, day[:8] + "01")
        monthly[key] = monthly.get(key, 0) + n
        monthly_err[key] = monthly_err.get(key, 0) + daily_err.get((u, day), 0)
    with con:
        con.executemany("INSERT INTO usage_monthly (user_id, month, calls, error_calls) "
                        "VALUES (?, ?, ?, ?)",
                        ((u, m, n, monthly_err[(u, m)]) for (u, m), n in monthly.items()))
        con.executemany("INSERT INTO usage_daily_users (day, user_id, calls, error_calls) "
                        "VALUES (?, ?, ?, ?)",
                        ((d, u, n, daily_err.get((u, d), 0)) for (u, d), n in daily.items()))
        con.executemany("UPDATE users SET last_active_at = ? WHERE id = ?",
                        ((stamp, u) for u, stamp in last_active.items()))
        # Some customers stopped a while ago (inactive) and some are heavy this month.
        con.execute("UPDATE users SET last_active_at = datetime(?, '-' || (id % 80) || ' days') "
                    "WHERE id % 7 = 0 AND last_active_at IS NOT NULL", (ts(NOW),))
        con.execute("UPDATE usage_monthly SET calls = calls * 12 WHERE user_id % 11 = 0")
        con.execute("ANALYZE")
    con.close()
    print("rollups: %.1fs" % (time.perf_counter() - t0), flush=True)


def evaluate(path, repeat):
    from models import OutreachCampaign, init_database
    from portal.outreach.rules import decide, load_rule_state
    from portal.outreach.triggers import find_candidates

    init_database("sqlite:///" + path).connect(reuse_if_open=True)
    campaigns = list(OutreachCampaign.select().order_by(OutreachCampaign.id))
    best, first = None, None
    for _ in range(repeat):
        per = {}
        t_all = time.perf_counter()
        for c in campaigns:
            t0 = time.perf_counter()
            candidates = find_candidates(c, NOW)
            state = load_rule_state(c, NOW, 24)
            sends = sum(1 for cand in candidates if decide(cand, c, state).action == "send")
            per[c.trigger] = (time.perf_counter() - t0, len(candidates), sends)
        total = time.perf_counter() - t_all
        first = total if first is None else first
        if best is None or total < best[0]:
            best = (total, per)
    return best + (first,)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="SQLite file to build (or reuse if it exists)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--usage-rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="bench-outreach-"), "bench.db")
    if not os.path.exists(path):
        build(path, args.customers, args.usage_rows)
    total, per, first = evaluate(path, args.repeat)
    print("%-22s %9s %11s %7s" % ("trigger", "seconds", "candidates", "send"))
    for trigger, (secs, found, sends) in per.items():
        print("%-22s %9.3f %11d %7d" % (trigger, secs, found, sends))
    print("all triggers: %.3f s (best of %d; first run %.3f s; target < 2 s) %s"
          % (total, args.repeat, first, "OK" if max(total, first) < 2 else "SLOW"))


if __name__ == "__main__":
    main()
