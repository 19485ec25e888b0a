"""Sending email (no Flask here): the transport is chosen by MAIL_URL.

* `outbox:`  store the message in `outbox_messages`; the portal shows it on
             the Outbox page. The embedded default.
* `smtp://user:pass@host:port`           plain SMTP (port 25 by default)
* `smtp+starttls://user:pass@host:port`  SMTP upgraded with STARTTLS (587)
* `smtps://user:pass@host:port`          SMTP over TLS (465)

Every message is multipart/alternative (text + HTML) with From=MAIL_FROM, a
Message-ID and a Date. Outreach messages carry List-Unsubscribe (+ the RFC
8058 one-click List-Unsubscribe-Post) pointing at a signed link that works
without login. A message that cannot be delivered raises MailDeliveryError
for the caller to log; it is never dropped silently. A copy of every message
that was handed over successfully is kept in `outbox_messages`, so the
portal shows what went out whatever the transport.

`config` is any mapping with MAIL_URL, MAIL_FROM, PUBLIC_BASE_URL and
SECRET_KEY (Flask's app.config works, so does a dict in the sidecar).
"""
import json
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from models import OutboxMessage

DEFAULT_TIMEOUT_SECONDS = 15
UNSUBSCRIBE_SALT = "outreach-unsubscribe"
UNSUBSCRIBE_PATH = "/u/unsubscribe/"
log = logging.getLogger(__name__)


class MailDeliveryError(RuntimeError):
    """The message could not be handed to the mail transport; the message says why."""


# --- unsubscribe links ------------------------------------------------------------------


def _serializer(config):
    secret = config.get("SECRET_KEY")
    if not secret:
        raise MailDeliveryError("SECRET_KEY is not set: cannot sign unsubscribe links")
    return URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(config, user_id):
    return _serializer(config).dumps({"u": int(user_id)})


def unsubscribe_url(config, user_id):
    """A signed, permanent unsubscribe link under PUBLIC_BASE_URL (no login needed)."""
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return base + UNSUBSCRIBE_PATH + unsubscribe_token(config, user_id)


def verify_unsubscribe_token(config, token):
    """The user id the token was signed for, or None if it was tampered with."""
    if not token or len(token) > 500:
        return None
    try:
        data = _serializer(config).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    return data["u"]


# --- building the message --------------------------------------------------------------


def _sender(config):
    sender = config.get("MAIL_FROM") or ""
    if not parseaddr(sender)[1] or "@" not in parseaddr(sender)[1]:
        raise MailDeliveryError("MAIL_FROM is not a valid address: set MAIL_FROM, "
                                "e.g. 'Exact MCP <support@example.nl>'")
    return sender


def _no_newlines(name, value):
    if value is None or "\r" in value or "\n" in value:
        raise MailDeliveryError("%s may not contain a line break" % name)
    return value


def build_message(config, *, to, subject, text, html, kind, unsubscribe_url=None):
    """The EmailMessage exactly as it will be sent."""
    sender = _sender(config)
    to = _no_newlines("Recipient", (to or "").strip())
    if "@" not in parseaddr(to)[1]:
        raise MailDeliveryError("Recipient %r is not an email address" % to)
    subject = _no_newlines("Subject", subject or "")
    domain = parseaddr(sender)[1].rsplit("@", 1)[1] or "localhost"

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated" if kind == "outreach" else "no"
    if unsubscribe_url:
        _no_newlines("Unsubscribe link", unsubscribe_url)
        msg["List-Unsubscribe"] = "<%s>" % unsubscribe_url
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text or "", subtype="plain", charset="utf-8")
    msg.add_alternative(html or "", subtype="html", charset="utf-8")
    return msg


# --- transports ------------------------------------------------------------------------------


def parse_mail_url(url):
    """(scheme, host, port, user, password) for an SMTP URL; scheme 'outbox' for outbox."""
    url = (url or "outbox:").strip()
    if url in ("outbox:", "outbox", "outbox://"):
        return ("outbox", None, None, None, None)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    defaults = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
    if scheme not in defaults:
        raise MailDeliveryError("MAIL_URL scheme %r is not supported; use outbox:, smtp://, "
                                "smtp+starttls:// or smtps://" % parts.scheme)
    if not parts.hostname:
        raise MailDeliveryError("MAIL_URL names no SMTP host")
    try:
        port = parts.port or defaults[scheme]
    except ValueError:
        raise MailDeliveryError("MAIL_URL has an invalid port")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return (scheme, parts.hostname, port, user, password)


def _send_smtp(config, msg, scheme, host, port, user, password):
    timeout = float(config.get("MAIL_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
    where = "%s:%s" % (host, port)  # never the password
    try:
        if scheme == "smtps":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if user:
                smtp.login(user, password or "")
            refused = smtp.send_message(msg)
        if refused:
            raise MailDeliveryError("SMTP server %s refused recipient(s): %s"
                                    % (where, ", ".join(sorted(refused))))
    except MailDeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as e:
        raise MailDeliveryError("SMTP login to %s failed (code %s): check the user and "
                                "password in MAIL_URL" % (where, e.smtp_code)) from e
    except smtplib.SMTPRecipientsRefused as e:
        raise MailDeliveryError("SMTP server %s refused the recipient %s"
                                % (where, ", ".join(sorted(e.recipients)))) from e
    except smtplib.SMTPResponseException as e:
        detail = e.smtp_error.decode("utf-8", "replace") if isinstance(
            e.smtp_error, bytes) else str(e.smtp_error)
        raise MailDeliveryError("SMTP server %s answered %s: %s"
                                % (where, e.smtp_code, detail[:200])) from e
    except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as e:
        raise MailDeliveryError("could not deliver mail through %s: %s: %s"
                                % (where, type(e).__name__, e)) from e


REDACTED = "[removed from the portal's copy]"


def _store(msg, kind, transport, text, html, secrets=()):
    """Keep the parts exactly as the caller rendered them (MIME adds a final newline),
    less the `secrets` when SMTP delivered the message: staff can read the outbox, and a
    one-time sign-in link there would let them sign in as the customer. With `outbox:`
    the stored copy is the delivery (development), so it keeps them."""
    if transport != "outbox":
        for secret in secrets:
            text = (text or "").replace(secret, REDACTED)
            html = (html or "").replace(secret, REDACTED)
    headers = {k: str(v) for k, v in msg.items()}
    headers["X-Portal-Transport"] = transport
    return OutboxMessage.create(
        to_addr=str(msg["To"]),
        from_addr=str(msg["From"]),
        subject=str(msg["Subject"]),
        text_body=text or "",
        html_body=html or "",
        headers=json.dumps(headers, sort_keys=True),
        message_id=str(msg["Message-ID"]),
        kind=kind or "",
    )


def send_message(config, *, to, subject, text, html, kind, unsubscribe_url=None, secrets=()):
    """Send one multipart message; return its Message-ID.

    `secrets`: strings (a one-time link) left out of the stored copy of a message
    that SMTP delivered.

    Raises MailDeliveryError when the configuration is wrong or the transport
    refuses the message. With `outbox:` the message is stored and that is the
    delivery; with SMTP a copy is stored after the server accepted it.
    """
    scheme, host, port, user, password = parse_mail_url(config.get("MAIL_URL"))
    msg = build_message(config, to=to, subject=subject, text=text, html=html, kind=kind,
                        unsubscribe_url=unsubscribe_url)
    if scheme != "outbox":
        _send_smtp(config, msg, scheme, host, port, user, password)
    try:
        _store(msg, kind, scheme, text, html, secrets)
    except Exception as e:
        if scheme == "outbox":
            raise MailDeliveryError("could not store the message in the outbox: %s" % e) from e
        # Delivered by SMTP; losing only the portal's copy must not make the
        # caller think the customer did not get it.
        log.warning("message %s was delivered by SMTP but its outbox copy could not be "
                    "stored: %s", msg["Message-ID"], type(e).__name__)
    return str(msg["Message-ID"])
