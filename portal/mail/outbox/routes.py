"""The outbox: every stored message (MAIL_URL=outbox: and copies of SMTP sends).

The HTML part of a message is customer-facing markup, so it is never put
into a portal page: the message page embeds it in a sandboxed iframe whose
source (`message_html`) is served with its own strict CSP (no scripts, no
network, no forms) and may only be framed by this site.
"""
import json

from flask import render_template, request, url_for
from playhouse.flask_utils import get_object_or_404

from models import OutboxMessage

from portal.core.email_preview import email_html_response
from portal.core.web import int_arg
from portal.mail.outbox import bp

PAGE_SIZE = 50
KINDS = (("outreach", "Outreach"), ("support_reply", "Support reply"))


@bp.route("/")
def outbox():
    q = (request.args.get("q") or "").strip()[:200]
    kind = request.args.get("kind") or ""
    if kind not in dict(KINDS):
        kind = ""
    before = int_arg("before") or None
    query = OutboxMessage.select()
    if q:
        query = query.where(OutboxMessage.to_addr.contains(q)
                            | OutboxMessage.subject.contains(q))
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if before:
        query = query.where(OutboxMessage.id < before)  # keyset: newest first
    rows = list(query.order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE + 1))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    args = {k: v for k, v in (("q", q), ("kind", kind)) if v}
    next_url = url_for(".outbox", before=rows[-1].id, **args) if more else None
    first_url = url_for(".outbox", **args) if before else None
    return render_template("mailbox/outbox.html", rows=rows, q=q, kind=kind, kinds=KINDS,
                           next_url=next_url, first_url=first_url)


@bp.route("/<int:message_id>")
def message(message_id):
    msg = get_object_or_404(OutboxMessage, OutboxMessage.id == message_id)
    try:
        headers = sorted(json.loads(msg.headers or "{}").items())
    except ValueError:
        headers = []
    return render_template("mailbox/message.html", msg=msg, headers=headers,
                           kinds=dict(KINDS))


@bp.route("/<int:message_id>/html")
def message_html(message_id):
    msg = get_object_or_404(OutboxMessage, OutboxMessage.id == message_id)
    return email_html_response(msg.html_body)
