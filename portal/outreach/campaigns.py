"""Admin writes to outreach campaigns: settings and on/off, each audited in one transaction."""
from models import database, utcnow
from portal.core import audit
from portal.outreach.params import campaign_params


def snapshot(c):
    return {"name": c.name, "template_id": c.template_id, "cooldown_days": c.cooldown_days,
            "plans": c.plans, "params": campaign_params(c), "enabled": bool(c.enabled)}


def save_campaign(c, proposed, actor):
    """Copy the validated settings of `proposed` (an unsaved OutreachCampaign) onto `c`."""
    before = snapshot(c)
    with database.atomic():
        c.name, c.template, c.cooldown_days = (proposed.name, proposed.template_id,
                                               proposed.cooldown_days)
        c.plans, c.params, c.updated_at = proposed.plans, proposed.params, utcnow()
        c.save()
        audit.record(actor, "outreach.campaign.update", "outreach_campaign", c.id,
                     before=before, after=snapshot(c))
    return c


def set_enabled(c, enabled, actor):
    """Turn a campaign on or off; returns False when it already was."""
    if bool(c.enabled) == enabled:
        return False
    with database.atomic():
        c.enabled, c.updated_at = enabled, utcnow()
        c.save()
        audit.record(actor, "outreach.campaign.%s" % ("enable" if enabled else "disable"),
                     "outreach_campaign", c.id, before={"enabled": not enabled},
                     after={"enabled": enabled})
    return True
