"""THE outreach trigger registry: every trigger is declared here, once.

Like `models/plans.py` for plans, this is plain data that the schema (the CHECK
on `trigger`), the outreach engine, the campaign forms, the default campaigns
and the template variables all read. A trigger's entry holds its name, its
label, whether it is service mail, its parameters (bounds and defaults), its
default campaign, the template variables it adds to the outreach base set, and
its place in a cycle's evaluation order.

Adding a trigger: add an entry here, a finder query in
`portal/outreach/triggers.py` (FINDERS), a default email in
`portal/mail/defaults.py`, and a migration for the CHECK constraint.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ParamSpec:
    label: str
    default: int
    minimum: int
    maximum: int
    hint: str = ""


@dataclass(frozen=True)
class Trigger:
    name: str
    label: str
    campaign_name: str       # the default campaign (seeded disabled)
    cooldown_days: int       # its default cooldown
    priority: int            # evaluation order within a cycle (lower first)
    service: bool = False    # service mail reaches customers who opted out of marketing
    params: dict = field(default_factory=dict)       # name -> ParamSpec
    param_ordering: tuple | None = None               # (low, high): low < high
    extra_variables: frozenset = frozenset()          # beyond the outreach base set


CONNECTION_VARIABLES = frozenset({"connection.status", "connection.division",
                                  "connection.last_error", "connection.retry_count"})
ERROR_VARIABLES = frozenset({"errors.count", "errors.endpoint", "errors.status"})

# Declared in the schema's order (the CHECK constraint lists them so); the
# priority gives the evaluation order: with the daily cap, the first campaign
# that fires for a customer wins, so service mail and hard limits come first.
TRIGGERS = (
    Trigger("connection_failed", "Connection failed (service mail)",
            "Exact connection failed: reconnect", 3, priority=0, service=True,
            extra_variables=CONNECTION_VARIABLES),
    Trigger("no_connection", "Signed up, never connected",
            "Signed up but never connected Exact", 14, priority=4,
            params={
                "days_after_signup": ParamSpec(
                    "Days after signup", 3, 1, 365,
                    "Email once the customer signed up this many days ago."),
                "max_days_after_signup": ParamSpec(
                    "Not after (days after signup)", 30, 1, 3650,
                    "Older signups are left alone (e.g. imported long-gone accounts)."),
            },
            param_ordering=("days_after_signup", "max_days_after_signup")),
    # Roughly once a month: usage figures restart every month.
    Trigger("usage_near_limit", "Near the monthly limit",
            "Nearing the monthly plan limit", 20, priority=3,
            params={"percent": ParamSpec(
                "Percent of the monthly limit", 80, 1, 99,
                "Fires at this share of the plan's monthly calls, below 100 %.")}),
    Trigger("usage_limit_reached", "Monthly limit reached",
            "Monthly plan limit reached", 20, priority=1),
    Trigger("inactive", "Inactive", "We miss you: no API calls lately", 30, priority=5,
            params={
                "days_inactive": ParamSpec("Days without calls", 14, 1, 365),
                "max_days_inactive": ParamSpec("Not after (days without calls)", 90, 1, 3650,
                                               "Customers silent for longer are left alone."),
            },
            param_ordering=("days_inactive", "max_days_inactive")),
    Trigger("error_loop", "Error loop", "Many failing API calls", 3, priority=2,
            params={"errors_in_24h": ParamSpec("Failed calls in 24 hours", 50, 1, 10_000_000,
                                               "Calls answered with status 400 or higher.")},
            extra_variables=ERROR_VARIABLES),
)

BY_NAME = {t.name: t for t in TRIGGERS}
OUTREACH_TRIGGERS = tuple(t.name for t in TRIGGERS)
TRIGGER_ORDER = tuple(t.name for t in sorted(TRIGGERS, key=lambda t: t.priority))
TRIGGER_LABELS = {t.name: t.label for t in TRIGGERS}
SERVICE_TRIGGERS = frozenset(t.name for t in TRIGGERS if t.service)
