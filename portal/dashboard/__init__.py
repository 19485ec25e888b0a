from flask import Blueprint

from portal.core.access import register_policy
from portal.core.links import link_helpers

bp = Blueprint("dashboard", __name__)
register_policy("dashboard", kind="staff")
bp.context_processor(link_helpers)

