from flask import Blueprint

from ..access import register_policy

bp = Blueprint("outreach", __name__, url_prefix="/outreach")
register_policy("outreach", kind="staff")

from . import routes  # noqa: E402,F401
