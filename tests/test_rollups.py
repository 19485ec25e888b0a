"""Usage counters and rollups equal a GROUP BY of the raw api_usage rows,
after random inserts (record_usage_rows) and after a rebuild from raw rows."""
import collections
import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import (ApiUsage, UsageDaily, UsageDailyActive, UsageDailyUser, UsageHourlyError,
                    UsageMonthly, User, database)
from portal.usage.counters import rebuild_rollups, record_api_call, record_usage_rows

BASE = datetime.datetime(2026, 1, 31, 22, 0)
# Offsets straddle an hour, a day and a month boundary; microseconds included.
OFFSETS = st.sampled_from([0, 59 * 60 + 59, 3600, 2 * 3600 - 1, 2 * 3600 + 17, 26 * 3600])
STATUSES = st.sampled_from([200, 201, 302, 400, 404, 429, 500, 503])
ENDPOINTS = st.sampled_from(["tools/call get_invoices", "tools/list", "resources/read"])
ROW = st.tuples(st.integers(0, 2), OFFSETS, st.integers(0, 999_999), ENDPOINTS, STATUSES)


def expected_rollups():
    """The GROUP BY of the raw rows, computed independently of usage_counters."""
    monthly, daily, daily_users, hourly = (collections.Counter() for _ in range(4))
    monthly_err, daily_users_err = collections.Counter(), collections.Counter()
    last_active = {}
    for r in ApiUsage.select():
        ts, uid, s = r.timestamp, r.user_id, r.response_status
        month = datetime.date(ts.year, ts.month, 1)
        monthly[(uid, month)] += 1
        daily[(ts.date(), r.endpoint, min(5, max(1, s // 100)))] += 1
        daily_users[(ts.date(), uid)] += 1
        if s >= 400:
            monthly_err[(uid, month)] += 1
            daily_users_err[(ts.date(), uid)] += 1
            hourly[(ts.replace(minute=0, second=0, microsecond=0), r.endpoint, s)] += 1
        last_active[uid] = max(ts, last_active.get(uid, ts))
    active = collections.Counter(day for day, _ in daily_users)
    return {
        "monthly": {k: (c, monthly_err[k]) for k, c in monthly.items()},
        "daily": dict(daily),
        "daily_users": {k: (c, daily_users_err[k]) for k, c in daily_users.items()},
        "hourly": dict(hourly),
        "active": dict(active),
        "last_active": last_active,
    }


def actual_rollups():
    return {
        "monthly": {(m.user_id, m.month): (m.calls, m.error_calls) for m in UsageMonthly.select()},
        "daily": {(d.day, d.endpoint, d.status_class): d.calls for d in UsageDaily.select()},
        "daily_users": {(d.day, d.user_id): (d.calls, d.error_calls)
                        for d in UsageDailyUser.select()},
        "hourly": {(h.hour, h.endpoint, h.response_status): h.calls
                   for h in UsageHourlyError.select()},
        "active": {a.day: a.active_users for a in UsageDailyActive.select()},
        "last_active": {u.id: u.last_active_at for u in User.select()
                        if u.last_active_at is not None},
    }


def _clear():
    with database.atomic():
        for model in (ApiUsage, UsageMonthly, UsageDaily, UsageDailyUser, UsageDailyActive,
                      UsageHourlyError, User):
            model.delete().execute()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(ROW, max_size=12), min_size=1, max_size=5))
def test_rollups_equal_group_by_after_inserts_and_rebuild(app, batches):
    _clear()
    users = [User.create(email="u%d@example.com" % i, plan="starter").id for i in range(3)]
    for batch in batches:
        record_usage_rows([
            dict(user=users[u], timestamp=BASE + datetime.timedelta(seconds=off, microseconds=us),
                 endpoint=ep, response_status=status)
            for u, off, us, ep, status in batch])
    expected = expected_rollups()
    assert actual_rollups() == expected
    # A rebuild from raw rows, in several small batches, gives the same figures.
    seen = []
    rebuild_rollups(batch_size=7, progress=seen.append)
    assert sum(seen) == ApiUsage.select().count()
    assert actual_rollups() == expected


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(ROW, min_size=1, max_size=15))
def test_the_api_path_keeps_the_same_rollups_one_call_at_a_time(app, calls):
    """record_api_call (one CTE statement on PostgreSQL) == a GROUP BY of the raw rows,
    and it answers the customer's calls this month after the call."""
    _clear()
    users = [User.create(email="u%d@example.com" % i, plan="starter").id for i in range(3)]
    for u, off, us, ep, status in calls:
        ts = BASE + datetime.timedelta(seconds=off, microseconds=us)
        used = record_api_call(users[u], ts, ep, status, duration_ms=12)
        month = datetime.date(ts.year, ts.month, 1)
        assert used == UsageMonthly.get((UsageMonthly.user == users[u])
                                        & (UsageMonthly.month == month)).calls
    assert ApiUsage.select().count() == len(calls)
    assert {r.duration_ms for r in ApiUsage.select()} == {12}
    assert actual_rollups() == expected_rollups()


def test_rebuild_repairs_drifted_rollups(app):
    u = User.create(email="drift@example.com")
    ts = datetime.datetime(2026, 3, 4, 5, 6, 7)
    record_usage_rows([dict(user=u.id, timestamp=ts, endpoint="tools/list", response_status=500)])
    UsageMonthly.update(calls=999).execute()
    UsageDaily.delete().execute()
    User.update(last_active_at=ts + datetime.timedelta(days=9)).execute()
    assert rebuild_rollups() == 1
    assert actual_rollups() == expected_rollups()
    assert UsageMonthly.get().calls == 1


def test_rebuild_command_shows_progress_and_rebuilds(app, runner):
    u = User.create(email="cli@example.com")
    ts = datetime.datetime(2026, 3, 4, 5, 6, 7)
    record_usage_rows([dict(user=u.id, timestamp=ts + datetime.timedelta(minutes=i),
                            endpoint="tools/list", response_status=200) for i in range(30)])
    UsageDaily.delete().execute()
    result = runner.invoke(args=["rebuild-rollups", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt rollups from 30 usage rows." in result.output
    assert UsageDaily.get().calls == 30
    assert actual_rollups() == expected_rollups()
    bad = runner.invoke(args=["rebuild-rollups", "--batch-size", "0"])
    assert bad.exit_code != 0
