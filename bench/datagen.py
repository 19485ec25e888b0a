"""Bulk test data for bench/bench_usage.py (not used by the app or the tests).

Builds, through the real migrations, a database with
  * N customers (default 100,000; plans 60/25/12/3 % free/starter/pro/enterprise),
  * one connection for every other customer (90 % active, 7 % retry_pending,
    3 % refresh_failed), refresh attempts of the last 24 h with one refresh loop,
  * R api_usage rows (default 5,000,000): one heavy customer with H of them
    (default 1,000,000) spread over this month, a middle customer with 50,000
    over 180 days, a dormant one with 1,000,000 in the oldest 60 days (it stopped
    calling four months ago), the rest over 180 days on a skewed set of
    customers; rows in time order, as a live system writes them,
  * a sidecar heartbeat and token_refresh job runs,
then builds every rollup with usage_counters.rebuild_rollups and runs ANALYZE.

Rows go in with the engine's bulk path (sqlite3 executemany in one
transaction with the api_usage indexes dropped and rebuilt after; COPY on
PostgreSQL), so 5,000,000 rows take minutes, not hours. The SQLite file is
cached under bench/out/ (keyed by size and month) so reruns start at once.
"""
import datetime
import io
import os
import random
import sqlite3
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import database, init_database, utcnow  # noqa: E402
from portal.core.migrations_runner import make_runner  # noqa: E402

OUT = os.path.join(ROOT, "bench", "out")
HEAVY_EMAIL = "heavy@bench.nl"
MIDDLE_EMAIL, MIDDLE_ROWS = "middle@bench.nl", 50_000      # customer 2
DORMANT_EMAIL, DORMANT_ROWS = "dormant@bench.nl", 1_000_000  # customer 3
DORMANT_DAYS = 60
LOOP_EMAIL = "c7@bench.nl"
ENDPOINTS = ["tools/call get_invoices", "tools/call get_relations", "tools/call get_items",
             "tools/call get_transactions", "tools/call create_invoice", "tools/list",
             "resources/list", "resources/read", "initialize", "tools/call get_gl_accounts",
             "tools/call get_divisions", "prompts/list"]
STATUSES = [200] * 930 + [201] * 20 + [302] * 10 + [400] * 5 + [401] * 15 + [404] * 8 \
    + [429] * 6 + [500] * 4 + [503] * 2
PLANS = ["free"] * 60 + ["starter"] * 25 + ["pro"] * 12 + ["enterprise"] * 3


def log(msg):
    print("[datagen %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def _fmt(ts):
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def usage_rows(rows, customers, heavy_rows, now, seed=7):
    """Yield day batches of (user_id, timestamp text, endpoint, status, duration) in time order.

    Customer 1 is the heavy one: `heavy_rows` this month, a fifth of them a
    401 loop on get_invoices (an error loop the dashboard must show).
    """
    rng = random.Random(seed)
    month_start = datetime.datetime(now.year, now.month, 1)
    first_day = (now - datetime.timedelta(days=179)).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
    days = [first_day + datetime.timedelta(days=i) for i in range(180)]
    middle_rows = min(MIDDLE_ROWS, rows // 20)
    dormant_rows = min(DORMANT_ROWS, rows // 5)
    other_rows = rows - heavy_rows - middle_rows - dormant_rows
    month_seconds = max(1, int((now - month_start).total_seconds()))
    heavy_done = 0
    for i, day in enumerate(days):
        day_end = min(now, day + datetime.timedelta(days=1))
        span = max(1, int((day_end - day).total_seconds()))
        n_other = other_rows // len(days) + (1 if i < other_rows % len(days) else 0)
        batch = []
        for _ in range(n_other):
            # Cubic skew: a few customers make most calls, most make few or none.
            uid = 4 + int((customers - 3) * rng.random() ** 3)
            batch.append((day.timestamp() + rng.randrange(span), uid, rng.choice(ENDPOINTS),
                          rng.choice(STATUSES)))
        for uid, total, n_days in ((2, middle_rows, len(days)), (3, dormant_rows, DORMANT_DAYS)):
            if i < n_days:
                for _ in range(total // n_days + (1 if i < total % n_days else 0)):
                    batch.append((day.timestamp() + rng.randrange(span), uid,
                                  rng.choice(ENDPOINTS), rng.choice(STATUSES)))
        if day + datetime.timedelta(days=1) > month_start:
            lo = max(day, month_start)
            share = (day_end - lo).total_seconds() / month_seconds
            n_heavy = int(round(heavy_rows * share)) if day_end < now else None
            if n_heavy is None:  # today takes the remainder so the total is exact
                n_heavy = heavy_rows - heavy_done
            heavy_done += n_heavy
            lo_s, hi_s = lo.timestamp(), max(lo.timestamp() + 1, day_end.timestamp())
            for _ in range(n_heavy):
                if rng.random() < 0.2:
                    ep, st = "tools/call get_invoices", 401
                else:
                    ep, st = rng.choice(ENDPOINTS), rng.choice(STATUSES)
                batch.append((rng.uniform(lo_s, hi_s), 1, ep, st))
        batch.sort()
        yield [(uid, _fmt(datetime.datetime.fromtimestamp(int(t))), ep, st, rng.randrange(5, 900))
               for t, uid, ep, st in batch]


def _naive_local_tz_guard():
    # datetime.timestamp()/fromtimestamp() on naive values use local time; in UTC
    # they are exact. Force UTC for this process so day boundaries are right.
    os.environ["TZ"] = "UTC"
    time.tzset()


def _customers(customers, now, rng):
    for uid in range(1, customers + 1):
        email = {1: HEAVY_EMAIL, 2: MIDDLE_EMAIL, 3: DORMANT_EMAIL}.get(uid, "c%d@bench.nl" % uid)
        plan = "enterprise" if uid == 1 else rng.choice(PLANS)
        created = now - datetime.timedelta(days=rng.randrange(1, 900), seconds=rng.randrange(86400))
        yield (uid, email, "Bench %d B.V." % uid, plan, False, _fmt(created))


def _connections(customers, now, rng):
    cid = 0
    for uid in range(1, customers + 1, 2):
        cid += 1
        r = rng.random()
        status = "active" if r < 0.90 else ("retry_pending" if r < 0.97 else "refresh_failed")
        exp = _fmt(now + datetime.timedelta(minutes=rng.randrange(1, 10)))
        yield (cid, uid, 100000 + uid, status, "", "", exp, 0, _fmt(now), _fmt(now), "imported")


def _attempts(n_connections, now, rng, loop_uid=7):
    loop_cid = (loop_uid + 1) // 2
    rows = []
    for _ in range(50_000):
        cid = rng.randrange(1, n_connections + 1)
        rows.append((cid, cid * 2 - 1, _fmt(now - datetime.timedelta(seconds=rng.randrange(86400))),
                     "success", "bench"))
    for i in range(288):  # every 5 minutes for a day: a refresh loop
        rows.append((loop_cid, loop_uid, _fmt(now - datetime.timedelta(minutes=5 * i)),
                     "transient", "bench"))
    return rows


USERS_SQL = ("INSERT INTO users (id, email, name, plan, marketing_opt_out, created_at) "
             "VALUES (?, ?, ?, ?, ?, ?)")
CONN_SQL = ("INSERT INTO connections (id, user_id, division, status, access_token, refresh_token, "
            "token_expires_at, retry_count, created_at, updated_at, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ATTEMPT_SQL = ("INSERT INTO refresh_attempts (connection_id, user_id, attempted_at, outcome, "
               "sidecar) VALUES (?, ?, ?, ?, ?)")
USAGE_SQL = ("INSERT INTO api_usage (user_id, \"timestamp\", endpoint, response_status, "
             "duration_ms) VALUES (?, ?, ?, ?, ?)")


def _sidecar(now):
    from models import JobRun, SidecarHeartbeat
    SidecarHeartbeat.create(sidecar="bench:1:x", hostname="bench", pid=1,
                            started_at=now - datetime.timedelta(days=2), last_seen_at=now)
    for i in range(12):
        start = now - datetime.timedelta(minutes=5 * (12 - i))
        JobRun.create(job="token_refresh", sidecar="bench:1:x", started_at=start,
                      finished_at=start + datetime.timedelta(seconds=40), refreshed=900)


def _migrate(url):
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    return db


def _build_rollups():
    from portal.usage.counters import rebuild_rollups
    t = time.perf_counter()
    n = rebuild_rollups(batch_size=500_000)
    log("rebuild_rollups over %d rows: %.1f s" % (n, time.perf_counter() - t))
    return time.perf_counter() - t


def build_sqlite(path, customers, rows, heavy, now):
    """Generate into `path` (a new file). Returns timings."""
    _naive_local_tz_guard()
    timings = {}
    db = _migrate("sqlite:///" + path)
    db.close()
    rng = random.Random(3)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    indexes = [r for r in con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='api_usage' "
        "AND sql IS NOT NULL")]
    t = time.perf_counter()
    with con:
        for name, _ in indexes:
            con.execute('DROP INDEX "%s"' % name)
        con.executemany(USERS_SQL, _customers(customers, now, rng))
        con.executemany(CONN_SQL, _connections(customers, now, rng))
        con.executemany(ATTEMPT_SQL, _attempts((customers + 1) // 2, now, rng))
        done = 0
        for batch in usage_rows(rows, customers, heavy, now):
            con.executemany(USAGE_SQL, batch)
            done += len(batch)
        log("inserted %d customers, %d usage rows: %.1f s" % (customers, done,
                                                             time.perf_counter() - t))
        t2 = time.perf_counter()
        for name, sql in indexes:
            con.execute(sql)
        log("rebuilt %d api_usage indexes: %.1f s" % (len(indexes), time.perf_counter() - t2))
    timings["insert_s"] = time.perf_counter() - t
    con.close()
    init_database("sqlite:///" + path)
    database.connect(reuse_if_open=True)
    _sidecar(now)
    timings["rollups_s"] = _build_rollups()
    database.execute_sql("ANALYZE")
    database.close()
    return timings


def cached_sqlite(customers, rows, heavy, now=None, rebuild=False):
    """Path of a ready SQLite bench database, building it if not cached."""
    now = now or utcnow()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "usage-v2-%dc-%dr-%dh-%s.sqlite3" % (customers, rows, heavy,
                                                                now.strftime("%Y%m%d")))
    if os.path.exists(path) and not rebuild:
        log("using cached %s" % path)
        return path, {}
    tmp = path + ".tmp"
    for p in (tmp, tmp + "-wal", tmp + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    timings = build_sqlite(tmp, customers, rows, heavy, now)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    os.replace(tmp, path)
    return path, timings


def _copy(cur, table, columns, rows):
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in r))
        buf.write("\n")
    buf.seek(0)
    cur.copy_expert("COPY %s (%s) FROM STDIN" % (table, ", ".join(columns)), buf)


def build_postgres(url, customers, rows, heavy, now):
    """Generate into the (empty) PostgreSQL database at `url`. Returns timings."""
    _naive_local_tz_guard()
    timings = {}
    db = _migrate(url)
    rng = random.Random(3)
    conn = db.connection()
    t = time.perf_counter()
    with db.atomic():
        cur = conn.cursor()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'api_usage' "
                    "AND indexname <> 'api_usage_pkey'")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute('DROP INDEX "%s"' % name)
        _copy(cur, "users", ["id", "email", "name", "plan", "marketing_opt_out", "created_at"],
              _customers(customers, now, rng))
        _copy(cur, "connections", ["id", "user_id", "division", "status", "access_token",
                                   "refresh_token", "token_expires_at", "retry_count",
                                   "created_at", "updated_at", "origin"],
              _connections(customers, now, rng))
        _copy(cur, "refresh_attempts", ["connection_id", "user_id", "attempted_at", "outcome", "sidecar"],
              _attempts((customers + 1) // 2, now, rng))
        done = 0
        for batch in usage_rows(rows, customers, heavy, now):
            _copy(cur, "api_usage", ["user_id", '"timestamp"', "endpoint", "response_status",
                                     "duration_ms"], batch)
            done += len(batch)
        for table in ("users", "connections"):
            cur.execute("SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                        "(SELECT MAX(id) FROM %s))" % (table, table))
        log("copied %d customers, %d usage rows: %.1f s" % (customers, done,
                                                           time.perf_counter() - t))
        t2 = time.perf_counter()
        for _, sql in indexes:
            cur.execute(sql)
        log("rebuilt %d api_usage indexes: %.1f s" % (len(indexes), time.perf_counter() - t2))
    timings["insert_s"] = time.perf_counter() - t
    _sidecar(now)
    timings["rollups_s"] = _build_rollups()
    old = conn.autocommit
    conn.autocommit = True
    conn.cursor().execute("VACUUM ANALYZE")
    conn.autocommit = old
    return timings
