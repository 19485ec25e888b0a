"""Navigation entries; base.html shows each role only what it may open."""
from flask import current_app

from portal.core.access import can_access

NAV = [
    ("Dashboard", "dashboard.index"),
    ("Customers", "customers.index"),
    ("Connections", "connections.index"),
    ("Request log", "usage.requests"),
    ("Outreach", "outreach.campaigns"),
    ("Outreach log", "outreach.log"),
    ("Reply templates", "templates_admin.reply_index"),
    ("Email templates", "templates_admin.outreach_index"),
    ("Outbox", "mailbox.outbox"),
    ("Feature flags", "flags.index"),
    ("Staff", "staff_admin.staff"),
    ("Audit log", "staff_admin.audit"),
]


def nav_items():
    """(label, endpoint) pairs that exist and that the current user may open."""
    views = current_app.view_functions
    return [(label, ep) for label, ep in NAV if ep in views and can_access(ep)]
