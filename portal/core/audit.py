"""The audit log: every write by staff, and every login attempt.

Call `record(...)` inside the same transaction as the change it describes, so
the change and its audit row land together or not at all. A row says who
(staff id + email), what (action, e.g. "customer.plan_change"), which record
(target type + id), a before/after summary, when (naive UTC) and from which
address. `search(...)` is what the admin audit page reads.
"""
import json
from datetime import datetime, time, timedelta

from flask import has_request_context, request
from flask_login import current_user

from models import AuditLog, utcnow

MAX_SUMMARY = 20_000  # a before/after summary, not a copy of huge bodies
PAGE_SIZE = 50


def _summary(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    if len(value) > MAX_SUMMARY:
        value = value[:MAX_SUMMARY] + "… (%d characters cut)" % (len(value) - MAX_SUMMARY)
    return value


def _short(value):
    return ("" if value is None else str(value))[:255]


def client_ip():
    if not has_request_context():
        return ""
    return request.remote_addr or ""


def record(action, target_type="", target_id="", before=None, after=None, staff=None,
           staff_email=None, ip=None):
    """Add one audit row. `staff` defaults to the logged-in staff member."""
    if staff is None and has_request_context() and current_user.is_authenticated:
        staff = current_user._get_current_object()
    email = staff_email if staff_email is not None else (staff.email if staff else "")
    return AuditLog.create(
        staff=staff.id if staff else None,
        staff_email=_short(email),
        action=_short(action),
        target_type=_short(target_type),
        target_id=_short(target_id),
        before=_summary(before),
        after=_summary(after),
        ip=_short(ip if ip else client_ip()),
        created_at=utcnow(),
    )


def search(person="", action="", date_from=None, date_to=None, before_id=None,
           limit=PAGE_SIZE):
    """Newest first, keyset-paginated on id. Returns (rows, next_before_id or None).

    person: part of the email (case-insensitive). action: an exact action or
    its prefix ("login" matches login.success, login.failure, ...).
    date_from/date_to: dates, both inclusive (UTC days).
    """
    query = AuditLog.select().order_by(AuditLog.id.desc())
    if person:
        query = query.where(AuditLog.staff_email.contains(person.strip().lower()))
    if action:
        action = action.strip()
        query = query.where((AuditLog.action == action)
                            | AuditLog.action.startswith(action.rstrip(".") + "."))
    if date_from:
        query = query.where(AuditLog.created_at >= datetime.combine(date_from, time.min))
    if date_to:
        query = query.where(AuditLog.created_at < datetime.combine(date_to, time.min)
                            + timedelta(days=1))
    if before_id:
        query = query.where(AuditLog.id < before_id)
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def known_actions():
    return [r.action for r in AuditLog.select(AuditLog.action).distinct()
            .order_by(AuditLog.action).limit(500)]
