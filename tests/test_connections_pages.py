"""Connection pages: list, filters, detail, Retry now, Reset to retry, sidecar page."""
import datetime
import re

from models import AuditLog, Connection, JobRun, RefreshAttempt, utcnow
from portal.core.timefmt import relative_time
from tests.sidecar_helpers import make_connection, refresh_token_of, reload


def seed():
    now = utcnow()
    a = make_connection(email="anna@klant.nl")
    b = make_connection(email="bob@klant.nl", status="retry_pending", retry_count=2,
                        next_retry_at=now + datetime.timedelta(minutes=14, seconds=30))
    c = make_connection(email="carl@other.nl", status="refresh_failed", retry_count=5)
    Connection.update(last_error="Exact no longer accepts this connection's refresh token. "
                      "The customer must reconnect Exact Online.").where(
        Connection.id == c.id).execute()
    return a, b, c


def test_list_counts_filters_search_and_sort(app, support_client):
    a, b, c = seed()
    r = support_client.get("/connections/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for email in ("anna@klant.nl", "bob@klant.nl", "carl@other.nl"):
        assert email in html
    assert "retry pending" in html and "in 14 min" in html
    html = support_client.get("/connections/?status=refresh_failed").get_data(as_text=True)
    assert "carl@other.nl" in html and "anna@klant.nl" not in html
    html = support_client.get("/connections/?q=KLANT").get_data(as_text=True)
    assert "anna@klant.nl" in html and "bob@klant.nl" in html and "carl@" not in html
    html = support_client.get("/connections/?q=%25").get_data(as_text=True)  # literal %
    assert "No connections match" in html
    html = support_client.get("/connections/?sort=next_retry_at").get_data(as_text=True)
    assert html.index("bob@klant.nl") < html.index("anna@klant.nl")  # NULLs last
    bad = support_client.get("/connections/?q=%00bad&sort=nope")
    assert bad.status_code == 200 and "control characters" in bad.get_data(as_text=True)


def test_pagination_keeps_the_filters(app, support_client):
    for i in range(55):
        make_connection(email="p%02d@klant.nl" % i, status="retry_pending",
                        next_retry_at=utcnow())
    html = support_client.get("/connections/?status=retry_pending").get_data(as_text=True)
    assert "Page 1 of 2" in html
    next_link = re.search(r'href="([^"]*page=2[^"]*)"', html).group(1)
    assert "status=retry_pending" in next_link and "sort=next_retry_at" in next_link
    html2 = support_client.get("/connections/?status=retry_pending&page=2").get_data(
        as_text=True)
    assert "Page 2 of 2" in html2


def test_detail_shows_state_history_and_no_tokens(app, support_client):
    a, b, c = seed()
    RefreshAttempt.create(connection=b.id, user=b.user_id, outcome="transient",
                          http_status=500, duration_ms=12,
                          error="Exact had a server error (500)")
    html = support_client.get("/connections/%d" % b.id).get_data(as_text=True)
    assert "Exact had a server error (500)" in html and "2 of 5" in html
    assert refresh_token_of(b.id) not in html and reload(b).refresh_token not in html
    html = support_client.get("/connections/%d" % c.id).get_data(as_text=True)
    assert "must reconnect" in html and "Reset to retry" not in html
    assert support_client.get("/connections/999999").status_code == 404


def test_support_can_retry_now_audited(app, support_client):
    a, b, c = seed()
    r = support_client.post("/connections/%d/retry" % a.id)
    assert r.status_code == 302
    row = reload(a)
    assert row.status == "retry_pending" and row.next_retry_at <= utcnow()
    entry = AuditLog.get(AuditLog.action == "connection.retry_now")
    assert entry.target_id == str(a.id) and entry.staff_email == "support@example.com"
    assert '"status": "active"' in entry.before and "retry_pending" in entry.after
    # refresh_failed needs the admin's reset; support is refused.
    support_client.post("/connections/%d/retry" % c.id)
    assert reload(c).status == "refresh_failed"
    assert support_client.post("/connections/%d/reset" % c.id).status_code == 403
    assert reload(c).status == "refresh_failed"


def test_admin_resets_a_failed_connection_audited(app, admin_client):
    a, b, c = seed()
    html = admin_client.get("/connections/%d" % c.id).get_data(as_text=True)
    assert "Reset to retry" in html
    r = admin_client.post("/connections/%d/reset" % c.id, follow_redirects=True)
    assert "fresh retry ladder" in r.get_data(as_text=True)
    row = reload(c)
    assert (row.status, row.retry_count) == ("retry_pending", 0)
    assert row.next_retry_at <= utcnow()
    entry = AuditLog.get(AuditLog.action == "connection.reset_to_retry")
    assert entry.staff_email == "admin@example.com" and "refresh_failed" in entry.before
    r = admin_client.post("/connections/%d/reset" % a.id, follow_redirects=True)
    assert "Only a connection whose refresh failed" in r.get_data(as_text=True)


def test_anonymous_is_sent_to_login(client):
    assert client.get("/connections/").status_code == 302
    assert client.post("/connections/1/retry").status_code in (302, 401)


def test_sidecar_page_shows_runs_and_outage(app, support_client):
    JobRun.create(job="token_refresh", sidecar="host:1:abc", refreshed=7, failed=10,
                  circuit_open=True, finished_at=utcnow())
    html = support_client.get("/connections/sidecar").get_data(as_text=True)
    assert "Exact looked down" in html and "host:1:abc" in html
    assert support_client.get("/connections/").status_code == 200


def test_relative_time_format():
    now = datetime.datetime(2026, 3, 2, 10, 18)
    assert relative_time(datetime.datetime(2026, 3, 2, 10, 32), now) == "in 14 min, 10:32 UTC"
    assert relative_time(datetime.datetime(2026, 3, 2, 7, 18), now) == "3 h ago, 07:18 UTC"
    assert relative_time(datetime.datetime(2026, 3, 5, 10, 18), now) == \
        "in 3 d, 5 Mar 10:18 UTC"
    assert relative_time(None, now) == "—"
