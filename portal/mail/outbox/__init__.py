from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("mailbox", __name__, url_prefix="/outbox")
register_policy("mailbox", kind="staff")

