"""Customers: limits, this month's usage, plan changes, division limits, the detail page.

No Flask here. Staff writes (`change_plan`, `set_division_limit`,
`clear_division_limit`) take the acting staff member (`portal.core.audit.Actor`)
and write the change and its audit row in one transaction.

This month's usage is one primary-key lookup in `usage_monthly` (maintained by
portal.usage.counters in the same transaction as the raw insert), never a
COUNT over `api_usage`.
"""
import datetime

from models import (
    ApiUsage,
    Connection,
    DivisionLimit,
    PlanType,
    UsageDailyUser,
    UsageMonthly,
    User,
    database,
    utcnow,
)

from models.plans import limits_for
from portal.core import audit
from portal.customers import api_keys
from portal.flags import service as flags_service
from portal.outreach.engine import customer_outreach
from portal.usage.counters import month_start

LATEST_ERRORS_LIMIT = 20
CHART_DAYS = 30
MAX_DIVISIONS_OVERRIDE = 10_000


class CustomerError(ValueError):
    """A staff request that cannot be applied; the message is for the user."""


def month_label(now):
    return "%04d-%02d" % (now.year, now.month)


def calls_this_month(user_id, now=None):
    """O(1): one primary-key lookup in the monthly counter."""
    now = now or utcnow()
    calls = (UsageMonthly.select(UsageMonthly.calls)
             .where((UsageMonthly.user == user_id) & (UsageMonthly.month == month_start(now)))
             .scalar())
    return calls or 0


def division_limit(user):
    """(effective max_divisions, plan default, DivisionLimit override or None).

    None as a limit means unlimited.
    """
    default = limits_for(user.plan).max_divisions
    override = DivisionLimit.get_or_none(DivisionLimit.user == user.id)
    effective = override.max_divisions if override is not None else default
    return effective, default, override


def usage_against_limit(used, limit):
    """(remaining, allowed): unlimited plans have remaining None and are always allowed."""
    if limit is None:
        return None, True
    return max(0, limit - used), used < limit


def usage_summary(user, now=None):
    now = now or utcnow()
    used = calls_this_month(user.id, now)
    limit = limits_for(user.plan).monthly_calls
    remaining, allowed = usage_against_limit(used, limit)
    percent = None if not limit else min(100, round(100 * used / limit))
    return {"month": month_label(now), "used": used, "limit": limit,
            "remaining": remaining, "allowed": allowed, "percent": percent}


def build_profile(user, used, max_divisions, now):
    """GET /me from figures already loaded (the API loads them in one query)."""
    limit = limits_for(user.plan).monthly_calls
    remaining, allowed = usage_against_limit(used, limit)
    return {
        "email": user.email,
        "plan": str(user.plan),
        "limits": {"monthly_calls": limit, "max_divisions": max_divisions},
        "usage": {"month": month_label(now), "used": used, "remaining": remaining},
        "allowed": allowed,
        "flags": flags_service.flags_as_json(user),
    }


# --- staff writes ---------------------------------------------------------------

def change_plan(user, new_plan, actor):
    """Set the customer's plan; returns (before, after). Every PlanType is valid."""
    try:
        new_plan = PlanType(new_plan).value
    except ValueError:
        raise CustomerError("Unknown plan %r; choose one of %s."
                            % (new_plan, ", ".join(PlanType.values())))
    before = str(user.plan)
    if before == new_plan:
        raise CustomerError("The customer is already on the %s plan." % new_plan)
    with database.atomic():
        User.update(plan=new_plan).where(User.id == user.id).execute()
        audit.record(actor, "customer.plan_change", "user", user.id,
                     before={"plan": before}, after={"plan": new_plan})
    user.plan = new_plan
    return before, new_plan


def _limit_snapshot(override):
    if override is None:
        return {"override": False}
    return {"override": True, "max_divisions": override.max_divisions, "reason": override.reason}


def set_division_limit(user, max_divisions, actor, reason="", now=None):
    """Override the plan's division limit; max_divisions None means unlimited.

    Returns (before, after) snapshots for the audit log.
    """
    if max_divisions is not None:
        if isinstance(max_divisions, bool) or not isinstance(max_divisions, int):
            raise CustomerError("The division limit must be a whole number.")
        if not 0 <= max_divisions <= MAX_DIVISIONS_OVERRIDE:
            raise CustomerError("The division limit must be between 0 and %d."
                                % MAX_DIVISIONS_OVERRIDE)
    now = now or utcnow()
    with database.atomic():
        existing = DivisionLimit.get_or_none(DivisionLimit.user == user.id)
        before = _limit_snapshot(existing)
        if existing is None:
            existing = DivisionLimit.create(user=user.id, max_divisions=max_divisions,
                                            reason=reason or "", updated_at=now)
        else:
            existing.max_divisions = max_divisions
            existing.reason = reason or ""
            existing.updated_at = now
            existing.save()
        after = _limit_snapshot(existing)
        audit.record(actor, "customer.division_limit_set", "user", user.id,
                     before=before, after=after)
    return before, after


def clear_division_limit(user, actor):
    """Back to the plan default; returns (before, after) or raises if there was none."""
    with database.atomic():
        existing = DivisionLimit.get_or_none(DivisionLimit.user == user.id)
        if existing is None:
            raise CustomerError("This customer has no division limit override.")
        before = _limit_snapshot(existing)
        existing.delete_instance()
        after = _limit_snapshot(None)
        audit.record(actor, "customer.division_limit_clear", "user", user.id,
                     before=before, after=after)
    return before, after


# --- the detail page ------------------------------------------------------------

def usage_chart(user_id, now=None, days=CHART_DAYS):
    """[(date, calls, error_calls)] for the last `days` days, zeros included (rollup only)."""
    today = (now or utcnow()).date()
    start = today - datetime.timedelta(days=days - 1)
    rows = (UsageDailyUser.select(UsageDailyUser.day, UsageDailyUser.calls,
                                  UsageDailyUser.error_calls)
            .where((UsageDailyUser.user == user_id) & (UsageDailyUser.day >= start)
                   & (UsageDailyUser.day <= today)))
    by_day = {r.day: (r.calls, r.error_calls) for r in rows}
    series = []
    for i in range(days):
        day = start + datetime.timedelta(days=i)
        calls, errors = by_day.get(day, (0, 0))
        series.append((day, calls, errors))
    return series


def latest_errors(user_id, limit=LATEST_ERRORS_LIMIT):
    """The newest api_usage rows with status >= 400 for one customer.

    A heavy customer can have a million rows this month and very few errors,
    so a plain backwards scan of (user_id, timestamp) could read all of them.
    The daily rollup says which days had errors; only those days are read,
    newest first, each through the (user_id, timestamp) index.
    """
    error_days = (UsageDailyUser.select(UsageDailyUser.day)
                  .where((UsageDailyUser.user == user_id) & (UsageDailyUser.error_calls > 0))
                  .order_by(UsageDailyUser.day.desc()))
    found = []
    for row in error_days:
        start = datetime.datetime.combine(row.day, datetime.time())
        end = start + datetime.timedelta(days=1)
        found.extend(ApiUsage.select()
                     .where((ApiUsage.user == user_id) & (ApiUsage.timestamp >= start)
                            & (ApiUsage.timestamp < end) & (ApiUsage.response_status >= 400))
                     .order_by(ApiUsage.timestamp.desc(), ApiUsage.id.desc())
                     .limit(limit - len(found)))
        if len(found) >= limit:
            break
    return found


def customer_detail(user_id, now=None):
    """Everything the customer page shows, or None if there is no such customer."""
    now = now or utcnow()
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return None
    effective, default, override = division_limit(user)
    log, cooldowns = customer_outreach(user.id, now=now)
    return {
        "user": user,
        "usage": usage_summary(user, now),
        "limits": limits_for(user.plan),
        "division_limit": {"effective": effective, "plan_default": default,
                           "override": override},
        "flags": sorted(flags_service.effective_flags(user).values(), key=lambda f: f.key),
        "connections": list(Connection.select().where(Connection.user == user.id)
                            .order_by(Connection.division)),
        "api_keys": api_keys.keys_for(user.id),
        "chart": usage_chart(user.id, now),
        "errors": latest_errors(user.id),
        "outreach_log": log,
        "cooldowns": cooldowns,
    }
