"""Recording API usage with its counters and rollups, in one transaction.

Every path that adds `api_usage` rows (the usage API, `flask import`,
`seed-demo`) goes through `record_usage_rows`, so imported usage counts in
every counter, rollup and dashboard figure exactly as if it had come through
the API. The dashboards read the rollups, never the raw rows.

Rollups kept here:
  usage_monthly        (user, month)                -> calls, error_calls
  usage_daily          (day, endpoint, status_class) -> calls
  usage_daily_users    (day, user)                  -> calls, error_calls
  usage_daily_active   (day)                        -> active_users
  usage_hourly_errors  (hour, endpoint, status>=400) -> calls
  users.last_active_at
"""
import collections
import datetime

from peewee import EXCLUDED, fn

from models import (ApiUsage, UsageDaily, UsageDailyActive, UsageDailyUser, UsageHourlyError,
                    UsageMonthly, User, database)
from models.db import as_date, is_postgres

INSERT_BATCH = 1000
SMALL_BATCH = 3
ROLLUP_MODELS = (UsageMonthly, UsageDaily, UsageDailyUser, UsageDailyActive, UsageHourlyError)


def status_class(status):
    return max(1, min(5, int(status) // 100))


def month_start(ts):
    """The usage_monthly key for a moment: every reader and writer of the counter uses this."""
    return datetime.date(ts.year, ts.month, 1)


def aggregate(rows):
    """Fold usage rows into per-rollup increments (pure; no database)."""
    monthly = collections.Counter()
    monthly_err = collections.Counter()
    daily = collections.Counter()
    daily_user = collections.Counter()
    daily_user_err = collections.Counter()
    hourly_err = collections.Counter()
    last_active = {}
    for r in rows:
        uid, ts, endpoint, status = r["user"], r["timestamp"], r["endpoint"], r["response_status"]
        is_err = status >= 400
        day = ts.date()
        monthly[(uid, month_start(ts))] += 1
        daily[(day, endpoint, status_class(status))] += 1
        daily_user[(day, uid)] += 1
        if is_err:
            monthly_err[(uid, month_start(ts))] += 1
            daily_user_err[(day, uid)] += 1
            hourly_err[(ts.replace(minute=0, second=0, microsecond=0), endpoint, status)] += 1
        if uid not in last_active or ts > last_active[uid]:
            last_active[uid] = ts
    return {
        "monthly": [dict(user=u, month=m, calls=c, error_calls=monthly_err[(u, m)])
                    for (u, m), c in monthly.items()],
        "daily": [dict(day=d, endpoint=e, status_class=s, calls=c)
                  for (d, e, s), c in daily.items()],
        "daily_user": [dict(day=d, user=u, calls=c, error_calls=daily_user_err[(d, u)])
                       for (d, u), c in daily_user.items()],
        "hourly_err": [dict(hour=h, endpoint=e, response_status=s, calls=c)
                       for (h, e, s), c in hourly_err.items()],
        "last_active": last_active,
    }


def _upsert(model, rows, keys, counters):
    update = {getattr(model, c): getattr(model, c) + EXCLUDED[c] for c in counters}
    target = [getattr(model, k) for k in keys]
    for i in range(0, len(rows), INSERT_BATCH):
        (model.insert_many(rows[i:i + INSERT_BATCH])
         .on_conflict(conflict_target=target, update=update).execute())


def _add_daily_users(rows):
    """Add per-(day, customer) increments and count customers new on each day.

    INSERT .. ON CONFLICT DO NOTHING RETURNING tells exactly which pairs are
    new, even with concurrent writers on PostgreSQL (only one transaction can
    insert a given pair), so usage_daily_active never double-counts.
    """
    new_per_day = collections.Counter()
    if len(rows) <= SMALL_BATCH:
        # The usage API's path (one row): the pair usually exists already, so a
        # plain UPDATE is the one statement needed; insert only when it did not.
        for r in rows:
            if _bump_daily_user(r):
                continue
            created = (UsageDailyUser.insert(**r).on_conflict_ignore()
                       .returning(UsageDailyUser.day).tuples().execute())
            if list(created):
                new_per_day[r["day"]] += 1
            else:  # a concurrent writer created it between our UPDATE and INSERT
                _bump_daily_user(r)
        rows = []
    for i in range(0, len(rows), INSERT_BATCH):
        chunk = rows[i:i + INSERT_BATCH]
        created = set()
        for day, uid in (UsageDailyUser.insert_many(chunk).on_conflict_ignore()
                         .returning(UsageDailyUser.day, UsageDailyUser.user).tuples().execute()):
            day = as_date(day)
            created.add((day, uid))
            new_per_day[day] += 1
        existing = [r for r in chunk if (r["day"], r["user"]) not in created]
        if existing:
            _upsert(UsageDailyUser, existing, ["day", "user"], ["calls", "error_calls"])
    if new_per_day:
        _upsert(UsageDailyActive, [dict(day=d, active_users=n) for d, n in new_per_day.items()],
                ["day"], ["active_users"])


def _bump_daily_user(r):
    return (UsageDailyUser.update(calls=UsageDailyUser.calls + r["calls"],
                                  error_calls=UsageDailyUser.error_calls + r["error_calls"])
            .where((UsageDailyUser.day == r["day"]) & (UsageDailyUser.user == r["user"]))
            .execute()) > 0


def apply_rollups(agg):
    """Add aggregated increments to the counter and rollup tables."""
    _upsert(UsageMonthly, agg["monthly"], ["user", "month"], ["calls", "error_calls"])
    _upsert(UsageDaily, agg["daily"], ["day", "endpoint", "status_class"], ["calls"])
    _add_daily_users(agg["daily_user"])
    _upsert(UsageHourlyError, agg["hourly_err"], ["hour", "endpoint", "response_status"], ["calls"])
    _bump_last_active(agg["last_active"])


def _bump_last_active(last_active):
    """users.last_active_at = max(itself, ts): one prepared statement run for every
    customer (executemany), not a peewee-built query each; bulk imports touch
    thousands of customers per call."""
    if not last_active:
        return
    ts = User.last_active_at.db_value
    sql = ('UPDATE "users" SET "last_active_at" = %(p)s WHERE "id" = %(p)s AND '
           '("last_active_at" IS NULL OR "last_active_at" < %(p)s)' % {"p": database.param})
    params = [(ts(t), uid, ts(t)) for uid, t in last_active.items()]
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_batch
        execute_batch(cursor, sql, params, page_size=INSERT_BATCH)
    else:
        cursor.executemany(sql, params)


def record_usage_rows(rows):
    """Insert raw usage rows (dicts: user, timestamp, endpoint, response_status[, duration_ms])
    and update every counter and rollup, all in one transaction."""
    rows = list(rows)
    if not rows:
        return 0
    with database.atomic():
        _insert_raw_rows(rows)
        apply_rollups(aggregate(rows))
    return len(rows)


def record_api_call(user_id, timestamp, endpoint, response_status, duration_ms=None,
                    reserved=False):
    """Record one call from the usage API; returns the customer's calls this month.

    Same rows and increments as record_usage_rows([...]). On PostgreSQL it is
    ONE statement (data-modifying CTEs, atomic on its own), because the API's
    latency budget is a few round trips, not ten; `(xmax = 0)` tells whether the
    (day, customer) pair is new, which is what usage_daily_active counts.
    `reserved`: the call's monthly count was already taken by a limit check
    (the MCP server's reserve_monthly_call), so usage_monthly.calls is not
    incremented again; every other counter is.
    """
    row = dict(user=user_id, timestamp=timestamp, endpoint=endpoint,
               response_status=int(response_status), duration_ms=duration_ms)
    month = month_start(timestamp)
    if not is_postgres():
        with database.atomic():
            record_usage_rows([row])
            if reserved:  # the monthly call was counted when its slot was reserved
                (UsageMonthly.update(calls=UsageMonthly.calls - 1)
                 .where((UsageMonthly.user == user_id) & (UsageMonthly.month == month))
                 .execute())
            return (UsageMonthly.select(UsageMonthly.calls)
                    .where((UsageMonthly.user == user_id) & (UsageMonthly.month == month))
                    .scalar())
    err = 1 if row["response_status"] >= 400 else 0
    hour = timestamp.replace(minute=0, second=0, microsecond=0)
    cursor = database.execute_sql(_PG_API_CALL_SQL, {
        "uid": user_id, "ts": timestamp, "endpoint": endpoint,
        "status": row["response_status"], "duration": duration_ms, "err": err,
        "month": month, "day": timestamp.date(), "class": status_class(row["response_status"]),
        "hour": hour, "calls": 0 if reserved else 1})
    return cursor.fetchone()[0]


_PG_API_CALL_SQL = """
WITH raw AS (
    INSERT INTO api_usage (user_id, "timestamp", endpoint, response_status, duration_ms)
    VALUES (%(uid)s, %(ts)s, %(endpoint)s, %(status)s, %(duration)s)),
monthly AS (
    INSERT INTO usage_monthly (user_id, month, calls, error_calls)
    VALUES (%(uid)s, %(month)s, %(calls)s, %(err)s)
    ON CONFLICT (user_id, month) DO UPDATE
    SET calls = usage_monthly.calls + EXCLUDED.calls,
        error_calls = usage_monthly.error_calls + EXCLUDED.error_calls
    RETURNING calls),
daily AS (
    INSERT INTO usage_daily (day, endpoint, status_class, calls)
    VALUES (%(day)s, %(endpoint)s, %(class)s, 1)
    ON CONFLICT (day, endpoint, status_class) DO UPDATE SET calls = usage_daily.calls + 1),
daily_user AS (
    INSERT INTO usage_daily_users (day, user_id, calls, error_calls)
    VALUES (%(day)s, %(uid)s, 1, %(err)s)
    ON CONFLICT (day, user_id) DO UPDATE
    SET calls = usage_daily_users.calls + 1,
        error_calls = usage_daily_users.error_calls + EXCLUDED.error_calls
    RETURNING (xmax = 0) AS is_new),
active AS (
    INSERT INTO usage_daily_active (day, active_users)
    SELECT %(day)s, 1 FROM daily_user WHERE is_new
    ON CONFLICT (day) DO UPDATE SET active_users = usage_daily_active.active_users + 1),
hourly AS (
    INSERT INTO usage_hourly_errors (hour, endpoint, response_status, calls)
    SELECT %(hour)s, %(endpoint)s, %(status)s, 1 WHERE %(err)s = 1
    ON CONFLICT (hour, endpoint, response_status) DO UPDATE
    SET calls = usage_hourly_errors.calls + 1),
last_active AS (
    UPDATE users SET last_active_at = %(ts)s
    WHERE id = %(uid)s AND (last_active_at IS NULL OR last_active_at < %(ts)s))
SELECT calls FROM monthly
"""


_RAW_COLUMNS = ("user", "timestamp", "endpoint", "response_status", "duration_ms")


def _insert_raw_rows(rows):
    """Insert api_usage rows through the driver's bulk path.

    peewee builds SQL value by value, which was ~80% of a bulk import's time
    (`flask import`, seed-demo); executemany (SQLite) / execute_values
    (PostgreSQL) with the fields' own db_value conversion stores the same values.
    """
    fields = [getattr(ApiUsage, c) for c in _RAW_COLUMNS]
    user, ts = ApiUsage.user.db_value, ApiUsage.timestamp.db_value  # model -> id, datetime
    params = [(user(r["user"]), ts(r["timestamp"]), r["endpoint"], int(r["response_status"]),
               r.get("duration_ms")) for r in rows]
    columns = ", ".join('"%s"' % f.column_name for f in fields)
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values
        execute_values(cursor, 'INSERT INTO "api_usage" (%s) VALUES %%s' % columns, params,
                       page_size=INSERT_BATCH)
    else:
        cursor.executemany('INSERT INTO "api_usage" (%s) VALUES (%s)'
                           % (columns, ", ".join("?" * len(fields))), params)


# --- rebuilding from raw rows, in SQL -----------------------------------------

def _bucket_sql():
    """Per-engine SQL for month/day/hour buckets and the status class, matching aggregate()."""
    if is_postgres():
        return dict(month="date_trunc('month', \"timestamp\")::date",
                    day="\"timestamp\"::date",
                    hour="date_trunc('hour', \"timestamp\")",
                    cls="GREATEST(1, LEAST(5, response_status / 100))")
    return dict(month="date(\"timestamp\", 'start of month')",
                day="date(\"timestamp\")",
                hour="strftime('%Y-%m-%d %H:00:00', \"timestamp\")",
                cls="max(1, min(5, response_status / 100))")


_ERR = "SUM(CASE WHEN response_status >= 400 THEN 1 ELSE 0 END)"

_REBUILD_SQL = [
    # (target table, conflict columns, counter columns, select)
    ("usage_monthly", "user_id, month", ("calls", "error_calls"),
     "SELECT user_id, {month}, COUNT(*), %s FROM api_usage WHERE id > %%s AND id <= %%s "
     "GROUP BY user_id, {month}" % _ERR),
    ("usage_daily", "day, endpoint, status_class", ("calls",),
     "SELECT {day}, endpoint, {cls}, COUNT(*) FROM api_usage WHERE id > %s AND id <= %s "
     "GROUP BY {day}, endpoint, {cls}"),
    ("usage_daily_users", "day, user_id", ("calls", "error_calls"),
     "SELECT {day}, user_id, COUNT(*), %s FROM api_usage WHERE id > %%s AND id <= %%s "
     "GROUP BY {day}, user_id" % _ERR),
    ("usage_hourly_errors", "hour, endpoint, response_status", ("calls",),
     "SELECT {hour}, endpoint, response_status, COUNT(*) FROM api_usage "
     "WHERE id > %s AND id <= %s AND response_status >= 400 "
     "GROUP BY {hour}, endpoint, response_status"),
]


def _rebuild_statements():
    buckets = _bucket_sql()
    param = database.param
    for table, keys, counters, select in _REBUILD_SQL:
        update = ", ".join('%s = %s.%s + excluded.%s' % (c, table, c, c) for c in counters)
        sql = ("INSERT INTO %s (%s, %s) %s ON CONFLICT (%s) DO UPDATE SET %s"
               % (table, keys, ", ".join(counters), select.format(**buckets), keys, update))
        yield sql.replace("%s", param)


def rebuild_rollups(batch_size=50_000, progress=None):
    """Recompute every counter and rollup from the raw api_usage rows.

    Walks the raw rows in id order in batches of `batch_size` rows (keyset,
    not OFFSET over the table) and aggregates each batch in SQL, all in one
    transaction, so readers see either the old or the new figures.
    `progress(n)` is called with the number of rows done in each batch.
    Returns the number of raw rows read.
    """
    statements = list(_rebuild_statements())
    with database.atomic():
        for model in ROLLUP_MODELS:
            model.delete().execute()
        total = total_usage_rows()
        done, last_id = 0, 0
        while done < total:
            # The id of this batch's last row: a short walk along the primary key.
            upper = (ApiUsage.select(ApiUsage.id).where(ApiUsage.id > last_id)
                     .order_by(ApiUsage.id).offset(batch_size - 1).limit(1).scalar())
            if upper is None:
                upper = ApiUsage.select(fn.MAX(ApiUsage.id)).scalar()
                count = total - done
            else:
                count = batch_size
            for sql in statements:
                database.execute_sql(sql, (last_id, upper))
            done += count
            last_id = upper
            if progress:
                progress(count)
        database.execute_sql("INSERT INTO usage_daily_active (day, active_users) "
                             "SELECT day, COUNT(*) FROM usage_daily_users GROUP BY day")
        database.execute_sql('UPDATE users SET last_active_at = (SELECT MAX(u."timestamp") '
                             'FROM api_usage u WHERE u.user_id = users.id)')
    return total


def total_usage_rows():
    return ApiUsage.select(fn.COUNT(ApiUsage.id)).scalar()
