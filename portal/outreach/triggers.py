"""Outreach triggers: who a campaign's trigger fires for right now.

Each trigger is ONE query over the whole customer base (never one query per
customer), returning `Candidate`s with the facts the email and the log need.
The campaign's plan filter is part of the query (a campaign for Free customers
simply does not look at Pro customers); the dry run asks without the filter to
show who is left out and why.

Parameters per trigger live in portal.outreach.params (re-exported here).
"""
import datetime
from dataclasses import dataclass, field

from peewee import Case, fn

from models import (PLAN_LIMITS, ApiUsage, Connection, UsageDailyUser, UsageMonthly,
                    User)
from models.plans import limits_for

from portal.outreach.params import campaign_params, campaign_plans
from portal.usage.counters import month_start

@dataclass
class Candidate:
    """A customer a trigger fires for, with what the email and log need."""
    user_id: int
    email: str
    name: str
    plan: str
    marketing_opt_out: bool
    created_at: datetime.datetime
    last_active_at: datetime.datetime | None
    why: str = ""
    connection: dict | None = None
    usage: dict | None = None
    errors: dict | None = None
    extra: dict = field(default_factory=dict)

    def user_dict(self):
        return {"id": self.user_id, "email": self.email, "name": self.name, "plan": self.plan,
                "created_at": self.created_at, "last_active_at": self.last_active_at}


USER_COLUMNS = (User.id, User.email, User.name, User.plan, User.marketing_opt_out,
                User.created_at, User.last_active_at)


def _candidate(row, why="", **facts):
    return Candidate(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], why, **facts)


def _plan_filter(query, plans):
    return query.where(User.plan.in_(plans)) if plans else query


def limit_case():
    """SQL: the plan's monthly call limit; NULL for unlimited plans (never fire)."""
    limited = [(p.value, lim.monthly_calls) for p, lim in PLAN_LIMITS.items()
               if lim.monthly_calls is not None]
    return Case(User.plan, limited, None)


# --- one query per trigger ----------------------------------------------------

def connection_failed(now, params, plans):
    """Customers with a connection in refresh_failed (the latest failed one each)."""
    query = (Connection.select(*USER_COLUMNS, Connection.id, Connection.division,
                               Connection.status, Connection.last_error, Connection.retry_count)
             .join(User).where(Connection.status == "refresh_failed")
             .order_by(User.id, Connection.updated_at.desc(), Connection.id.desc()))
    seen, out = set(), []
    for row in _plan_filter(query, plans).tuples().iterator():
        if row[0] in seen:
            continue
        seen.add(row[0])
        conn = {"id": row[7], "division": row[8], "status": row[9], "last_error": row[10] or "",
                "retry_count": row[11]}
        out.append(_candidate(row, "connection to division %s is refresh_failed" % row[8],
                              connection=conn))
    return out


def no_connection(now, params, plans):
    """Signed up between days_after_signup and max_days_after_signup ago, no connection."""
    newest = now - datetime.timedelta(days=params["days_after_signup"])
    oldest = now - datetime.timedelta(days=params["max_days_after_signup"])
    has_connection = Connection.select(Connection.id).where(Connection.user == User.id)
    query = (User.select(*USER_COLUMNS)
             .where((User.created_at <= newest) & (User.created_at > oldest)
                    & ~fn.EXISTS(has_connection)))
    return [_candidate(row, "signed up %s, no connection" % row[5].strftime("%Y-%m-%d"))
            for row in _plan_filter(query, plans).tuples().iterator()]


def _usage_query(now, plans):
    limit = limit_case()
    query = (UsageMonthly.select(*USER_COLUMNS, UsageMonthly.calls, limit)
             .join(User).where(UsageMonthly.month == month_start(now)))
    return _plan_filter(query, plans), limit


def _usage_candidates(query, now, what):
    out = []
    for row in query.tuples().iterator():
        calls, limit = row[7], row[8]
        usage = {"used": calls, "limit": limit, "month": month_start(now)}
        out.append(_candidate(row, "%s: %d of %d calls this month" % (what, calls, limit),
                              usage=usage))
    return out


def _min_limit():
    return min(lim.monthly_calls for lim in PLAN_LIMITS.values()
               if lim.monthly_calls is not None)


def usage_near_limit(now, params, plans):
    """This month's calls at >= percent % but below 100 % of the plan's monthly_calls."""
    pct = params["percent"]
    query, limit = _usage_query(now, plans)
    # The first condition lets the (month, calls) index skip the small accounts.
    query = query.where((UsageMonthly.calls >= _min_limit() * pct // 100)
                        & (UsageMonthly.calls * 100 >= limit * pct)
                        & (UsageMonthly.calls < limit))
    return _usage_candidates(query, now, "%d %% of the limit" % pct)


def usage_limit_reached(now, params, plans):
    """This month's calls at or above the plan's monthly_calls (unlimited plans never)."""
    query, limit = _usage_query(now, plans)
    query = query.where((UsageMonthly.calls >= _min_limit()) & (UsageMonthly.calls >= limit))
    return _usage_candidates(query, now, "limit reached")


def inactive(now, params, plans):
    """Used the API before, but not in days_inactive (nor longer than max_days_inactive)."""
    newest = now - datetime.timedelta(days=params["days_inactive"])
    oldest = now - datetime.timedelta(days=params["max_days_inactive"])
    query = User.select(*USER_COLUMNS).where((User.last_active_at < newest)
                                             & (User.last_active_at >= oldest))
    return [_candidate(row, "last API call %s" % row[6].strftime("%Y-%m-%d"))
            for row in _plan_filter(query, plans).tuples().iterator()]


def error_loop(now, params, plans):
    """At least errors_in_24h calls with status >= 400 in the last 24 hours.

    The per-day rollup narrows the customers first (a superset: the days that
    overlap the window); the exact count then reads api_usage through
    idx_api_usage_user_month for those customers only. One statement.
    """
    threshold = params["errors_in_24h"]
    since = now - datetime.timedelta(hours=24)
    # The (at most two) days the window touches, as an IN list: SQLite then reads
    # them from the (day, user) key instead of scanning the user index to group.
    days = [since.date() + datetime.timedelta(days=i)
            for i in range((now.date() - since.date()).days + 1)]
    suspects = (UsageDailyUser.select(UsageDailyUser.user)
                .where(UsageDailyUser.day.in_(days))
                .group_by(UsageDailyUser.user)
                .having(fn.SUM(UsageDailyUser.error_calls) >= threshold))
    query = (ApiUsage.select(*USER_COLUMNS, ApiUsage.endpoint, ApiUsage.response_status,
                             fn.COUNT(ApiUsage.id))
             .join(User)
             .where(ApiUsage.user.in_(suspects) & (ApiUsage.timestamp > since)
                    & (ApiUsage.timestamp <= now) & (ApiUsage.response_status >= 400))
             .group_by(*USER_COLUMNS, ApiUsage.endpoint, ApiUsage.response_status))
    by_user = {}
    for row in _plan_filter(query, plans).tuples().iterator():
        entry = by_user.setdefault(row[0], [row, 0, None, -1])
        entry[1] += row[9]
        if row[9] > entry[3]:  # the most frequent (endpoint, status) names the problem
            entry[2], entry[3] = (row[7], row[8]), row[9]
    out = []
    for row, total, (endpoint, status), _ in by_user.values():
        if total >= threshold:
            errors = {"count": total, "endpoint": endpoint, "status": status}
            out.append(_candidate(row, "%d failed calls in 24 h (mostly %s → %s)"
                                  % (total, endpoint, status), errors=errors))
    return out


FINDERS = {
    "connection_failed": connection_failed,
    "no_connection": no_connection,
    "usage_near_limit": usage_near_limit,
    "usage_limit_reached": usage_limit_reached,
    "inactive": inactive,
    "error_loop": error_loop,
}


def find_candidates(campaign, now, *, apply_plan_filter=True):
    """Customers the campaign's trigger fires for at `now` (one query)."""
    plans = campaign_plans(campaign) if apply_plan_filter else None
    return FINDERS[campaign.trigger](now, campaign_params(campaign), plans)


def usage_this_month(user_ids, now):
    """{user_id: {"used", "limit", "month"}} for the template context (batched)."""
    month = month_start(now)
    result = {}
    ids = list(user_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        plans = dict(User.select(User.id, User.plan).where(User.id.in_(chunk)).tuples())
        calls = dict(UsageMonthly.select(UsageMonthly.user, UsageMonthly.calls)
                     .where(UsageMonthly.user.in_(chunk) & (UsageMonthly.month == month))
                     .tuples())
        for uid, plan in plans.items():
            result[uid] = {"used": calls.get(uid, 0), "limit": limits_for(plan).monthly_calls,
                           "month": month}
    return result
