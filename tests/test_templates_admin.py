"""Template admin pages, version history, preview, reply compose/send, the outbox pages."""
import html
import json
import re

import pytest

from models import (AdminResponseTemplate, AdminResponseTemplateVersion, AuditLog,
                    OutboxMessage, ResponseTemplate, ResponseTemplateVersion, SupportReply,
                    User)
from portal.core.audit import Actor
from portal.mail import store
from portal.mail.defaults import DEFAULT_OUTREACH, DEFAULT_REPLIES, seed_default_templates
from tests.conftest import free_port

XSS = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def seeded(app):
    seed_default_templates()


@pytest.fixture
def customer(app):
    return User.create(email="sanne@bakkerij.example", name="Sanne <script>alert(1)</script>",
                       plan="starter")


def _outreach(trigger="connection_failed"):
    return ResponseTemplate.get(ResponseTemplate.trigger == trigger)


def _reply(name="Usage and limit explained"):
    return AdminResponseTemplate.get(AdminResponseTemplate.name == name)


def _form(template_or_none=None, **overrides):
    data = {"group": "connection_failed", "name": "Lost connection",
            "subject": "Hi {{ customer.name }}", "body": "Hello {{ customer.first_name }}",
            "save": "Save"}
    data.update(overrides)
    return data


# --- defaults ----------------------------------------------------------------------------


def test_seed_adds_one_template_per_trigger_and_replies_once(app):
    assert seed_default_templates() == (len(DEFAULT_OUTREACH), len(DEFAULT_REPLIES))
    assert seed_default_templates() == (0, 0)
    assert ResponseTemplate.select().count() == len(DEFAULT_OUTREACH) == 6
    assert AdminResponseTemplate.select().count() == len(DEFAULT_REPLIES)
    # An admin's edit survives a re-seed.
    t = _outreach()
    t.body = "edited"
    t.save()
    seed_default_templates()
    assert _outreach().body == "edited"


def test_seed_migration_is_in_the_0020_range():
    import os
    names = os.listdir(os.path.join(os.path.dirname(__file__), "..", "migrations"))
    assert "0020_seed_default_templates.py" in names


# --- lists and access ------------------------------------------------------------------


def test_lists_search_and_filter(support_client, seeded):
    r = support_client.get("/templates/outreach")
    assert r.status_code == 200
    for trigger, (name, _, _) in DEFAULT_OUTREACH.items():
        assert name in r.get_data(as_text=True)
    r = support_client.get("/templates/outreach?group=error_loop")
    page = r.get_data(as_text=True)
    assert DEFAULT_OUTREACH["error_loop"][0] in page
    assert DEFAULT_OUTREACH["inactive"][0] not in page
    # Search covers the body text, case-insensitively.
    page = support_client.get("/templates/replies?q=AVG").get_data(as_text=True)
    assert "Data and privacy" in page and "Invoice question" not in page
    page = support_client.get("/templates/replies?q=100%25").get_data(as_text=True)
    assert "No reply templates match" in page  # % is not a wildcard
    page = support_client.get("/templates/replies?group=api_keys").get_data(as_text=True)
    assert "New API key" in page and "Invoice question" not in page


def test_list_pagination_keeps_the_filters(admin_client, admin, app):
    for i in range(store.PAGE_SIZE + 3):
        store.save(store.REPLIES, None, group="billing", name="Billing %02d" % i,
                   subject="s", body="b", actor=Actor(staff=admin))
    page = admin_client.get("/templates/replies?group=billing&q=Billing").get_data(as_text=True)
    assert "Billing 24" in page and "Billing 25" not in page
    nxt = re.search(r'href="([^"]*after=\d+[^"]*)" rel="next"', page).group(1).replace("&amp;", "&")
    assert "group=billing" in nxt and "q=Billing" in nxt
    page2 = admin_client.get(nxt).get_data(as_text=True)
    assert "Billing 25" in page2 and "Billing 00" not in page2


@pytest.mark.parametrize("method, url", [
    ("get", "/templates/outreach/new"),
    ("get", "/templates/outreach/{o}/edit"),
    ("get", "/templates/replies/{r}/delete"),
    ("post", "/templates/outreach/new"),
    ("post", "/templates/outreach/{o}/edit"),
    ("post", "/templates/replies/{r}/edit"),
    ("post", "/templates/replies/{r}/duplicate"),
    ("post", "/templates/outreach/{o}/delete"),
    ("post", "/templates/outreach/{o}/history/1/restore"),
    ("post", "/templates/outreach/preview-frame"),   # the editor's preview: admin-only too
    ("post", "/templates/replies/preview-frame"),
])
def test_support_staff_cannot_change_templates(support_client, seeded, method, url):
    url = url.format(o=_outreach().id, r=_reply().id)
    before = (ResponseTemplate.select().count(), AdminResponseTemplate.select().count())
    r = getattr(support_client, method)(url, data=_form())
    assert r.status_code == 403
    assert before == (ResponseTemplate.select().count(), AdminResponseTemplate.select().count())


def test_support_staff_can_read_templates_and_history(support_client, seeded):
    t = _outreach()
    for url in ("/templates/outreach/%d" % t.id, "/templates/outreach/%d/history" % t.id):
        r = support_client.get(url)
        assert r.status_code == 200
        assert "/edit" not in r.get_data(as_text=True)  # no edit button for support


def test_anonymous_is_sent_to_login(client, seeded):
    assert client.get("/templates/outreach").status_code == 302
    assert client.get("/outbox/").status_code == 302


# --- create / edit / versions ------------------------------------------------------------


def test_create_refuses_injection_with_position_and_saves_nothing(admin_client, app):
    r = admin_client.post("/templates/outreach/new", data=_form(
        body="Hello\n{{ cycler.__init__.__globals__.os.popen('id').read() }}"))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Body, line 2, column 10" in page
    assert ResponseTemplate.select().count() == 0
    r = admin_client.post("/templates/outreach/new", data=_form(subject="{{ config }}"))
    assert r.status_code == 422 and "unknown variable &#39;config&#39;" in r.get_data(as_text=True)
    r = admin_client.post("/templates/outreach/new", data=_form(body="x\x00y"))
    assert r.status_code == 422 and ResponseTemplate.select().count() == 0


def test_create_edit_history_diff_and_restore(admin_client, app):
    r = admin_client.post("/templates/outreach/new", data=_form(body="Line one\nLine two"))
    assert r.status_code == 302
    t = ResponseTemplate.get()
    assert (t.trigger, t.name, t.body) == ("connection_failed", "Lost connection",
                                           "Line one\nLine two")

    r = admin_client.post("/templates/outreach/%d/edit" % t.id,
                          data=_form(body="Line one\nLine 2 changed", name="Renamed"))
    assert r.status_code == 302
    t = ResponseTemplate.get_by_id(t.id)
    assert t.name == "Renamed" and t.body == "Line one\nLine 2 changed"
    v1 = ResponseTemplateVersion.get()
    assert (v1.version, v1.name, v1.body, v1.saved_by) == (
        1, "Lost connection", "Line one\nLine two", "admin@example.com")

    # Saving unchanged content adds no version.
    admin_client.post("/templates/outreach/%d/edit" % t.id,
                      data=_form(body="Line one\nLine 2 changed", name="Renamed"))
    assert ResponseTemplateVersion.select().count() == 1

    history = admin_client.get("/templates/outreach/%d/history" % t.id).get_data(as_text=True)
    assert "Lost connection" in history and "Compare with current" in history
    diff = admin_client.get("/templates/outreach/%d/history/1" % t.id).get_data(as_text=True)
    assert '<span class="del">-Line two</span>' in diff
    assert '<span class="add">+Line 2 changed</span>' in diff
    assert "Restore this version" in diff

    r = admin_client.post("/templates/outreach/%d/history/1/restore" % t.id)
    assert r.status_code == 302
    t = ResponseTemplate.get_by_id(t.id)
    assert (t.name, t.body) == ("Lost connection", "Line one\nLine two")
    versions = list(ResponseTemplateVersion.select().order_by(ResponseTemplateVersion.version))
    assert [(v.version, v.body) for v in versions] == [
        (1, "Line one\nLine two"), (2, "Line one\nLine 2 changed")]

    actions = [a.action for a in AuditLog.select().where(
        AuditLog.target_type == "response_template").order_by(AuditLog.id)]
    assert actions == ["response_template.create", "response_template.update",
                       "response_template.restore"]
    update = AuditLog.get(AuditLog.action == "response_template.update")
    assert json.loads(update.before)["body"] == "Line one\nLine two"
    assert json.loads(update.after)["name"] == "Renamed"
    assert update.staff_email == "admin@example.com"


def test_restore_of_missing_version_is_404_or_message(admin_client, seeded):
    t = _reply()
    assert admin_client.get("/templates/replies/%d/history/9" % t.id).status_code == 404
    r = admin_client.post("/templates/replies/%d/history/9/restore" % t.id)
    assert r.status_code == 302 and AdminResponseTemplate.get_by_id(t.id).body == t.body


def test_reply_template_versions_live_in_their_own_table(admin_client, seeded):
    t = _reply()
    r = admin_client.post("/templates/replies/%d/edit" % t.id, data=_form(
        group="billing", name=t.name, subject=t.subject, body=t.body + "\nP.S."))
    assert r.status_code == 302
    assert AdminResponseTemplate.get_by_id(t.id).category == "billing"
    assert AdminResponseTemplateVersion.select().count() == 1
    assert ResponseTemplateVersion.select().count() == 0
    # A reply may not use the outreach-only unsubscribe link.
    r = admin_client.post("/templates/replies/%d/edit" % t.id, data=_form(
        group="billing", name=t.name, subject="x", body="{{ links.unsubscribe }}"))
    assert r.status_code == 422


def test_duplicate_and_delete_with_confirmation(admin_client, seeded):
    t = _outreach("inactive")
    r = admin_client.post("/templates/outreach/%d/duplicate" % t.id)
    assert r.status_code == 302
    copy = ResponseTemplate.get(ResponseTemplate.name == "Copy of " + t.name)
    assert (copy.trigger, copy.subject, copy.body) == (t.trigger, t.subject, t.body)

    page = admin_client.get("/templates/outreach/%d/delete" % copy.id)
    assert page.status_code == 200 and "Yes, delete it" in page.get_data(as_text=True)
    assert ResponseTemplate.get_or_none(ResponseTemplate.id == copy.id) is not None
    r = admin_client.post("/templates/outreach/%d/delete" % copy.id)
    assert r.status_code == 302
    assert ResponseTemplate.get_or_none(ResponseTemplate.id == copy.id) is None
    entry = AuditLog.get(AuditLog.action == "response_template.delete")
    assert json.loads(entry.before)["body"] == t.body
    assert AuditLog.select().where(AuditLog.action == "response_template.duplicate").count() == 1


# --- preview -----------------------------------------------------------------------------


def test_preview_with_sample_data_saves_nothing(admin_client, seeded):
    t = _outreach()
    r = admin_client.post("/templates/outreach/%d/edit" % t.id, data=_form(
        body="Dear {{ customer.name }}, division {{ connection.division }}", save="",
        preview="Preview"))
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Preview with sample data" in page
    assert "Dear Sanne de Vries, division 1234567" in page  # text part
    assert "srcdoc=" in page and 'sandbox=""' in page      # HTML part, sandboxed
    assert _outreach().body == t.body and ResponseTemplateVersion.select().count() == 0


def test_preview_with_a_real_customer_is_escaped(admin_client, seeded, customer):
    t = _outreach()
    r = admin_client.post("/templates/outreach/%d/edit" % t.id, data=_form(
        body="Dear {{ customer.name }}\n{{ links.unsubscribe }}", save="", preview="Preview",
        preview_email="SANNE@bakkerij.example"))
    page = r.get_data(as_text=True)
    assert "Preview for sanne@bakkerij.example" in page
    # Text part in a <pre>: autoescaped once by the page.
    assert "Dear Sanne &lt;script&gt;alert(1)&lt;/script&gt;" in page
    # HTML part inside srcdoc: escaped by the engine, then again as an attribute.
    assert "Dear Sanne &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;" in page
    assert "<script>alert(1)" not in page
    assert "http://portal.test/u/unsubscribe/" in page  # the customer's own signed link

    r = admin_client.post("/templates/outreach/%d/edit" % t.id, data=_form(
        save="", preview="Preview", preview_email="nobody@example.com"))
    assert "No customer with that email address." in r.get_data(as_text=True)


def test_preview_shows_template_errors(admin_client, seeded):
    r = admin_client.post("/templates/outreach/new", data=_form(
        body="ok\n{{ 7*7 }}", save="", preview="Preview"))
    assert r.status_code == 422
    assert "Body, line 2, column 4" in r.get_data(as_text=True)


# --- the preview iframe's own URL (email HTML with its own CSP) ----------------------------


def _srcdoc(page):
    """The HTML part as the page embeds it (the no-JS fallback), unescaped."""
    return html.unescape(re.search(r'srcdoc="([^"]*)"', page).group(1))


def _hidden_fields(page):
    form = re.search(r'<form [^>]*id="preview-frame-form"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no preview frame form on the page"
    return {html.unescape(n): html.unescape(v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form.group(1))}


def _assert_email_html_headers(r):
    assert r.mimetype == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'unsafe-inline'" in csp
    assert "frame-ancestors 'self'" in csp and "sandbox" in csp and "script-src" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_editor_preview_frame_is_the_same_rendering_with_its_own_csp(admin_client, seeded,
                                                                      customer):
    t = _outreach()
    draft = dict(group="connection_failed", subject="Hi {{ customer.first_name }}",
                 body="Dear {{ customer.name }}\n\n{{ links.unsubscribe }}",
                 preview_email="sanne@bakkerij.example")
    page = admin_client.post("/templates/outreach/%d/edit" % t.id, data=dict(
        draft, name=t.name, preview="Preview")).get_data(as_text=True)
    # The page carries the previewed draft for static/js/templates_admin.js to post.
    assert 'target="preview-frame"' in page and 'name="preview-frame"' in page
    assert 'action="/templates/outreach/preview-frame"' in page
    fields = _hidden_fields(page)
    assert fields == dict(draft, csrf_token=fields["csrf_token"])

    r = admin_client.post("/templates/outreach/preview-frame", data=fields)
    assert r.status_code == 200
    _assert_email_html_headers(r)
    frame = r.get_data(as_text=True)
    assert frame == _srcdoc(page)                     # exactly what the page previewed
    assert "Dear Sanne &lt;script&gt;alert(1)&lt;/script&gt;" in frame
    assert "<script" not in frame
    assert 'style="' in frame                         # the email's own inline styles
    assert "http://portal.test/u/unsubscribe/" in frame
    assert _outreach().body == t.body and ResponseTemplateVersion.select().count() == 0

    # Sample data when no customer is named; reply templates work the same way.
    r = admin_client.post("/templates/replies/preview-frame", data=dict(
        group="plan_limits", subject="s", body="Dear {{ customer.name }}"))
    assert r.status_code == 200 and "Dear Sanne de Vries" in r.get_data(as_text=True)


@pytest.mark.parametrize("overrides, status, message", [
    ({"subject": ""}, 400, "Subject: A subject is required."),
    ({"body": ""}, 400, "Body: A body is required."),
    ({"body": "Hi\x00there"}, 400, "control characters"),
    ({"subject": "x" * 10241}, 400, "Subject: "),
    ({"group": "no_such_trigger"}, 400, "Trigger: "),
    ({"group": XSS}, 400, "Trigger: "),
    ({"preview_email": "nobody@example.com"}, 400, "No customer with that email address."),
    ({"body": "ok\n{{ 7*7 }}"}, 422, "Body, line 2, column 4"),
    ({"body": "Hi {{ config }}"}, 422, "config"),
])
def test_editor_preview_frame_refuses_bad_input(admin_client, seeded, overrides, status,
                                                message):
    data = dict(group="connection_failed", subject="Hi", body="Hello", preview_email="")
    data.update(overrides)
    r = admin_client.post("/templates/outreach/preview-frame", data=data)
    assert r.status_code == status
    _assert_email_html_headers(r)                     # shown inside the frame, same policy
    body = r.get_data(as_text=True)
    assert html.escape(message, quote=False) in body
    assert "<img" not in body and "<script" not in body


def test_editor_preview_frame_unknown_kind_is_404_and_get_is_refused(admin_client, seeded):
    assert admin_client.post("/templates/nope/preview-frame", data={}).status_code == 404
    assert admin_client.get("/templates/outreach/preview-frame").status_code == 405


def test_preview_frame_needs_the_csrf_token(app, admin_client, seeded):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        r = admin_client.post("/templates/outreach/preview-frame", data=dict(
            group="connection_failed", subject="Hi", body="Hello"))
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)


def test_support_previews_a_reply_in_the_frame(support_client, seeded, customer):
    t = _reply("Usage and limit explained")
    url = "/templates/replies/compose/%d" % customer.id
    page = support_client.post(url, data={
        "template_id": t.id, "subject": t.subject, "body": t.body,
        "preview": "Update preview"}).get_data(as_text=True)
    assert 'action="%s/preview-frame"' % url in page
    fields = _hidden_fields(page)
    assert (fields["subject"], fields["body"]) == (t.subject, t.body)

    r = support_client.post(url + "/preview-frame", data=fields)
    assert r.status_code == 200
    _assert_email_html_headers(r)
    frame = r.get_data(as_text=True)
    assert frame == _srcdoc(page)
    assert "Hello Sanne," in frame and "Sam Support" in frame
    assert 'style="' in frame and "<script" not in frame
    # A customer's name full of markup comes out as text.
    r = support_client.post(url + "/preview-frame", data={
        "subject": "Re", "body": "Dear {{ customer.name }}"})
    assert "Dear Sanne &lt;script&gt;alert(1)&lt;/script&gt;" in r.get_data(as_text=True)
    assert OutboxMessage.select().count() == 0 and SupportReply.select().count() == 0

    bad = support_client.post(url + "/preview-frame", data={"subject": "", "body": "x"})
    assert bad.status_code == 400 and "A subject is required." in bad.get_data(as_text=True)
    bad = support_client.post(url + "/preview-frame", data={"subject": "s",
                                                             "body": "{{ config }}"})
    assert bad.status_code == 422
    missing = support_client.post("/templates/replies/compose/99999/preview-frame",
                                  data={"subject": "s", "body": "b"})
    assert missing.status_code == 404


def test_pages_without_a_rendering_have_no_frame_form(admin_client, support_client, seeded,
                                                      customer):
    t = _outreach()
    page = admin_client.get("/templates/outreach/%d/edit" % t.id).get_data(as_text=True)
    assert "preview-frame-form" not in page
    page = admin_client.post("/templates/outreach/%d/edit" % t.id, data=_form(
        body="{{ 7*7 }}", save="", preview="Preview")).get_data(as_text=True)
    assert "preview-frame-form" not in page
    page = support_client.get("/templates/replies/compose/%d" % customer.id).get_data(
        as_text=True)
    assert "preview-frame-form" not in page


# --- compose and send a reply --------------------------------------------------------------


def test_support_composes_and_sends_a_reply(support_client, seeded, customer, support):
    t = _reply("Usage and limit explained")
    url = "/templates/replies/compose/%d" % customer.id
    page = support_client.get(url + "?template=%d" % t.id).get_data(as_text=True)
    assert "Reply to Sanne &lt;script&gt;" in page
    assert "Usage and limit explained" in page
    assert "0 calls of the 10000 included in your Starter plan" in page  # rendered for her

    r = support_client.post(url, data={
        "template_id": t.id, "subject": t.subject,
        "body": t.body.replace("Hello", "Hi again"), "send": "Send email"})
    assert r.status_code == 302

    msg = OutboxMessage.get()
    assert msg.to_addr == "sanne@bakkerij.example" and msg.kind == "support_reply"
    assert msg.text_body.startswith("Hi again Sanne,")
    assert "Sam Support" in msg.text_body
    assert "&lt;script&gt;" not in msg.html_body or "<script>" not in msg.html_body
    assert "List-Unsubscribe" not in json.loads(msg.headers)
    reply = SupportReply.get()
    assert (reply.user_id, reply.staff_id, reply.template_id, reply.channel) == (
        customer.id, support.id, t.id, "email")
    assert reply.message_id == msg.message_id and reply.body == msg.text_body
    entry = AuditLog.get(AuditLog.action == "support_reply.send")
    assert entry.target_id == str(customer.id) and entry.staff_email == "support@example.com"

    # The page now lists it.
    assert "emailed" in support_client.get(url).get_data(as_text=True)


def test_compose_preview_is_what_gets_sent(support_client, seeded, customer):
    url = "/templates/replies/compose/%d" % customer.id
    data = {"subject": "About {{ customer.plan }}", "body": "Dear {{ customer.name }},\n\nBye"}
    preview = support_client.post(url, data=dict(data, preview="Update preview"))
    assert preview.status_code == 200
    support_client.post(url, data=dict(data, send="Send email"))
    msg = OutboxMessage.get()
    assert msg.subject == "About Starter"
    from markupsafe import escape
    assert str(escape(msg.text_body)) in preview.get_data(as_text=True)


def test_compose_refuses_bad_placeholders_and_keeps_the_text(support_client, seeded, customer):
    url = "/templates/replies/compose/%d" % customer.id
    r = support_client.post(url, data={"subject": "s", "body": "Hi {{ config }}",
                                       "send": "Send email"})
    assert r.status_code == 422
    assert "Hi {{ config }}" in r.get_data(as_text=True)
    assert OutboxMessage.select().count() == 0 and SupportReply.select().count() == 0


def test_failed_delivery_is_shown_and_not_logged_as_sent(app, support_client, seeded, customer):
    app.config["MAIL_URL"] = "smtp://127.0.0.1:%d" % free_port()  # nothing listens
    app.config["MAIL_TIMEOUT_SECONDS"] = 3
    url = "/templates/replies/compose/%d" % customer.id
    r = support_client.post(url, data={"subject": "s", "body": "Keep this text",
                                       "send": "Send email"})
    assert r.status_code == 502
    page = r.get_data(as_text=True)
    assert "The email was not sent" in page and "Keep this text" in page
    assert SupportReply.select().count() == 0
    assert AuditLog.select().where(AuditLog.action == "support_reply.send").count() == 0


def test_copied_reply_is_logged(support_client, seeded, customer):
    r = support_client.post("/templates/replies/compose/%d/copied" % customer.id, data={
        "template_id": _reply().id, "subject": "Re: {{ customer.plan }}", "body": "Hi"},
        headers={"Accept": "application/json"})
    assert r.status_code == 201 and r.get_json()["ok"] is True
    reply = SupportReply.get()
    assert (reply.channel, reply.subject, reply.message_id) == ("copied", "Re: Starter", None)
    assert AuditLog.select().where(AuditLog.action == "support_reply.copy").count() == 1
    assert OutboxMessage.select().count() == 0
    r = support_client.post("/templates/replies/compose/%d/copied" % customer.id,
                            data={"subject": "", "body": ""})
    assert r.status_code == 422 and r.is_json


def test_compose_for_unknown_customer_is_404(support_client, seeded):
    assert support_client.get("/templates/replies/compose/999").status_code == 404


def test_compose_template_picker_search_and_category(support_client, seeded, customer):
    url = "/templates/replies/compose/%d" % customer.id
    page = support_client.get(url + "?category=api_keys").get_data(as_text=True)
    assert "New API key" in page and "Invoice question" not in page
    page = support_client.get(url + "?q=invoice").get_data(as_text=True)
    assert "Invoice question" in page and "New API key" not in page


# --- outbox pages ----------------------------------------------------------------------------


def test_outbox_list_search_and_message_view(support_client, app):
    from portal.mail.sending import send_message
    for i in range(3):
        send_message(app.config, to="klant%d@example.nl" % i, subject="Subject %d" % i,
                     text="Text %d" % i, html="<p>Html %d<script>alert(1)</script></p>" % i,
                     kind="outreach" if i else "support_reply")
    page = support_client.get("/outbox/").get_data(as_text=True)
    assert all("Subject %d" % i in page for i in range(3))
    page = support_client.get("/outbox/?q=klant1").get_data(as_text=True)
    assert "Subject 1" in page and "Subject 2" not in page
    page = support_client.get("/outbox/?kind=support_reply").get_data(as_text=True)
    assert "Subject 0" in page and "Subject 1" not in page

    msg = OutboxMessage.get(OutboxMessage.subject == "Subject 1")
    page = support_client.get("/outbox/%d" % msg.id).get_data(as_text=True)
    assert "Text 1" in page and "<script>alert" not in page
    assert 'sandbox=""' in page and "/outbox/%d/html" % msg.id in page

    raw = support_client.get("/outbox/%d/html" % msg.id)
    assert raw.status_code == 200 and raw.mimetype == "text/html"
    csp = raw.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert "frame-ancestors 'self'" in csp and raw.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert support_client.get("/outbox/99999").status_code == 404


def test_outbox_keyset_pagination(support_client, app):
    from portal.mail.sending import send_message
    from portal.mail.outbox.routes import PAGE_SIZE
    for i in range(PAGE_SIZE + 2):
        send_message(app.config, to="a@example.nl", subject="Mail %03d" % i, text="t",
                     html="h", kind="outreach")
    page = support_client.get("/outbox/?q=Mail").get_data(as_text=True)
    assert "Mail %03d" % (PAGE_SIZE + 1) in page and "Mail 001" not in page
    nxt = re.search(r'href="([^"]*before=\d+[^"]*)" rel="next"', page).group(1).replace(
        "&amp;", "&")
    assert "q=Mail" in nxt
    page2 = support_client.get(nxt).get_data(as_text=True)
    assert "Mail 000" in page2 and "Mail 001" in page2 and "Mail %03d" % (PAGE_SIZE + 1) not in page2
