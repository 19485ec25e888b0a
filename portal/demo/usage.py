"""60 days of realistic MCP API usage for the demo portal (used by portal.demo.seed).

Patterns a support desk meets: office-hour weekday peaks and quiet weekends,
a small background of 4xx/5xx, one customer stuck in a loop of 401s on one
endpoint, customers near and over their monthly limit (429 after it), some
silent for weeks, usage that stops when a connection broke. Everything is
drawn from the caller's seeded random.Random, so the same seed gives the same
rows. Rows are dicts for portal.usage.counters.record_usage_rows.
"""
import datetime

from models.plans import limits_for

ENDPOINTS = (  # (endpoint, weight)
    ("tools/call get_invoices", 22), ("tools/call get_relations", 16),
    ("tools/call get_sales_orders", 10), ("tools/call get_items", 8),
    ("tools/call get_transactions", 9), ("tools/call get_gl_accounts", 5),
    ("tools/call create_sales_invoice", 4), ("tools/call get_purchase_invoices", 6),
    ("tools/call get_projects", 3), ("tools/call get_outstanding_receivables", 5),
    ("tools/list", 8), ("initialize", 4),
)
STATUSES = ((200, 930), (400, 18), (401, 8), (404, 14), (422, 6), (429, 4), (500, 12),
            (502, 4), (503, 4))
# Monday .. Sunday: Mondays are busy, weekends nearly silent.
WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.85, 0.15, 0.08)
# Office hours (local ~ UTC+1): peaks mid-morning and early afternoon (UTC hours).
HOUR_WEIGHTS = (1, 0, 0, 0, 0, 1, 3, 8, 12, 14, 12, 9, 10, 12, 11, 9, 7, 4, 3, 3, 2, 2, 1, 1)

_ENDPOINT_NAMES = [e for e, _ in ENDPOINTS]
_ENDPOINT_WEIGHTS = [w for _, w in ENDPOINTS]
_STATUS_CODES = [s for s, _ in STATUSES]
_STATUS_WEIGHTS = [w for _, w in STATUSES]
_HOURS = list(range(24))


def _moment(rng, day, now):
    hour = rng.choices(_HOURS, HOUR_WEIGHTS)[0]
    ts = datetime.datetime.combine(day, datetime.time(hour, rng.randrange(60), rng.randrange(60)))
    if ts >= now:  # today: squeeze into the hours that have passed
        seconds = max(1, int((now - datetime.datetime.combine(day, datetime.time())).total_seconds()))
        ts = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(
            seconds=rng.randrange(seconds))
    return ts


def _calls(rng, user_id, day, count, now, error_rate=1.0):
    rows = []
    for _ in range(count):
        status = rng.choices(_STATUS_CODES, _STATUS_WEIGHTS)[0]
        if status != 200 and error_rate < 1.0 and rng.random() > error_rate:
            status = 200
        rows.append(dict(user=user_id, timestamp=_moment(rng, day, now),
                         endpoint=rng.choices(_ENDPOINT_NAMES, _ENDPOINT_WEIGHTS)[0],
                         response_status=status,
                         duration_ms=int(rng.lognormvariate(5.6, 0.6))))
    return rows


def _days(now, days):
    today = now.date()
    return [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]


def regular_usage(rng, user_id, daily, now, days=60, stop=None, start=None, error_rate=1.0):
    """`daily` calls on an average weekday, with noise; nothing before `start`/after `stop`."""
    rows = []
    for day in _days(now, days):
        if (stop and day > stop) or (start and day < start):
            continue
        expected = daily * WEEKDAY_FACTOR[day.weekday()] * rng.uniform(0.6, 1.4)
        count = int(expected) + (1 if rng.random() < expected % 1 else 0)
        rows.extend(_calls(rng, user_id, day, count, now, error_rate))
    return rows


def month_to_date_usage(rng, user_id, plan, fraction, now):
    """This month's calls add up to `fraction` of the plan's monthly limit.

    Beyond the limit the API answers 429, as a customer over their plan sees it."""
    limit = limits_for(plan).monthly_calls
    total = int(limit * fraction)
    days = [d for d in _days(now, now.day)]
    weights = [WEEKDAY_FACTOR[d.weekday()] for d in days]
    counts = dict.fromkeys(days, 0)
    for day in rng.choices(days, weights, k=total):
        counts[day] += 1
    rows = []
    for day in days:
        rows.extend(_calls(rng, user_id, day, counts[day], now, error_rate=0.5))
    rows.sort(key=lambda r: r["timestamp"])
    for n, row in enumerate(rows):
        if n >= limit:
            row["response_status"] = 429
    return rows


def error_loop_usage(rng, user_id, now, hours=6, endpoint="tools/call get_invoices"):
    """A client retrying a call with a dead token: about one 401 a minute for hours."""
    rows = []
    start = now - datetime.timedelta(hours=hours)
    t = start
    while t < now:
        rows.append(dict(user=user_id, timestamp=t, endpoint=endpoint, response_status=401,
                         duration_ms=rng.randrange(20, 60)))
        t += datetime.timedelta(seconds=rng.randrange(40, 80))
    return rows


def failure_tail_usage(rng, user_id, failed_on, now, endpoint="tools/call get_invoices"):
    """After a connection broke: a handful of 401s a day until the customer gave up."""
    rows = []
    for day in _days(now, (now.date() - failed_on).days + 1)[:5]:
        for _ in range(rng.randrange(2, 9)):
            rows.append(dict(user=user_id, timestamp=_moment(rng, day, now), endpoint=endpoint,
                             response_status=401, duration_ms=rng.randrange(20, 80)))
    return rows
