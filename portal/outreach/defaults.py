"""The default outreach campaigns: one per trigger, every one DISABLED.

A fresh deploy never emails real customers by surprise; an admin looks at the
dry run and enables a campaign on purpose. Each campaign links to the default
response template of its trigger when one exists (seeded by the 0020-range
template migration), and starts with the parameter defaults from
portal.outreach.triggers.

`seed_default_campaigns()` is what migration 0031 runs; tests call it too.
It is idempotent: a trigger that already has a campaign is left alone, so
re-running it never overwrites an admin's changes.
"""
import json

from models import OutreachCampaign, ResponseTemplate, database, utcnow

from portal.outreach.params import PARAM_SPECS, default_params
from portal.outreach.triggers import TRIGGER_ORDER

DEFAULT_CAMPAIGNS = {
    # Service mail: soon again if the customer still has not reconnected.
    "connection_failed": ("Exact connection failed: reconnect", 3),
    "no_connection": ("Signed up but never connected Exact", 14),
    # Roughly once a month: usage figures restart every month.
    "usage_near_limit": ("Nearing the monthly plan limit", 20),
    "usage_limit_reached": ("Monthly plan limit reached", 20),
    "inactive": ("We miss you: no API calls lately", 30),
    "error_loop": ("Many failing API calls", 3),
}

assert set(DEFAULT_CAMPAIGNS) == set(PARAM_SPECS) == set(TRIGGER_ORDER)


def default_template_id(trigger):
    """The oldest template of the trigger (the seeded default), or None."""
    row = (ResponseTemplate.select(ResponseTemplate.id)
           .where(ResponseTemplate.trigger == trigger)
           .order_by(ResponseTemplate.id).first())
    return row.id if row else None


def seed_default_campaigns():
    """Create the missing default campaigns (disabled); return how many were created."""
    created = 0
    with database.atomic():
        existing = {c.trigger for c in OutreachCampaign.select(OutreachCampaign.trigger)}
        for trigger in TRIGGER_ORDER:
            if trigger in existing:
                continue
            name, cooldown = DEFAULT_CAMPAIGNS[trigger]
            OutreachCampaign.create(
                name=name, trigger=trigger, template=default_template_id(trigger),
                enabled=False, cooldown_days=cooldown, plans="",
                params=json.dumps(default_params(trigger), sort_keys=True),
                updated_at=utcnow())
            created += 1
    return created
