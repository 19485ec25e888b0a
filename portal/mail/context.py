"""What templates may refer to, and the values they get (no Flask here).

* The documented allow-lists: every variable with its meaning
  (VARIABLE_DOCS), which ones each outreach trigger may use
  (TRIGGER_VARIABLES) and which ones support replies may use
  (REPLY_VARIABLES, the same for every category).
* Building the context dict a template is rendered with: for a customer
  (customer_context), with sample data for previews (sample_context).

The template language itself is in portal.mail.engine, which re-exports
these names.
"""
from models.triggers import CONNECTION_VARIABLES, TRIGGERS

# --- the documented allow-lists ---------------------------------------------------

#: Every variable a template may use, with what it holds (shown to admins).
VARIABLE_DOCS = {
    "customer.name": "Customer's full name (may be empty)",
    "customer.first_name": "First word of the customer's name (may be empty)",
    "customer.email": "Customer's email address",
    "customer.plan": "Plan name: Free, Starter, Pro or Enterprise",
    "customer.since": "Date the customer signed up (YYYY-MM-DD)",
    "customer.last_active": "Date of the customer's last API call (YYYY-MM-DD, empty if never)",
    "usage.used": "API calls this month",
    "usage.limit": "Monthly call limit of the plan ('unlimited' for Enterprise)",
    "usage.percent": "Percentage of the monthly limit used (0 for unlimited plans)",
    "usage.remaining": "Calls left this month ('unlimited' for Enterprise)",
    "usage.month": "The month the usage figures are for (YYYY-MM)",
    "connection.status": "Exact Online connection status (active, retry_pending, refresh_failed)",
    "connection.division": "Exact Online division (administration) number",
    "connection.last_error": "Last error Exact Online gave for the connection",
    "connection.retry_count": "How many refresh retries failed in a row",
    "errors.count": "Failed API calls in the last 24 hours (error loop)",
    "errors.endpoint": "Endpoint that keeps failing (error loop)",
    "errors.status": "HTTP status the failing calls get (error loop)",
    "links.reconnect": "Link where the customer reconnects Exact Online",
    "links.upgrade": "Link where the customer changes plan",
    "links.unsubscribe": "Personal unsubscribe link (outreach emails only)",
    "staff.name": "Name of the support agent answering (replies only)",
    "staff.email": "Email of the support agent answering (replies only)",
}

_CUSTOMER = {"customer.name", "customer.first_name", "customer.email", "customer.plan",
             "customer.since", "customer.last_active"}
_USAGE = {"usage.used", "usage.limit", "usage.percent", "usage.remaining", "usage.month"}
_CONNECTION = set(CONNECTION_VARIABLES)
_OUTREACH_BASE = _CUSTOMER | _USAGE | {"links.unsubscribe", "links.reconnect", "links.upgrade"}

#: What an outreach template of each trigger may use: the base set plus what
#: the trigger registry says the trigger adds.
TRIGGER_VARIABLES = {t.name: frozenset(_OUTREACH_BASE | t.extra_variables) for t in TRIGGERS}

#: Support replies: one allow-list for every category (no unsubscribe link:
#: a reply is not marketing).
REPLY_VARIABLES = frozenset(_CUSTOMER | _USAGE | _CONNECTION
                            | {"links.reconnect", "links.upgrade", "staff.name", "staff.email"})

#: Support reply categories (value, label). The column is free text, the
#: forms offer exactly these.
REPLY_CATEGORIES = (
    ("connection", "Connection problems"),
    ("api_keys", "API keys"),
    ("plan_limits", "Plan limits and usage"),
    ("billing", "Billing"),
    ("account", "Account and privacy"),
    ("general", "General"),
)
CATEGORY_VARIABLES = {value: REPLY_VARIABLES for value, _ in REPLY_CATEGORIES}


# --- contexts ---------------------------------------------------------------------------------------


def _fmt_date(value):
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def usage_context(used, limit, month=None):
    """Usage figures as template values; `limit` None means unlimited."""
    used = int(used or 0)
    if limit is None or (isinstance(limit, str) and not limit.isdigit()):
        limit_s, remaining, percent = "unlimited", "unlimited", 0
    else:
        limit = int(limit)
        remaining = max(0, limit - used)
        percent = int(round(100.0 * used / limit)) if limit > 0 else 100
        limit_s = limit
    month_s = month.strftime("%Y-%m") if hasattr(month, "strftime") else (month or "")
    return {"used": used, "limit": limit_s, "remaining": remaining, "percent": percent,
            "month": month_s}


def customer_context(user, *, usage=None, connection=None, links=None, staff=None,
                     errors=None):
    """The template context for one customer.

    user: a models.User (or a dict with the same names). usage: a dict with
    `used` and `limit` (None = unlimited) and optionally `month` (e.g.
    customer_service.usage_summary()). connection: a models.Connection or dict.
    links: {"reconnect", "upgrade", "unsubscribe"} URLs. staff: models.Staff
    or dict. errors: {"count", "endpoint", "status"} for error loops.
    """
    name = (_get(user, "name", "") or "").strip()
    plan = _get(user, "plan", "") or ""
    ctx = {
        "customer": {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "email": _get(user, "email", "") or "",
            "plan": str(plan).capitalize(),
            "since": _fmt_date(_get(user, "created_at")),
            "last_active": _fmt_date(_get(user, "last_active_at")),
        },
    }
    if usage is not None:
        ctx["usage"] = usage_context(usage.get("used"), usage.get("limit"), usage.get("month"))
    if connection is not None:
        ctx["connection"] = {
            "status": _get(connection, "status", "") or "",
            "division": _get(connection, "division", "") or "",
            "last_error": _get(connection, "last_error", "") or "",
            "retry_count": _get(connection, "retry_count", 0) or 0,
        }
    if links:
        ctx["links"] = {k: v for k, v in links.items() if v}
    if staff is not None:
        ctx["staff"] = {"name": _get(staff, "name", "") or "",
                        "email": _get(staff, "email", "") or ""}
    if errors is not None:
        ctx["errors"] = {k: errors.get(k, "") for k in ("count", "endpoint", "status")}
    return ctx


SAMPLE_USER = {
    "name": "Sanne de Vries",
    "email": "sanne@bakkerij-devries.nl",
    "plan": "starter",
    "created_at": "2025-09-01",
    "last_active_at": "2026-01-12",
}


def customer_links(config, unsubscribe=None):
    """links.* for emails, the same as the outreach sender builds them.

    The customer-facing app lives outside this portal, so its URLs are
    configuration: OUTREACH_RECONNECT_URL and OUTREACH_UPGRADE_URL, with
    PUBLIC_BASE_URL + /connect/exact and /account/plan as fallbacks.
    """
    config = config or {}
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    links = {
        "reconnect": config.get("OUTREACH_RECONNECT_URL") or (base + "/connect/exact"
                                                              if base else ""),
        "upgrade": config.get("OUTREACH_UPGRADE_URL") or (base + "/account/plan"
                                                          if base else ""),
    }
    if unsubscribe:
        links["unsubscribe"] = unsubscribe
    return {k: v for k, v in links.items() if v}


def sample_context(trigger_or_none=None):
    """Realistic sample data for previews (trigger None = a support reply)."""
    ctx = customer_context(
        SAMPLE_USER,
        usage={"used": 8_734, "limit": 10_000, "month": "2026-01"},
        connection={"status": "refresh_failed", "division": 1234567,
                    "last_error": "Old refresh token used.", "retry_count": 3},
        links={"reconnect": "https://app.example.nl/connect/exact",
               "upgrade": "https://app.example.nl/account/plan",
               "unsubscribe": "https://portal.example.nl/u/unsubscribe/sample-token"},
        staff={"name": "Sam Support", "email": "support@example.nl"},
        errors={"count": 42, "endpoint": "tools/call get_invoices", "status": 401},
    )
    if trigger_or_none == "usage_limit_reached":
        ctx["usage"] = usage_context(10_000, 10_000, "2026-01")
    allowed = TRIGGER_VARIABLES[trigger_or_none] if trigger_or_none else REPLY_VARIABLES
    groups = {name.split(".")[0] for name in allowed}
    return {k: v for k, v in ctx.items() if k in groups}
