"""Recording API usage with its counters and rollups, in one transaction.

Every path that adds `api_usage` rows (the usage API, `flask import`,
`seed-demo`) goes through `record_usage_rows`, so imported usage counts in
every counter, rollup and dashboard figure exactly as if it had come through
the API. The dashboards read the rollups, never the raw rows.
"""
import collections
import datetime

from peewee import EXCLUDED, fn

from models import (ApiUsage, UsageDaily, UsageDailyUser, UsageHourlyError, UsageMonthly,
                    User, database)

INSERT_BATCH = 1000


def status_class(status):
    return max(1, min(5, int(status) // 100))


def month_start(ts):
    return datetime.date(ts.year, ts.month, 1)


def aggregate(rows):
    """Fold usage rows into per-rollup increments (pure; used by rebuild too)."""
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


def apply_rollups(agg):
    """Add aggregated increments to the counter and rollup tables."""
    _upsert(UsageMonthly, agg["monthly"], ["user", "month"], ["calls", "error_calls"])
    _upsert(UsageDaily, agg["daily"], ["day", "endpoint", "status_class"], ["calls"])
    _upsert(UsageDailyUser, agg["daily_user"], ["day", "user"], ["calls", "error_calls"])
    _upsert(UsageHourlyError, agg["hourly_err"], ["hour", "endpoint", "response_status"], ["calls"])
    for uid, ts in agg["last_active"].items():
        (User.update(last_active_at=ts)
         .where((User.id == uid) & ((User.last_active_at.is_null()) | (User.last_active_at < ts)))
         .execute())


def record_usage_rows(rows):
    """Insert raw usage rows (dicts: user, timestamp, endpoint, response_status[, duration_ms])
    and update every counter and rollup, all in one transaction."""
    rows = list(rows)
    if not rows:
        return 0
    with database.atomic():
        for i in range(0, len(rows), INSERT_BATCH):
            ApiUsage.insert_many(rows[i:i + INSERT_BATCH]).execute()
        apply_rollups(aggregate(rows))
    return len(rows)


def rebuild_rollups(batch_size=50_000, progress=None):
    """Recompute every counter and rollup from the raw api_usage rows.

    Streams the raw rows in id order (keyset, not OFFSET) and runs in one
    transaction, so readers see either the old or the new figures.
    `progress(n)` is called with the number of rows done in each batch.
    """
    with database.atomic():
        for model in (UsageMonthly, UsageDaily, UsageDailyUser, UsageHourlyError):
            model.delete().execute()
        last_id = 0
        while True:
            batch = list(ApiUsage.select(ApiUsage.id, ApiUsage.user, ApiUsage.timestamp,
                                         ApiUsage.endpoint, ApiUsage.response_status)
                         .where(ApiUsage.id > last_id).order_by(ApiUsage.id)
                         .limit(batch_size).dicts())
            if not batch:
                break
            last_id = batch[-1]["id"]
            apply_rollups(aggregate(batch))
            if progress:
                progress(len(batch))
    return True


def total_usage_rows():
    return ApiUsage.select(fn.COUNT(ApiUsage.id)).scalar()
