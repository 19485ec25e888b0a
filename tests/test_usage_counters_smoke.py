import datetime

from models import UsageDaily, UsageMonthly, User
from portal.usage.counters import record_usage_rows


def test_record_usage_updates_counters(app):
    u = User.create(email="s@example.com", plan="starter")
    ts = datetime.datetime(2026, 11, 3, 10, 5)
    record_usage_rows([dict(user=u.id, timestamp=ts, endpoint="tools/call x", response_status=200),
                       dict(user=u.id, timestamp=ts, endpoint="tools/call x", response_status=500)])
    record_usage_rows([dict(user=u.id, timestamp=ts, endpoint="tools/call x", response_status=200)])
    m = UsageMonthly.get(UsageMonthly.user == u.id)
    assert (m.calls, m.error_calls, m.month) == (3, 1, datetime.date(2026, 11, 1))
    assert UsageDaily.get(UsageDaily.status_class == 2).calls == 2
    assert User.get_by_id(u.id).last_active_at == ts
