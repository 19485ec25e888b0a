"""Limits the MCP server enforces before it calls Exact.

* The plan's monthly limit, checked and counted in ONE conditional UPDATE of
  usage_monthly (the same counter /api/v1/usage and the dashboards read), so
  two calls racing at limit - 1 cannot both pass. The call's api_usage row is
  written later with `record_api_call(..., reserved=True)`, which then adds
  every other counter but not the monthly call again.
* Exact's per-division limits (60 a minute, 5,000 a day, reported in
  X-RateLimit-* headers) and its 10-errors-an-hour block, kept in the
  exact_rate_limits table so every MCP server process sees them.
"""
import datetime

from models import UsageMonthly
from models.mcp import ExactRateLimit
from models.plans import limits_for

from portal.exact.tokens import write_transaction
from portal.usage.counters import month_start

# Exact blocks the app for an hour after more than 10 errors in an hour; stop
# a little before that so a racing call or two cannot cross the line.
ERROR_BUDGET_PER_HOUR = 8
# Calls possibly in flight in other threads/processes when Exact's figure was read.
IN_FLIGHT_MARGIN = 2


def monthly_limit(plan):
    return limits_for(plan).monthly_calls


def reserve_monthly_call(user_id, plan, now):
    """Count one call against this month's limit if there is room: (allowed, limit)."""
    limit = monthly_limit(plan)
    if limit is None:
        return True, None
    month = month_start(now)
    with write_transaction():
        UsageMonthly.insert(user=user_id, month=month, calls=0,
                            error_calls=0).on_conflict_ignore().execute()
        taken = (UsageMonthly.update(calls=UsageMonthly.calls + 1)
                 .where((UsageMonthly.user == user_id) & (UsageMonthly.month == month)
                        & (UsageMonthly.calls < limit))
                 .execute())
    return taken == 1, limit


class ExactBusy(Exception):
    """Exact would refuse (or block us): do not call it before `retry_at`."""

    def __init__(self, message, retry_at):
        super().__init__(message)
        self.retry_at = retry_at


def _hour(now):
    return now.replace(minute=0, second=0, microsecond=0)


def take_exact_slot(division, now):
    """Refuse before Exact would, from the figures Exact last reported for this division.

    A plain read (no write per call): Exact reports the remaining calls after
    every answer and record_exact_answer stores them, so the figures lag only
    by the calls in flight; the local refusal leaves a margin of a few.
    """
    row = ExactRateLimit.get_or_none(ExactRateLimit.division == division)
    if row is None:
        return
    if row.error_hour == _hour(now) and row.error_count >= ERROR_BUDGET_PER_HOUR:
        raise ExactBusy("Exact answered %d errors for division %d this hour; calls pause "
                        "until the hour is over so Exact does not block the app."
                        % (row.error_count, division),
                        _hour(now) + datetime.timedelta(hours=1))
    for remaining, reset, what in ((row.daily_remaining, row.daily_reset_at, "daily"),
                                   (row.minutely_remaining, row.minutely_reset_at,
                                    "per-minute")):
        if (remaining is not None and remaining <= IN_FLIGHT_MARGIN and reset is not None
                and reset > now):
            raise ExactBusy("Exact's %s rate limit for division %d is used up."
                            % (what, division), reset)


def _epoch_ms(value):
    try:
        return datetime.datetime.fromtimestamp(int(value) / 1000.0, datetime.timezone.utc
                                               ).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def record_exact_answer(division, headers, now, is_error):
    """Store what Exact reported for `division` (X-RateLimit-*), and count an error."""
    fields = {"updated_at": now}
    for name, remaining_field, reset_field in (
            ("X-RateLimit-Minutely", "minutely_remaining", "minutely_reset_at"),
            ("X-RateLimit", "daily_remaining", "daily_reset_at")):
        remaining = _int(headers.get(name + "-Remaining"))
        reset = _epoch_ms(headers.get(name + "-Reset"))
        if remaining is not None:
            fields[remaining_field] = remaining
        if reset is not None:
            fields[reset_field] = reset
    if len(fields) == 1 and not is_error:
        return
    hour = _hour(now)
    if not is_error:  # the common case: one UPDATE, an INSERT only the first time
        if ExactRateLimit.update(**fields).where(ExactRateLimit.division == division).execute():
            return
        ExactRateLimit.insert(division=division, **fields).on_conflict_ignore().execute()
        return
    with write_transaction():
        row = ExactRateLimit.get_or_none(ExactRateLimit.division == division)
        if row is None:
            ExactRateLimit.insert(division=division, error_hour=hour, error_count=1,
                                  **fields).on_conflict_ignore().execute()
            return
        if row.error_hour == hour:
            fields["error_count"] = ExactRateLimit.error_count + 1
        else:
            fields.update(error_hour=hour, error_count=1)
        ExactRateLimit.update(**fields).where(ExactRateLimit.division == division).execute()
