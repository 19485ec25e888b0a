"""Writing the audit log: every write by staff, and every login attempt.

Call `record(...)` inside the same transaction as the change it describes, so
the change and its audit row land together or not at all.
"""
import json

from flask import has_request_context, request
from flask_login import current_user

from models import AuditLog


def _summary(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def client_ip():
    if not has_request_context():
        return ""
    return request.remote_addr or ""


def record(action, target_type="", target_id="", before=None, after=None, staff=None,
           staff_email=None):
    """Add one audit row. `staff` defaults to the logged-in staff member."""
    if staff is None and has_request_context() and current_user.is_authenticated:
        staff = current_user._get_current_object()
    email = staff_email if staff_email is not None else (staff.email if staff else "")
    return AuditLog.create(
        staff=staff.id if staff else None,
        staff_email=email,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else "",
        before=_summary(before),
        after=_summary(after),
        ip=client_ip(),
    )
