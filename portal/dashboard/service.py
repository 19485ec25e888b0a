"""Figures for the staff dashboard (no Flask).

Every figure comes from a rollup or a small table, never from the raw
api_usage rows, so the dashboard costs the same at 5,000 or 5,000,000 calls:
  requests per day by status class, top endpoints -> usage_daily
  active customers per day                         -> usage_daily_active
  top customers this month                         -> usage_monthly (month, calls) index
  error loops (last 24 h)                          -> usage_hourly_errors
  refresh loops (last 24 h)                        -> refresh_attempts (attempted_at index)
  customers per plan, connection health, sidecar   -> users, connections, heartbeats, job_runs
  outreach campaigns failing every send            -> the last outreach job_runs row
Each function takes `now` (naive UTC) so tests can pin the clock.
"""
import datetime
from dataclasses import dataclass

from peewee import Case, fn

from models import (PlanType, RefreshAttempt,
                    UsageDaily, UsageDailyActive, UsageHourlyError,
                    UsageMonthly, User)
from models.db import as_date
from portal.connections.service import status_counts
from portal.sidecar.status import failing_campaigns, sidecar_status

PERIODS = (30, 90)
REFRESH_LOOP_THRESHOLD = 50  # refresh attempts per customer in 24 h
STATUS_CLASSES = (2, 3, 4, 5)


@dataclass
class DayUsage:
    day: datetime.date
    by_class: dict  # status class (2..5) -> calls
    active_customers: int = 0

    @property
    def total(self):
        return sum(self.by_class.values())

    @property
    def errors(self):
        return self.by_class.get(4, 0) + self.by_class.get(5, 0)


def period_days(value, default=30):
    """The chart period from a query argument: one of PERIODS."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return default
    return days if days in PERIODS else default


def usage_per_day(days, now):
    """One DayUsage per calendar day of the last `days` days (today included), zeros filled."""
    today = now.date()
    first = today - datetime.timedelta(days=days - 1)
    series = {first + datetime.timedelta(days=i): DayUsage(first + datetime.timedelta(days=i), {})
              for i in range(days)}
    q = (UsageDaily.select(UsageDaily.day, UsageDaily.status_class,
                           fn.SUM(UsageDaily.calls).alias("calls"))
         .where(UsageDaily.day.between(first, today))
         .group_by(UsageDaily.day, UsageDaily.status_class).tuples())
    for day, cls, calls in q:
        d = series.get(as_date(day))
        if d is not None:
            # Status below 200 (class 1) is rare; show it with 2xx rather than drop it.
            key = max(2, cls)
            d.by_class[key] = d.by_class.get(key, 0) + int(calls)
    for day, active in (UsageDailyActive.select(UsageDailyActive.day, UsageDailyActive.active_users)
                        .where(UsageDailyActive.day.between(first, today)).tuples()):
        d = series.get(as_date(day))
        if d is not None:
            d.active_customers = active
    return [series[k] for k in sorted(series)]


def top_endpoints(days, now, limit=10):
    """[(endpoint, calls, error_calls, error_share)] over the period, busiest first."""
    first = now.date() - datetime.timedelta(days=days - 1)
    errors = fn.SUM(Case(None, ((UsageDaily.status_class >= 4, UsageDaily.calls),), 0))
    q = (UsageDaily.select(UsageDaily.endpoint, fn.SUM(UsageDaily.calls).alias("calls"),
                           errors.alias("errors"))
         .where(UsageDaily.day >= first)
         .group_by(UsageDaily.endpoint).order_by(fn.SUM(UsageDaily.calls).desc(),
                                                 UsageDaily.endpoint).limit(limit).tuples())
    return [(e, int(c), int(err or 0), (int(err or 0) / int(c)) if c else 0.0) for e, c, err in q]


def top_customers_this_month(now, limit=10):
    """[(user_id, email, plan, calls, error_calls)] for the current month, busiest first."""
    month = datetime.date(now.year, now.month, 1)
    q = (UsageMonthly.select(UsageMonthly.user, User.email, User.plan, UsageMonthly.calls,
                             UsageMonthly.error_calls)
         .join(User, on=(UsageMonthly.user == User.id))
         .where(UsageMonthly.month == month)
         .order_by(UsageMonthly.calls.desc()).limit(limit).tuples())
    return list(q)


def error_loops(now, hours=24, limit=20):
    """[(endpoint, status, calls)] with status >= 400 in the last `hours` hours."""
    since = (now - datetime.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    calls = fn.SUM(UsageHourlyError.calls)
    q = (UsageHourlyError.select(UsageHourlyError.endpoint, UsageHourlyError.response_status,
                                 calls.alias("calls"))
         .where(UsageHourlyError.hour >= since)
         .group_by(UsageHourlyError.endpoint, UsageHourlyError.response_status)
         .order_by(calls.desc(), UsageHourlyError.endpoint, UsageHourlyError.response_status)
         .limit(limit).tuples())
    return [(e, s, int(c)) for e, s, c in q]


def refresh_loops(now, threshold=REFRESH_LOOP_THRESHOLD, limit=20):
    """[(user_id, email, attempts, failures)] with more than `threshold` token refresh
    attempts in the last 24 h (from the refresh attempt log).

    Two steps so the big one stays inside the (user_id, attempted_at) index
    (no table reads): count per customer, then look at outcomes only for the
    few customers that loop.
    """
    since = now - datetime.timedelta(hours=24)
    attempts = fn.COUNT(RefreshAttempt.user)
    loops = sorted((RefreshAttempt.select(RefreshAttempt.user, attempts)
                    .where(RefreshAttempt.attempted_at >= since)
                    .group_by(RefreshAttempt.user).having(attempts > threshold).tuples()),
                   key=lambda r: (-r[1], r[0]))[:limit]
    if not loops:
        return []
    ids = [uid for uid, _ in loops]
    failures = dict(RefreshAttempt.select(RefreshAttempt.user, fn.COUNT(RefreshAttempt.id))
                    .where(RefreshAttempt.user.in_(ids) & (RefreshAttempt.attempted_at >= since)
                           & (RefreshAttempt.outcome != "success"))
                    .group_by(RefreshAttempt.user).tuples())
    emails = dict(User.select(User.id, User.email).where(User.id.in_(ids)).tuples())
    return [(uid, emails.get(uid, ""), int(n), int(failures.get(uid, 0))) for uid, n in loops]


def reconnected_recently(now, days=7):
    """Connections the customers reconnected themselves in the last `days` days
    (refresh_attempts rows with outcome "reconnected", on the attempted_at index)."""
    since = now - datetime.timedelta(days=days)
    return (RefreshAttempt.select(fn.COUNT(RefreshAttempt.connection.distinct()))
            .where((RefreshAttempt.attempted_at >= since)
                   & (RefreshAttempt.outcome == "reconnected")).scalar() or 0)


def customers_per_plan():
    """[(plan, customers)] for every plan, including plans with no customer."""
    counts = dict(User.select(User.plan, fn.COUNT(User.id)).group_by(User.plan).tuples())
    return [(p.value, counts.get(p.value, 0)) for p in PlanType]


def connection_health():
    """[(status, connections)] for every connection status."""
    return list(status_counts().items())


def dashboard(now, days, interval_seconds):
    """Everything the dashboard shows, as one dict of plain values."""
    per_day = usage_per_day(days, now)
    total = sum(d.total for d in per_day)
    errors = sum(d.errors for d in per_day)
    return {
        "now": now,
        "days": days,
        "per_day": per_day,
        "total_calls": total,
        "error_calls": errors,
        "error_share": errors / total if total else 0.0,
        "top_endpoints": top_endpoints(days, now),
        "top_customers": top_customers_this_month(now),
        "error_loops": error_loops(now),
        "refresh_loops": refresh_loops(now),
        "plans": customers_per_plan(),
        "health": connection_health(),
        "sidecar": sidecar_status(now, interval_seconds),
        "reconnected_7d": reconnected_recently(now),
        "outreach_failing": outreach_failing(),
    }


def outreach_failing():
    """{"run": JobRun, "campaigns": [...]} when, in the sidecar's last outreach run,
    some campaign sent nothing and failed (every send, or the campaign itself); else None."""
    run, campaigns = failing_campaigns()
    return {"run": run, "campaigns": campaigns} if campaigns else None


