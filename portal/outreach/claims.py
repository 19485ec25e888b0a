"""Exactly-once outreach sends: claim, send, record.

1. `claim_send` runs ONE transaction per (customer, campaign) that re-checks
   the cooldown and the daily cap and claims the cooldown row
   (claim = random token, until = now + lease). The transaction is serialised
   per customer: BEGIN IMMEDIATE on SQLite, the customer's row locked FOR
   UPDATE on PostgreSQL, so two sidecars can never both pass the daily cap
   for different campaigns. The claim itself is a conditional write
   (INSERT ... ON CONFLICT DO NOTHING / UPDATE ... WHERE still-as-read), so
   it holds even without the lock. Commit, then send.
2. After a successful send `record_sent` clears the claim, starts the cooldown
   and writes the `sent` row (with the email as rendered and sent).
3. A failed send (`record_failed`) deletes the claim (no cooldown starts) and
   writes a `failed` row; the next cycle tries again.
4. A claim whose lease ran out belongs to a sidecar that died while sending.
   mail.send_message keeps a copy of every message handed over, so if such a
   copy exists the send went through and is recorded as `sent` (not sent
   twice); otherwise a `failed` row says so and the send is retried.
"""
import datetime
import re
from contextlib import contextmanager

from models import OutboxMessage, OutreachCooldown, OutreachLog, User, database
from models.db import is_sqlite

from portal.outreach.rules import (
    COOLDOWN,
    DAILY_CAP,
    INTERRUPTED,
    cooldown_reason,
    daily_cap_reason,
    fmt_time,
)

# Clock slack between the sidecar that claimed and the database that stamped the copy.
OUTBOX_SLACK = datetime.timedelta(minutes=2)


@contextmanager
def customer_transaction(user_id):
    """A write transaction that no other outreach claim for this customer runs beside."""
    if is_sqlite():
        with database.atomic("IMMEDIATE"):
            yield
    else:
        with database.atomic():
            list(User.select(User.id).where(User.id == user_id).for_update())
            yield


def _log(candidate, campaign, status, reason, now, rendered=None, message_id=None):
    return OutreachLog.create(
        user=candidate.user_id, campaign=campaign.id, status=status, reason=reason[:2000],
        subject=(rendered.subject if rendered else "")[:998],
        text_body=rendered.text if rendered else "",
        html_body=rendered.html if rendered else "",
        message_id=message_id, created_at=now)


def _outbox_copy(email, claimed_at):
    if claimed_at is None:
        return None
    return (OutboxMessage.select()
            .where((OutboxMessage.to_addr == email) & (OutboxMessage.kind == "outreach")
                   & (OutboxMessage.created_at >= claimed_at - OUTBOX_SLACK))
            .order_by(OutboxMessage.id).first())


class ClaimResult:
    def __init__(self, status, code="", reason=""):
        self.status, self.code, self.reason = status, code, reason  # claimed|busy|skip|recovered


def claim_send(candidate, campaign, now, token, lease_seconds, cap_hours):
    """Claim the right to send `campaign` to the candidate now (see module doc)."""
    uid, cid = candidate.user_id, campaign.id
    key = (OutreachCooldown.user == uid) & (OutreachCooldown.campaign == cid)
    with customer_transaction(uid):
        row = OutreachCooldown.get_or_none(key)
        interrupted_at = None
        if row is not None and row.until > now:
            if row.claim is None:
                return ClaimResult("skip", COOLDOWN, cooldown_reason(row.until))
            return ClaimResult("busy")
        if row is not None and row.claim is not None:
            copy = _outbox_copy(candidate.email, row.claimed_at)
            if copy is not None:
                (OutreachCooldown.update(claim=None, claimed_at=None,
                                         until=row.claimed_at + datetime.timedelta(
                                             days=campaign.cooldown_days))
                 .where(key & (OutreachCooldown.claim == row.claim)).execute())
                OutreachLog.create(
                    user=uid, campaign=cid, status="sent",
                    reason="recovered: a sidecar stopped after sending at %s; the message "
                           "is in the outbox, so it is not sent again"
                           % fmt_time(row.claimed_at),
                    subject=copy.subject, text_body=copy.text_body, html_body=copy.html_body,
                    message_id=copy.message_id, created_at=now)
                return ClaimResult("recovered")
            interrupted_at = row.claimed_at
        since = now - datetime.timedelta(hours=cap_hours)
        last_sent = (OutreachLog.select(OutreachLog.created_at)
                     .where((OutreachLog.user == uid) & (OutreachLog.status == "sent")
                            & (OutreachLog.created_at > since)
                            & (OutreachLog.created_at <= now))
                     .order_by(OutreachLog.created_at.desc()).first())
        in_flight = (OutreachCooldown.select()
                     .where((OutreachCooldown.user == uid) & (OutreachCooldown.campaign != cid)
                            & OutreachCooldown.claim.is_null(False)
                            & (OutreachCooldown.until > now)).exists())
        if last_sent is not None or in_flight:
            return ClaimResult("skip", DAILY_CAP, daily_cap_reason(
                cap_hours, last_sent.created_at if last_sent else None))
        until = now + datetime.timedelta(seconds=lease_seconds)
        if row is None:
            claimed = (OutreachCooldown.insert(user=uid, campaign=cid, until=until, claim=token,
                                               claimed_at=now)
                       .on_conflict_ignore().as_rowcount().execute())
        else:
            same = (OutreachCooldown.claim.is_null() if row.claim is None
                    else OutreachCooldown.claim == row.claim)
            claimed = (OutreachCooldown.update(until=until, claim=token, claimed_at=now)
                       .where(key & (OutreachCooldown.until == row.until) & same).execute())
        if claimed != 1:
            return ClaimResult("busy")
        if interrupted_at is not None:
            _log(candidate, campaign, "failed",
                 "%s: a sidecar stopped while sending (claimed %s) and the message is not in "
                 "the outbox; sending again" % (INTERRUPTED, fmt_time(interrupted_at)), now)
    return ClaimResult("claimed")


def record_sent(candidate, campaign, token, now, rendered, message_id, reason):
    """The send went through: start the cooldown and log the email as sent."""
    uid, cid = candidate.user_id, campaign.id
    until = now + datetime.timedelta(days=campaign.cooldown_days)
    with database.atomic():
        done = (OutreachCooldown.update(claim=None, claimed_at=None, until=until)
                .where((OutreachCooldown.user == uid) & (OutreachCooldown.campaign == cid)
                       & (OutreachCooldown.claim == token)).execute())
        if not done:  # our lease ran out meanwhile; the email did go out, so still cool down
            (OutreachCooldown.insert(user=uid, campaign=cid, until=until)
             .on_conflict(conflict_target=[OutreachCooldown.user, OutreachCooldown.campaign],
                          update={OutreachCooldown.until: until, OutreachCooldown.claim: None,
                                  OutreachCooldown.claimed_at: None})
             .execute())
        return _log(candidate, campaign, "sent", reason, now, rendered, message_id)


_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


def safe_error(exc):
    """A short, secret-free description of a delivery error for the log."""
    text = "%s" % (exc,) or type(exc).__name__
    return _CREDENTIALS.sub(r"\1***@", text)[:500]


def record_failed(candidate, campaign, token, now, rendered, error):
    """The send failed: release the claim (no cooldown) and log it as failed."""
    with database.atomic():
        (OutreachCooldown.delete()
         .where((OutreachCooldown.user == candidate.user_id)
                & (OutreachCooldown.campaign == campaign.id)
                & (OutreachCooldown.claim == token)).execute())
        return _log(candidate, campaign, "failed",
                    "delivery_failed: %s; will be tried again next run" % safe_error(error),
                    now, rendered)
