"""Rules every outreach send obeys, over simulated time (issue 6).

The clock is injected (`now=`); nothing sleeps. Mail goes to the outbox
(MAIL_URL=outbox:), so what a customer received is what outbox_messages holds.
"""
import datetime

import pytest

from models import OutboxMessage, OutreachCooldown, OutreachLog
from portal.mail import sending as mail
from portal.outreach.engine import customer_outreach, dry_run, run_outreach_cycle
from tests.factories import (NOW, make_campaign, make_connection, make_user,
                                          set_monthly_calls, statuses)

MIN = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def inbox(email):
    return list(OutboxMessage.select().where(OutboxMessage.to_addr == email)
                .order_by(OutboxMessage.id))


def inactive_user(email="quiet@example.nl", **kw):
    return make_user(email, last_active_at=NOW - 20 * DAY, **kw)


def test_sent_email_is_logged_exactly_as_rendered_and_sent(app):
    user = make_user("broken@example.nl", name="Bram Bakker")
    make_connection(user, 4242, "refresh_failed", "Old refresh token used.")
    campaign = make_campaign("connection_failed")
    result = run_outreach_cycle(app.config, now=NOW)
    assert result["sent"] == 1 and result["failed"] == 0
    [msg] = inbox(user.email)
    [row] = OutreachLog.select()
    assert row.status == "sent" and row.campaign_id == campaign.id
    assert (row.subject, row.text_body, row.html_body, row.message_id) == (
        msg.subject, msg.text_body, msg.html_body, msg.message_id)
    # The reconnect link is under PUBLIC_BASE_URL and names the division.
    assert "http://portal.test/connect/exact?division=4242" in row.text_body
    assert 'href="http://portal.test/connect/exact?division=4242"' in row.html_body
    assert row.reason.startswith("service_mail")
    cooldown = OutreachCooldown.get()
    assert cooldown.claim is None and cooldown.until == NOW + 7 * DAY


def test_cooldown_over_simulated_time_and_skip_logged_once_per_window(app):
    user = inactive_user()
    campaign = make_campaign("inactive", cooldown_days=7)
    for minutes in range(0, 6 * 60, 15):  # every 15 minutes for six hours
        run_outreach_cycle(app.config, now=NOW + minutes * MIN)
    assert len(inbox(user.email)) == 1
    assert statuses(campaign) == [(user.id, "sent", "trigger"), (user.id, "skipped", "cooldown")]
    # Still in cooldown a few days later: nothing new (the skip was logged this window).
    run_outreach_cycle(app.config, now=NOW + 3 * DAY)
    assert len(inbox(user.email)) == 1 and len(statuses(campaign)) == 2
    # The customer stays inactive (last_active_at moves with the clock) after the cooldown.
    user.last_active_at = NOW + 7 * DAY - 20 * DAY
    user.save()
    result = run_outreach_cycle(app.config, now=NOW + 7 * DAY + MIN)
    assert result["sent"] == 1
    assert len(inbox(user.email)) == 2


def test_daily_cap_across_campaigns_over_simulated_time(app):
    user = make_user("both@example.nl", plan="free", last_active_at=NOW - 20 * DAY)
    set_monthly_calls(user, 1_000)
    limit = make_campaign("usage_limit_reached", cooldown_days=20)
    quiet = make_campaign("inactive", cooldown_days=20)
    run_outreach_cycle(app.config, now=NOW)
    # The limit campaign comes first (TRIGGER_ORDER); the other is capped.
    assert statuses(limit) == [(user.id, "sent", "trigger")]
    assert statuses(quiet) == [(user.id, "skipped", "daily_cap")]
    run_outreach_cycle(app.config, now=NOW + 23 * HOUR)
    assert len(inbox(user.email)) == 1
    assert statuses(quiet) == [(user.id, "skipped", "daily_cap")]  # not logged again
    run_outreach_cycle(app.config, now=NOW + 24 * HOUR + MIN)
    assert len(inbox(user.email)) == 2
    assert statuses(quiet)[-1] == (user.id, "sent", "trigger")


def test_daily_cap_hours_is_configurable(app):
    app.config["OUTREACH_DAILY_CAP_HOURS"] = 2
    user = make_user("both@example.nl", plan="free", last_active_at=NOW - 20 * DAY)
    set_monthly_calls(user, 1_000)
    make_campaign("usage_limit_reached")
    make_campaign("inactive")
    run_outreach_cycle(app.config, now=NOW)
    run_outreach_cycle(app.config, now=NOW + HOUR)
    assert len(inbox(user.email)) == 1
    run_outreach_cycle(app.config, now=NOW + 2 * HOUR + MIN)
    assert len(inbox(user.email)) == 2


def test_opt_out_skips_marketing_but_connection_failed_is_service_mail(app):
    user = make_user("optout@example.nl", opt_out=True, created_at=NOW - 5 * DAY)
    # One trigger at a time so the daily cap does not hide anything.
    nocon = make_campaign("no_connection")
    run_outreach_cycle(app.config, now=NOW)
    assert inbox(user.email) == []
    assert statuses(nocon) == [(user.id, "skipped", "opted_out")]
    run_outreach_cycle(app.config, now=NOW + HOUR)
    assert statuses(nocon) == [(user.id, "skipped", "opted_out")]  # once per window

    make_connection(user, 7, "refresh_failed")
    service = make_campaign("connection_failed")
    run_outreach_cycle(app.config, now=NOW + 2 * HOUR)
    [msg] = inbox(user.email)
    [row] = OutreachLog.select().where(OutreachLog.campaign == service.id)
    assert row.status == "sent"
    assert row.reason.startswith("service_mail") and "opted out" in row.reason
    headers = msg.headers
    assert "List-Unsubscribe" not in headers  # service mail is not a mailing


def test_marketing_mail_carries_a_working_unsubscribe_link(app):
    user = inactive_user()
    make_campaign("inactive")
    run_outreach_cycle(app.config, now=NOW)
    [msg] = inbox(user.email)
    assert "List-Unsubscribe" in msg.headers
    assert mail.unsubscribe_url(app.config, user.id) in msg.text_body


def test_plan_filter_leaves_other_plans_alone_without_log_rows(app):
    free = inactive_user("free@example.nl", plan="free")
    pro = inactive_user("pro@example.nl", plan="pro")
    campaign = make_campaign("inactive", plans="pro")
    run_outreach_cycle(app.config, now=NOW)
    assert statuses(campaign) == [(pro.id, "sent", "trigger")]
    assert inbox(free.email) == []


def test_disabled_campaign_and_missing_template(app):
    user = inactive_user()
    make_campaign("inactive", enabled=False)
    assert run_outreach_cycle(app.config, now=NOW)["campaigns"] == 0
    make_campaign("inactive", template=None)
    result = run_outreach_cycle(app.config, now=NOW)
    assert "no template" in result["errors"][0]
    assert inbox(user.email) == [] and OutreachLog.select().count() == 0


def test_failed_send_releases_the_claim_and_is_retried(app, monkeypatch):
    user = inactive_user()
    campaign = make_campaign("inactive")
    real_send = mail.send_message

    def down(*a, **kw):
        raise mail.MailDeliveryError("could not deliver mail through smtp.example:25: "
                                     "ConnectionRefusedError")
    monkeypatch.setattr(mail, "send_message", down)
    result = run_outreach_cycle(app.config, now=NOW)
    assert result["failed"] == 1
    assert OutreachCooldown.select().count() == 0  # no cooldown started
    [row] = OutreachLog.select()
    assert row.status == "failed" and "ConnectionRefusedError" in row.reason
    assert row.subject  # the email as it would have gone out

    monkeypatch.setattr(mail, "send_message", real_send)
    run_outreach_cycle(app.config, now=NOW + 15 * MIN)
    run_outreach_cycle(app.config, now=NOW + 30 * MIN)
    assert len(inbox(user.email)) == 1
    assert [s for _, s, _ in statuses(campaign)] == ["failed", "sent", "skipped"]


def test_failure_reason_never_shows_smtp_credentials(app, monkeypatch):
    inactive_user()
    make_campaign("inactive")

    def down(*a, **kw):
        raise mail.MailDeliveryError("bad url smtp://bob:hunter2@mail.example:25")
    monkeypatch.setattr(mail, "send_message", down)
    run_outreach_cycle(app.config, now=NOW)
    [row] = OutreachLog.select()
    assert "hunter2" not in row.reason and "smtp://***@mail.example" in row.reason


def test_mail_down_stops_the_cycle_after_a_few_failures(app, monkeypatch):
    for i in range(6):
        inactive_user("q%d@example.nl" % i)
    make_campaign("inactive")
    calls = []

    def down(*a, **kw):
        calls.append(1)
        raise mail.MailDeliveryError("connection refused")
    monkeypatch.setattr(mail, "send_message", down)
    result = run_outreach_cycle(app.config, now=NOW)
    assert len(calls) == 3 and result["failed"] == 3 and result["mail_down"] is True
    assert OutreachCooldown.select().count() == 0


def _stale_claim(user, campaign, claimed_at):
    OutreachCooldown.create(user=user, campaign=campaign, claim="dead-sidecar",
                            claimed_at=claimed_at, until=claimed_at + 10 * MIN)


def test_sidecar_died_after_sending_is_recorded_not_sent_twice(app):
    from models.db import utcnow
    now = utcnow()
    user = make_user("quiet@example.nl", last_active_at=now - 20 * DAY)
    campaign = make_campaign("inactive")
    _stale_claim(user, campaign, now - 20 * MIN)
    # The dead sidecar's message made it out: mail.py kept its copy.
    mail.send_message(app.config, to=user.email, subject="Earlier", text="t", html="<p>h</p>",
                      kind="outreach")
    result = run_outreach_cycle(app.config, now=now)
    assert result["recovered"] == 1 and result["sent"] == 0
    assert len(inbox(user.email)) == 1
    [row] = OutreachLog.select()
    assert row.status == "sent" and row.reason.startswith("recovered")
    assert row.subject == "Earlier"
    assert OutreachCooldown.get().claim is None


def test_sidecar_died_before_sending_is_logged_and_sent_again(app):
    user = inactive_user()
    campaign = make_campaign("inactive")
    _stale_claim(user, campaign, NOW - 20 * MIN)
    run_outreach_cycle(app.config, now=NOW)
    assert len(inbox(user.email)) == 1
    assert [(s, r) for _, s, r in statuses(campaign)] == [("failed", "interrupted"),
                                                          ("sent", "trigger")]


def test_a_live_claim_of_another_sidecar_is_left_alone(app):
    user = inactive_user()
    campaign = make_campaign("inactive")
    OutreachCooldown.create(user=user, campaign=campaign, claim="other", claimed_at=NOW,
                            until=NOW + 10 * MIN)
    result = run_outreach_cycle(app.config, now=NOW + MIN)
    assert result["sent"] == 0 and inbox(user.email) == []
    assert OutreachLog.select().count() == 0


def test_dry_run_sends_nothing_and_says_why(app):
    send = inactive_user("send@example.nl")
    opted = inactive_user("opted@example.nl", opt_out=True)
    pro = inactive_user("pro@example.nl", plan="pro")
    cooled = inactive_user("cooled@example.nl")
    campaign = make_campaign("inactive", plans="free", enabled=False)
    OutreachCooldown.create(user=cooled, campaign=campaign, until=NOW + DAY)
    result = dry_run(app.config, campaign, now=NOW)
    assert [d.user_id for d in result.would_send] == [send.id]
    reasons = {d.user_id: d.code for d in result.skipped}
    assert reasons == {opted.id: "opted_out", pro.id: "plan_excluded", cooled.id: "cooldown"}
    assert result.counts == {"send": 1, "opted_out": 1, "plan_excluded": 1, "cooldown": 1}
    assert OutreachLog.select().count() == 0 and OutboxMessage.select().count() == 0


def test_customer_outreach_history_and_cooldowns(app):
    user = inactive_user()
    other = inactive_user("other@example.nl")
    campaign = make_campaign("inactive", cooldown_days=7)
    run_outreach_cycle(app.config, now=NOW)
    run_outreach_cycle(app.config, now=NOW + HOUR)
    log_rows, cooldowns = customer_outreach(user.id, now=NOW + HOUR)
    assert [(r.status, r.campaign.name) for r in log_rows] == [
        ("skipped", campaign.name), ("sent", campaign.name)]
    assert [(c.campaign.id, c.until) for c in cooldowns] == [(campaign.id, NOW + 7 * DAY)]
    assert customer_outreach(user.id, limit=1, now=NOW)[0][0].status == "skipped"
    assert customer_outreach(other.id, now=NOW + 8 * DAY)[1] == []


@pytest.mark.parametrize("cooldown_days", [0, 1])
def test_short_cooldowns_still_obey_the_daily_cap(app, cooldown_days):
    user = inactive_user()
    make_campaign("inactive", cooldown_days=cooldown_days)
    run_outreach_cycle(app.config, now=NOW)
    run_outreach_cycle(app.config, now=NOW + 12 * HOUR)
    assert len(inbox(user.email)) == 1
    run_outreach_cycle(app.config, now=NOW + 25 * HOUR)
    assert len(inbox(user.email)) == 2
