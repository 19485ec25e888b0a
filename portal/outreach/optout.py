"""A customer's own opt-out of outreach email (users.marketing_opt_out)."""
from models import User, database
from portal.core import audit
from portal.core.audit import Actor


def opt_out(user, ip, how):
    """Set the opt-out; returns whether it changed. Audited with the customer's address."""
    with database.atomic():
        changed = not user.marketing_opt_out
        if changed:
            User.update(marketing_opt_out=True).where(User.id == user.id).execute()
        audit.record(Actor(ip=ip), "customer.unsubscribe", "user", user.id,
                     before={"marketing_opt_out": bool(user.marketing_opt_out)},
                     after={"marketing_opt_out": True, "via": how})
    return changed
