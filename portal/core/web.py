"""Small request-bound helpers that the web layer hands to services."""
from flask import has_request_context, request
from flask_login import current_user

from portal.core.audit import Actor


def client_ip():
    return (request.remote_addr or "") if has_request_context() else ""


def current_actor():
    """The signed-in staff member (or nobody) and the client address, for audit rows."""
    staff = None
    if has_request_context() and current_user.is_authenticated:
        staff = current_user._get_current_object()
    return Actor(staff=staff, ip=client_ip())
