"""Outreach campaign settings: trigger parameters (with bounds and defaults) and plans.

The edit form and the validation are built from the trigger registry
(models/triggers.py) through PARAM_SPECS; a stored
campaign whose JSON is broken or out of bounds falls back to the defaults
rather than failing the sidecar.
"""
import json

from models.triggers import TRIGGERS


PARAM_SPECS = {t.name: t.params for t in TRIGGERS}
PARAM_ORDERING = {t.name: t.param_ordering for t in TRIGGERS if t.param_ordering}


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
