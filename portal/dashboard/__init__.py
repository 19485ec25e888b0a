from flask import Blueprint

from ..access import register_policy
from ..usage.links import link_helpers

bp = Blueprint("dashboard", __name__)
register_policy("dashboard", kind="staff")
bp.context_processor(link_helpers)

from . import routes  # noqa: E402,F401
