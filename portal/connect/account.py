"""What the customer sees and changes on /account (no Flask).

Every write takes the customer's Actor and writes the change and its audit
row in one transaction (api_keys does so for keys).
"""
from models import ApiKey, Connection, User, database, utcnow

from portal.core import audit
from portal.customers import api_keys
from models.plans import limits_for
from portal.customers.service import division_limit, usage_summary

STATUS_WORDS = {
    "active": ("Connected", "Everything works."),
    "retry_pending": ("Having trouble", "We could not renew access just now and are retrying "
                      "automatically. If it keeps failing, reconnect."),
    "refresh_failed": ("Disconnected", "Exact Online no longer accepts this connection. "
                       "Reconnect to restore access."),
}
ORIGIN_WORDS = {"imported": "imported", "connected": "connected by you",
                "reconnected": "reconnected by you"}


class AccountError(ValueError):
    """A customer request that cannot be applied; the message is for the customer."""


def overview(user, now=None):
    now = now or utcnow()
    connections = list(Connection.select().where(Connection.user == user.id)
                       .order_by(Connection.division))
    limit, _, _ = division_limit(user)
    rows = []
    for c in connections:
        label, explanation = STATUS_WORDS.get(c.status, (c.status, ""))
        rows.append({"id": c.id, "division": c.division, "status": c.status, "label": label,
                     "explanation": explanation, "dead": c.status != "active",
                     "origin": ORIGIN_WORDS.get(c.origin, c.origin),
                     "origin_at": c.origin_at or c.created_at})
    return {
        "user": user,
        "plan": str(user.plan),
        "limits": limits_for(user.plan),
        "usage": usage_summary(user, now),
        "connections": rows,
        "division_limit": limit,
        "can_add": limit is None or len(connections) < limit,
        "api_keys": api_keys.keys_for(user.id),
        "opted_out": bool(user.marketing_opt_out),
    }


def create_key(user, name, actor, now=None):
    """(ApiKey, plaintext): the plaintext is shown once and never stored."""
    name = (name or "").strip()
    if len(name) > api_keys.MAX_NAME_LENGTH:
        raise AccountError("A key name has at most %d characters." % api_keys.MAX_NAME_LENGTH)
    return api_keys.create_api_key(user, name, now=now or utcnow(), actor=actor)


def revoke_key(user, key_id, actor, now=None):
    """Revoke one of the customer's own keys; another customer's key is 'not found'."""
    key = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.user == user.id))
    if key is None:
        raise AccountError("That API key does not exist.")
    if not api_keys.revoke_api_key(key, now=now or utcnow(), actor=actor):
        raise AccountError("That API key was already revoked.")
    return key


def set_opt_out(user, opted_out, actor):
    """Set users.marketing_opt_out; returns whether it changed."""
    opted_out = bool(opted_out)
    with database.atomic():
        current = User.select(User.marketing_opt_out).where(User.id == user.id).scalar()
        if bool(current) == opted_out:
            return False
        User.update(marketing_opt_out=opted_out).where(User.id == user.id).execute()
        audit.record(actor, "customer.opt_out" if opted_out else "customer.opt_in", "user",
                     user.id, before={"marketing_opt_out": bool(current)},
                     after={"marketing_opt_out": opted_out})
    user.marketing_opt_out = opted_out
    return True
