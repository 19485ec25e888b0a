"""Outreach pages in a real browser (Debian chromium via Playwright, CSRF on):
an admin opens a campaign, checks its dry run and the preview of the email,
enables it (audited), the sidecar cycle sends it and the log shows the email;
a support user sees the campaigns but may not enable or edit them."""
import datetime
import os

from models import AuditLog, OutboxMessage, OutreachCampaign, OutreachLog, User, utcnow
from portal.outreach.defaults import seed_default_campaigns
from portal.outreach.engine import run_outreach_cycle
from portal.mail.defaults import seed_default_templates
from tests.conftest import ADMIN_EMAIL, SUPPORT_EMAIL, browser_login, make_staff

CUSTOMER_EMAIL = "kees@loodgieter.example"


def shot(page, artifacts_dir, name):
    page.screenshot(path=os.path.join(artifacts_dir, name), full_page=True)


def seed_campaign_that_fires():
    """Default templates and campaigns, plus a customer who signed up 10 days ago and never
    connected Exact: the `no_connection` campaign (3..30 days after signup) fires for them."""
    seed_default_templates()
    seed_default_campaigns()
    customer = User.create(email=CUSTOMER_EMAIL, name="Kees <i>Klaassen</i>", plan="starter",
                           created_at=utcnow() - datetime.timedelta(days=10))
    campaign = OutreachCampaign.get(OutreachCampaign.trigger == "no_connection")
    assert campaign.enabled is False and campaign.template_id is not None
    return customer, campaign


def test_admin_dry_runs_previews_enables_and_reads_the_log(admin, app, live_server, page,
                                                           artifacts_dir):
    customer, campaign = seed_campaign_that_fires()
    page.on("dialog", lambda dialog: dialog.accept())  # "Start sending this campaign ...?"

    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/outreach/")
    row = page.locator("#campaign-%d" % campaign.id)
    assert "off" in row.inner_text()
    shot(page, artifacts_dir, "outreach-campaigns.png")

    row.locator("a", has_text=campaign.name).click()
    page.wait_for_url(live_server + "/outreach/%d" % campaign.id)
    would_send = page.locator("tr.would-send")
    assert would_send.count() == 1
    assert CUSTOMER_EMAIL in would_send.first.inner_text()
    assert "Nothing is sent by a dry run" in page.content()
    assert OutboxMessage.select().count() == 0  # the dry run sent nothing
    assert OutreachLog.select().count() == 0
    shot(page, artifacts_dir, "outreach-dry-run.png")

    would_send.first.locator("a:has-text('Preview')").click()
    page.wait_for_url("**/outreach/%d/preview/%d" % (campaign.id, customer.id))
    assert page.locator("h1").inner_text() == "Preview for " + CUSTOMER_EMAIL
    assert page.locator("#preview-subject").inner_text().strip() != ""
    text = page.locator("#preview-text").inner_text()
    assert text.startswith("Hello Kees,")
    frame = page.frame_locator("iframe.preview")
    frame.locator("body").wait_for()
    assert "Hello Kees," in frame.locator("body").inner_text()
    assert frame.locator("i").count() == 0  # customer data escaped, not markup
    assert OutboxMessage.select().count() == 0
    shot(page, artifacts_dir, "outreach-preview.png")

    page.click("text=" + campaign.name)  # back link to the campaign
    page.wait_for_url(live_server + "/outreach/%d" % campaign.id)
    page.click("button:has-text('Enable')")
    page.wait_for_selector(".flash-success")
    assert "is on" in page.locator(".flash-success").inner_text()
    assert OutreachCampaign.get_by_id(campaign.id).enabled is True
    audit = AuditLog.get(AuditLog.action == "outreach.campaign.enable")
    assert (audit.target_id, audit.staff_email) == (str(campaign.id), ADMIN_EMAIL)
    shot(page, artifacts_dir, "outreach-enabled.png")

    stats = run_outreach_cycle(app.config)  # what the sidecar does every few minutes
    assert stats["sent"] == 1, stats
    message = OutboxMessage.get()
    assert message.to_addr == CUSTOMER_EMAIL

    page.goto(live_server + "/outreach/log")
    log_rows = page.locator("tr.log-row")
    assert log_rows.count() == 1
    assert "sent" in log_rows.first.locator(".badge").inner_text()
    assert CUSTOMER_EMAIL in log_rows.first.inner_text()
    shot(page, artifacts_dir, "outreach-log.png")

    log_rows.first.locator("a").first.click()
    page.wait_for_selector("#email-text")
    assert page.locator("#email-subject").inner_text() == message.subject
    assert page.locator("#email-text").inner_text().startswith("Hello Kees,")
    frame = page.frame_locator("iframe.preview")
    frame.locator("body").wait_for()
    assert "Hello Kees," in frame.locator("body").inner_text()
    shot(page, artifacts_dir, "outreach-log-entry.png")


def test_support_sees_campaigns_but_cannot_enable_or_edit(app, live_server, page,
                                                         artifacts_dir):
    make_staff(SUPPORT_EMAIL, name="Sam Support")
    _, campaign = seed_campaign_that_fires()
    browser_login(page, live_server, SUPPORT_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/outreach/")
    assert page.locator("#campaign-%d" % campaign.id).count() == 1
    page.click("text=" + campaign.name)
    page.wait_for_url(live_server + "/outreach/%d" % campaign.id)
    assert page.locator("tr.would-send").count() == 1  # the dry run is readable
    assert page.locator("button:has-text('Enable')").count() == 0
    assert page.locator("a:has-text('Edit')").count() == 0
    shot(page, artifacts_dir, "outreach-support-campaign.png")

    # A hand-made POST with a valid CSRF token (from the logout form) is still refused.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(live_server + "/outreach/%d/enable" % campaign.id,
                                 form={"csrf_token": token}, max_redirects=0)
    assert response.status == 403
    response = page.goto(live_server + "/outreach/%d/edit" % campaign.id)
    assert response.status == 403
    shot(page, artifacts_dir, "outreach-support-edit-403.png")
    assert OutreachCampaign.get_by_id(campaign.id).enabled is False
    assert AuditLog.select().where(AuditLog.action.startswith("outreach.")).count() == 0
