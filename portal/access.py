"""Who may do what: the ONE place that decides.

Deny by default. `enforce_access` runs before every request (wired in
create_app). An endpoint is reachable only if:

* it is in PUBLIC_ENDPOINTS (login page, health check, static files, the
  unsubscribe link), or
* it belongs to a blueprint whose policy is registered here with
  `register_policy`, and the policy allows the current user.

A blueprint without a registered policy is admin-only, so a forgotten policy
fails closed. Inside a staff blueprint, reading (GET/HEAD) is open to every
active staff member and writing is admin-only, unless the endpoint is listed in
`support_actions`; pages listed in `admin_pages` are admin-only even to read.
API blueprints (`kind="api"`) authenticate with an API key in the blueprint
itself and never redirect.
"""
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

PUBLIC_ENDPOINTS = {"static", "auth.login", "health.healthz", "outreach_public.unsubscribe"}


@dataclass(frozen=True)
class Policy:
    kind: str = "staff"  # staff | admin | api
    support_actions: frozenset = field(default_factory=frozenset)
    admin_pages: frozenset = field(default_factory=frozenset)


POLICIES = {}


def register_policy(blueprint_name, kind="staff", support_actions=(), admin_pages=()):
    """Declare how a blueprint is protected (called next to the blueprint)."""
    POLICIES[blueprint_name] = Policy(kind, frozenset(support_actions), frozenset(admin_pages))


def get_admin_emails(config):
    raw = config.get("ADMIN_EMAILS", "") or ""
    return {e.strip().lower() for e in raw.split(",") if e.strip()}


def is_admin(staff):
    if staff is None or not getattr(staff, "is_authenticated", False):
        return False
    if not getattr(staff, "active", False):
        return False
    return staff.email.lower() in get_admin_emails(current_app.config)


def role_of(staff):
    return "admin" if is_admin(staff) else "support"


def wants_json():
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json")


def is_safe_next(target):
    """`next` must be a path on this site: no scheme, no host, no '//' or '\\' tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def endpoint_is_public(endpoint):
    return endpoint in PUBLIC_ENDPOINTS


def policy_for(endpoint):
    blueprint = endpoint.rsplit(".", 1)[0] if endpoint and "." in endpoint else None
    return POLICIES.get(blueprint, Policy(kind="admin"))


def _deny(status):
    if wants_json():
        message = "authentication required" if status == 401 else "forbidden"
        return jsonify(error=message), status
    if status == 401:
        nxt = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=nxt))
    return render_template("errors/403.html"), 403


def enforce_access():
    """before_request hook for the whole app."""
    endpoint = request.endpoint
    if endpoint is None:  # 404 / 405: let Flask answer
        return None
    if endpoint_is_public(endpoint):
        return None
    policy = policy_for(endpoint)
    if policy.kind == "api":
        return None  # the API blueprint authenticates every request by key
    if not current_user.is_authenticated:
        return _deny(401)
    if is_admin(current_user):
        return None
    if policy.kind == "admin" or endpoint in policy.admin_pages:
        return _deny(403)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if endpoint in policy.support_actions:
        return None
    return _deny(403)


def can_access(endpoint, staff=None, method="GET"):
    """For navigation: would `staff` be let through to this endpoint?"""
    staff = staff if staff is not None else current_user
    if endpoint_is_public(endpoint):
        return True
    policy = policy_for(endpoint)
    if policy.kind == "api":
        return False
    if not getattr(staff, "is_authenticated", False):
        return False
    if is_admin(staff):
        return True
    if policy.kind == "admin" or endpoint in policy.admin_pages:
        return False
    return method in ("GET", "HEAD") or endpoint in policy.support_actions
