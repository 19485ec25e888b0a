"""Recording API usage with its counters and rollups, in one transaction.

Every path that adds `api_usage` rows (the usage API, `flask import`,
`seed-demo`) goes through `record_usage_rows` (`flask import` through its bulk
form, `UsageRecorder`, with the same rows and increments), so imported usage
counts in every counter, rollup and dashboard figure exactly as if it had come
through the API. The dashboards read the rollups, never the raw rows.

Rollups kept here:
  usage_monthly        (user, month)                -> calls, error_calls
  usage_daily          (day, endpoint, status_class) -> calls
  usage_daily_users    (day, user)                  -> calls, error_calls
  usage_daily_active   (day)                        -> active_users
  usage_hourly_errors  (hour, endpoint, status>=400) -> calls
  users.last_active_at
"""
import bisect
import collections
import datetime
import itertools
import operator

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
    user, ts = ApiUsage.user.db_value, ApiUsage.timestamp.db_value  # model -> id, datetime
    _insert_raw_tuples([(user(r["user"]), ts(r["timestamp"]), r["endpoint"],
                         int(r["response_status"]), r.get("duration_ms")) for r in rows])


_first, _second = operator.itemgetter(0), operator.itemgetter(1)
_endpoint_of, _status_of = operator.itemgetter(2), operator.itemgetter(3)
_day_text = operator.itemgetter(slice(0, 10))    # "YYYY-MM-DD"
_hour_text = operator.itemgetter(slice(0, 13))   # "YYYY-MM-DD HH"


class UsageRecorder:
    """record_usage_rows for a bulk writer that holds its own transaction (`flask import`).

    add(rows) inserts the raw rows at once and folds their increments in memory;
    finish() adds the increments to the counters and rollups in one go (earlier
    when they grow past `max_keys` distinct keys, to bound memory). The rows and
    increments are those record_usage_rows would write, without per-row Python
    (the folding counts with collections.Counter in C) and without one set of
    rollup statements per batch. Call finish() before the transaction ends.

    Rows are tuples (user_id, timestamp, endpoint, response_status, duration_ms),
    the timestamp naive UTC as text, str(datetime): "YYYY-MM-DD HH:MM:SS[.ffffff]",
    the text SQLite stores for a datetime (sqlite3 adapts one with isoformat(" ")),
    and a literal PostgreSQL reads as the same timestamp. In that form the text
    sorts as time does and its slices are the day and the hour.
    """

    def __init__(self, max_keys=500_000):
        self.max_keys = max_keys
        self.recorded = 0
        self._reset()

    def _reset(self):
        self.daily_user = {}                         # day text -> Counter(user -> calls)
        self.daily_user_err = collections.Counter()  # (day text, user) -> error calls
        self.daily = collections.Counter()           # (day text, endpoint, status) -> calls
        self.hourly_err = collections.Counter()      # (hour text, endpoint, status) -> calls
        self.last_active = {}                        # user -> latest timestamp text
        self.last_stamp = ""                         # the latest timestamp folded
        self.pending_keys = 0

    def add(self, rows):
        if not rows:
            return
        _insert_raw_tuples(rows)
        self._fold(rows)
        self.recorded += len(rows)
        if self.pending_keys > self.max_keys:
            self._apply()

    def _users_on(self, day):
        users = self.daily_user.get(day)
        if users is None:
            users = self.daily_user[day] = collections.Counter()
        return users

    def _fold(self, rows):
        users = list(map(_first, rows))
        stamps = list(map(_second, rows))
        days = list(map(_day_text, stamps))
        statuses = list(map(_status_of, rows))
        self.daily.update(zip(days, map(_endpoint_of, rows), statuses))
        errors = [i for i, status in enumerate(statuses) if status >= 400]
        if errors:
            self.daily_user_err.update((days[i], users[i]) for i in errors)
            self.hourly_err.update((stamps[i][:13], rows[i][2], statuses[i]) for i in errors)
        before = sum(map(len, self.daily_user.values()))
        in_order = all(map(operator.le, stamps, itertools.islice(stamps, 1, None)))
        if in_order:
            # In time order, as an export is: each day is one run of rows, counted per
            # customer id at C speed (no (day, customer) tuple per row), and the last
            # row of each customer is its latest (a dict keeps the last value).
            low = 0
            for day in sorted(set(days)):
                high = bisect.bisect_right(days, day, low)
                self._users_on(day).update(users[low:high] if low or high < len(users)
                                           else users)
                low = high
            latest = dict(zip(users, stamps))
        else:
            for (day, user), calls in collections.Counter(zip(days, users)).items():
                self._users_on(day)[user] += calls
            latest = {}
            for user, ts in zip(users, stamps):
                if ts > latest.get(user, ""):
                    latest[user] = ts
        last_active = self.last_active
        if in_order and stamps[0] >= self.last_stamp:  # after every earlier row
            last_active.update(latest)
        else:
            for user, ts in latest.items():
                if ts > last_active.get(user, ""):
                    last_active[user] = ts
        self.last_stamp = max(self.last_stamp, stamps[-1] if in_order else max(stamps))
        self.pending_keys += sum(map(len, self.daily_user.values())) - before + len(errors)

    def _apply(self):
        """Add the folded increments with one statement per table, run by the driver
        (executemany / execute_values): peewee builds SQL value by value, which took
        longer than the raw inserts. Keys stay text, as SQLite stores dates ("YYYY-MM-DD")
        and datetimes (str(datetime)); PostgreSQL reads the same text as date/timestamp."""
        monthly = collections.Counter()
        monthly_err = collections.Counter()
        err = self.daily_user_err
        daily_user = []
        for day, users in self.daily_user.items():
            month = day[:8] + "01"
            for user, calls in users.items():
                errors = err.get((day, user), 0)
                monthly[(user, month)] += calls
                monthly_err[(user, month)] += errors
                daily_user.append((day, user, calls, errors))
        _bulk_upsert(UsageMonthly, ("user", "month"), ("calls", "error_calls"),
                     [(u, m, c, monthly_err[(u, m)]) for (u, m), c in monthly.items()])
        daily = collections.Counter()
        for (day, endpoint, status), calls in self.daily.items():
            daily[(day, endpoint, status_class(status))] += calls
        _bulk_upsert(UsageDaily, ("day", "endpoint", "status_class"), ("calls",),
                     [key + (calls,) for key, calls in daily.items()])
        _add_daily_users_bulk(daily_user)
        _bulk_upsert(UsageHourlyError, ("hour", "endpoint", "response_status"), ("calls",),
                     [(h + ":00:00", e, s, c) for (h, e, s), c in self.hourly_err.items()])
        _bump_last_active({u: datetime.datetime.fromisoformat(t)
                           for u, t in self.last_active.items()})
        self._reset()

    def finish(self):
        """Apply what is folded; returns the number of rows recorded."""
        self._apply()
        return self.recorded


def _upsert_sql(model, keys, counters):
    table = model._meta.table_name
    keys = [getattr(model, k).column_name for k in keys]
    sets = ", ".join('"%s" = "%s"."%s" + excluded."%s"' % (c, table, c, c) for c in counters)
    columns = ", ".join('"%s"' % c for c in keys + list(counters))
    return ('INSERT INTO "%s" (%s) VALUES {values} ON CONFLICT (%s) DO UPDATE SET %s'
            % (table, columns, ", ".join('"%s"' % k for k in keys), sets))


def _bulk_upsert(model, keys, counters, rows, returning=""):
    """rows: tuples of key values then counter increments. With `returning` (PostgreSQL
    only), the rows RETURNING gives."""
    if not rows:
        return []
    sql = _upsert_sql(model, keys, counters)
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values
        return execute_values(cursor, sql.format(values="%s") + returning, rows,
                              page_size=INSERT_BATCH, fetch=bool(returning))
    cursor.executemany(sql.format(values="(%s)" % ", ".join("?" * len(rows[0]))), rows)
    return []


def _add_daily_users_bulk(rows):
    """rows: (day text, user, calls, error_calls). Adds them and counts, per day, the
    customers new on that day into usage_daily_active, like _add_daily_users."""
    if not rows:
        return
    new_per_day = collections.Counter()
    keys, counters = ("day", "user"), ("calls", "error_calls")
    if is_postgres():
        # (xmax = 0): this statement inserted the row, exactly, even with concurrent
        # writers (record_api_call uses the same test).
        for day, is_new in _bulk_upsert(UsageDailyUser, keys, counters, rows,
                                        returning=' RETURNING "day", (xmax = 0)'):
            if is_new:
                new_per_day[str(day)] += 1
    else:
        # SQLite has one writer at a time and this transaction has written already:
        # the pairs present now are the pairs present when the upsert runs.
        present = set()
        for day in {r[0] for r in rows}:
            present.update((day, user) for (user,) in database.execute_sql(
                'SELECT "user_id" FROM "usage_daily_users" WHERE "day" = ?', (day,)))
        new_per_day.update(day for day, user, _, _ in rows if (day, user) not in present)
        _bulk_upsert(UsageDailyUser, keys, counters, rows)
    _bulk_upsert(UsageDailyActive, ("day",), ("active_users",), list(new_per_day.items()))


def _insert_raw_tuples(rows):
    """Insert api_usage rows given as tuples in _RAW_COLUMNS order (database values)."""
    columns = ", ".join('"%s"' % getattr(ApiUsage, c).column_name for c in _RAW_COLUMNS)
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values
        execute_values(cursor, 'INSERT INTO "api_usage" (%s) VALUES %%s' % columns, rows,
                       page_size=INSERT_BATCH)
    else:
        cursor.executemany('INSERT INTO "api_usage" (%s) VALUES (?, ?, ?, ?, ?)' % columns, rows)


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
