"""Outreach pages: campaigns, dry run, preview, edit/enable (admin, audited), the log."""
import csv
import datetime
import io
import json
import re

import pytest

from models import AuditLog, OutboxMessage, OutreachCampaign, OutreachLog, utcnow
from portal.outreach.engine import run_outreach_cycle
from tests.factories import make_campaign, make_connection, make_user

DAY = datetime.timedelta(days=1)


def quiet(email, **kw):
    return make_user(email, last_active_at=utcnow() - 20 * DAY, **kw)


def log_row(user, campaign, status, at, reason="x: y", subject=""):
    return OutreachLog.create(user=user, campaign=campaign, status=status, reason=reason,
                              subject=subject, created_at=at)


def test_campaign_list_shows_trigger_state_and_30_day_counts(app, support_client):
    user = quiet("a@example.nl")
    on = make_campaign("inactive", name="Wake up")
    off = make_campaign("error_loop", enabled=False, name="Errors")
    now = utcnow()
    log_row(user, on, "sent", now - DAY)
    log_row(user, on, "sent", now - 2 * DAY)
    log_row(user, on, "failed", now - 3 * DAY)
    log_row(user, on, "skipped", now - 4 * DAY)
    log_row(user, on, "sent", now - 40 * DAY)  # outside the window
    r = support_client.get("/outreach/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    row = html[html.index('id="campaign-%d"' % on.id):]
    row = row[:row.index("</tr>")]
    assert "Wake up" in row and "inactive" in row and ">on<" in row
    assert re.search(r'class="count-sent">2<', row)
    assert re.search(r'class="count-failed">1<', row)
    assert re.search(r'class="count-skipped">1<', row)
    off_row = html[html.index('id="campaign-%d"' % off.id):]
    assert ">off<" in off_row[:off_row.index("</tr>")]


def test_dry_run_lists_who_would_get_it_and_why_others_are_skipped_and_sends_nothing(
        app, support_client):
    send = quiet("send@example.nl")
    opted = quiet("opted@example.nl", opt_out=True)
    campaign = make_campaign("inactive", enabled=False)
    r = support_client.get("/outreach/%d" % campaign.id)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    would = re.findall(r'<tr class="would-send">\s*<td>([^<]+)</td>', html)
    skipped = re.findall(r'<tr class="would-skip">\s*<td>([^<]+)</td>', html)
    assert would == [send.email] and skipped == [opted.email]
    assert "opted_out" in html
    assert "/outreach/%d/preview/%d" % (campaign.id, opted.id) in html  # each row previews
    assert OutboxMessage.select().count() == 0 and OutreachLog.select().count() == 0
    # Support staff do not get the admin buttons.
    assert "/enable" not in html and "/edit" not in html


def test_preview_renders_the_email_for_one_customer(app, support_client):
    user = make_user("broken@example.nl", name="Bram <b>Bakker</b>")
    make_connection(user, 555, "refresh_failed")
    campaign = make_campaign("connection_failed")
    r = support_client.get("/outreach/%d/preview/%d" % (campaign.id, user.id))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "division=555" in html
    assert "Bram &lt;b&gt;Bakker&lt;/b&gt;" in html and "<b>Bakker</b>" not in html
    frame = support_client.get("/outreach/%d/preview/%d/html" % (campaign.id, user.id))
    assert frame.status_code == 200
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert "division=555" in frame.get_data(as_text=True)
    assert OutboxMessage.select().count() == 0
    assert support_client.get("/outreach/%d/preview/999999" % campaign.id).status_code == 404


def test_enable_disable_is_admin_only_and_audited(app, admin_client, support_client):
    campaign = make_campaign("inactive", enabled=False)
    assert support_client.post("/outreach/%d/enable" % campaign.id).status_code == 403
    assert not OutreachCampaign.get_by_id(campaign.id).enabled
    r = admin_client.post("/outreach/%d/enable" % campaign.id)
    assert r.status_code == 302
    assert OutreachCampaign.get_by_id(campaign.id).enabled
    r = admin_client.post("/outreach/%d/disable" % campaign.id)
    assert not OutreachCampaign.get_by_id(campaign.id).enabled
    actions = [(a.action, a.target_id, a.staff_email) for a in
               AuditLog.select().where(AuditLog.action.startswith("outreach."))
               .order_by(AuditLog.id)]
    assert actions == [("outreach.campaign.enable", str(campaign.id), "admin@example.com"),
                       ("outreach.campaign.disable", str(campaign.id), "admin@example.com")]
    assert admin_client.get("/outreach/%d/enable" % campaign.id).status_code == 405


def test_enable_refused_without_template(app, admin_client):
    campaign = make_campaign("inactive", enabled=False, template=None)
    r = admin_client.post("/outreach/%d/enable" % campaign.id, follow_redirects=True)
    assert "Choose an email template" in r.get_data(as_text=True)
    assert not OutreachCampaign.get_by_id(campaign.id).enabled
    assert AuditLog.select().where(AuditLog.action.startswith("outreach.")).count() == 0


def _edit_data(campaign, **overrides):
    data = {"name": campaign.name, "template": campaign.template_id, "cooldown_days": 10,
            "plans": ["free", "pro"], "param_days_inactive": 21,
            "param_max_days_inactive": 60, "save": "Save"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_edit_is_admin_only_validated_previewed_and_audited(app, admin_client, support_client):
    campaign = make_campaign("inactive", enabled=False)
    assert support_client.get("/outreach/%d/edit" % campaign.id).status_code == 403
    assert support_client.post("/outreach/%d/edit" % campaign.id,
                               data=_edit_data(campaign)).status_code == 403
    assert admin_client.get("/outreach/%d/edit" % campaign.id).status_code == 200

    # Preview first: nothing saved.
    quiet("q@example.nl")
    r = admin_client.post("/outreach/%d/edit" % campaign.id,
                          data=_edit_data(campaign, save=None, preview="Preview changes"))
    assert r.status_code == 200 and "nothing is saved" in r.get_data(as_text=True)
    assert OutreachCampaign.get_by_id(campaign.id).cooldown_days == 7

    # Invalid input: clear messages, never a 500, nothing saved.
    for bad in ({"cooldown_days": -1}, {"param_days_inactive": 0},
                {"param_days_inactive": 90, "param_max_days_inactive": 30},
                {"plans": ["gold"]}, {"name": ""}, {"name": "x" * 20_000},
                {"name": "bad\x00name"}, {"param_days_inactive": "abc"},
                {"template": 999999}):
        r = admin_client.post("/outreach/%d/edit" % campaign.id,
                              data=_edit_data(campaign, **bad))
        assert r.status_code == 400, bad
        assert 'class="error"' in r.get_data(as_text=True), bad
    assert OutreachCampaign.get_by_id(campaign.id).cooldown_days == 7

    r = admin_client.post("/outreach/%d/edit" % campaign.id, data=_edit_data(campaign))
    assert r.status_code == 302
    saved = OutreachCampaign.get_by_id(campaign.id)
    assert (saved.cooldown_days, saved.plans) == (10, "free,pro")
    assert json.loads(saved.params) == {"days_inactive": 21, "max_days_inactive": 60}
    [entry] = AuditLog.select().where(AuditLog.action == "outreach.campaign.update")
    assert json.loads(entry.before)["cooldown_days"] == 7
    assert json.loads(entry.after)["params"] == {"days_inactive": 21, "max_days_inactive": 60}


def _log_fixture():
    a = make_user("anna@example.nl")
    b = make_user("bob@example.nl")
    c1 = make_campaign("inactive", name="Wake up")
    c2 = make_campaign("error_loop", name="Errors")
    base = datetime.datetime(2026, 2, 1, 9, 0)
    rows = []
    for i in range(60):
        rows.append(log_row(a if i % 2 else b, c1 if i % 4 else c2,
                            ("sent", "failed", "skipped")[i % 3], base + i * datetime.timedelta(hours=6),
                            reason="trigger: n%d" % i, subject="=cmd|' /C calc'!A0" if i == 59 else "S%d" % i))
    return a, b, c1, c2, rows


def test_log_filters_and_keyset_pages_keep_the_other_args(app, support_client):
    a, b, c1, c2, rows = _log_fixture()
    r = support_client.get("/outreach/log?campaign=%d&status=sent&customer=ANNA" % c1.id)
    assert r.status_code == 200
    shown = [int(x) for x in re.findall(r'class="log-row" data-id="(\d+)"', r.get_data(as_text=True))]
    expected = sorted((x.id for x in rows if x.user_id == a.id and x.campaign_id == c1.id
                       and x.status == "sent"), reverse=True)
    assert shown == expected and shown

    # Date range (inclusive days).
    r = support_client.get("/outreach/log?date_from=2026-02-02&date_to=2026-02-02")
    shown = [int(x) for x in re.findall(r'data-id="(\d+)"', r.get_data(as_text=True))]
    assert sorted(shown) == [x.id for x in rows if x.created_at.date() == datetime.date(2026, 2, 2)]

    # Keyset: 60 rows -> pages of 50 + 10; the next link keeps the filters.
    r = support_client.get("/outreach/log?customer=example.nl")
    html = r.get_data(as_text=True)
    first = [int(x) for x in re.findall(r'data-id="(\d+)"', html)]
    assert len(first) == 50
    nxt = re.search(r'href="([^"]+)" rel="next"|rel="next" href="([^"]+)"', html)
    url = (nxt.group(1) or nxt.group(2)).replace("&amp;", "&")
    assert "customer=example.nl" in url and "before=" in url
    second = [int(x) for x in re.findall(r'data-id="(\d+)"',
                                         support_client.get(url).get_data(as_text=True))]
    assert len(second) == 10 and not set(first) & set(second)
    assert sorted(first + second) == sorted(x.id for x in rows)

    assert support_client.get("/outreach/log?before=garbage").status_code == 200
    assert support_client.get("/outreach/log?status=bogus").status_code == 400
    assert support_client.get("/outreach/log?date_from=2026-03-01&date_to=2026-02-01").status_code == 400


def test_log_csv_export_streams_every_filtered_row_safely(app, support_client):
    a, b, c1, c2, rows = _log_fixture()
    r = support_client.get("/outreach/log.csv?customer=example.nl")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.is_streamed
    table = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(table) == 60
    assert {row["status"] for row in table} == {"sent", "failed", "skipped"}
    assert all(not row["subject"].startswith("=") for row in table)
    r = support_client.get("/outreach/log.csv?status=failed&campaign=%d" % c1.id)
    table = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {(row["status"], row["campaign_name"]) for row in table} == {("failed", "Wake up")}


def test_log_row_opens_the_exact_email_as_sent(app, support_client):
    user = make_user("broken@example.nl", name="<script>x</script>")
    make_connection(user, 9, "refresh_failed")
    make_campaign("connection_failed")
    run_outreach_cycle(app.config)
    [entry] = OutreachLog.select()
    [msg] = OutboxMessage.select()
    r = support_client.get("/outreach/log")
    assert ('/outreach/log/%d"' % entry.id) in r.get_data(as_text=True)
    page = support_client.get("/outreach/log/%d" % entry.id).get_data(as_text=True)
    assert msg.message_id.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "<script>x</script>" not in page
    frame = support_client.get("/outreach/log/%d/html" % entry.id)
    assert frame.get_data(as_text=True) == msg.html_body
    assert "script-src" not in frame.headers["Content-Security-Policy"]
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert support_client.get("/outreach/log/999999").status_code == 404


@pytest.mark.parametrize("path", ["/outreach/", "/outreach/log", "/outreach/log.csv"])
def test_outreach_pages_need_a_login(client, path):
    r = client.get(path)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
