"""Admin pages for outreach email templates and support reply templates.

Reading is open to every staff member; writing is admin-only, except composing,
previewing, sending and copying a support reply (support_actions). The
edit/create/delete pages are admin-only even to look at, because they only lead
to writes; the editor's preview frame (`preview_frame`, a POST that is not a
support action) is admin-only like them.
"""
from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("templates_admin", __name__, url_prefix="/templates")
register_policy(
    "templates_admin", kind="staff",
    support_actions=("templates_admin.compose_reply", "templates_admin.reply_copied",
                     "templates_admin.reply_preview_frame"),
    admin_pages=("templates_admin.new_template", "templates_admin.edit_template",
                 "templates_admin.delete_template"),
    json_endpoints=("templates_admin.reply_copied",),
)

