from flask import Blueprint

from portal.core.access import register_policy
from portal.core.links import link_helpers

bp = Blueprint("usage", __name__, url_prefix="/usage")
register_policy("usage", kind="staff")
bp.context_processor(link_helpers)

