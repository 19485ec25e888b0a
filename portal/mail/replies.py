"""Support replies in use, and the real-customer template context (no Flask here).

`customer_template_context` builds the values a template sees for one real
customer (used by the admin preview "with a real customer" and by the reply
compose page). `send_support_reply` renders with the same engine as every
preview, sends through portal.mail.sending, and stores the SupportReply and its audit
row in one transaction; `record_copied_reply` logs a reply that staff copied
to paste elsewhere.
"""

from models import Connection, SupportReply, database, utcnow

from portal.core import audit
from portal.mail import sending as mail
from portal.customers.service import usage_summary
from portal.mail.engine import REPLY_VARIABLES, customer_context, customer_links, render_email

# Which connection a template talks about: the one in the worst state.
_STATUS_RANK = {"refresh_failed": 0, "retry_pending": 1, "active": 2}


def relevant_connection(user_id):
    rows = list(Connection.select().where(Connection.user == user_id)
                .order_by(Connection.updated_at.desc()).limit(50))
    if not rows:
        return None
    return min(rows, key=lambda c: _STATUS_RANK.get(c.status, 3))


def customer_template_context(config, user, *, trigger=None, staff=None, now=None):
    """Template values for a real customer (trigger None = a support reply)."""
    unsubscribe = mail.unsubscribe_url(config, user.id) if trigger else None
    return customer_context(
        user,
        usage=usage_summary(user, now or utcnow()),
        connection=relevant_connection(user.id),
        links=customer_links(config, unsubscribe=unsubscribe),
        staff=staff if trigger is None else None,
    )


def render_reply(config, user, staff, subject_src, body_src, now=None):
    """The reply exactly as it would be sent (raises TemplateError)."""
    ctx = customer_template_context(config, user, staff=staff, now=now)
    return render_email(subject_src, body_src, ctx, REPLY_VARIABLES)


def send_support_reply(config, user, actor, subject_src, body_src, template=None, now=None):
    """Render, send and log one reply; return the SupportReply.

    Raises TemplateError (invalid text) or mail.MailDeliveryError (not sent,
    nothing logged) for the caller to show.
    """
    rendered = render_reply(config, user, actor.staff, subject_src, body_src, now=now)
    with database.atomic():
        message_id = mail.send_message(config, to=user.email, subject=rendered.subject,
                                       text=rendered.text, html=rendered.html,
                                       kind="support_reply")
        reply = SupportReply.create(
            user=user.id, staff=actor.staff.id if actor.staff else None,
            template=template.id if template else None, subject=rendered.subject,
            body=rendered.text, channel="email", message_id=message_id,
            created_at=now or utcnow())
        audit.record(actor, "support_reply.send", "user", user.id, after={
            "reply_id": reply.id, "template_id": template.id if template else None,
            "subject": rendered.subject, "message_id": message_id})
    return reply


def record_copied_reply(config, user, actor, subject_src, body_src, template=None, now=None):
    """Log that staff copied a rendered reply (to paste into another channel)."""
    rendered = render_reply(config, user, actor.staff, subject_src, body_src, now=now)
    with database.atomic():
        reply = SupportReply.create(
            user=user.id, staff=actor.staff.id if actor.staff else None,
            template=template.id if template else None, subject=rendered.subject,
            body=rendered.text, channel="copied", created_at=now or utcnow())
        audit.record(actor, "support_reply.copy", "user", user.id, after={
            "reply_id": reply.id, "template_id": template.id if template else None,
            "subject": rendered.subject})
    return reply


def recent_replies(user_id, limit=10):
    return list(SupportReply.select().where(SupportReply.user == user_id)
                .order_by(SupportReply.created_at.desc(), SupportReply.id.desc()).limit(limit))
