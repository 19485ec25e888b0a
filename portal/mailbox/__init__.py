from flask import Blueprint

from ..access import register_policy

bp = Blueprint("mailbox", __name__, url_prefix="/outbox")
register_policy("mailbox", kind="staff")

from . import routes  # noqa: E402,F401
