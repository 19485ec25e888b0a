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

from models.triggers import BY_NAME, TRIGGER_ORDER
from portal.outreach.params import default_params

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
            name, cooldown = BY_NAME[trigger].campaign_name, BY_NAME[trigger].cooldown_days
            OutreachCampaign.create(
                name=name, trigger=trigger, template=default_template_id(trigger),
                enabled=False, cooldown_days=cooldown, plans="",
                params=json.dumps(default_params(trigger), sort_keys=True),
                updated_at=utcnow())
            created += 1
    return created
