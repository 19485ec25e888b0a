"""Outreach campaigns and the outreach log (issue 6).

Support staff see everything (campaigns, dry runs, previews, the log);
editing, enabling and disabling campaigns is admin-only (writes are admin-only
by default; the edit page is admin-only even to open).
"""
from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("outreach", __name__, url_prefix="/outreach")
register_policy("outreach", kind="staff", admin_pages=("outreach.edit",))

