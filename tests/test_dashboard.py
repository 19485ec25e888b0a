"""The staff dashboard: every figure against data built here, from rollups only."""
import datetime
import re

import pytest

from models import (ApiUsage, Connection, JobRun, RefreshAttempt, SidecarHeartbeat, User,
                    utcnow)
from portal.dashboard import service as ds
from portal.sidecar.status import sidecar_status
from portal.usage.counters import record_usage_rows

NOW = datetime.datetime(2026, 6, 15, 12, 30)


def usage(user, ts, endpoint, status, n=1):
    return [dict(user=user.id, timestamp=ts, endpoint=endpoint, response_status=status)] * n


@pytest.fixture
def world(app):
    """Customers, usage, refresh attempts, connections and sidecar runs around NOW."""
    free = User.create(email="free@example.com", plan="free")
    starter = User.create(email="starter@example.com", plan="starter")
    pro = User.create(email="pro@example.com", plan="pro")
    User.create(email="pro2@example.com", plan="pro")
    rows = []
    rows += usage(pro, NOW - datetime.timedelta(hours=1), "tools/call get_invoices", 200, 30)
    rows += usage(pro, NOW - datetime.timedelta(hours=2), "tools/call get_invoices", 401, 12)
    rows += usage(starter, NOW - datetime.timedelta(hours=3), "tools/list", 500, 5)
    rows += usage(starter, NOW - datetime.timedelta(hours=30), "tools/list", 503, 7)  # > 24 h
    rows += usage(free, NOW - datetime.timedelta(days=3), "resources/read", 302, 4)
    rows += usage(free, NOW - datetime.timedelta(days=45), "resources/read", 200, 9)  # only in 90 d
    record_usage_rows(rows)
    conns = {}
    for user, status in ((free, "active"), (starter, "retry_pending"), (pro, "refresh_failed"),
                         (pro, "active")):
        conns.setdefault(user.id, []).append(Connection.create(
            user=user, division=1000 + len(conns.get(user.id, [])), status=status))
    attempts = []
    for i in range(51):  # 51 in 24 h: a loop
        attempts.append(dict(connection=conns[pro.id][0].id, user=pro.id, outcome="transient",
                             attempted_at=NOW - datetime.timedelta(minutes=10 + i * 20)))
    for i in range(50):  # exactly 50: not more than 50, no loop
        attempts.append(dict(connection=conns[starter.id][0].id, user=starter.id,
                             outcome="success",
                             attempted_at=NOW - datetime.timedelta(minutes=5 + i * 10)))
    for i in range(80):  # many, but older than 24 h
        attempts.append(dict(connection=conns[free.id][0].id, user=free.id, outcome="transient",
                             attempted_at=NOW - datetime.timedelta(hours=25, minutes=i)))
    RefreshAttempt.insert_many(attempts).execute()
    SidecarHeartbeat.create(sidecar="host:1:abc", last_seen_at=NOW - datetime.timedelta(seconds=30))
    JobRun.create(job="token_refresh", started_at=NOW - datetime.timedelta(minutes=30),
                  finished_at=NOW - datetime.timedelta(minutes=29), circuit_open=True)
    JobRun.create(job="token_refresh", started_at=NOW - datetime.timedelta(minutes=3),
                  finished_at=NOW - datetime.timedelta(minutes=2), refreshed=7)
    JobRun.create(job="outreach", started_at=NOW - datetime.timedelta(minutes=1))
    return dict(free=free, starter=starter, pro=pro)


def test_requests_per_day_by_status_class(world):
    per_day = ds.usage_per_day(30, NOW)
    assert len(per_day) == 30 and per_day[-1].day == NOW.date()
    by_day = {d.day: d for d in per_day}
    today = by_day[NOW.date()]
    assert today.by_class == {2: 30, 4: 12, 5: 5}
    assert today.active_customers == 2
    assert by_day[(NOW - datetime.timedelta(hours=30)).date()].by_class == {5: 7}
    assert by_day[(NOW - datetime.timedelta(days=3)).date()].by_class == {3: 4}
    assert sum(d.total for d in per_day) == 58
    assert sum(d.total for d in ds.usage_per_day(90, NOW)) == 67


def test_top_endpoints_with_error_share(world):
    top = ds.top_endpoints(30, NOW)
    assert top[0] == ("tools/call get_invoices", 42, 12, pytest.approx(12 / 42))
    assert top[1] == ("tools/list", 12, 12, 1.0)
    assert top[2] == ("resources/read", 4, 0, 0.0)


def test_error_loops_last_24h_only(world):
    assert ds.error_loops(NOW) == [("tools/call get_invoices", 401, 12), ("tools/list", 500, 5)]


def test_refresh_loops_more_than_50_in_24h(world):
    loops = ds.refresh_loops(NOW)
    assert loops == [(world["pro"].id, "pro@example.com", 51, 51)]


def test_plans_health_and_top_customers(world):
    assert ds.customers_per_plan() == [("free", 1), ("starter", 1), ("pro", 2), ("enterprise", 0)]
    assert ds.connection_health() == [("active", 2), ("retry_pending", 1), ("refresh_failed", 1)]
    top = ds.top_customers_this_month(NOW)
    assert [(email, calls, errors) for _, email, _, calls, errors in top] == [
        ("pro@example.com", 42, 12), ("starter@example.com", 12, 12), ("free@example.com", 4, 0)]


def test_sidecar_on_time_and_late(world):
    status = sidecar_status(NOW, 300)
    assert not status.late and not status.heartbeat_stale
    assert status.last_run.refreshed == 7
    assert status.circuit_open is False  # the newest run decides, not an older one
    late = sidecar_status(NOW + datetime.timedelta(minutes=20), 300)
    assert late.late and late.heartbeat_stale and late.reasons


def test_outage_banner_when_latest_run_tripped_the_breaker(world):
    JobRun.create(job="token_refresh", started_at=NOW - datetime.timedelta(minutes=1),
                  circuit_open=True)
    assert sidecar_status(NOW, 300).circuit_open is True


def test_no_sidecar_at_all_is_late(app):
    status = sidecar_status(NOW, 300)
    assert status.late and status.heartbeat_stale and status.last_run is None


def test_dashboard_does_not_read_raw_rows(world):
    """Figures come from rollups: deleting the raw rows changes nothing."""
    before = ds.dashboard(NOW, 30, 300)
    ApiUsage.delete().execute()
    after = ds.dashboard(NOW, 30, 300)
    assert before["per_day"] == after["per_day"]
    assert before["top_endpoints"] == after["top_endpoints"]
    assert before["total_calls"] == after["total_calls"] == 58


def test_period_argument():
    assert ds.period_days("90") == 90
    assert ds.period_days("30") == 30
    assert ds.period_days("7") == 30
    assert ds.period_days("x") == 30
    assert ds.period_days(None) == 30


def _page_world():
    """Data relative to the real clock, for the page itself."""
    now = utcnow()
    u = User.create(email="loop@example.com", plan="pro")
    record_usage_rows(usage(u, now - datetime.timedelta(minutes=5), "tools/call <b>x</b>", 429, 3)
                      + usage(u, now - datetime.timedelta(minutes=5), "tools/list", 200, 2))
    c = Connection.create(user=u, division=1, status="refresh_failed")
    RefreshAttempt.insert_many([dict(connection=c.id, user=u.id, outcome="transient",
                                     attempted_at=now - datetime.timedelta(minutes=i))
                                for i in range(60)]).execute()
    JobRun.create(job="token_refresh", started_at=now, circuit_open=True)
    return u


def test_dashboard_page_shows_figures_and_drilldowns(support_client):
    _page_world()
    r = support_client.get("/")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert 'id="exact-outage"' in body
    assert 'id="requests-chart"' in body and body.count('<rect class="bar') == 2
    assert "loop@example.com" in body
    # Customer-supplied endpoint names are escaped.
    assert "tools/call &lt;b&gt;x&lt;/b&gt;" in body and "<b>x</b>" not in body
    # Drill-down: error loop -> request log with endpoint and status class pre-filled.
    assert re.search(r'href="/usage/requests\?endpoint=tools%2Fcall\+%3Cb%3Ex%3C%2Fb%3E'
                     r'&amp;status=4xx&amp;date_from=', body)
    assert "/usage/requests?customer=loop%40example.com" in body
    # No inline script or style (CSP): scripts only by src.
    assert not re.search(r"<script(?![^>]*\bsrc=)", body) and "style=" not in body


def test_dashboard_period_toggle(support_client):
    _page_world()
    body = support_client.get("/?days=90").get_data(as_text=True)
    assert "last 90 days" in body
    assert 'aria-current="true">90 days' in body
    assert support_client.get("/?days=abc").status_code == 200


def test_dashboard_without_outage_has_no_banner(support_client):
    body = support_client.get("/").get_data(as_text=True)
    assert 'id="exact-outage"' not in body
    assert "Running late" in body  # no sidecar has reported


def test_dashboard_needs_login(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
