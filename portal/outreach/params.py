"""Outreach campaign settings: trigger parameters (with bounds and defaults) and plans.

The edit form and the validation are built from PARAM_SPECS; a stored
campaign whose JSON is broken or out of bounds falls back to the defaults
rather than failing the sidecar.
"""
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    label: str
    default: int
    minimum: int
    maximum: int
    hint: str = ""


PARAM_SPECS = {
    "connection_failed": {},
    "no_connection": {
        "days_after_signup": ParamSpec("Days after signup", 3, 1, 365,
                                       "Email once the customer signed up this many days ago."),
        "max_days_after_signup": ParamSpec(
            "Not after (days after signup)", 30, 1, 3650,
            "Older signups are left alone (e.g. imported long-gone accounts)."),
    },
    "usage_near_limit": {
        "percent": ParamSpec("Percent of the monthly limit", 80, 1, 99,
                             "Fires at this share of the plan's monthly calls, below 100 %."),
    },
    "usage_limit_reached": {},
    "inactive": {
        "days_inactive": ParamSpec("Days without calls", 14, 1, 365),
        "max_days_inactive": ParamSpec("Not after (days without calls)", 90, 1, 3650,
                                       "Customers silent for longer are left alone."),
    },
    "error_loop": {
        "errors_in_24h": ParamSpec("Failed calls in 24 hours", 50, 1, 10_000_000,
                                   "Calls answered with status 400 or higher."),
    },
}

# Pairs (low, high) that must keep low < high.
PARAM_ORDERING = {
    "no_connection": ("days_after_signup", "max_days_after_signup"),
    "inactive": ("days_inactive", "max_days_inactive"),
}


def default_params(trigger):
    return {name: spec.default for name, spec in PARAM_SPECS[trigger].items()}


def validate_params(trigger, params):
    """Return (clean params, {name: error}); unknown names are errors too."""
    specs = PARAM_SPECS[trigger]
    clean, errors = {}, {}
    for name in params:
        if name not in specs:
            errors[name] = "unknown parameter"
    for name, spec in specs.items():
        value = params.get(name, spec.default)
        if isinstance(value, bool) or not isinstance(value, int):
            errors[name] = "must be a whole number"
            continue
        if not spec.minimum <= value <= spec.maximum:
            errors[name] = "must be between %d and %d" % (spec.minimum, spec.maximum)
            continue
        clean[name] = value
    pair = PARAM_ORDERING.get(trigger)
    if pair and not errors and clean[pair[0]] >= clean[pair[1]]:
        errors[pair[1]] = "must be larger than %s" % specs[pair[0]].label.lower()
    return clean, errors


def campaign_params(campaign):
    """The campaign's parameters merged over the defaults (bad JSON falls back)."""
    params = default_params(campaign.trigger)
    try:
        stored = json.loads(campaign.params or "{}")
    except ValueError:
        stored = {}
    if isinstance(stored, dict):
        clean, _ = validate_params(campaign.trigger, {k: v for k, v in stored.items()
                                                      if k in params})
        params.update(clean)
    return params


def campaign_plans(campaign):
    """The plans a campaign applies to, or None for every plan."""
    plans = [p.strip() for p in (campaign.plans or "").split(",") if p.strip()]
    return plans or None
