"""Delivery over a real SMTP server on localhost (aiosmtpd), the outbox, and failures."""
import email
import email.policy
import json

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from models import OutboxMessage
from portal.mail import sending as mail
from portal.mail.sending import MailDeliveryError, send_message
from tests.conftest import free_port


class RecordingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class RefusingHandler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user here"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"p@ss:w/rd"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            authenticator=_authenticator, auth_require_tls=False)
    controller.start()
    yield handler, port
    controller.stop()


def _config(url, **extra):
    cfg = {"MAIL_URL": url, "MAIL_FROM": "Exact MCP <support@exactmcp.example>",
           "PUBLIC_BASE_URL": "https://portal.example", "SECRET_KEY": "s3cret",
           "MAIL_TIMEOUT_SECONDS": 5}
    cfg.update(extra)
    return cfg


def _send(config, **overrides):
    args = dict(to="Klant <klant@bakkerij.example>", subject="Uw verbinding — 100% klaar",
                text="Hallo Sanne,\n\nplain part é", html="<p>Hallo <b>Sanne</b> é</p>",
                kind="outreach", unsubscribe_url="https://portal.example/u/unsubscribe/tok")
    args.update(overrides)
    return send_message(config, **args)


def test_smtp_delivery_is_a_parsable_multipart_message(app, smtp_server):
    handler, port = smtp_server
    config = _config("smtp://mailer:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d" % port)
    message_id = _send(config)

    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.mail_from == "support@exactmcp.example"
    assert envelope.rcpt_tos == ["klant@bakkerij.example"]
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"] == "Exact MCP <support@exactmcp.example>"
    assert msg["To"] == "Klant <klant@bakkerij.example>"
    assert msg["Subject"] == "Uw verbinding — 100% klaar"
    assert msg["Message-ID"] == message_id and message_id.endswith("@exactmcp.example>")
    assert msg["Date"]
    assert msg["List-Unsubscribe"] == "<https://portal.example/u/unsubscribe/tok>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    # SMTP carries CRLF line ends; the content is otherwise exactly what was sent.
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == \
        "Hallo Sanne,\n\nplain part é"
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == \
        "<p>Hallo <b>Sanne</b> é</p>"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]

    # A copy is kept for the portal's outbox page.
    stored = OutboxMessage.get(OutboxMessage.message_id == message_id)
    assert stored.kind == "outreach" and stored.to_addr == "Klant <klant@bakkerij.example>"
    assert json.loads(stored.headers)["X-Portal-Transport"] == "smtp"


def test_support_reply_has_no_list_unsubscribe(app, smtp_server):
    handler, port = smtp_server
    _send(_config("smtp://mailer:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d" % port), kind="support_reply",
          unsubscribe_url=None)
    msg = email.message_from_bytes(handler.envelopes[0].content, policy=email.policy.default)
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None


def test_wrong_smtp_password_is_a_clear_error_without_the_password(app, smtp_server):
    _, port = smtp_server
    with pytest.raises(MailDeliveryError) as e:
        _send(_config("smtp://mailer:wrong-secret@127.0.0.1:%d" % port))
    assert "login" in str(e.value) and "wrong-secret" not in str(e.value)
    assert OutboxMessage.select().count() == 0


def test_closed_port_raises_mail_delivery_error(app):
    port = free_port()  # nothing listens there
    with pytest.raises(MailDeliveryError) as e:
        _send(_config("smtp://mailer:topsecret@127.0.0.1:%d" % port))
    assert "127.0.0.1:%d" % port in str(e.value)
    assert "topsecret" not in str(e.value)
    assert OutboxMessage.select().count() == 0  # not recorded as sent


def test_refused_recipient_raises(app):
    port = free_port()
    controller = Controller(RefusingHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(MailDeliveryError, match="refused"):
            _send(_config("smtp://127.0.0.1:%d" % port))
    finally:
        controller.stop()


def test_outbox_stores_the_message(app):
    message_id = _send(_config("outbox:"))
    stored = OutboxMessage.get(OutboxMessage.message_id == message_id)
    assert stored.subject == "Uw verbinding — 100% klaar"
    assert stored.text_body.rstrip("\n") == "Hallo Sanne,\n\nplain part é"
    assert stored.html_body.rstrip("\n") == "<p>Hallo <b>Sanne</b> é</p>"
    assert stored.from_addr == "Exact MCP <support@exactmcp.example>"
    headers = json.loads(stored.headers)
    assert headers["List-Unsubscribe"] == "<https://portal.example/u/unsubscribe/tok>"
    assert headers["X-Portal-Transport"] == "outbox"


@pytest.mark.parametrize("overrides, words", [
    ({"subject": "Hi\r\nBcc: victim@example.com"}, "Subject"),
    ({"to": "a@b.example\nBcc: victim@example.com"}, "Recipient"),
    ({"to": "not an address"}, "not an email address"),
])
def test_header_injection_and_bad_addresses_are_refused(app, overrides, words):
    with pytest.raises(MailDeliveryError, match=words):
        _send(_config("outbox:"), **overrides)
    assert OutboxMessage.select().count() == 0


@pytest.mark.parametrize("url, words", [
    ("ftp://host", "not supported"),
    ("smtp://", "no SMTP host"),
])
def test_bad_mail_url_is_a_clear_error(app, url, words):
    with pytest.raises(MailDeliveryError, match=words):
        _send(_config(url))


def test_missing_mail_from_is_a_clear_error(app):
    with pytest.raises(MailDeliveryError, match="MAIL_FROM"):
        _send(_config("outbox:", MAIL_FROM=""))


def test_mail_url_parsing():
    assert mail.parse_mail_url("outbox:")[0] == "outbox"
    assert mail.parse_mail_url("smtp+starttls://u:p%2F@mx.example")[1:] == (
        "mx.example", 587, "u", "p/")
    assert mail.parse_mail_url("smtp://mx.example:2525")[1:3] == ("mx.example", 2525)
    assert mail.parse_mail_url("smtps://mx.example")[2] == 465


def test_a_sign_in_link_delivered_by_smtp_is_not_kept_in_the_outbox(app, smtp_server):
    """Staff can read the outbox; a one-time link there would let them sign in as the
    customer within its 15 minutes. The customer gets it; the portal's copy does not."""
    import re

    from models import User, utcnow
    from portal.connect import signin
    handler, port = smtp_server
    User.create(email="klant@bakkerij.example", plan="starter")
    config = _config("smtp://mailer:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d" % port)
    assert signin.request_link(config, "klant@bakkerij.example", "192.0.2.1", utcnow())

    delivered = email.message_from_bytes(handler.envelopes[0].content,
                                         policy=email.policy.default)
    text = delivered.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"/account/sign-in/([A-Za-z0-9_-]{20,})", text).group(1)
    assert signin.redeem(token, utcnow()) is not None  # the delivered link works

    stored = OutboxMessage.get(OutboxMessage.kind == "customer_sign_in")
    assert token not in stored.text_body and token not in stored.html_body
    assert mail.REDACTED in stored.text_body and mail.REDACTED in stored.html_body
