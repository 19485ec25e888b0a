"""Outreach that fails silently (issue 11).

* A template whose email is over the sender's size limit is refused at save
  time through the admin form, with the admin's text kept.
* A template that fails at send time anyway (inserted into the database
  directly, or made too large by a long customer-typed name) is counted:
  `failed` rows with the reason in outreach_log, the failed count and the
  would-fail dry run on the campaign page, the failed count and a note on
  /connections/sidecar, and a warning on the dashboard when every send of a
  campaign failed for a whole cycle.
* A failed render takes no claim: the next cycle retries, an email goes out
  once the cause is fixed, and only once.

The cycle runs as the sidecar runs it (Sidecar.run_once, which writes the
job_runs row the pages read), against a real SMTP server on localhost.
"""
import datetime
import html
import re

from models import (AuditLog, JobRun, OutreachCooldown, OutreachLog, ResponseTemplate,
                    ResponseTemplateVersion, utcnow)
from portal.core.audit import Actor
from portal.mail import engine as template_engine
from portal.mail import store
from portal.sidecar.loop import Sidecar
from tests.factories import make_campaign, make_connection, make_user
from tests.test_outreach_processes import smtp_server  # noqa: F401 (fixture)

TRIGGER = "connection_failed"
# Every & < > " ' is an entity of 4-5 characters in the HTML part, so 45,000
# characters of source (under the 50 KB source limit) render to more than the
# 200 KB the sender accepts.
DIVIDER = "&<>\"'" * 15 + "\n"
TOO_LARGE_BODY = ("Hello {{ customer.first_name }},\n\n"
                  + DIVIDER * (45_000 // len(DIVIDER)))
# A name a customer typed (250 characters; the HTML part escapes its & and ").
LONG_NAME = ('Van Dijk & Zn "Korenbloem" ' * 10)[:250]
# Fits with the sample name, not with LONG_NAME.
NAME_HEAVY_BODY = ("Dear {{ customer.name }},\n\n" + "{{ customer.name }}\n" * 490
                   + "Please reconnect your administration at {{ links.reconnect }}.\n\n"
                   + "We are sorry for the trouble. " * 1000)


def _form(**overrides):
    data = {"group": TRIGGER, "name": "Newsletter", "subject": "News for {{ customer.name }}",
            "body": TOO_LARGE_BODY, "save": "Save"}
    data.update(overrides)
    return data


def _sample_render(body, trigger=TRIGGER):
    return template_engine.render_email("s", body, template_engine.sample_context(trigger),
                                        template_engine.TRIGGER_VARIABLES[trigger])


def _sidecar_run(app, port, now):
    """One outreach job run exactly as the sidecar does it; returns its job_runs row."""
    config = dict(app.config, MAIL_URL="smtp://127.0.0.1:%d" % port, MAIL_TIMEOUT_SECONDS=5)
    assert Sidecar(config, name="sc-outreach", now=now).run_once(only={"outreach"}) is True
    return JobRun.select().where(JobRun.job == "outreach").order_by(JobRun.id.desc()).first()


def _page(client, url):
    r = client.get(url)
    assert r.status_code == 200, url
    return html.unescape(r.get_data(as_text=True))


def _stat(page, label):
    m = re.search(r'<span class="stat">(\d+)</span> %s' % label, page)
    assert m, label
    return int(m.group(1))


# --- save time -------------------------------------------------------------------------


def test_save_refuses_a_template_too_large_to_send_and_keeps_the_text(admin_client, app):
    assert len(TOO_LARGE_BODY) < template_engine.MAX_BODY_SOURCE
    audits = AuditLog.select().count()

    r = admin_client.post("/templates/outreach/new", data=_form())

    assert r.status_code == 422
    page = html.unescape(r.get_data(as_text=True))
    assert "Not saved" in page and "cannot be sent" in page
    assert "rendered HTML is too large" in page
    assert "at most %d" % template_engine.MAX_OUTPUT in page
    assert "saved." not in page
    # The form is back with what the admin typed.
    assert 'value="Newsletter"' in page
    assert DIVIDER.strip() in page
    assert ResponseTemplate.select().count() == 0
    assert AuditLog.select().count() == audits


def test_edit_to_too_large_is_refused_and_the_template_is_unchanged(admin_client, app):
    campaign = make_campaign(TRIGGER)
    template = ResponseTemplate.get_by_id(campaign.template_id)
    before = (template.subject, template.body, template.updated_at)

    r = admin_client.post("/templates/outreach/%d/edit" % template.id,
                          data=_form(name=template.name))

    assert r.status_code == 422
    assert "rendered HTML is too large" in html.unescape(r.get_data(as_text=True))
    template = ResponseTemplate.get_by_id(template.id)
    assert (template.subject, template.body, template.updated_at) == before
    assert ResponseTemplateVersion.select().count() == 0
    # A template that fits is still saved as before.
    r = admin_client.post("/templates/outreach/%d/edit" % template.id,
                          data=_form(name=template.name, body="Short and {{ customer.name }}"))
    assert r.status_code == 302
    assert ResponseTemplate.get_by_id(template.id).body == "Short and {{ customer.name }}"


def test_save_renders_for_every_campaign_that_uses_the_template(app, admin):
    actor = Actor(staff=admin)
    campaign = make_campaign("inactive", name="Miss you")
    template = ResponseTemplate.get_by_id(campaign.template_id)
    # Fine for its new trigger, but the "inactive" campaign cannot send it.
    body = "Division {{ connection.division }} needs you"
    try:
        store.save(store.OUTREACH, template, group=TRIGGER, name=template.name,
                   subject="Hi", body=body, actor=actor)
    except template_engine.TemplateError as e:
        message = str(e)
    else:
        raise AssertionError("saved a template its campaign cannot send")
    assert "Miss you" in message and "connection.division" in message
    assert ResponseTemplate.get_by_id(template.id).trigger == "inactive"


# --- send time ------------------------------------------------------------------------


def test_template_too_large_at_send_time_is_failed_logged_shown_and_retried_once_fixed(
        app, admin_client, smtp_server):  # noqa: F811
    controller, received = smtp_server()
    now = utcnow()
    # Inserted directly, bypassing the form (an old row, a script, an import).
    template = ResponseTemplate.create(trigger=TRIGGER, name="Big newsletter",
                                       subject="News for {{ customer.name }}",
                                       body=TOO_LARGE_BODY, updated_at=now)
    campaign = make_campaign(TRIGGER, template=template, name="Reconnect please")
    customers = []
    for i in range(3):
        user = make_user("broken%d@example.nl" % i)
        make_connection(user, 100 + i, "refresh_failed")
        customers.append(user)

    run = _sidecar_run(app, controller.port, now)

    rows = list(OutreachLog.select().where(OutreachLog.campaign == campaign.id))
    assert sorted(r.user_id for r in rows) == sorted(u.id for u in customers)
    assert {r.status for r in rows} == {"failed"}
    for r in rows:
        assert r.reason.startswith("render_failed:")
        assert "rendered HTML is too large" in r.reason
    assert received.messages == []
    assert OutreachCooldown.select().count() == 0  # no claim left behind, nothing blocks
    assert (run.failed, run.skipped) == (3, 0)

    # The campaign page counts them and the dry run promises nothing.
    page = _page(admin_client, "/outreach/%d" % campaign.id)
    assert _stat(page, "failed") == 3 and _stat(page, "sent") == 0
    assert "<strong>0</strong> would get this email now" in page
    assert page.count('class="would-fail"') == 3
    assert "rendered HTML is too large" in page
    # The sidecar page shows the failed count and why.
    page = _page(admin_client, "/connections/sidecar")
    row = re.search(r"<tr>\s*<td>outreach</td>.*?</tr>", page, re.S).group(0)
    assert re.search(r'<td class="num error">3</td>', row)
    assert "0 sent · 3 failed · 0 skipped" in row
    assert "Reconnect please" in row and "every send failed" in row and "too large" in row
    # The dashboard warns, names the campaign and links to it.
    page = _page(admin_client, "/")
    warning = re.search(r'<div class="banner-outage" role="alert" id="outreach-failing">.*?</div>',
                        page, re.S).group(0)
    assert "Reconnect please" in warning and "too large" in warning
    assert 'href="/outreach/%d"' % campaign.id in warning

    # Next cycle: tried again and counted again, but the log is not flooded.
    run = _sidecar_run(app, controller.port, now + datetime.timedelta(minutes=15))
    assert run.failed == 3
    assert OutreachLog.select().where(OutreachLog.campaign == campaign.id).count() == 3
    assert 'id="outreach-failing"' in _page(admin_client, "/")

    # The admin fixes the template through the form: the next cycle sends, once each.
    r = admin_client.post("/templates/outreach/%d/edit" % template.id, data=_form(
        name=template.name, body="Hello {{ customer.first_name }}, please reconnect."))
    assert r.status_code == 302
    run = _sidecar_run(app, controller.port, now + datetime.timedelta(minutes=30))
    assert run.failed == 0
    run = _sidecar_run(app, controller.port, now + datetime.timedelta(minutes=45))
    assert sorted(to for to, _, _ in received.messages) == sorted(u.email for u in customers)
    sent = OutreachLog.select().where((OutreachLog.campaign == campaign.id)
                                      & (OutreachLog.status == "sent"))
    assert sent.count() == 3
    assert 'id="outreach-failing"' not in _page(admin_client, "/")


def test_long_customer_name_fails_that_send_only_and_is_sent_after_the_name_is_fixed(
        app, admin_client, smtp_server):  # noqa: F811
    controller, received = smtp_server()
    now = utcnow()
    body = NAME_HEAVY_BODY
    _sample_render(body)  # fits with the sample data, so the form accepts it ...
    r = admin_client.post("/templates/outreach/new", data=_form(name="Nagging", body=body))
    assert r.status_code == 302
    template = ResponseTemplate.get(ResponseTemplate.name == "Nagging")
    campaign = make_campaign(TRIGGER, template=template, name="Reconnect please")
    long_named = make_user("long@example.nl", name=LONG_NAME)
    make_connection(long_named, 1, "refresh_failed")
    short_named = make_user("short@example.nl", name="Sanne de Vries")
    make_connection(short_named, 2, "refresh_failed")

    run = _sidecar_run(app, controller.port, now)

    # ... but this customer's own name makes it too large.
    assert [to for to, _, _ in received.messages] == [short_named.email]
    failed = OutreachLog.get((OutreachLog.user == long_named.id)
                             & (OutreachLog.campaign == campaign.id))
    assert failed.status == "failed" and "rendered HTML is too large" in failed.reason
    assert run.failed == 1
    page = _page(admin_client, "/outreach/%d" % campaign.id)
    assert (_stat(page, "sent"), _stat(page, "failed")) == (1, 1)
    assert "too large" in page  # the latest failure, with its reason
    row = re.search(r"<tr>\s*<td>outreach</td>.*?</tr>", _page(admin_client, "/connections/sidecar"),
                    re.S).group(0)
    assert "1 sent · 1 failed" in row and "too large" in row
    # Not every send failed: no dashboard alarm.
    assert 'id="outreach-failing"' not in _page(admin_client, "/")

    # The customer shortens their name: the next cycle sends, and only to them.
    long_named.name = "Van Dijk & Zn"
    long_named.save()
    _sidecar_run(app, controller.port, now + datetime.timedelta(minutes=15))
    _sidecar_run(app, controller.port, now + datetime.timedelta(minutes=30))
    assert sorted(to for to, _, _ in received.messages) == sorted(
        [short_named.email, long_named.email])
    assert [r.status for r in OutreachLog.select().where(OutreachLog.user == long_named.id)
            .order_by(OutreachLog.id)] == ["failed", "sent", "skipped"]

