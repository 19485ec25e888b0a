#!/usr/bin/env python3
"""Benchmark the usage API, dashboard, customer list and request log at scale
(run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/bench_usage.py                      # SQLite, 100k customers, 5M rows
    .venv/bin/python bench/bench_usage.py --engine both        # + PostgreSQL
    .venv/bin/python bench/bench_usage.py --customers 2000 --rows 100000 --heavy 20000  # quick
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test     (default)

Data comes from bench/datagen.py (SQLite cached under bench/out/; PostgreSQL
in a private database created and dropped here, as tests/conftest.py does).
Requests go through the Flask test client in-process, so figures include
routing, access checks, templates and the queries, not the network. On
PostgreSQL the app runs with `postgresql+pool://` (playhouse's pooled
database): the portal connects per request, and a new PostgreSQL connection
costs more than the whole /api/v1/me budget; `--pg-no-pool` shows that.
"""
import argparse
import datetime
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["TZ"] = "UTC"
time.tzset()

from bench import datagen  # noqa: E402
from models.scratch_db import create_scratch_database, drop_scratch_database  # noqa: E402

ADMIN = "bench-admin@example.com"
PASSWORD = "bench password 123456"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, n, warmup=3):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


class Report:
    def __init__(self, engine):
        self.engine = engine
        self.rows = []

    def add(self, label, samples, target=None):
        p50, p99 = statistics.median(samples), pct(samples, 99)
        ok = "" if target is None else ("ok" if p50 <= target else "MISSED")
        self.rows.append((label, len(samples), p50, p99, target, ok))
        print("  %-48s n=%-4d p50 %8.2f ms  p99 %8.2f ms  %s" % (
            label, len(samples), p50, p99,
            ("target %s ms %s" % (target, ok)) if target else ""), flush=True)
        return p50


def make_app(url, tmp):
    from cryptography.fernet import Fernet

    from models import init_database
    from portal import create_app
    from portal.core.migrations_runner import make_runner
    # A cached bench database may predate newer migrations: bring it up to date.
    db = init_database(url.replace("postgresql+pool://", "postgresql://"))
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    db.close()
    app = create_app({
        "TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": tmp,
        "SECRET_KEY": uuid.uuid4().hex, "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ADMIN_EMAILS": ADMIN, "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "scrypt:16384:8:1", "MAIL_URL": "outbox:",
    })
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app


def login(app):
    from models import Staff, database
    from portal.auth.passwords import hash_password
    database.connect(reuse_if_open=True)
    if not Staff.select().where(Staff.email == ADMIN).exists():
        Staff.create(email=ADMIN, name="Bench", password_hash=hash_password(
            PASSWORD, "scrypt:16384:8:1"))
    client = app.test_client()
    r = client.post("/login", data={"email": ADMIN, "password": PASSWORD})
    assert r.status_code == 302, r.data[:300]
    return client


def get_ok(client, url, **kw):
    def call():
        r = client.get(url, **kw)
        if r.status_code != 200:
            raise SystemExit("GET %s -> %s\n%s" % (url, r.status_code, r.data[:500]))
    return call


def raw_sql(sql, params=()):
    from models import database
    database.connect(reuse_if_open=True)
    return lambda: database.execute_sql(sql, params).fetchall()


def explain(sql, params):
    from models import database
    from models.db import is_postgres
    database.connect(reuse_if_open=True)
    if is_postgres():
        rows = database.execute_sql("EXPLAIN " + sql, params).fetchall()
        return " | ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Sort" in r[0])
    return " | ".join(str(r[-1]) for r in database.execute_sql("EXPLAIN QUERY PLAN " + sql,
                                                                 params))


def run(engine, url, args):
    from models import ApiUsage, User, database, fn, utcnow
    from portal.customers import listing as customer_list
    from portal.dashboard import service as dashboard_service
    from portal.usage import request_log
    from portal.core.pagination import encode_cursor
    from portal.usage.request_log import LogFilter

    print("\n== %s (%s) ==" % (engine, url.split("@")[-1]), flush=True)
    rep = Report(engine)
    tmp = tempfile.mkdtemp(prefix="bench-usage-")
    app = make_app(url, tmp)
    n = args.n
    with app.app_context():
        client = login(app)
        database.connect(reuse_if_open=True)
        heavy = User.get(User.email == datagen.HEAVY_EMAIL)
        total = ApiUsage.select().count() if args.count_rows else None
        if total is not None:
            print("  api_usage rows: %d" % total)

        # --- the usage API (other helper's blueprint; skipped if absent) ---
        if "api.me" in app.view_functions:
            from portal.customers.api_keys import create_api_key
            _, key = create_api_key(heavy, "bench")
            auth = {"Authorization": "Bearer " + key}
            me = client.get("/api/v1/me", headers=auth).get_json()
            print("  /api/v1/me for the heavy customer: used=%s" % me.get("usage", {}).get("used"))
            rep.add("GET /api/v1/me (heavy customer)", timed(get_ok(client, "/api/v1/me",
                                                                  headers=auth), n * 5), 2)
            body = {"endpoint": "tools/call get_invoices", "response_status": 200,
                    "duration_ms": 12}

            def post():
                r = client.post("/api/v1/usage", json=body, headers=auth)
                assert r.status_code == 201, r.data
            rep.add("POST /api/v1/usage", timed(post, n * 5), 3)
        else:
            print("  (the usage API is not there yet: skipped)")

        # --- dashboard ---
        rep.add("dashboard / (30 days)", timed(get_ok(client, "/"), n), 150)
        rep.add("dashboard /?days=90", timed(get_ok(client, "/?days=90"), n), 150)

        # --- customers list (other helper's blueprint) ---
        if "customers.index" in app.view_functions:
            rep.add("customers page 1", timed(get_ok(client, "/customers/"), n), 15)
            filters = customer_list.CustomerFilters.from_args({})
            deep = customer_list.customer_page(filters, limit=min(50_000, args.customers // 2))
            if deep.next_cursor:
                rep.add("customers deep page (~50,000th, keyset)", timed(get_ok(
                    client, "/customers/?after=" + deep.next_cursor), n), 15)
            rep.add("customers search email prefix 'c5123'",
                    timed(get_ok(client, "/customers/?q=c5123"), n), 15)
        else:
            print("  (customers.index not there yet: skipped)")

        # --- request log ---
        mid = ApiUsage.select().where(ApiUsage.id >= total_or_max(total) // 2) \
            .order_by(ApiUsage.id).first()
        cursors = {}

        def deep_cursor(name, cond):
            # Halfway through the rows this filter matches (by id, i.e. by time).
            lo, hi = ApiUsage.select(fn.MIN(ApiUsage.id), fn.MAX(ApiUsage.id)).where(cond) \
                .tuples().first()
            row = (ApiUsage.select().where((ApiUsage.id >= (lo + hi) // 2) & cond)
                   .order_by(ApiUsage.id).first())
            cursors[name] = encode_cursor(row.timestamp, row.id) if row else None
            if lo is None:
                cursors[name] = None

        deep_cursor("none", ApiUsage.id > 0)
        sized = customers_by_size(heavy)
        for size, (user, rows) in sized.items():
            print("  %s customer: %s with %d rows" % (size, user.email, rows))
            deep_cursor(size, ApiUsage.user == user.id)
            deep_cursor(size + "-4xx", (ApiUsage.user == user.id)
                        & (ApiUsage.response_status >= 400) & (ApiUsage.response_status < 500))
        deep_cursor("5xx", ApiUsage.response_status >= 500)
        deep_cursor("endpoint", ApiUsage.endpoint == "tools/list")
        log_cases = [
            ("request log page 1", "", None),
            ("request log deep page (middle of 5M)", "", "none"),
            ("request log status 5xx page 1", "status=5xx", None),
            ("request log status 5xx deep page", "status=5xx", "5xx"),
            ("request log endpoint page 1", "endpoint=tools/list", None),
            ("request log endpoint deep page", "endpoint=tools/list", "endpoint"),
            ("request log heavy + 5xx page 1", "customer=%s&status=5xx" % datagen.HEAVY_EMAIL,
             None),
            ("request log last 7 days page 1", "date_from=%s" % (
                utcnow().date() - datetime.timedelta(days=6)).isoformat(), None),
        ]
        # By customer size: the planner's choice of index changes with it (issue 11).
        for size, (user, rows) in sized.items():
            who = "customer=" + user.email
            log_cases += [
                ("request log %s customer (%d rows) page 1" % (size, rows), who, None),
                ("request log %s customer deep page" % size, who, size),
                ("request log %s customer 4xx deep page" % size, who + "&status=4xx",
                 size + "-4xx"),
            ]
        for label, qs, cur in log_cases:
            if cur and not cursors.get(cur):
                print("  %-48s (no rows to page through)" % label)
                continue
            url_ = "/usage/requests?" + qs + (("&before=" + cursors[cur]) if cur else "")
            rep.add(label, timed(get_ok(client, url_), n), 15)

        # The query before issue 11 (customer by equality, ordered by time only): the
        # planner may read a big customer on idx_api_usage_time_id with a filter.
        for size, (user, _) in sized.items():
            rep.add("  old query: %s customer page 1 (planner's choice)" % size, timed(raw_sql(
                'SELECT id, "timestamp", user_id, endpoint, response_status, duration_ms '
                'FROM api_usage WHERE user_id = %s ORDER BY "timestamp" DESC, id DESC LIMIT 51'
                % database.param, (user.id,)), max(3, n // 4)))
        print("  request log plans (deep page):")
        plan_cases = [("none", LogFilter()), ("customer", LogFilter(user_id=heavy.id)),
                      ("endpoint", LogFilter(endpoint="tools/list")),
                      ("status", LogFilter(status_class=5)),
                      ("customer+status", LogFilter(user_id=heavy.id, status_class=5))]
        plan_cases += [("%s customer" % size, LogFilter(user_id=user.id))
                       for size, (user, _) in sized.items() if size != "heavy"]
        for name, f in plan_cases:
            q = request_log._newest_first(request_log.filtered(f).where(
                request_log._older_than((mid.timestamp, mid.id))), f).limit(51)
            sql, params = q.sql()
            print("    %-16s %s" % (name, explain(sql, params)))

        # --- the naive way, on the same data ---
        now = utcnow()
        month = datetime.datetime(now.year, now.month, 1)
        nxt = (month + datetime.timedelta(days=32)).replace(day=1)
        p = database.param
        naive_count = rep.add("naive COUNT(*) heavy customer this month", timed(raw_sql(
            'SELECT COUNT(*) FROM api_usage WHERE user_id = %s AND "timestamp" >= %s '
            'AND "timestamp" < %s' % (p, p, p), (heavy.id, month, nxt)), max(3, n // 4), 1))
        counter = rep.add("counter: usage_monthly lookup", timed(raw_sql(
            "SELECT calls FROM usage_monthly WHERE user_id = %s AND month = %s" % (p, p),
            (heavy.id, month.date())), n * 5))
        start = (now - datetime.timedelta(days=29)).date()
        day_expr = 'date("timestamp")' if engine == "sqlite" else '"timestamp"::date'
        naive_chart = rep.add("naive GROUP BY raw rows: per-day chart 30 d", timed(raw_sql(
            'SELECT %s, response_status / 100, COUNT(*) FROM api_usage WHERE "timestamp" >= %s '
            'GROUP BY 1, 2' % (day_expr, p), (datetime.datetime.combine(start, datetime.time()),)),
            3, 1))
        rollup_chart = rep.add("rollup: per-day chart 30 d (usage_daily)", timed(
            lambda: dashboard_service.usage_per_day(30, now), n))
        naive_admin = rep.add("Flask-Admin style: COUNT(*) + OFFSET deep page", timed(raw_sql(
            'SELECT COUNT(*) FROM api_usage'), 3, 1)) + rep.add(
            "  (its OFFSET half)", timed(raw_sql(
                'SELECT * FROM api_usage ORDER BY "timestamp" DESC, id DESC LIMIT 50 OFFSET %s'
                % p, (total_or_max(total) // 2,)), 3, 1))
        print("  ratio COUNT(*) / counter: %.0fx; raw GROUP BY / rollup: %.0fx; "
              "COUNT+OFFSET deep page / keyset deep page: %.0fx" % (
                  naive_count / counter, naive_chart / rollup_chart,
                  naive_admin / rep.rows[[r[0] for r in rep.rows].index(
                      "request log deep page (middle of 5M)")][2]), flush=True)
    database.close()
    return rep


def customers_by_size(heavy):
    """{size: (user, rows)}: a small customer (at most 50 rows), the middle one (~50,000
    rows over 180 days), the dormant one (1,000,000 rows, none in the last four months)
    and the heavy one, with their row counts from the usage_monthly rollup."""
    from models import UsageMonthly, User, fn
    calls = fn.SUM(UsageMonthly.calls)
    totals = dict(UsageMonthly.select(UsageMonthly.user, calls).group_by(UsageMonthly.user)
                  .tuples())
    out = {}
    small = [(rows, uid) for uid, rows in totals.items() if 10 <= rows <= 50]
    if small:
        rows, uid = max(small)
        out["small"] = (User.get_by_id(uid), rows)
    for size, email in (("middle", datagen.MIDDLE_EMAIL), ("dormant", datagen.DORMANT_EMAIL)):
        user = User.get_or_none(User.email == email)
        if user and totals.get(user.id):
            out[size] = (user, totals[user.id])
    out["heavy"] = (heavy, totals.get(heavy.id, 0))
    return out


def total_or_max(total):
    from models import ApiUsage, fn
    return total if total is not None else ApiUsage.select(fn.MAX(ApiUsage.id)).scalar()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--heavy", type=int, default=1_000_000)
    ap.add_argument("-n", type=int, default=40, help="samples per page measurement")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the cached SQLite file")
    ap.add_argument("--count-rows", action="store_true", help="print COUNT(*) of api_usage")
    ap.add_argument("--pg-no-pool", action="store_true")
    args = ap.parse_args()
    if args.engine in ("sqlite", "both"):
        path, timings = datagen.cached_sqlite(args.customers, args.rows, args.heavy,
                                              rebuild=args.rebuild)
        if timings:
            print("SQLite data generation: %s" % {k: round(v, 1) for k, v in timings.items()})
        run("sqlite", "sqlite:///" + path, args)
    if args.engine in ("postgres", "both"):
        base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        url, name = create_scratch_database(base, "bench_usage")
        try:
            timings = datagen.build_postgres(url, args.customers, args.rows, args.heavy,
                                             datetime.datetime.utcnow())
            print("PostgreSQL data generation: %s" % {k: round(v, 1) for k, v in timings.items()})
            app_url = url if args.pg_no_pool else url.replace("postgresql://",
                                                              "postgresql+pool://", 1)
            run("postgres", app_url, args)
        finally:
            drop_scratch_database(base, name)


if __name__ == "__main__":
    main()
