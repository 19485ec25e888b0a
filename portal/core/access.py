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

Customers (issue 12) are a role of their own, with their own session
(portal.core.customer_session), never a Flask-Login user: blueprints of
kind="customer" need a signed-in customer (anonymous → the customer sign-in
page; a staff session is not a customer session), and every staff page
refuses a customer because a customer is not `current_user`. Blueprints of
kind="public" (the connect flow, the sign-in link pages) need no one.
So the roles are: anonymous, customer, support, admin.

Roles: admin means the staff email is in ADMIN_EMAILS (case-insensitive);
every other active staff account is support.

Refusals: pages send anonymous users to /login?next=<this path>; JSON routes
(under /api/, paths ending in .json, endpoints declared with
`json_endpoints=`, or a client that asks for JSON) answer 401/403 JSON and
never redirect.
"""
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

PUBLIC_ENDPOINTS = frozenset({"static", "auth.login", "health.healthz",
                              "outreach_public.unsubscribe"})
CUSTOMER_SIGN_IN = "connect.sign_in"  # where anonymous visitors of customer pages go
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KINDS = ("staff", "admin", "api", "public", "customer")


@dataclass(frozen=True)
class Policy:
    kind: str = "staff"  # staff | admin | api
    support_actions: frozenset = field(default_factory=frozenset)
    admin_pages: frozenset = field(default_factory=frozenset)
    json_endpoints: frozenset = field(default_factory=frozenset)


POLICIES = {}
ADMIN_ONLY = Policy(kind="admin")


def register_policy(blueprint_name, kind="staff", support_actions=(), admin_pages=(),
                    json_endpoints=()):
    """Declare how a blueprint is protected (called next to the blueprint).

    support_actions: endpoints support staff may also write to (POST etc.).
    admin_pages: endpoints that are admin-only even to read.
    json_endpoints: endpoints that answer JSON, so refusals are 401/403 JSON.
    """
    if kind not in KINDS:  # a typo must not open anything: fail closed
        logging.getLogger(__name__).warning(
            "policy for %s has unknown kind %r; treating it as admin-only", blueprint_name, kind)
        kind = "admin"
    POLICIES[blueprint_name] = Policy(kind, frozenset(support_actions),
                                      frozenset(admin_pages), frozenset(json_endpoints))


# --- roles ----------------------------------------------------------------

def get_admin_emails(config):
    raw = config.get("ADMIN_EMAILS", "") or ""
    if isinstance(raw, (list, tuple, set, frozenset)):
        raw = ",".join(raw)
    return {e.strip().lower() for e in raw.split(",") if e.strip()}


def is_admin(staff):
    if staff is None or not getattr(staff, "is_authenticated", False):
        return False
    if not getattr(staff, "active", False):
        return False
    return (staff.email or "").strip().lower() in get_admin_emails(current_app.config)


# --- policy lookup --------------------------------------------------------

def endpoint_is_public(endpoint):
    return endpoint in PUBLIC_ENDPOINTS


def policy_for(endpoint):
    """The policy of the endpoint's blueprint; no policy means admin-only."""
    blueprint = endpoint.rsplit(".", 1)[0] if endpoint and "." in endpoint else None
    return POLICIES.get(blueprint, ADMIN_ONLY)


def is_admin_only(endpoint, method="GET"):
    """Would support staff be refused this endpoint/method? (public/api: False)."""
    if endpoint_is_public(endpoint):
        return False
    policy = policy_for(endpoint)
    if policy.kind in ("api", "public", "customer"):
        return False
    if policy.kind == "admin" or endpoint in policy.admin_pages:
        return True
    return method.upper() not in READ_METHODS and endpoint not in policy.support_actions


def is_json_endpoint(endpoint, path=""):
    if path.startswith("/api/") or path.endswith(".json"):
        return True
    return bool(endpoint) and endpoint in policy_for(endpoint).json_endpoints


def wants_json():
    if is_json_endpoint(request.endpoint, request.path):
        return True
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def is_safe_next(target):
    """`next` must be a path on this site: no scheme, no host, no '//' or '\\' tricks."""
    if not target or not isinstance(target, str) or len(target) > 2048:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


# --- the guard ------------------------------------------------------------

def _deny(status):
    if wants_json():
        message = "authentication required" if status == 401 else "forbidden"
        return jsonify(error=message), status
    if status == 401:
        nxt = request.full_path if request.query_string else request.path
        if request.method not in READ_METHODS or not is_safe_next(nxt):
            nxt = None  # a POST cannot be replayed after login; go home instead
        return redirect(url_for("auth.login", next=nxt) if nxt else url_for("auth.login"))
    return render_template("errors/403.html"), 403


def enforce_access():
    """before_request hook for the whole app."""
    from portal.core.sessions import expire_stale_session
    expire_stale_session()  # idle / absolute lifetime, before anyone is trusted
    endpoint = request.endpoint
    if endpoint is None:  # 404 / 405: let Flask answer
        return None
    if endpoint_is_public(endpoint):
        return None
    policy = policy_for(endpoint)
    if policy.kind == "api":
        return None  # the API blueprint authenticates every request by key
    if policy.kind == "public":
        return None
    if policy.kind == "customer":
        return _customer_guard()
    if not current_user.is_authenticated:
        return _deny(401)
    if is_admin(current_user):
        return None
    if is_admin_only(endpoint, request.method):
        return _deny(403)
    return None


def _customer_guard():
    from portal.core.customer_session import current_customer
    if current_customer() is not None:
        return None
    if wants_json():
        return jsonify(error="authentication required"), 401
    nxt = request.full_path if request.query_string else request.path
    if request.method not in READ_METHODS or not is_safe_next(nxt):
        return redirect(url_for(CUSTOMER_SIGN_IN))
    return redirect(url_for(CUSTOMER_SIGN_IN, next=nxt))


def can_access(endpoint, staff=None, method="GET"):
    """For navigation: would `staff` be let through to this endpoint?"""
    staff = staff if staff is not None else current_user
    if endpoint_is_public(endpoint):
        return True
    policy = policy_for(endpoint)
    if policy.kind == "public":
        return True
    if policy.kind in ("api", "customer"):
        return False
    if not getattr(staff, "is_authenticated", False):
        return False
    if is_admin(staff):
        return True
    return not is_admin_only(endpoint, method)
