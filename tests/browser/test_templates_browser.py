"""Templates in a real browser (Debian chromium via Playwright, CSRF on):
an admin edits, previews and saves an email template; a support user picks a
reply template for a customer, copies it and sends it (the outbox gets it)."""
import os

from models import (OutboxMessage, ResponseTemplate, ResponseTemplateVersion, SupportReply,
                    User)
from portal.mail.defaults import seed_default_templates
from tests.conftest import ADMIN_EMAIL, SUPPORT_EMAIL, browser_login


def shot(page, artifacts_dir, name):
    page.screenshot(path=os.path.join(artifacts_dir, name), full_page=True)


def _preview_frame(page, url):
    """The preview iframe once the hidden form's POST has replaced its srcdoc document."""
    frame = page.frame(name="preview-frame")
    assert frame is not None, "no preview iframe on the page"
    frame.wait_for_url(url)
    frame.wait_for_load_state()
    return frame


def _repost_preview_frame(page):
    """The preview frame's answer (status, headers), by posting the page's hidden
    preview form again with the browser's cookies.

    Not page.expect_response around the script's own POST: Chromium may put the
    sandboxed frame in a process of its own, and Playwright then sometimes
    missed that response event (the test's one flake) although the server
    answered 200 within a second."""
    form = page.locator("form[data-preview-frame]")
    fields = form.evaluate("f => Object.fromEntries(new FormData(f))")
    return page.request.post(form.evaluate("f => f.action"), form=fields)


def _computed(frame, selector, prop):
    """A computed style inside the (script-less, sandboxed) frame, read by Playwright."""
    return frame.locator(selector).first.evaluate(
        "(el, prop) => getComputedStyle(el)[prop]", prop)


def test_admin_edits_previews_and_saves_a_template(admin, live_server, page, artifacts_dir):
    seed_default_templates()
    User.create(email="sanne@bakkerij.example", name="Sanne <b>de Vries</b>", plan="pro")
    template = ResponseTemplate.get(ResponseTemplate.trigger == "usage_near_limit")

    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/templates/outreach")
    page.click("text=Usage near the monthly limit")
    page.click("a:has-text('Edit')")
    page.wait_for_selector("textarea[name=body]")

    new_body = ("Dear {{ customer.name }},\n\nYou used {{ usage.percent }}% this month.\n\n"
                "Unsubscribe: {{ links.unsubscribe }}")
    page.fill("textarea[name=body]", new_body)
    page.fill("input[name=preview_email]", "sanne@bakkerij.example")
    # After the preview page loads, templates_admin.js posts the draft into the
    # sandboxed iframe (CSRF on): the frame then comes from the endpoint with its own CSP.
    page.click("input[name=preview]")
    page.wait_for_selector("#preview-text")
    html_frame = _preview_frame(page, live_server + "/templates/outreach/preview-frame")
    frame_response = _repost_preview_frame(page)
    assert frame_response.status == 200
    assert "style-src 'unsafe-inline'" in frame_response.headers["content-security-policy"]
    # The email's inline styles apply (a srcdoc frame would inherit the page's
    # style-src 'self' and show the browser defaults instead).
    assert _computed(html_frame, "body", "backgroundColor") == "rgb(245, 246, 248)"
    assert "Arial" in _computed(html_frame, "div", "fontFamily")
    assert page.get_attribute("#preview-frame", "sandbox") == ""  # still no scripts, no origin
    assert page.locator("#preview-text").inner_text().startswith(
        "Dear Sanne <b>de Vries</b>,\n\nYou used 0% this month.")
    frame = page.frame_locator("iframe.preview")
    # The HTML part shows the name as text: escaped, not bold.
    assert frame.locator("p").first.inner_text() == "Dear Sanne <b>de Vries</b>,"
    assert frame.locator("b").count() == 0
    assert frame.locator("a").first.get_attribute("href").startswith(
        "http://portal.test/u/unsubscribe/")
    assert ResponseTemplate.get_by_id(template.id).body == template.body  # not saved yet
    shot(page, artifacts_dir, "templates-admin-preview.png")

    page.click("input[name=save]")
    page.wait_for_selector(".flash-success")
    assert "saved" in page.locator(".flash-success").inner_text()
    assert ResponseTemplate.get_by_id(template.id).body == new_body
    assert ResponseTemplateVersion.select().count() == 1
    shot(page, artifacts_dir, "templates-admin-saved.png")

    page.click("a:has-text('History')")
    page.click("text=Compare with current")
    assert page.locator(".diff .add").count() > 0
    shot(page, artifacts_dir, "templates-admin-diff.png")


def test_support_user_copies_and_sends_a_reply(support, browser, live_server, artifacts_dir):
    seed_default_templates()
    customer = User.create(email="jan@installatie.example", name="Jan Jansen", plan="starter")
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    try:
        page.on("dialog", lambda dialog: dialog.accept())  # "Send this reply to ...?"
        browser_login(page, live_server, SUPPORT_EMAIL)
        page.wait_for_url(live_server + "/")
        page.goto(live_server + "/templates/replies/compose/%d" % customer.id)
        page.select_option("select[name=category]", "plan_limits")
        page.wait_for_url("**category=plan_limits**")
        page.click("text=Usage and limit explained")
        page.wait_for_selector("#preview-text")
        assert "made 0 calls of the 10000" in page.locator("#preview-text").inner_text()

        page.fill("input[name=subject]", "Re: your usage, {{ customer.first_name }}")
        frame_url = live_server + "/templates/replies/compose/%d/preview-frame" % customer.id
        page.click("input[name=preview]")
        page.wait_for_selector("#preview-subject")
        assert page.locator("#preview-subject").inner_text() == "Re: your usage, Jan"
        html_frame = _preview_frame(page, frame_url)
        assert _repost_preview_frame(page).status == 200  # support may preview a reply
        assert html_frame.locator("p").first.inner_text() == "Hello Jan,"
        assert _computed(html_frame, "body", "backgroundColor") == "rgb(245, 246, 248)"

        page.click("#copy-reply")
        page.wait_for_selector("#copy-status:has-text('noted in the customer')")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("Hello Jan,")
        assert SupportReply.get().channel == "copied"
        shot(page, artifacts_dir, "templates-reply-copied.png")

        page.click("input[name=send]")
        page.wait_for_selector(".flash-success")
        assert "sent to jan@installatie.example" in page.locator(".flash-success").inner_text()
        msg = OutboxMessage.get()
        assert (msg.to_addr, msg.subject, msg.kind) == (
            "jan@installatie.example", "Re: your usage, Jan", "support_reply")
        assert msg.text_body == copied
        sent = SupportReply.get(SupportReply.channel == "email")
        assert sent.message_id == msg.message_id
        shot(page, artifacts_dir, "templates-reply-sent.png")

        page.goto(live_server + "/outbox/")
        page.click("text=Re: your usage, Jan")
        frame = page.frame_locator("iframe.preview")
        assert frame.locator("p").first.inner_text() == "Hello Jan,"
        shot(page, artifacts_dir, "outbox-message.png")
    finally:
        context.close()
