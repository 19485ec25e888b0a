"""The request log: raw api_usage rows, filtered, with keyset pagination (no Flask).

Rows are shown newest first, ordered by (timestamp, id): `id` breaks ties
between calls with the same timestamp, so a page boundary never skips or
repeats a row. A page is read with `LIMIT page_size + 1` after the cursor;
there is no OFFSET and no COUNT, so page 1,000 costs what page 1 costs.

Every filter has an index ending in (timestamp, id) (migration 0045):
none -> idx_api_usage_time_id, customer -> idx_api_usage_user_month (user_id,
timestamp; SQLite adds the rowid id, PostgreSQL sorts only the ties),
endpoint -> idx_api_usage_endpoint_time, status class ->
idx_api_usage_class_time on (response_status / 100). A date range becomes a
range on timestamp in whichever index is used.

A customer's log is read on idx_api_usage_user_month whatever her size. Left
to itself, PostgreSQL picks idx_api_usage_time_id with a filter once a customer
holds a large share of the table, betting her rows are spread evenly over
time: for a big customer who stopped calling months ago that reads every newer
row of everybody before her first. So the customer-only query orders by
(user_id, timestamp, id) and names the customer as a range of one
(`BETWEEN id AND id`): an equality would let the planner drop user_id from the
ordering, and only idx_api_usage_user_month can deliver the order without
sorting all her rows (see tests/test_request_log.py and bench/bench_usage.py). SQLite
needs none of this: its index holds the rowid, and it always reads a customer there.
"""
import datetime
import time
from dataclasses import dataclass

from peewee import SQL

from models import ApiUsage, UsageDaily, User, database
from models.db import is_postgres
from portal.customers.lookup import find_customer
from portal.core.pagination import decode_cursor, encode_cursor, newer_than, older_than

PAGE_SIZE = 50
EXPORT_BATCH = 2000
STATUS_CLASSES = {"2xx": 2, "3xx": 3, "4xx": 4, "5xx": 5}


@dataclass(frozen=True)
class LogFilter:
    user_id: int | None = None
    endpoint: str | None = None
    status_class: int | None = None  # 2..5
    start: datetime.datetime | None = None  # inclusive
    end: datetime.datetime | None = None  # exclusive


@dataclass
class LogPage:
    rows: list  # dicts: id, timestamp, user_id, email, endpoint, response_status, duration_ms
    newer: str | None  # cursor for the page of newer rows (`after=`), None on the first page
    older: str | None  # cursor for the page of older rows (`before=`), None on the last page


def _by_customer_index(log_filter):
    """On PostgreSQL, when the customer is the only filter besides dates: the query that
    only idx_api_usage_user_month can serve. SQLite always picks that index for an
    equality, and a range on user_id would stop it seeking to the cursor's timestamp."""
    f = log_filter
    return (f.user_id is not None and not f.endpoint and f.status_class is None
            and is_postgres())


def filtered(log_filter):
    f = log_filter
    q = ApiUsage.select(ApiUsage.id, ApiUsage.timestamp, ApiUsage.user, ApiUsage.endpoint,
                        ApiUsage.response_status, ApiUsage.duration_ms)
    if _by_customer_index(f):
        q = q.where(ApiUsage.user.between(f.user_id, f.user_id))
    elif f.user_id is not None:
        q = q.where(ApiUsage.user == f.user_id)
    if f.endpoint:
        q = q.where(ApiUsage.endpoint == f.endpoint)
    if f.status_class is not None:
        # Same expression as idx_api_usage_class_time, so the index applies;
        # the 100 must be a literal, not a bound parameter, for SQLite to match it.
        q = q.where((ApiUsage.response_status / SQL("100")) == f.status_class)
    if f.start is not None:
        q = q.where(ApiUsage.timestamp >= f.start)
    if f.end is not None:
        q = q.where(ApiUsage.timestamp < f.end)
    return q


def _older_than(cursor):
    return older_than(ApiUsage.timestamp, ApiUsage.id, cursor)


def _newer_than(cursor):
    return newer_than(ApiUsage.timestamp, ApiUsage.id, cursor)


def _newest_first(q, log_filter):
    if _by_customer_index(log_filter):
        return q.order_by(ApiUsage.user.desc(), ApiUsage.timestamp.desc(), ApiUsage.id.desc())
    return q.order_by(ApiUsage.timestamp.desc(), ApiUsage.id.desc())


def _oldest_first(q, log_filter):
    if _by_customer_index(log_filter):
        return q.order_by(ApiUsage.user.asc(), ApiUsage.timestamp.asc(), ApiUsage.id.asc())
    return q.order_by(ApiUsage.timestamp.asc(), ApiUsage.id.asc())


def _with_emails(rows):
    ids = {r["user"] for r in rows}
    emails = dict(User.select(User.id, User.email).where(User.id.in_(list(ids))).tuples()) \
        if ids else {}
    for r in rows:
        r["user_id"] = r.pop("user")
        r["email"] = emails.get(r["user_id"], "")
    return rows


def fetch_page(log_filter, before=None, after=None, page_size=PAGE_SIZE):
    """One page of rows. `before`/`after` are cursor strings (BadCursor if forged)."""
    q = filtered(log_filter)
    if after:
        q = q.where(_newer_than(decode_cursor(after)))
        rows = list(_oldest_first(q, log_filter).limit(page_size + 1).dicts())
        has_newer, has_older = len(rows) > page_size, True
        rows = rows[:page_size][::-1]
    else:
        if before:
            q = q.where(_older_than(decode_cursor(before)))
        rows = list(_newest_first(q, log_filter).limit(page_size + 1).dicts())
        has_newer, has_older = bool(before), len(rows) > page_size
        rows = rows[:page_size]
    _with_emails(rows)
    if not rows:
        return LogPage(rows, None, None)
    return LogPage(
        rows,
        newer=encode_cursor(rows[0]["timestamp"], rows[0]["id"]) if has_newer else None,
        older=encode_cursor(rows[-1]["timestamp"], rows[-1]["id"]) if has_older else None,
    )


def iter_rows(log_filter, batch_size=None):
    """Every filtered row, newest first, read in keyset batches (for CSV export)."""
    batch_size = batch_size or EXPORT_BATCH
    cursor = None
    while True:
        q = filtered(log_filter)
        if cursor:
            q = q.where(_older_than(cursor))
        batch = list(_newest_first(q, log_filter).limit(batch_size).dicts())
        if not batch:
            return
        yield from _with_emails(batch)
        if len(batch) < batch_size:
            return
        cursor = (batch[-1]["timestamp"], batch[-1]["id"])


def customer_id_for_email(email):
    user = find_customer(email)
    return user.id if user else None


_ENDPOINTS_CACHE = {}
ENDPOINTS_CACHE_SECONDS = 60


def known_endpoints(since_day, clock=time.monotonic):
    """Endpoint names seen since `since_day`, for the filter's suggestions (from the rollup).

    Only suggestions, so a minute-old list is fine; caching it keeps a DISTINCT
    over 90 days of usage_daily off every page view.
    """
    key = (id(database.obj), since_day)
    hit = _ENDPOINTS_CACHE.get(key)
    if hit and clock() - hit[0] < ENDPOINTS_CACHE_SECONDS:
        return hit[1]
    names = [e for (e,) in UsageDaily.select(UsageDaily.endpoint).distinct()
             .where(UsageDaily.day >= since_day).order_by(UsageDaily.endpoint).limit(500).tuples()]
    _ENDPOINTS_CACHE.clear()
    _ENDPOINTS_CACHE[key] = (clock(), names)
    return names
